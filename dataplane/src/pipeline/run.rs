//! The per-packet entry point of the compiled pipeline:
//! [`CompiledPipeline::process`].
//!
//! # Design
//!
//! What: one packet through the compiled tables, with the reference
//! interpreter's semantics, no allocation, no lock, no formatting. The
//! caller (a worker) owns the packet buffer, its parsed [`FlowKey`] and
//! the [`Registers`]; everything the pipeline emits besides the packet
//! itself goes through a [`Sink`].
//!
//! How, zero copy: the latest output is remembered as *pending* instead of
//! copied. Before anything could change the packet (a header action, a
//! meter's DSCP remark) and before any other output or packet-in, the
//! pending output is flushed through [`Sink::copy_out`]; at the end a
//! pending output becomes [`Verdict::Output`] and the packet itself is
//! sent. The common case — one output at the end — copies nothing. ALL,
//! FLOOD and several outputs make copies.
//!
//! Groups: every bucket acts on its own copy of the packet, lazily: a
//! bucket starts on the packet it came from, read-only, and asks the sink
//! for a writable copy ([`Sink::clone_packet`]) only when it first
//! rewrites a header; a copy with a pending output at the bucket's end
//! goes out as itself ([`Sink::send`]). When nothing happens to the packet
//! after a group (a group in the action set, or at the end of an entry's
//! apply actions with the pipeline ending there), the group's last bucket
//! works on the packet itself. The invariant that makes one pending slot
//! enough: a pending output always belongs to the buffer the running
//! bucket (or the packet) works on; a bucket flushes it before making its
//! own copy, and a copy's own pending output leaves with the copy.
//!
//! Drops: every drop (the packet's, or a bucket copy's) is counted in
//! [`PipelineCounters::drops`] and reported to [`Sink::dropped`]; the
//! verdict is [`Verdict::Drop`] only when the packet produced nothing at
//! all — with the first cause, or [`DropCause::NoOutput`], exactly the
//! reference's [`Outcome::dropped`].
//!
//! Flow cache: [`CompiledPipeline::process_cached`] first looks the
//! packet's matched fields up in the worker's
//! [`FlowCache`](super::flowcache::FlowCache); a hit replays the entries
//! the classifiers found last time (counting them as lookups would), a
//! miss records them. A path of gotos (and meter-only entries) ending in a
//! plain output (the usual forwarding case) is stored with that output, its
//! composed metadata write and its meters, and a hit on it returns the
//! verdict after counting the path's entries and calling its meters,
//! without touching an entry or building any run state; consecutive such
//! hits of one flow count their path once, when the run ends
//! ([`CompiledPipeline::settle`]). The result is the same as `process`'s,
//! counters and drops included.
//!
//! Plain entries: a packet that neither replays nor records a cached path
//! first runs [`CompiledPipeline::plain`]'s short loop, which knows only
//! gotos and final outputs (with write_metadata); at the first other entry
//! the general loop takes over from that entry.
//!
//! Threads: `process` takes `&self`; any number of workers run it at once
//! on the same pipeline, each with its own counters (and flow cache).

use super::compile::CompiledPipeline;
use super::counters::PipelineCounters;
use super::env::{Env, MeterVerdict};
use super::exec;
use super::fields::Registers;
use super::flowcache::{FlowCache, HitRun, Slot, KEY_WORDS, PATH_MAX};
use super::groups;
use super::outcome::{DropCause, Egress, Outcome, PacketIn, PacketInReason};
use super::packet::{PacketBuf, VecPacket};
use super::program::{
    flag, slot_field, Entry, Kind, Op, Step, COMBINED, GROUP_SLOT, NONE, OUTPUT_SLOT, PARTIAL,
    SLOTS,
};
use super::reference::MAX_GROUP_DEPTH;
use crate::openflow::{Action, Field, GroupType, OFPCML_NO_BUFFER};
use crate::wire::{self, FlowKey};

/// What the worker does with the packet after [`CompiledPipeline::process`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send this packet (no copy) out of the port at index `port` of the
    /// pipeline's port list, on `queue` if `set_queue` chose one.
    Output { port: u32, queue: Option<u32> },
    /// Everything went through the sink: free the packet.
    Consumed,
    /// Nothing came out: free the packet. The cause is already counted in
    /// [`PipelineCounters::drops`].
    Drop(DropCause),
}

/// A packet-in's metadata (OF1.3 `ofp_packet_in`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketInInfo {
    pub reason: PacketInReason,
    /// Table and cookie of the entry that sent it.
    pub table_id: u8,
    pub cookie: u64,
    /// Ingress port (OpenFlow number).
    pub in_port: u32,
    pub metadata: u64,
    pub tunnel_id: u64,
    /// Length of the whole packet.
    pub total_len: usize,
    /// Bytes of it to send (`max_len` applied).
    pub len: usize,
}

/// Where the pipeline sends what is not the packet itself. The worker
/// implements it over mbufs (copies from its mempool, a punt ring for
/// packet-ins); [`CollectSink`] collects into vectors.
pub trait Sink<P> {
    /// Send a copy of `pkt` (as it is now) out of port index `port`.
    fn copy_out(&mut self, port: u32, queue: Option<u32>, pkt: &P);

    /// Send `pkt` itself, a copy made by [`clone_packet`](Self::clone_packet)
    /// for a group bucket.
    fn send(&mut self, port: u32, queue: Option<u32>, pkt: P) {
        self.copy_out(port, queue, &pkt);
    }

    /// A packet-in: the first `info.len` bytes of `pkt` to the punt path.
    fn packet_in(&mut self, info: &PacketInInfo, pkt: &P);

    /// A writable copy of `pkt` for a group bucket that rewrites it; `None`
    /// when there is no buffer (the bucket is skipped and counted in
    /// [`PipelineCounters::copy_failures`]).
    fn clone_packet(&mut self, pkt: &P) -> Option<P>;

    /// The packet or a bucket copy was dropped (already counted).
    #[inline(always)]
    fn dropped(&mut self, _cause: DropCause) {}
}

/// Why processing of a packet (or bucket copy) stops early.
enum Stop {
    Drop(DropCause),
    /// The sink had no buffer for a bucket's copy.
    NoBuffer,
}

impl From<exec::Fault> for Stop {
    fn from(f: exec::Fault) -> Self {
        Stop::Drop(f.into())
    }
}

/// The buffer a flight works on. (`repr(u8)`: an explicit tag, one
/// compare to match, instead of a niche in `P`.)
#[repr(u8)]
enum Buf<'b, P> {
    /// The packet itself, or the buffer of the flight a last bucket took
    /// over: writable.
    Borrowed(&'b mut P),
    /// A bucket's own copy.
    Own(P),
    /// The buffer the bucket came from, read-only until the bucket writes.
    Shared(&'b P),
}

impl<P> Buf<'_, P> {
    #[inline(always)]
    fn get(&self) -> &P {
        match self {
            Buf::Borrowed(p) => p,
            Buf::Own(p) => p,
            Buf::Shared(p) => p,
        }
    }

    /// The same buffer for a bucket that takes the flight over.
    fn take_over(&mut self) -> Buf<'_, P> {
        match self {
            Buf::Borrowed(p) => Buf::Borrowed(p),
            Buf::Own(p) => Buf::Borrowed(p),
            Buf::Shared(p) => Buf::Shared(p),
        }
    }
}

/// The packet, or one group bucket's copy of it, in flight.
struct Flight<'b, P> {
    buf: Buf<'b, P>,
    key: &'b mut FlowKey,
    regs: &'b mut Registers,
    queue: Option<u32>,
}

/// The state of one `process` call.
struct Run<'r, 'e, 'a, S> {
    sink: &'r mut S,
    env: &'e mut Env<'a>,
    counters: &'r PipelineCounters,
    /// An output of the current buffer not yet sent: (port index, queue).
    pending: Option<(u32, Option<u32>)>,
    /// Something went out (an output or a packet-in).
    emitted: bool,
    first_drop: Option<DropCause>,
    in_port: u32,
    /// The last entry matched (table, cookie and reason of packet-ins).
    entry: u32,
    /// Groups running one inside the other.
    chain: u8,
}

impl<S> Run<'_, '_, '_, S> {
    #[inline]
    fn drop<P>(&mut self, cause: DropCause)
    where
        S: Sink<P>,
    {
        if self.first_drop.is_none() {
            self.first_drop = Some(cause);
        }
        count_drop(self.counters, self.sink, cause);
    }

    fn stop<P>(&mut self, stop: Stop)
    where
        S: Sink<P>,
    {
        match stop {
            Stop::Drop(cause) => self.drop::<P>(cause),
            Stop::NoBuffer => self.counters.copy_failures.add(1),
        }
    }

    #[inline(always)]
    fn flush<P>(&mut self, pkt: &P)
    where
        S: Sink<P>,
    {
        if let Some((port, queue)) = self.pending.take() {
            self.sink.copy_out(port, queue, pkt);
        }
    }

    #[inline]
    fn output<P>(&mut self, pkt: &P, port: u32, queue: Option<u32>)
    where
        S: Sink<P>,
    {
        self.flush(pkt);
        self.pending = Some((port, queue));
        self.emitted = true;
    }

    fn packet_in<P: PacketBuf>(&mut self, fl: &Flight<'_, P>, max_len: u16, entry: Option<&Entry>)
    where
        S: Sink<P>,
    {
        let pkt = fl.buf.get();
        self.flush(pkt);
        let total_len = pkt.len();
        let len = if max_len == OFPCML_NO_BUFFER {
            total_len
        } else {
            total_len.min(usize::from(max_len))
        };
        let info = PacketInInfo {
            reason: entry.map_or(PacketInReason::Action, Entry::reason),
            table_id: entry.map_or(0, |e| e.table_id),
            cookie: entry.map_or(0, |e| e.cookie),
            in_port: self.in_port,
            metadata: fl.regs.metadata,
            tunnel_id: fl.regs.tunnel_id,
            total_len,
            len,
        };
        self.sink.packet_in(&info, pkt);
        self.emitted = true;
    }
}

impl<'b, P: PacketBuf> Flight<'b, P> {
    /// The packet, writable: flushes a pending output first and makes the
    /// bucket's own copy if it has none yet.
    #[inline]
    fn writable<S: Sink<P>>(
        &mut self,
        run: &mut Run<'_, '_, '_, S>,
    ) -> Result<(&mut P, &mut FlowKey, &mut Registers), Stop> {
        run.flush(self.buf.get());
        if let Buf::Shared(p) = self.buf {
            match run.sink.clone_packet(p) {
                Some(copy) => self.buf = Buf::Own(copy),
                None => return Err(Stop::NoBuffer),
            }
        }
        match &mut self.buf {
            Buf::Borrowed(p) => Ok((&mut **p, &mut *self.key, &mut *self.regs)),
            Buf::Own(p) => Ok((p, &mut *self.key, &mut *self.regs)),
            Buf::Shared(_) => Err(Stop::NoBuffer),
        }
    }

    /// A bucket flight is over: its own copy leaves with its pending
    /// output, or is freed.
    fn finish<S: Sink<P>>(self, run: &mut Run<'_, '_, '_, S>) {
        if let Buf::Own(p) = self.buf {
            if let Some((port, queue)) = run.pending.take() {
                run.sink.send(port, queue, p);
            }
        }
    }
}

impl CompiledPipeline {
    /// Sends one packet through the pipeline (see the module docs).
    ///
    /// `key` must be `pkt` parsed by [`wire::parse`] (with `in_port` the
    /// OpenFlow number of the ingress port); a packet that does not parse
    /// is the caller's drop. `regs` holds the initial tunnel id (metadata
    /// 0). On return `key` and `regs` describe the packet as the pipeline
    /// left it. `counters` must come from this pipeline's
    /// [`new_counters`](Self::new_counters) (others are not counted into).
    #[inline]
    pub fn process<P: PacketBuf, S: Sink<P>>(
        &self,
        pkt: &mut P,
        key: &mut FlowKey,
        regs: &mut Registers,
        env: &mut Env<'_>,
        sink: &mut S,
        counters: &PipelineCounters,
    ) -> Verdict {
        self.process_inner(pkt, key, regs, env, sink, counters, None)
    }

    /// [`process`](Self::process) with the worker's [`FlowCache`]: a
    /// packet whose lookup key was seen before takes the cached path
    /// through the tables instead of the classifiers (the result is the
    /// same; see [`super::flowcache`]). A cache of another pipeline is
    /// ignored, and so is any cache for a packet that does not come with
    /// the default registers (keys leave them out). A run of fast hits of
    /// one flow reaches its entries' counters when it ends: call
    /// [`settle`](Self::settle) after each burst.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn process_cached<P: PacketBuf, S: Sink<P>>(
        &self,
        pkt: &mut P,
        key: &mut FlowKey,
        regs: &mut Registers,
        env: &mut Env<'_>,
        sink: &mut S,
        counters: &PipelineCounters,
        cache: &mut FlowCache,
    ) -> Verdict {
        self.process_cached_ahead(pkt, key, regs, env, sink, counters, cache, None)
    }

    /// [`process_cached`](Self::process_cached) with the packet's cache
    /// lookup key and hash as [`prefetch_cached`](Self::prefetch_cached)
    /// computed them (for `key` as it is now), or `None`.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn process_cached_ahead<P: PacketBuf, S: Sink<P>>(
        &self,
        pkt: &mut P,
        key: &mut FlowKey,
        regs: &mut Registers,
        env: &mut Env<'_>,
        sink: &mut S,
        counters: &PipelineCounters,
        cache: &mut FlowCache,
        ahead: Option<&CacheLookup>,
    ) -> Verdict {
        let probe = self.probe(key, regs, cache, ahead);
        if let Probe::Hit(i) = probe {
            if let Some(s) = cache.slots.get(i) {
                // A path that ends in a plain output: no entry, no action
                // and no run state to touch, only the path's counters.
                if s.out != NONE && s.out_ofport != key.in_port {
                    let len = pkt.len() as u64;
                    if s.meters {
                        for (j, &ei) in s.path.iter().enumerate().take(usize::from(s.len)) {
                            let id = self.entries.get(ei as usize).map_or(NONE, |e| e.meter);
                            if id == NONE {
                                continue;
                            }
                            match env.meters.meter(id, len as usize) {
                                MeterVerdict::Pass => {}
                                MeterVerdict::Drop => {
                                    // Counted in the entries up to the
                                    // meter's, not in the run.
                                    count_path(counters, &s.path, j + 1, 1, len);
                                    let cause = DropCause::Meter { id };
                                    count_drop(counters, sink, cause);
                                    cache.fast_hits += 1;
                                    return Verdict::Drop(cause);
                                }
                                // No later table matches the DSCP (or the
                                // path would have ended at this entry).
                                MeterVerdict::RemarkDscp { prec_level } => {
                                    exec::remark_dscp(prec_level, pkt, key, regs);
                                }
                            }
                        }
                    }
                    // The cache is consulted with the default registers.
                    regs.metadata = s.metadata;
                    cache.run.hot = cache.run.slot == i;
                    if cache.run.hot {
                        // Counted when the run is settled.
                        cache.run.packets += 1;
                        cache.run.bytes += len;
                    } else {
                        if cache.run.packets != 0 {
                            self.settle_run(&mut cache.run, &cache.slots, counters);
                        }
                        count_path(counters, &s.path, usize::from(s.len), 1, len);
                        cache.run.slot = i;
                    }
                    cache.fast_hits += 1;
                    return Verdict::Output {
                        port: s.out,
                        queue: None,
                    };
                }
            }
        }
        // Before anything may record into a slot.
        self.settle(cache, counters);
        self.process_inner(pkt, key, regs, env, sink, counters, Some((cache, probe)))
    }

    /// Whether a worker should [`prefetch_cached`](Self::prefetch_cached)
    /// its bursts: `cache` is this pipeline's, consulted (not bypassed),
    /// and holds more paths than stay in a core's caches
    /// ([`FlowCache::PREFETCH_FILLED`]).
    #[inline]
    pub fn prefetches_cache(&self, cache: &FlowCache) -> bool {
        self.key_spec.is_some()
            && cache.generation == self.generation
            && cache.filled() >= FlowCache::PREFETCH_FILLED
            && !cache.bypassing()
    }

    /// Computes the packet's cache lookup into `ahead` and hints the CPU
    /// to load the flow cache slots it will read, for
    /// [`process_cached_ahead`](Self::process_cached_ahead) with the same
    /// `key` (for a cache that
    /// [`prefetches_cache`](Self::prefetches_cache) approves).
    #[inline]
    pub fn prefetch_cached(&self, key: &FlowKey, cache: &FlowCache, ahead: &mut CacheLookup) {
        let Some(spec) = &self.key_spec else {
            return;
        };
        spec.pack_into(key, &mut ahead.key);
        ahead.hash = cache.hash(&ahead.key);
        cache.prefetch(ahead.hash);
    }

    /// Counts the run of fast hits that `cache` holds into its path's
    /// entries in `counters` (the counters given to
    /// [`process_cached`](Self::process_cached)). Call it after each burst:
    /// until then the run's packets are missing from its entries' counters.
    #[inline]
    pub fn settle(&self, cache: &mut FlowCache, counters: &PipelineCounters) {
        // Another pipeline's cache has no run (it is never consulted).
        if cache.run.packets != 0 && cache.generation == self.generation {
            self.settle_run(&mut cache.run, &cache.slots, counters);
        }
    }

    /// Counts the hits of `run` not counted yet.
    #[inline(never)]
    fn settle_run(&self, run: &mut HitRun, slots: &[Slot], counters: &PipelineCounters) {
        if let Some(s) = slots.get(run.slot) {
            count_path(
                counters,
                &s.path,
                usize::from(s.len),
                run.packets,
                run.bytes,
            );
        }
        (run.packets, run.bytes) = (0, 0);
    }

    /// Looks the packet's lookup key up in `cache`.
    #[inline(always)]
    fn probe(
        &self,
        key: &FlowKey,
        regs: &Registers,
        cache: &mut FlowCache,
        ahead: Option<&CacheLookup>,
    ) -> Probe {
        let Some(spec) = &self.key_spec else {
            return Probe::Off;
        };
        // Keys leave the registers out: they must be the default ones (as
        // for every packet a port receives).
        if cache.generation != self.generation || *regs != Registers::default() || !cache.admit() {
            return Probe::Off;
        }
        let mut packed = [0u64; KEY_WORDS];
        let (k, hash) = match ahead {
            Some(a) => (&a.key, Some(a.hash)),
            None => {
                spec.pack_into(key, &mut packed);
                (&packed, None)
            }
        };
        match cache.find(k, hash) {
            Ok(i) => {
                cache.account(true);
                Probe::Hit(i)
            }
            Err(i) => {
                cache.account(false);
                Probe::Miss(i, *k)
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn process_inner<P: PacketBuf, S: Sink<P>>(
        &self,
        pkt: &mut P,
        key: &mut FlowKey,
        regs: &mut Registers,
        env: &mut Env<'_>,
        sink: &mut S,
        counters: &PipelineCounters,
        cache: Option<(&mut FlowCache, Probe)>,
    ) -> Verdict {
        // Without a cache to replay or record (none, another pipeline's,
        // or bypassed: most packets at 100,000 flows), plain entries run
        // without the general loop's state.
        let cache = match cache {
            Some((c, probe @ (Probe::Hit(_) | Probe::Miss(..)))) => Some((c, probe)),
            _ => None,
        };
        let mut start = (self.table_index[0], NONE);
        if cache.is_none() {
            match self.plain(pkt.len() as u64, key, regs, sink, counters) {
                Plain::Done(v) => return v,
                Plain::General { table, entry } => start = (table, entry),
            }
        }
        let mut run = Run {
            sink,
            env,
            counters,
            pending: None,
            emitted: false,
            first_drop: None,
            in_port: key.in_port,
            entry: NONE,
            chain: 0,
        };
        let mut fl = Flight {
            buf: Buf::Borrowed(pkt),
            key,
            regs,
            queue: None,
        };
        // The loop without a cache is built without any of its bookkeeping.
        match cache {
            Some(c) => self.pipeline::<P, S, true>(&mut fl, &mut run, Some(c), start),
            None => self.pipeline::<P, S, false>(&mut fl, &mut run, None, start),
        }
        if let Some((port, queue)) = run.pending {
            Verdict::Output { port, queue }
        } else if run.emitted {
            Verdict::Consumed
        } else {
            let cause = match run.first_drop {
                Some(c) => c,
                None => {
                    run.drop::<P>(DropCause::NoOutput);
                    DropCause::NoOutput
                }
            };
            Verdict::Drop(cause)
        }
    }

    /// Where plain entry `ei` (a goto, or an output that ends the
    /// pipeline, with or without write_metadata) sends the packet, after
    /// its metadata write; `None` for any other entry. The common shapes
    /// come from the 8-byte step without reading the entry.
    #[inline(always)]
    fn plain_next(&self, ei: u32, regs: &mut Registers) -> Option<Next> {
        let step = self
            .steps
            .get(ei as usize)
            .copied()
            .unwrap_or(Step::GENERAL);
        if step.code < Step::OUTPUT {
            return Some(Next::Table(step.code));
        }
        if step != Step::GENERAL {
            return Some(Next::Out(step.code & !Step::OUTPUT, step.ofport));
        }
        let e = self.entries.get(ei as usize)?;
        let next = match e.kind {
            Kind::Goto => Next::Table(e.goto),
            Kind::Output => Next::Out(e.out.0, e.out.1),
            Kind::General => return None,
        };
        regs.metadata = (regs.metadata & !e.metadata_mask) | e.metadata_value;
        Some(next)
    }

    /// The tables as long as the entries matched are plain (a goto, an
    /// output that ends the pipeline, with or without write_metadata):
    /// the packet's verdict, or the first other entry matched (not yet
    /// counted) and its table, for the general loop to go on from.
    #[inline(always)]
    fn plain<P, S: Sink<P>>(
        &self,
        len: u64,
        key: &FlowKey,
        regs: &mut Registers,
        sink: &mut S,
        counters: &PipelineCounters,
    ) -> Plain {
        let mut ti = self.table_index[0];
        loop {
            let Some(table) = self.tables.get(ti as usize) else {
                return Plain::General {
                    table: ti,
                    entry: NONE,
                };
            };
            let Some(id) = table.classifier.lookup(key, regs) else {
                if let Some(c) = counters.misses.get(ti as usize) {
                    c.add(1);
                }
                let cause = DropCause::TableMiss { table: table.id };
                count_drop(counters, sink, cause);
                return Plain::Done(Verdict::Drop(cause));
            };
            let ei = table.base + id;
            let Some(next) = self.plain_next(ei, regs) else {
                return Plain::General {
                    table: ti,
                    entry: ei,
                };
            };
            if let Some(c) = counters.entries.get(ei as usize) {
                c.count(len);
            }
            let (port, ofport) = match next {
                Next::Table(t) => {
                    ti = t;
                    continue;
                }
                Next::Out(port, ofport) => (port, ofport),
            };
            if ofport != key.in_port {
                return Plain::Done(Verdict::Output { port, queue: None });
            }
            count_drop(counters, sink, DropCause::NoOutput);
            return Plain::Done(Verdict::Drop(DropCause::NoOutput));
        }
    }

    /// Tables from `start` (a table index, and the entry already matched
    /// there or `NONE`) until the pipeline ends or drops, then the action
    /// set.
    #[inline]
    fn pipeline<P: PacketBuf, S: Sink<P>, const CACHED: bool>(
        &self,
        fl: &mut Flight<'_, P>,
        run: &mut Run<'_, '_, '_, S>,
        cache: Option<(&mut FlowCache, Probe)>,
        start: (u32, u32),
    ) {
        let mut present: u64 = 0;
        let mut refs: Option<[u32; SLOTS]> = None;
        let mut combined: Option<[(u128, u128); SLOTS]> = None;
        let (mut ti, mut first) = start;
        let counters = run.counters;
        // Only general entries change the packet's length.
        let mut len = fl.buf.get().len() as u64;
        // The flow cache: a path to replay, or a slot to record one in.
        let mut replay_path = [0u32; PATH_MAX];
        let mut replay_len = 0usize;
        let mut replay_miss = 0u32;
        let mut step = 0usize;
        let mut record: Option<usize> = None;
        let mut rec_path = [0u32; PATH_MAX];
        let mut rec_len = 0usize;
        let mut rec_key = [0u64; KEY_WORDS];
        let mut cache = match cache {
            Some((c, Probe::Hit(i))) => {
                if let Some(s) = c.slots.get(i) {
                    replay_path = s.path;
                    replay_len = usize::from(s.len);
                    replay_miss = u32::from(s.miss);
                }
                Some(c)
            }
            Some((c, Probe::Miss(i, k))) => {
                record = Some(i);
                rec_key = k;
                Some(c)
            }
            Some((_, Probe::Off)) | None => None,
        };
        loop {
            let ei = if CACHED && step < replay_len {
                let ei = replay_path[step];
                step += 1;
                ei
            } else if !CACHED && first != NONE {
                std::mem::replace(&mut first, NONE)
            } else {
                if CACHED && replay_miss != 0 && step == replay_len {
                    let mt = replay_miss - 1;
                    if let Some(c) = counters.misses.get(mt as usize) {
                        c.add(1);
                    }
                    let table = self.tables.get(mt as usize).map_or(0, |t| t.id);
                    run.drop::<P>(DropCause::TableMiss { table });
                    return;
                }
                let Some(table) = self.tables.get(ti as usize) else {
                    run.drop::<P>(DropCause::TableMiss { table: 0 });
                    return;
                };
                let Some(id) = table.classifier.lookup(fl.key, fl.regs) else {
                    if let Some(c) = counters.misses.get(ti as usize) {
                        c.add(1);
                    }
                    if let (true, Some(i)) = (CACHED, record) {
                        self.store(cache.as_deref_mut(), i, rec_key, rec_path, rec_len, ti + 1);
                    }
                    run.drop::<P>(DropCause::TableMiss { table: table.id });
                    return;
                };
                let ei = table.base + id;
                if let (true, Some(i)) = (CACHED, record) {
                    if rec_len < PATH_MAX {
                        rec_path[rec_len] = ei;
                        rec_len += 1;
                        // The path goes on through gotos, and through
                        // entries whose apply-actions leave the packet as it
                        // is (meter, write_metadata, write/clear_actions):
                        // the next lookup still depends on the key and the
                        // metadata alone. A meter that drops the packet ends
                        // it before anything is stored; one that may remark
                        // a DSCP that a later table matches ends it at its
                        // entry.
                        let end = match self.entries.get(ei as usize) {
                            Some(e) => {
                                !(e.kind == Kind::Goto
                                    || (e.kind == Kind::General
                                        && e.goto != NONE
                                        && e.apply.0 == e.apply.1
                                        && e.flags & (flag::ONE_OUTPUT | flag::REMARKS) == 0))
                            }
                            None => true,
                        };
                        if end {
                            self.store(cache.as_deref_mut(), i, rec_key, rec_path, rec_len, 0);
                            record = None;
                        }
                    } else {
                        record = None;
                    }
                }
                ei
            };
            if let Some(c) = counters.entries.get(ei as usize) {
                c.count(len);
            }
            run.entry = ei;
            // The plain shapes without reading the entry.
            match self.plain_next(ei, fl.regs) {
                Some(Next::Table(t)) => {
                    ti = t;
                    continue;
                }
                Some(Next::Out(port, ofport)) => {
                    if ofport != run.in_port {
                        run.output(fl.buf.get(), port, fl.queue);
                    }
                    break;
                }
                None => {}
            }
            let Some(e) = self.entries.get(ei as usize) else {
                run.drop::<P>(DropCause::TableMiss { table: 0 });
                return;
            };
            if e.meter != NONE && !self.meter(e.meter, fl, run) {
                return;
            }
            if e.flags & flag::ONE_OUTPUT != 0 {
                if e.out.1 != run.in_port {
                    run.output(fl.buf.get(), e.out.0, fl.queue);
                }
            } else if e.apply.0 != e.apply.1 {
                let ends =
                    e.flags & flag::ENDS != 0 && (e.flags & flag::CLEAR != 0 || present == 0);
                let ops = self
                    .ops
                    .get(e.apply.0 as usize..e.apply.1 as usize)
                    .unwrap_or(&[]);
                if let Err(stop) = self.run_ops(ops, fl, run, ends) {
                    run.stop::<P>(stop);
                    return;
                }
            }
            if e.flags & flag::CLEAR != 0 {
                present = 0;
            }
            if e.write.0 != e.write.1 {
                let refs = refs.get_or_insert([0; SLOTS]);
                for i in e.write.0..e.write.1 {
                    let tag = self.op_slot.get(i as usize).copied().unwrap_or(0);
                    let s = u32::from(tag & !PARTIAL);
                    let bit = 1u64 << s;
                    if tag & PARTIAL != 0 && present & bit != 0 {
                        // Two set-fields of one field combine bit-wise.
                        let c = combined.get_or_insert([(0, 0); SLOTS]);
                        let old = refs[s as usize];
                        let (ov, om) = if old & COMBINED != 0 {
                            c[s as usize]
                        } else {
                            self.set_value(old)
                        };
                        let (nv, nm) = self.set_value(i);
                        c[s as usize] = ((ov & !nm) | nv, om | nm);
                        refs[s as usize] = COMBINED | s;
                    } else {
                        refs[s as usize] = i;
                    }
                    present |= bit;
                }
            }
            fl.regs.metadata = (fl.regs.metadata & !e.metadata_mask) | e.metadata_value;
            if e.goto == NONE {
                break;
            }
            ti = e.goto;
            len = fl.buf.get().len() as u64;
        }
        // The action set, in slot order; a group beats the output.
        let Some(refs) = refs else { return };
        let mut bits = present;
        if bits & (1 << GROUP_SLOT) != 0 {
            bits &= !(1 << OUTPUT_SLOT);
        }
        while bits != 0 {
            let s = bits.trailing_zeros();
            bits &= bits - 1;
            let r = refs[s as usize];
            let res = if r & COMBINED != 0 {
                let (value, mask) = combined.as_ref().map_or((0, 0), |c| c[s as usize]);
                match slot_field(s) {
                    Some(Field::TunnelId) => {
                        let m = mask as u64;
                        fl.regs.tunnel_id = (fl.regs.tunnel_id & !m) | (value as u64 & m);
                        Ok(())
                    }
                    Some(field) => {
                        let a = Action::SetField { field, value, mask };
                        fl.writable(run).and_then(|(p, k, g)| {
                            exec::execute(&a, p, k, g).map(|_| ()).map_err(Stop::from)
                        })
                    }
                    None => Ok(()),
                }
            } else {
                match self.ops.get(r as usize) {
                    Some(op) => self.op(op, fl, run, bits == 0),
                    None => Ok(()),
                }
            };
            if let Err(stop) = res {
                run.stop::<P>(stop);
                return;
            }
        }
    }

    /// `(value, mask)` of the set-field op at `i`.
    fn set_value(&self, i: u32) -> (u128, u128) {
        match self.ops.get(i as usize) {
            Some(Op::Exec(Action::SetField { value, mask, .. })) => (*value, *mask),
            Some(Op::SetTunnel { value, mask }) => (u128::from(*value), u128::from(*mask)),
            _ => (0, 0),
        }
    }

    /// The meter instruction; `false` when the packet is dropped.
    fn meter<P: PacketBuf, S: Sink<P>>(
        &self,
        id: u32,
        fl: &mut Flight<'_, P>,
        run: &mut Run<'_, '_, '_, S>,
    ) -> bool {
        let len = fl.buf.get().len();
        match run.env.meters.meter(id, len) {
            MeterVerdict::Pass => true,
            MeterVerdict::Drop => {
                run.drop::<P>(DropCause::Meter { id });
                false
            }
            MeterVerdict::RemarkDscp { prec_level } => {
                if let Ok((p, k, r)) = fl.writable(run) {
                    exec::remark_dscp(prec_level, p, k, r);
                }
                true
            }
        }
    }

    /// An action program; stops at the first failing action. `tail`: the
    /// flight ends after it.
    #[inline]
    fn run_ops<P: PacketBuf, S: Sink<P>>(
        &self,
        ops: &[Op],
        fl: &mut Flight<'_, P>,
        run: &mut Run<'_, '_, '_, S>,
        tail: bool,
    ) -> Result<(), Stop> {
        let n = ops.len();
        for (i, op) in ops.iter().enumerate() {
            self.op(op, fl, run, tail && i + 1 == n)?;
        }
        Ok(())
    }

    #[inline]
    fn op<P: PacketBuf, S: Sink<P>>(
        &self,
        op: &Op,
        fl: &mut Flight<'_, P>,
        run: &mut Run<'_, '_, '_, S>,
        tail: bool,
    ) -> Result<(), Stop> {
        match *op {
            Op::Output { port, ofport } => {
                if ofport != run.in_port {
                    run.output(fl.buf.get(), port, fl.queue);
                }
            }
            Op::InPort => match self.port_index(run.in_port) {
                Some(i) => run.output(fl.buf.get(), i, fl.queue),
                None => run.counters.unknown_in_port.add(1),
            },
            Op::Flood => {
                for (i, &p) in self.ports.iter().enumerate() {
                    if p != run.in_port {
                        run.output(fl.buf.get(), i as u32, fl.queue);
                    }
                }
            }
            Op::Controller { max_len } => {
                let e = self.entries.get(run.entry as usize);
                run.packet_in(fl, max_len, e)
            }
            Op::Local => run.counters.no_local_port.add(1),
            Op::Group(g) => self.group(g, fl, run, tail),
            Op::SetQueue(q) => fl.queue = Some(q),
            Op::SetTunnel { value, mask } => {
                fl.regs.tunnel_id = (fl.regs.tunnel_id & !mask) | (value & mask);
            }
            Op::Exec(ref a) => {
                let (p, k, r) = fl.writable(run)?;
                exec::execute(a, p, k, r)?;
            }
        }
        Ok(())
    }

    /// Runs group `gi` (an index) on copies of the flight's packet; the
    /// last bucket takes the flight over when `dead_after`.
    fn group<P: PacketBuf, S: Sink<P>>(
        &self,
        gi: u32,
        parent: &mut Flight<'_, P>,
        run: &mut Run<'_, '_, '_, S>,
        dead_after: bool,
    ) {
        let Some(g) = self.groups.get(gi as usize) else {
            return;
        };
        if run.chain >= MAX_GROUP_DEPTH {
            run.drop::<P>(DropCause::GroupChainTooDeep { id: g.id });
            return;
        }
        let port_live = run.env.port_live;
        let live = |id: u32| self.group_live(id, 0, port_live);
        let (start, end) = match g.kind {
            GroupType::All => (0, g.programs.len()),
            GroupType::Indirect => (0, g.programs.len().min(1)),
            GroupType::Select => {
                let h = groups::flow_hash(parent.key, self.salt);
                match groups::select_bucket(&g.buckets, h, port_live, &live) {
                    Some(b) => (b, b + 1),
                    None => (0, 0),
                }
            }
            GroupType::FastFailover => {
                match groups::failover_bucket(&g.buckets, port_live, &live) {
                    Some(b) => (b, b + 1),
                    None => (0, 0),
                }
            }
        };
        if start >= end {
            run.drop::<P>(DropCause::NoLiveBucket { group: g.id });
            return;
        }
        run.chain += 1;
        for b in start..end {
            let Some(&(s, e)) = g.programs.get(b) else {
                continue;
            };
            let ops = self.ops.get(s as usize..e as usize).unwrap_or(&[]);
            if b + 1 == end && dead_after {
                let child = Flight {
                    buf: parent.buf.take_over(),
                    key: &mut *parent.key,
                    regs: &mut *parent.regs,
                    queue: parent.queue,
                };
                self.bucket(ops, child, run);
            } else {
                let mut key = *parent.key;
                let mut regs = *parent.regs;
                let child = Flight {
                    buf: Buf::Shared(parent.buf.get()),
                    key: &mut key,
                    regs: &mut regs,
                    queue: parent.queue,
                };
                self.bucket(ops, child, run);
            }
        }
        run.chain -= 1;
    }

    fn bucket<P: PacketBuf, S: Sink<P>>(
        &self,
        ops: &[Op],
        mut child: Flight<'_, P>,
        run: &mut Run<'_, '_, '_, S>,
    ) {
        if let Err(stop) = self.run_ops(ops, &mut child, run, true) {
            run.stop::<P>(stop);
        }
        child.finish(run);
    }

    /// Is group `id` live (for a bucket's watch_group)? As the reference:
    /// a fast-failover or select group while it has a live bucket, others
    /// while they exist.
    fn group_live(&self, id: u32, depth: u8, port_live: &dyn Fn(u32) -> bool) -> bool {
        let Some(g) = self.group_by_id(id) else {
            return false;
        };
        if depth >= MAX_GROUP_DEPTH {
            return false;
        }
        let live = |g: u32| self.group_live(g, depth + 1, port_live);
        match g.kind {
            GroupType::FastFailover => {
                groups::failover_bucket(&g.buckets, port_live, &live).is_some()
            }
            GroupType::Select => groups::select_bucket(&g.buckets, 0, port_live, &live).is_some(),
            GroupType::All | GroupType::Indirect => true,
        }
    }

    /// Parses `frame` (received on OpenFlow port `in_port`) and runs it
    /// through [`process`](Self::process) on a [`VecPacket`] into a
    /// [`CollectSink`]: the result in the reference's [`Outcome`] form
    /// (outputs with OpenFlow port numbers; no trace), and the verdict.
    /// For tests, tools and `sluice trace`; allocates.
    pub fn run_frame(
        &self,
        frame: &[u8],
        in_port: u32,
        regs: Registers,
        env: &mut Env<'_>,
        counters: &PipelineCounters,
    ) -> FrameRun {
        self.run_frame_inner(frame, in_port, regs, env, counters, None)
    }

    /// [`run_frame`](Self::run_frame) through
    /// [`process_cached`](Self::process_cached).
    pub fn run_frame_cached(
        &self,
        frame: &[u8],
        in_port: u32,
        regs: Registers,
        env: &mut Env<'_>,
        counters: &PipelineCounters,
        cache: &mut FlowCache,
    ) -> FrameRun {
        self.run_frame_inner(frame, in_port, regs, env, counters, Some(cache))
    }

    fn run_frame_inner(
        &self,
        frame: &[u8],
        in_port: u32,
        regs: Registers,
        env: &mut Env<'_>,
        counters: &PipelineCounters,
        cache: Option<&mut FlowCache>,
    ) -> FrameRun {
        let mut key = FlowKey::default();
        let mut sink = CollectSink::default();
        let mut pkt = VecPacket::new(frame);
        let mut regs = regs;
        let verdict = match wire::parse(frame, in_port, &mut key) {
            Ok(()) => match cache {
                Some(c) => {
                    let v = self
                        .process_cached(&mut pkt, &mut key, &mut regs, env, &mut sink, counters, c);
                    self.settle(c, counters);
                    v
                }
                None => self.process(&mut pkt, &mut key, &mut regs, env, &mut sink, counters),
            },
            Err(m) => {
                sink.drops.push(DropCause::Malformed(m));
                Verdict::Drop(DropCause::Malformed(m))
            }
        };
        let mut outputs: Vec<Egress> = sink
            .outputs
            .into_iter()
            .map(|mut e| {
                e.port = self.ofport(e.port).unwrap_or(e.port);
                e
            })
            .collect();
        if let Verdict::Output { port, queue } = verdict {
            outputs.push(Egress {
                port: self.ofport(port).unwrap_or(port),
                queue,
                data: pkt.to_vec(),
            });
        }
        let dropped = match (
            sink.drops.first(),
            outputs.is_empty() && sink.packet_ins.is_empty(),
        ) {
            (Some(&c), _) => Some(c),
            (None, true) => Some(DropCause::NoOutput),
            (None, false) => None,
        };
        FrameRun {
            outcome: Outcome {
                outputs,
                packet_ins: sink.packet_ins,
                dropped,
                trace: Vec::new(),
                final_packet: pkt.to_vec(),
                final_key: key.normalized(),
                final_regs: regs,
            },
            verdict,
            drops: sink.drops,
            copies: sink.copies,
        }
    }
}

/// Counts `packets` packets of `bytes` in all in the first `n` entries of
/// a cached path.
#[inline(always)]
fn count_path(
    counters: &PipelineCounters,
    path: &[u32; PATH_MAX],
    n: usize,
    packets: u64,
    bytes: u64,
) {
    for &ei in path.iter().take(n) {
        if let Some(c) = counters.entries.get(ei as usize) {
            c.count_many(packets, bytes);
        }
    }
}

/// Counts a drop (the packet's or a bucket copy's) and reports it.
#[inline]
fn count_drop<P, S: Sink<P>>(counters: &PipelineCounters, sink: &mut S, cause: DropCause) {
    if let Some(c) = counters.drops.get(cause.index()) {
        c.add(1);
    }
    sink.dropped(cause);
}

/// Where a plain entry sends the packet: a table index, or an output
/// (port index, OpenFlow port) that ends the pipeline.
enum Next {
    Table(u32),
    Out(u32, u32),
}

/// What [`CompiledPipeline::plain`] found.
enum Plain {
    Done(Verdict),
    /// Go on in the general loop from this table index, with this entry
    /// (`NONE`: look it up).
    General {
        table: u32,
        entry: u32,
    },
}

/// A packet's flow cache lookup key and its hash, computed a burst ahead
/// ([`CompiledPipeline::prefetch_cached`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheLookup {
    key: [u64; KEY_WORDS],
    hash: u64,
}

/// The flow cache's answer for one packet.
#[derive(Clone, Copy)]
enum Probe {
    /// Not consulted (bypassed, another generation, no key spec).
    Off,
    /// The path is in this slot.
    Hit(usize),
    /// Not cached: record the path of this key in this slot.
    Miss(usize, [u64; KEY_WORDS]),
}

impl CompiledPipeline {
    /// Records a path in slot `i` of the flow cache. A path of gotos and
    /// meter-only entries that ends in a plain output (the common
    /// forwarding case) is marked with that output, its composed metadata
    /// write and its meters, so that a hit needs nothing else.
    fn store(
        &self,
        cache: Option<&mut FlowCache>,
        i: usize,
        key: [u64; KEY_WORDS],
        path: [u32; PATH_MAX],
        len: usize,
        miss: u32,
    ) {
        let Some(cache) = cache else {
            return;
        };
        // A table index past a u8 (more than 255 tables): not recorded.
        let Ok(miss) = u8::try_from(miss) else {
            return;
        };
        let (mut out, mut out_ofport) = (NONE, NONE);
        let mut metadata = 0u64;
        let mut meters = false;
        if miss == 0 {
            let mut fast = len > 0;
            for (n, &ei) in path.iter().take(len).enumerate() {
                let Some(e) = self.entries.get(ei as usize) else {
                    fast = false;
                    break;
                };
                // An entry that only meters, writes metadata and goes on.
                let meters_only = e.kind == Kind::General
                    && e.meter != NONE
                    && e.goto != NONE
                    && e.apply.0 == e.apply.1
                    && e.write.0 == e.write.1
                    && e.flags & (flag::CLEAR | flag::REMARKS) == 0;
                let last = n + 1 == len;
                if last && e.kind == Kind::Output {
                    (out, out_ofport) = e.out;
                } else if !last && (e.kind == Kind::Goto || meters_only) {
                    meters |= meters_only;
                } else {
                    fast = false;
                }
                metadata = (metadata & !e.metadata_mask) | e.metadata_value;
            }
            if !fast {
                (out, out_ofport, meters) = (NONE, NONE, false);
            }
        }
        let slot = Slot {
            path,
            metadata,
            out,
            out_ofport,
            len: len as u8,
            miss,
            meters,
            ..Slot::default()
        };
        cache.put(i, &key, slot);
    }
}

/// The result of [`CompiledPipeline::run_frame`].
#[derive(Clone, Debug)]
pub struct FrameRun {
    /// Outputs (sink copies, then the packet itself if the verdict sent
    /// it), packet-ins, the first drop cause as the reference reports it.
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// Every drop, in order (the packet's and bucket copies').
    pub drops: Vec<DropCause>,
    /// Packet copies the pipeline asked for (copy_out and clone_packet).
    pub copies: usize,
}

/// A [`Sink`] over [`VecPacket`]s that collects everything (tests, tools).
/// Output ports are port indices.
#[derive(Clone, Debug, Default)]
pub struct CollectSink {
    pub outputs: Vec<Egress>,
    pub packet_ins: Vec<PacketIn>,
    pub drops: Vec<DropCause>,
    /// copy_out and clone_packet calls.
    pub copies: usize,
}

impl Sink<VecPacket> for CollectSink {
    fn copy_out(&mut self, port: u32, queue: Option<u32>, pkt: &VecPacket) {
        self.copies += 1;
        self.outputs.push(Egress {
            port,
            queue,
            data: pkt.to_vec(),
        });
    }

    fn send(&mut self, port: u32, queue: Option<u32>, pkt: VecPacket) {
        self.outputs.push(Egress {
            port,
            queue,
            data: pkt.to_vec(),
        });
    }

    fn packet_in(&mut self, info: &PacketInInfo, pkt: &VecPacket) {
        let data = pkt.data();
        self.packet_ins.push(PacketIn {
            reason: info.reason,
            table_id: info.table_id,
            cookie: info.cookie,
            in_port: info.in_port,
            metadata: info.metadata,
            tunnel_id: info.tunnel_id,
            total_len: info.total_len,
            data: data[..info.len.min(data.len())].to_vec(),
        });
    }

    fn clone_packet(&mut self, pkt: &VecPacket) -> Option<VecPacket> {
        self.copies += 1;
        Some(pkt.clone())
    }

    fn dropped(&mut self, cause: DropCause) {
        self.drops.push(cause);
    }
}
