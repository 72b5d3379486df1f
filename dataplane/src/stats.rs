//! Per-worker counters.
//!
//! What: every counter the data path keeps — per worker, per port, per drop
//! reason — in one cache-line-aligned block per worker.
//!
//! How: each block has exactly one writer, its worker, which adds with a
//! relaxed load + store (a plain `mov` on x86, no locked instruction) once
//! per burst. The admin thread reads with relaxed loads and sums over
//! workers when Prometheus scrapes; a value may be a burst old, never torn.
//!
//! Threads: written by one worker, read by the admin thread.

use crate::dpdk::BURST_SIZE;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A single-writer counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the counter's owning thread may call this.
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Why a packet was dropped. The data path turns every drop into one of
/// these verdicts plus a counter increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DropReason {
    /// Truncated or inconsistent headers (or a chained mbuf).
    Malformed,
    /// The forwarding decision had no output for the packet.
    NoRoute,
    /// The tx queue was full: the driver did not take the packet.
    TxFull,
    /// No mbuf for a copy (several outputs, a packet-in).
    NoMbuf,
    /// The packet-in ring to the admin thread was full.
    PuntFull,
    /// Over its tenant's rate (the tenant's `exceed = "drop"`).
    Policed,
    /// Received on, or sent to, a port that is administratively down.
    PortDown,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::Malformed,
        DropReason::NoRoute,
        DropReason::TxFull,
        DropReason::NoMbuf,
        DropReason::PuntFull,
        DropReason::Policed,
        DropReason::PortDown,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NoRoute => "no_route",
            DropReason::TxFull => "tx_full",
            DropReason::NoMbuf => "no_mbuf",
            DropReason::PuntFull => "punt_full",
            DropReason::Policed => "policed",
            DropReason::PortDown => "port_down",
        }
    }
}

/// One worker's counters for one port.
#[derive(Default, Debug)]
#[repr(align(64))]
pub struct PortCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    /// Packets for this port the tx queue did not take.
    pub tx_dropped: Counter,
}

/// All of one worker's counters.
#[derive(Debug)]
#[repr(align(64))]
pub struct WorkerStats {
    pub busy_polls: Counter,
    pub idle_polls: Counter,
    pub busy_cycles: Counter,
    pub idle_cycles: Counter,
    pub drops: [Counter; DropReason::COUNT],
    /// Packet-ins handed to the admin thread.
    pub punted: Counter,
    /// `rx_bursts[n]`: polls that returned n packets (n >= 1).
    pub rx_bursts: [Counter; BURST_SIZE + 1],
    pub ports: Box<[PortCounters]>,
    /// The config generation this worker runs (stored when it switches).
    pub generation: std::sync::atomic::AtomicU64,
    /// Flow cache lookups by [`CacheResult`], added once per burst.
    pub flow_cache: [Counter; CacheResult::COUNT],
    /// Gauges: the paths the worker's flow cache holds (stored once per
    /// burst) and its slots (stored when the worker switches programs).
    pub flow_cache_paths: std::sync::atomic::AtomicU64,
    pub flow_cache_slots: std::sync::atomic::AtomicU64,
}

/// What the flow cache did for a packet (`sluice_flow_cache_packets_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// A hit on a path that ends in a plain output: nothing else read.
    FastHit,
    /// A hit whose path is replayed through the entries.
    Hit,
    /// Not cached: the classifiers ran and the path was recorded.
    Miss,
    /// The cache was not consulted (its hit rate was too low).
    Bypassed,
}

impl CacheResult {
    pub const COUNT: usize = 4;
    pub const ALL: [CacheResult; Self::COUNT] = [
        CacheResult::FastHit,
        CacheResult::Hit,
        CacheResult::Miss,
        CacheResult::Bypassed,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            CacheResult::FastHit => "fast_hit",
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Bypassed => "bypassed",
        }
    }
}

impl WorkerStats {
    pub fn new(ports: usize) -> Self {
        Self {
            busy_polls: Counter::default(),
            idle_polls: Counter::default(),
            busy_cycles: Counter::default(),
            idle_cycles: Counter::default(),
            drops: Default::default(),
            punted: Counter::default(),
            rx_bursts: std::array::from_fn(|_| Counter::default()),
            ports: (0..ports).map(|_| PortCounters::default()).collect(),
            generation: Default::default(),
            flow_cache: Default::default(),
            flow_cache_paths: Default::default(),
            flow_cache_slots: Default::default(),
        }
    }

    #[inline(always)]
    pub fn count_drop(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].add(n);
    }
}

/// Port totals summed over workers.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

pub fn port_totals(workers: &[impl AsRef<WorkerStats>], port: usize) -> PortTotals {
    let mut t = PortTotals::default();
    for w in workers {
        let p = &w.as_ref().ports[port];
        t.rx_packets += p.rx_packets.get();
        t.rx_bytes += p.rx_bytes.get();
        t.tx_packets += p.tx_packets.get();
        t.tx_bytes += p.tx_bytes.get();
        t.tx_dropped += p.tx_dropped.get();
    }
    t
}

pub fn drop_totals(workers: &[impl AsRef<WorkerStats>]) -> [(DropReason, u64); DropReason::COUNT] {
    DropReason::ALL.map(|r| {
        (
            r,
            workers
                .iter()
                .map(|w| w.as_ref().drops[r as usize].get())
                .sum(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_in_index_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        // The last variant closes the list: a new one must be added to ALL.
        assert_eq!(DropReason::PortDown as usize + 1, DropReason::COUNT);
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }
}
