//! [`Mbuf`]: one owned packet buffer, freed on drop.

use std::ptr::NonNull;
use std::slice;

use dpdk_sys as sys;

use super::mempool::Mempool;

/// One packet in a DPDK mbuf, owned: dropping it returns the mbuf to its
/// pool (`rte_pktmbuf_free`).
///
/// # Segments
/// The accessors see the first segment only ([`data`](Self::data) is
/// `data_len` bytes from `buf_addr + data_off`). Our pools and the ports we
/// configure (no scatter rx) produce single-segment packets; a chained mbuf
/// can still come from elsewhere, so check [`is_contiguous`](Self::is_contiguous)
/// (or compare [`len`](Self::len) with [`pkt_len`](Self::pkt_len)) and drop
/// multi-segment frames as malformed.
///
/// # Threads
/// `Send`: the handle is the only owner of the mbuf, and returning an mbuf
/// to its pool is safe from any thread (the pool is multi-producer). Not
/// `Sync` (nothing needs it).
///
/// `repr(transparent)` over a non-null `rte_mbuf` pointer, so an array of
/// mbuf pointers filled by `rte_eth_rx_burst` can be viewed as `[Mbuf]`.
#[repr(transparent)]
pub struct Mbuf {
    raw: NonNull<sys::rte_mbuf>,
}

// SAFETY: see "Threads" above.
unsafe impl Send for Mbuf {}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("segments", &self.segments())
            .finish()
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own this mbuf (one reference) and give it up here.
        unsafe { sys::sluice_pktmbuf_free(self.raw.as_ptr()) }
    }
}

impl Mbuf {
    /// A fresh, empty mbuf from `pool`; `None` when the pool is empty.
    #[inline]
    pub fn alloc(pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the process (never freed).
        let m = unsafe { sys::sluice_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(m).map(|raw| Mbuf { raw })
    }

    /// An mbuf from `pool` holding a copy of `bytes`; `None` when the pool
    /// is empty or `bytes` does not fit in one buffer.
    pub fn from_slice(pool: &Mempool, bytes: &[u8]) -> Option<Mbuf> {
        let len = u16::try_from(bytes.len()).ok()?;
        let mut m = Mbuf::alloc(pool)?;
        m.append(len)?.copy_from_slice(bytes);
        Some(m)
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must point to a valid mbuf from a DPDK pool, and the caller
    /// must own one reference to it that no other handle (`Mbuf` or C code)
    /// will free. Its data must not be read or written elsewhere while this
    /// `Mbuf` lives (it is handed out as `&mut [u8]`): in particular it must
    /// not be shared through a raised reference count or an indirect mbuf.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership without freeing; see [`from_raw`](Self::from_raw).
    #[inline]
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    /// The raw pointer, still owned by `self`.
    #[inline]
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.raw.as_ptr()
    }

    #[inline]
    fn hdr(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf; its header is only written through
        // `&mut self` methods (or by DPDK calls made from them).
        unsafe { self.raw.as_ref() }
    }

    /// Start of the first segment's data (`rte_pktmbuf_mtod`).
    #[inline]
    fn data_ptr(&self) -> *mut u8 {
        let h = self.hdr();
        // SAFETY: data_off ≤ buf_len, so the result stays inside the buffer
        // that buf_addr points to (DPDK invariant kept by every mbuf API).
        unsafe { h.buf_addr.cast::<u8>().add(usize::from(h.data_off)) }
    }

    /// The packet bytes of the first segment.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: data_off + data_len ≤ buf_len (DPDK invariant), the
        // buffer is initialised memory of the pool, and we own the mbuf, so
        // nothing writes it while `&self` lives.
        unsafe { slice::from_raw_parts(self.data_ptr(), usize::from(self.hdr().data_len)) }
    }

    /// The packet bytes of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.hdr().data_len);
        // SAFETY: as for `data`; `&mut self` makes the access exclusive.
        unsafe { slice::from_raw_parts_mut(self.data_ptr(), len) }
    }

    /// Bytes in the first segment (`data_len`).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.hdr().data_len)
    }

    /// Whether the first segment holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.hdr().data_len == 0
    }

    /// Bytes in the whole packet, all segments (`pkt_len`).
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.hdr().pkt_len
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.hdr().nb_segs
    }

    /// Whether the whole packet is in the first segment.
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.hdr().next.is_null()
    }

    /// Free bytes in front of the data.
    #[inline]
    pub fn headroom(&self) -> u16 {
        self.hdr().data_off
    }

    /// Free bytes after the data of the first segment.
    #[inline]
    pub fn tailroom(&self) -> u16 {
        let h = self.hdr();
        h.buf_len
            .saturating_sub(h.data_off)
            .saturating_sub(h.data_len)
    }

    /// The port the packet was received on (`mbuf->port`).
    #[inline]
    pub fn in_port(&self) -> u16 {
        self.hdr().port
    }

    /// Grows the packet by `n` bytes at the front and returns them (their
    /// content is whatever the buffer held); `None`, unchanged, if the
    /// headroom is smaller than `n`.
    #[inline]
    pub fn prepend(&mut self, n: u16) -> Option<&mut [u8]> {
        // SAFETY: we own the mbuf; rte_pktmbuf_prepend checks the headroom.
        let p = unsafe { sys::sluice_pktmbuf_prepend(self.raw.as_ptr(), n) };
        // SAFETY: on success `p` is the new data start with n bytes of the
        // first segment after it, reachable only through `&mut self`.
        (!p.is_null()).then(|| unsafe { slice::from_raw_parts_mut(p.cast::<u8>(), usize::from(n)) })
    }

    /// Removes `n` bytes from the front; `false`, unchanged, if the first
    /// segment is shorter than `n`.
    #[inline]
    pub fn adj(&mut self, n: u16) -> bool {
        // SAFETY: we own the mbuf; rte_pktmbuf_adj checks the length.
        !unsafe { sys::sluice_pktmbuf_adj(self.raw.as_ptr(), n) }.is_null()
    }

    /// Grows the packet by `n` bytes at the end (of the last segment) and
    /// returns them; `None`, unchanged, if the tailroom is smaller than `n`.
    #[inline]
    pub fn append(&mut self, n: u16) -> Option<&mut [u8]> {
        // SAFETY: we own the mbuf; rte_pktmbuf_append checks the tailroom.
        let p = unsafe { sys::sluice_pktmbuf_append(self.raw.as_ptr(), n) };
        // SAFETY: on success `p` points at n bytes of the last segment's
        // buffer, reachable only through `&mut self`.
        (!p.is_null()).then(|| unsafe { slice::from_raw_parts_mut(p.cast::<u8>(), usize::from(n)) })
    }

    /// Removes `n` bytes from the end (of the last segment); `false`,
    /// unchanged, if that segment is shorter than `n`.
    #[inline]
    pub fn trim(&mut self, n: u16) -> bool {
        // SAFETY: we own the mbuf; rte_pktmbuf_trim checks the length.
        unsafe { sys::sluice_pktmbuf_trim(self.raw.as_ptr(), n) == 0 }
    }

    /// A deep copy (all segments, into as few segments of `pool` as fit),
    /// for sending one packet to several ports; `None` when `pool` is empty.
    pub fn try_copy(&self, pool: &Mempool) -> Option<Mbuf> {
        // SAFETY: we own a valid mbuf and only read it; the pool is valid.
        let m = unsafe { sys::rte_pktmbuf_copy(self.raw.as_ptr(), pool.as_ptr(), 0, u32::MAX) };
        NonNull::new(m).map(|raw| Mbuf { raw })
    }

    /// Hints the CPU to load the first cache line of packet data.
    #[inline]
    pub fn prefetch(&self) {
        prefetch0(self.data_ptr());
    }
}

/// Hints the CPU to load the cache line holding `*r` into all levels.
/// Safe for any reference: a prefetch never faults.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    prefetch0((r as *const T).cast());
}

/// Prefetch into all cache levels (`rte_prefetch0`); never faults.
#[inline(always)]
pub(super) fn prefetch0(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is only a hint: it never faults or reads
        // architecturally, whatever the address; SSE is baseline on x86_64.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>())
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as above; the shim forwards to rte_prefetch0.
        unsafe { sys::sluice_prefetch0(p.cast()) }
    }
}

/// The OpenFlow action executor works on mbufs in place: pushes grow into
/// the headroom, pops give bytes back to it (first segment only; the
/// worker drops chained mbufs before the pipeline sees them).
impl crate::pipeline::PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }

    #[inline]
    fn headroom(&self) -> usize {
        usize::from(Mbuf::headroom(self))
    }

    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        u16::try_from(n).is_ok_and(|n| Mbuf::prepend(self, n).is_some())
    }

    #[inline]
    fn adj(&mut self, n: usize) -> bool {
        u16::try_from(n).is_ok_and(|n| Mbuf::adj(self, n))
    }
}
