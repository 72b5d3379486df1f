//! Per-worker pipeline counters: per table lookups and matches, per flow
//! entry packets and bytes, drops per cause.
//!
//! # Design
//!
//! What: [`PipelineCounters`] is one worker's block of counters for one
//! [`CompiledPipeline`](super::CompiledPipeline) (its shape — number of
//! tables and entries — comes from the pipeline:
//! [`CompiledPipeline::new_counters`](super::CompiledPipeline::new_counters)).
//!
//! How: flat arrays indexed by the pipeline's table index and global entry
//! index, so the admin thread sums them over workers with one pass over
//! contiguous memory (100,000 entries × 16 bytes per worker: well under a
//! millisecond per scrape). An entry's packet and byte counters sit side by
//! side, so counting a hit touches one cache line. A lookup that hits is
//! counted only in its entry: a table's matches are the sum of its entries'
//! packets and its lookups those plus its misses (counted per table), so
//! the data path does two counter updates per table, not four. Each counter has exactly
//! one writer, the worker, which adds with a relaxed load and store (a
//! plain `mov` on x86, no locked instruction); readers use relaxed loads
//! and see values at most a few packets old, never torn.
//!
//! Threads: written by one worker, read by the admin thread (share it in an
//! `Arc`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::outcome::DropCause;

/// A counter with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this (a load and a store,
    /// not an atomic add).
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Packets and bytes of one flow entry (bytes as the packet was when the
/// entry matched it).
#[derive(Debug, Default)]
#[repr(align(16))]
pub struct EntryCounters {
    pub packets: Counter,
    pub bytes: Counter,
}

impl EntryCounters {
    /// One packet of `bytes` matched the entry (owning worker only).
    #[inline(always)]
    pub fn count(&self, bytes: u64) {
        self.count_many(1, bytes);
    }

    /// `packets` packets of `bytes` in all matched the entry (owning worker
    /// only).
    #[inline(always)]
    pub fn count_many(&self, packets: u64, bytes: u64) {
        self.packets.add(packets);
        self.bytes.add(bytes);
    }
}

/// One worker's counters for one compiled pipeline (see the module docs).
#[derive(Debug)]
pub struct PipelineCounters {
    /// Shape check: the pipeline these counters belong to.
    pub(crate) generation: u64,
    /// Lookups that matched nothing, per table index (the pipeline's
    /// table order, ascending table id).
    pub misses: Box<[Counter]>,
    /// Per global entry index.
    pub entries: Box<[EntryCounters]>,
    /// Drops per [`DropCause::index`]: every drop the pipeline decides,
    /// the packet's own (including [`DropCause::NoOutput`]) and those of
    /// group-bucket copies. The worker does not count them again.
    pub drops: [Counter; DropCause::COUNT],
    /// Outputs to LOCAL (Sluice has no local port; nothing is sent).
    pub no_local_port: Counter,
    /// IN_PORT outputs of packets whose ingress port is not a configured
    /// port (nothing is sent).
    pub unknown_in_port: Counter,
    /// Group buckets skipped because the sink had no buffer for the copy
    /// they rewrite.
    pub copy_failures: Counter,
}

impl PipelineCounters {
    pub(crate) fn new(generation: u64, tables: usize, entries: usize) -> Self {
        PipelineCounters {
            generation,
            misses: (0..tables).map(|_| Counter::default()).collect(),
            entries: (0..entries).map(|_| EntryCounters::default()).collect(),
            drops: Default::default(),
            no_local_port: Counter::default(),
            unknown_in_port: Counter::default(),
            copy_failures: Counter::default(),
        }
    }

    /// Drops of one cause.
    pub fn drops(&self, cause: &DropCause) -> u64 {
        self.drops[cause.index()].get()
    }

    /// Every drop, all causes.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(Counter::get).sum()
    }
}

/// Counters summed over workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CounterTotals {
    /// `(lookups, matches)` per table index.
    pub tables: Vec<(u64, u64)>,
    /// `(packets, bytes)` per global entry index.
    pub entries: Vec<(u64, u64)>,
    pub drops: [u64; DropCause::COUNT],
    pub no_local_port: u64,
    pub unknown_in_port: u64,
    pub copy_failures: u64,
}

impl CounterTotals {
    /// Adds `o` element-wise where the shapes overlap.
    pub fn add(&mut self, o: &CounterTotals) {
        for (a, b) in self.tables.iter_mut().zip(&o.tables) {
            *a = (a.0.wrapping_add(b.0), a.1.wrapping_add(b.1));
        }
        for (a, b) in self.entries.iter_mut().zip(&o.entries) {
            *a = (a.0.wrapping_add(b.0), a.1.wrapping_add(b.1));
        }
        for (a, b) in self.drops.iter_mut().zip(&o.drops) {
            *a = a.wrapping_add(*b);
        }
        self.no_local_port = self.no_local_port.wrapping_add(o.no_local_port);
        self.unknown_in_port = self.unknown_in_port.wrapping_add(o.unknown_in_port);
        self.copy_failures = self.copy_failures.wrapping_add(o.copy_failures);
    }

    /// Sums `workers` (blocks of another shape — an older pipeline — are
    /// added where they fit; callers pass the current generation's).
    /// `tables` holds each table's entry range `(first, count)`.
    pub fn sum<'a>(
        tables: &[(u32, u32)],
        entries: usize,
        workers: impl IntoIterator<Item = &'a PipelineCounters>,
    ) -> Self {
        let mut t = CounterTotals {
            tables: vec![(0, 0); tables.len()],
            entries: vec![(0, 0); entries],
            ..CounterTotals::default()
        };
        for w in workers {
            for (acc, c) in t.tables.iter_mut().zip(w.misses.iter()) {
                acc.0 += c.get();
            }
            for (acc, c) in t.entries.iter_mut().zip(w.entries.iter()) {
                acc.0 += c.packets.get();
                acc.1 += c.bytes.get();
            }
            for (acc, c) in t.drops.iter_mut().zip(w.drops.iter()) {
                *acc += c.get();
            }
            t.no_local_port += w.no_local_port.get();
            t.unknown_in_port += w.unknown_in_port.get();
            t.copy_failures += w.copy_failures.get();
        }
        for (acc, &(first, n)) in t.tables.iter_mut().zip(tables) {
            let range = first as usize..(first + n) as usize;
            let matches: u64 = t
                .entries
                .get(range)
                .map_or(0, |e| e.iter().map(|c| c.0).sum());
            *acc = (acc.0 + matches, matches);
        }
        t
    }
}
