//! [`Burst`] (the rx array) and [`TxBuffer`] (per-port tx batching).
//!
//! Both are fixed arrays of mbuf pointers plus a length, owned by one
//! worker: no allocation ever, one C call per burst. Entries `[0, len)` are
//! owned mbufs; `Drop` frees them with one `rte_pktmbuf_free_bulk`.

use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::ptr;

use dpdk_sys as sys;

use super::mbuf::Mbuf;

/// Packets per rx burst.
pub const BURST_SIZE: usize = 32;
/// Packets a [`TxBuffer`] holds before it sends.
pub const TX_BUFFER_SIZE: usize = 64;
const _: () = assert!(TX_BUFFER_SIZE.is_power_of_two());

/// Frees `n` owned mbufs starting at `pkts`.
///
/// # Safety
/// `pkts[0..n]` must be valid mbufs that the caller owns and gives up.
#[inline]
unsafe fn free_bulk(pkts: *mut *mut sys::rte_mbuf, n: usize) {
    if n > 0 {
        // SAFETY: guaranteed by the caller; n ≤ TX_BUFFER_SIZE fits in u32.
        unsafe { sys::rte_pktmbuf_free_bulk(pkts, n as u32) }
    }
}

/// What a transmit did: packets (and their bytes) the device took, and
/// packets it refused (tx queue full), which were freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxResult {
    /// Packets handed to the device.
    pub sent: u32,
    /// Bytes (`pkt_len`) of those packets.
    pub sent_bytes: u64,
    /// Packets the device did not take; already freed.
    pub dropped: u32,
}

impl std::ops::AddAssign for TxResult {
    #[inline]
    fn add_assign(&mut self, o: TxResult) {
        self.sent += o.sent;
        self.sent_bytes += o.sent_bytes;
        self.dropped += o.dropped;
    }
}

impl std::ops::Add for TxResult {
    type Output = TxResult;
    #[inline]
    fn add(mut self, o: TxResult) -> TxResult {
        self += o;
        self
    }
}

/// Sends `pkts[0..n]` on (port, queue) and frees what the device refused.
///
/// # Safety
/// `pkts[0..n]` must be valid mbufs owned by the caller, which gives them
/// all up; `n` ≤ `u16::MAX`; the caller must own the tx queue (one thread).
#[inline]
pub(super) unsafe fn transmit(
    port: u16,
    queue: u16,
    pkts: *mut *mut sys::rte_mbuf,
    n: usize,
) -> TxResult {
    if n == 0 {
        return TxResult::default();
    }
    let pkt_len = |i: usize| {
        // SAFETY: only called with i < n: a valid mbuf owned by the caller.
        u64::from(unsafe { (**pkts.add(i)).pkt_len })
    };
    // Bytes must be read before the device owns the mbufs.
    let total: u64 = (0..n).map(pkt_len).sum();
    // SAFETY: guaranteed by the caller.
    let sent = usize::from(unsafe { sys::sluice_eth_tx_burst(port, queue, pkts, n as u16) });
    let mut result = TxResult {
        sent: sent as u32,
        sent_bytes: total,
        dropped: 0,
    };
    if sent < n {
        result.sent_bytes -= (sent..n).map(pkt_len).sum::<u64>();
        result.dropped = (n - sent) as u32;
        // SAFETY: the device did not take pkts[sent..n]: still ours.
        unsafe { free_bulk(pkts.add(sent), n - sent) };
    }
    result
}

/// [`transmit`] for a caller that knows the total `pkt_len` of
/// `pkts[0..n]`: no pass over the mbufs unless the device refuses some.
///
/// # Safety
/// As for [`transmit`].
#[inline]
pub(super) unsafe fn transmit_counted(
    port: u16,
    queue: u16,
    pkts: *mut *mut sys::rte_mbuf,
    n: usize,
    bytes: u64,
) -> TxResult {
    if n == 0 {
        return TxResult::default();
    }
    // SAFETY: guaranteed by the caller.
    let sent = usize::from(unsafe { sys::sluice_eth_tx_burst(port, queue, pkts, n as u16) });
    let mut result = TxResult {
        sent: sent as u32,
        sent_bytes: bytes,
        dropped: 0,
    };
    if sent < n {
        // SAFETY: the device did not take pkts[sent..n]: still ours, valid.
        let unsent: u64 = (sent..n)
            .map(|i| u64::from(unsafe { (**pkts.add(i)).pkt_len }))
            .sum();
        result.sent_bytes = bytes.saturating_sub(unsent);
        result.dropped = (n - sent) as u32;
        // SAFETY: as above.
        unsafe { free_bulk(pkts.add(sent), n - sent) };
    }
    result
}

/// Up to [`BURST_SIZE`] received packets, owned.
///
/// # Design
/// The array is filled in place by `rte_eth_rx_burst` and lent out as
/// `[Mbuf]` ([`as_slice`](Self::as_slice)/[`as_mut_slice`](Self::as_mut_slice)),
/// which costs nothing because [`Mbuf`] is a transparent non-null pointer.
/// Packets leave by value through [`drain`](Self::drain) or
/// [`pop`](Self::pop), are filtered in place by [`retain`](Self::retain), or
/// go out whole with [`TxQueue::tx_burst_all`](super::TxQueue::tx_burst_all).
/// `Drop` frees whatever is still inside.
///
/// # Threads
/// One worker's; `Send` (it only owns mbufs, see [`Mbuf`]), not `Sync`.
pub struct Burst {
    pub(super) pkts: [*mut sys::rte_mbuf; BURST_SIZE],
    pub(super) len: usize,
}

// SAFETY: a Burst is the sole owner of the mbufs in pkts[0..len], which may
// be freed from any thread (see Mbuf).
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Burst::new()
    }
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Burst").field("len", &self.len).finish()
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Burst {
    /// Maximum number of packets.
    pub const CAPACITY: usize = BURST_SIZE;

    /// An empty burst.
    pub const fn new() -> Burst {
        Burst {
            pkts: [ptr::null_mut(); BURST_SIZE],
            len: 0,
        }
    }

    /// Packets held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no packet.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it holds [`BURST_SIZE`] packets.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST_SIZE
    }

    /// The packets, in arrival order.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: pkts[0..len] are non-null owned mbuf pointers and Mbuf is
        // repr(transparent) over NonNull<rte_mbuf>: same layout.
        unsafe { std::slice::from_raw_parts(self.pkts.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The packets, writable (and swappable: ownership stays consistent
    /// because every slot always holds exactly one owned `Mbuf`).
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as for as_slice; `&mut self` makes it exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.pkts.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Packet `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        self.as_slice().get(i)
    }

    /// Packet `i`, writable.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Mbuf> {
        self.as_mut_slice().get_mut(i)
    }

    /// The bytes of packet `i` (first segment).
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing; [`get`](Self::get) is the
    /// checked form.
    #[inline]
    pub fn data(&self, i: usize) -> &[u8] {
        self.as_slice()[i].data()
    }

    /// Prefetches the data of packet `i` (no-op when out of range): call it
    /// for packet i + k while working on packet i.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        if let Some(m) = self.get(i) {
            m.prefetch();
        }
    }

    /// Adds a packet at the end; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == BURST_SIZE {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Takes the last packet out.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let raw = std::ptr::NonNull::new(self.pkts[self.len])?;
        // SAFETY: the slot held an owned mbuf, now removed from the burst.
        Some(unsafe { Mbuf::from_raw(raw) })
    }

    /// Takes every packet out, in order. Packets the iterator has not
    /// yielded when it drops are freed. The burst is empty afterwards
    /// (already while iterating: forgetting the iterator leaks, never
    /// double-frees).
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let end = self.len;
        self.len = 0;
        Drain {
            pkts: self.pkts.as_mut_ptr(),
            pos: 0,
            end,
            _burst: PhantomData,
        }
    }

    /// Keeps the packets for which `keep` returns true, in order, and frees
    /// the others (one bulk free). If `keep` panics the packets leak.
    #[inline]
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Mbuf) -> bool) {
        let n = self.len;
        self.len = 0; // panic safety: leak rather than double-free
        let mut dropped = [ptr::null_mut(); BURST_SIZE];
        let (mut kept, mut ndrop) = (0, 0);
        for i in 0..n {
            let p = self.pkts[i];
            // SAFETY: slot i < n holds an owned, non-null mbuf; the Mbuf
            // view lives only for this call and is not moved out.
            let m = unsafe { &mut *self.pkts.as_mut_ptr().add(i).cast::<Mbuf>() };
            if keep(m) {
                self.pkts[kept] = p;
                kept += 1;
            } else {
                dropped[ndrop] = p;
                ndrop += 1;
            }
        }
        self.len = kept;
        // SAFETY: dropped[0..ndrop] are owned mbufs no longer in the burst.
        unsafe { free_bulk(dropped.as_mut_ptr(), ndrop) };
    }

    /// Frees every packet.
    #[inline]
    pub fn clear(&mut self) {
        let n = self.len;
        self.len = 0;
        // SAFETY: pkts[0..n] were owned and are no longer in the burst.
        unsafe { free_bulk(self.pkts.as_mut_ptr(), n) };
    }
}

/// Iterator of [`Burst::drain`]: yields the packets by value.
pub struct Drain<'a> {
    pkts: *mut *mut sys::rte_mbuf,
    pos: usize,
    end: usize,
    _burst: PhantomData<&'a mut Burst>,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.pos == self.end {
            return None;
        }
        // SAFETY: pos < end ≤ BURST_SIZE: an owned slot of the borrowed
        // burst, each yielded once.
        let p = unsafe { *self.pkts.add(self.pos) };
        self.pos += 1;
        // SAFETY: the slot held an owned mbuf (non-null), handed over now.
        std::ptr::NonNull::new(p).map(|raw| unsafe { Mbuf::from_raw(raw) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.pos;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Drain<'_> {}
impl FusedIterator for Drain<'_> {}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        // SAFETY: slots pos..end are owned mbufs that were never yielded.
        unsafe { free_bulk(self.pkts.add(self.pos), self.end - self.pos) };
    }
}

/// Packets waiting to go out of one port, for one worker.
///
/// # Design
/// A fixed array of [`TX_BUFFER_SIZE`] owned mbufs. [`push`](Self::push)
/// sends automatically when the array fills; the worker calls
/// [`flush`](Self::flush) at the end of each burst (or on a TSC deadline).
/// What the device refuses (tx queue full) is freed at once and counted in
/// [`TxResult::dropped`]: a full queue is a drop verdict, not a retry loop.
/// `Drop` frees packets never flushed.
///
/// # Threads
/// One worker's; `Send` like [`Burst`], not `Sync`.
pub struct TxBuffer {
    pkts: [*mut sys::rte_mbuf; TX_BUFFER_SIZE],
    len: usize,
}

// SAFETY: the buffer is the sole owner of pkts[0..len] (see Burst).
unsafe impl Send for TxBuffer {}

impl Default for TxBuffer {
    fn default() -> Self {
        TxBuffer::new()
    }
}

impl std::fmt::Debug for TxBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxBuffer").field("len", &self.len).finish()
    }
}

impl Drop for TxBuffer {
    fn drop(&mut self) {
        let n = self.len;
        self.len = 0;
        // SAFETY: pkts[0..n] were owned and are no longer in the buffer.
        unsafe { free_bulk(self.pkts.as_mut_ptr(), n) };
    }
}

impl TxBuffer {
    /// Maximum number of packets held before sending.
    pub const CAPACITY: usize = TX_BUFFER_SIZE;

    /// An empty buffer.
    pub const fn new() -> TxBuffer {
        TxBuffer {
            pkts: [ptr::null_mut(); TX_BUFFER_SIZE],
            len: 0,
        }
    }

    /// Packets waiting.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is waiting.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `m`; when that fills the buffer, sends it all on `txq` and
    /// returns what happened (otherwise an all-zero result).
    ///
    /// Inlined into the per-packet loop: a store and an increment (the
    /// index is masked, `len < TX_BUFFER_SIZE` holds between calls), and a
    /// constant all-zero result the caller's counting folds away; the send
    /// is out of line.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf, txq: &mut super::TxQueue) -> TxResult {
        self.pkts[self.len & (TX_BUFFER_SIZE - 1)] = m.into_raw().as_ptr();
        self.len += 1;
        if self.len == TX_BUFFER_SIZE {
            self.flush_full(txq)
        } else {
            TxResult::default()
        }
    }

    #[cold]
    #[inline(never)]
    fn flush_full(&mut self, txq: &mut super::TxQueue) -> TxResult {
        self.flush(txq)
    }

    /// Sends everything waiting on `txq`; what the device refuses is freed
    /// and counted as dropped.
    #[inline]
    pub fn flush(&mut self, txq: &mut super::TxQueue) -> TxResult {
        let n = self.len;
        self.len = 0;
        // SAFETY: pkts[0..n] are owned mbufs, all given up here; n ≤ 64;
        // `&mut TxQueue` proves this thread owns the queue.
        unsafe { transmit(txq.port, txq.queue, self.pkts.as_mut_ptr(), n) }
    }
}
