//! Packet buffers that the action executor can grow and shrink at the
//! front.
//!
//! # Design
//!
//! What: the few buffer operations that push/pop actions need, as a trait
//! ([`PacketBuf`]) so that the same executor runs on a DPDK mbuf (in the
//! workers) and on a `Vec` ([`VecPacket`], in tests, the reference
//! interpreter and `sluice trace`).
//!
//! How: a frame lives in one contiguous buffer with free space (headroom)
//! before it. [`PacketBuf::prepend`] grows the frame into the headroom and
//! [`PacketBuf::adj`] gives bytes back to it: exactly `rte_pktmbuf_prepend`
//! and `rte_pktmbuf_adj`, which an mbuf does in place without allocating.
//! Inserting or removing bytes in the middle (a VLAN tag after the MAC
//! addresses, an MPLS shim after the VLAN tags) is built on those two plus a
//! `memmove` of the bytes *before* the insertion point, which are few (12
//! to 30 bytes), instead of the payload after it.
//!
//! Threads: a buffer belongs to the worker (or test) that holds it.

/// A frame in a buffer with headroom. Only the first segment of a
/// multi-segment buffer is visible; headers are always in it.
pub trait PacketBuf {
    /// The frame, from the Ethernet destination address.
    fn data(&self) -> &[u8];

    /// The frame, writable.
    fn data_mut(&mut self) -> &mut [u8];

    /// Free bytes before the frame.
    fn headroom(&self) -> usize;

    /// Grows the frame by `n` bytes at the front (their content is
    /// unspecified). `false`, and nothing changes, when the headroom is
    /// smaller than `n`.
    fn prepend(&mut self, n: usize) -> bool;

    /// Removes `n` bytes from the front. `false`, and nothing changes,
    /// when the frame is shorter than `n`.
    fn adj(&mut self, n: usize) -> bool;

    /// Frame length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a gap of `n` bytes at offset `at` (content unspecified): the
    /// first `at` bytes move `n` bytes to the front. `false`, and nothing
    /// changes, when `at` is past the end or the headroom is too small.
    fn insert_gap(&mut self, at: usize, n: usize) -> bool {
        if at > self.len() || !self.prepend(n) {
            return false;
        }
        self.data_mut().copy_within(n..n + at, 0);
        true
    }

    /// Removes the `n` bytes at offset `at`: the first `at` bytes move `n`
    /// bytes towards the payload. `false`, and nothing changes, when the
    /// range runs past the end.
    fn remove_range(&mut self, at: usize, n: usize) -> bool {
        match at.checked_add(n) {
            Some(end) if end <= self.len() => {
                self.data_mut().copy_within(0..at, n);
                self.adj(n)
            }
            _ => false,
        }
    }
}

/// A frame in a `Vec` with headroom, for tests, the reference interpreter
/// and tools. Like an mbuf it never reallocates: a push beyond the
/// headroom fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VecPacket {
    buf: Vec<u8>,
    start: usize,
}

impl VecPacket {
    /// DPDK's default mbuf headroom (`RTE_PKTMBUF_HEADROOM`).
    pub const DEFAULT_HEADROOM: usize = 128;

    /// A copy of `frame` with [`VecPacket::DEFAULT_HEADROOM`].
    pub fn new(frame: &[u8]) -> Self {
        Self::with_headroom(frame, Self::DEFAULT_HEADROOM)
    }

    /// A copy of `frame` with `headroom` free bytes before it.
    pub fn with_headroom(frame: &[u8], headroom: usize) -> Self {
        let mut buf = Vec::with_capacity(headroom + frame.len());
        buf.resize(headroom, 0);
        buf.extend_from_slice(frame);
        VecPacket {
            buf,
            start: headroom,
        }
    }

    /// The frame as a `Vec` (copies).
    pub fn to_vec(&self) -> Vec<u8> {
        self.data().to_vec()
    }
}

impl PacketBuf for VecPacket {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    #[inline]
    fn headroom(&self) -> usize {
        self.start
    }

    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        if n > self.start {
            return false;
        }
        self.start -= n;
        true
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_and_adj_use_the_headroom() {
        let mut p = VecPacket::with_headroom(&[1, 2, 3], 2);
        assert_eq!(p.headroom(), 2);
        assert!(!p.prepend(3));
        assert_eq!(p.data(), &[1, 2, 3]);
        assert!(p.prepend(2));
        assert_eq!(p.len(), 5);
        assert_eq!(&p.data()[2..], &[1, 2, 3]);
        assert!(!p.adj(6));
        assert!(p.adj(4));
        assert_eq!(p.data(), &[3]);
        assert!(p.adj(1));
        assert!(p.is_empty());
    }

    #[test]
    fn insert_gap_moves_the_bytes_before_it() {
        let mut p = VecPacket::with_headroom(&[1, 2, 3, 4, 5], 3);
        assert!(p.insert_gap(2, 3));
        let d = p.data_mut();
        d[2..5].copy_from_slice(&[9, 9, 9]);
        assert_eq!(p.data(), &[1, 2, 9, 9, 9, 3, 4, 5]);
        assert!(!p.insert_gap(9, 1), "past the end");
        assert!(!p.insert_gap(0, 1), "no headroom left");
        assert_eq!(p.len(), 8);
    }

    #[test]
    fn remove_range_closes_the_gap() {
        let mut p = VecPacket::new(&[1, 2, 3, 4, 5, 6]);
        assert!(p.remove_range(2, 2));
        assert_eq!(p.data(), &[1, 2, 5, 6]);
        assert!(!p.remove_range(3, 2));
        assert!(!p.remove_range(usize::MAX, 2));
        assert!(p.remove_range(0, 4));
        assert!(p.is_empty());
    }
}
