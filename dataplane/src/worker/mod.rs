//! Poll-mode workers.
//!
//! What: one thread per configured core, pinned, polling a fixed list of
//! (port, rx queue) pairs and running every packet to completion: parse,
//! decide, transmit or drop.
//!
//! How: rx bursts of 32. Each packet is parsed into a [`FlowKey`] and given
//! a [`Verdict`]; packets for a port collect in that port's [`TxBuffer`],
//! flushed after every rx burst, and a burst whose packets all go to one
//! port is sent straight from the rx array. Counters are accumulated in
//! locals and stored once per burst. Nothing on this path locks, allocates
//! or makes a syscall: the bursts, keys and tx buffers are allocated once,
//! before the loop.
//!
//! Reload: what a worker runs for one config generation is a [`Program`]
//! (the forwarding, this worker's counters, meter and tenant handles,
//! flow cache, ports that are down), built by the admin thread. Once per
//! round over its queues the worker compares the published generation
//! (one relaxed load of a line that changes only on reload) with its own;
//! when they differ it takes the new program from its channel between two
//! bursts, so every packet runs entirely under one generation, stores the
//! generation it now runs in its [`WorkerStats`] (the admin's
//! acknowledgement) and hands the old program back to the admin thread,
//! which frees it: nothing is freed or allocated on the worker.
//!
//! Threads: a `Worker` is built on the main thread and moved to its own
//! thread; it owns its queues (one tx queue per port: its own index), and
//! shares only the read-only [`Forwarding`] and its [`WorkerStats`] (which
//! the admin thread reads).

mod sink;

use crate::dpdk::{self, Burst, Mbuf, Mempool, RxQueue, TxBuffer, TxQueue, BURST_SIZE};
use crate::forward::{Forwarding, Verdict};
use crate::openflow::Field;

use crate::pipeline::{
    self, exec, CacheLookup, CompiledPipeline, Env, FlowCache, MeterHook, PacketInInfo,
    PassThroughMeters, PipelineCounters, Registers,
};
use crate::stats::{CacheResult, DropReason, WorkerStats};
use crate::tenant::{TenantVerdict, WorkerMeterHook, WorkerTenants};
use crate::wire::{self, FlowKey};
use sink::WorkerSink;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What classifying a burst found.
struct Classified {
    rx_bytes: u64,
    malformed: u64,
    /// Packets dropped for want of a usable route, and why (`NoRoute`, or
    /// `PortDown` when the route's output is down).
    unrouted: (u64, DropReason),
    /// Every packet of the burst has the same verdict (`verdicts[0]`).
    uniform: bool,
}

/// One polled rx queue.
pub struct RxSource {
    /// Port index in the config.
    pub port: u16,
    pub queue: RxQueue,
}

pub struct Worker {
    pub id: usize,
    pub core: usize,
    rx: Vec<RxSource>,
    /// Indexed by port index: this worker's own tx queue on every port.
    tx: Vec<TxQueue>,
    txbuf: Vec<TxBuffer>,
    stats: Arc<WorkerStats>,
    /// What this worker runs for the current generation.
    program: Program,
    /// Process-wide services the pipeline uses.
    ctx: PipelineContext,
    updates: Updates,
}

/// A worker's side of the reload protocol (see the module docs).
pub struct Updates {
    /// The newest generation the admin thread has published.
    pub published: Arc<AtomicU64>,
    /// New programs, from the admin thread.
    pub rx: crossbeam_channel::Receiver<Program>,
    /// Programs this worker has left, back to the admin thread to free.
    pub retired: crossbeam_channel::Sender<Program>,
}

/// What a worker runs for one config generation (see the module docs).
pub struct Program {
    pub generation: u64,
    pub forwarding: Arc<Forwarding>,
    /// This worker's counters for the pipeline (none for the static map).
    pub counters: Option<Arc<PipelineCounters>>,
    /// This worker's handle on the OpenFlow meters (none: no meters).
    pub meters: Handle<WorkerMeterHook>,
    /// This worker's handle on the tenant policers (none: no tenants).
    pub tenants: Handle<WorkerTenants>,
    /// This worker's exact-match cache of table lookups (none: the
    /// pipeline's matches are too wide to cache).
    pub cache: Option<FlowCache>,
    /// Ports that are administratively down, a bit per port index.
    pub down: u64,
}

/// A per-worker handle in a [`Program`]: a new one, or keep the one the
/// worker has (its table did not change, so its local state stays).
pub enum Handle<T> {
    Keep,
    Set(Option<T>),
}

/// A worker's share of the process-wide services the pipeline uses.
pub struct PipelineContext {
    /// Copies for multiple outputs and packet-ins come from here.
    pub pool: Mempool,
    /// Link up bits by port index (fast-failover liveness), kept by the
    /// admin thread.
    pub links: Arc<AtomicU64>,
    /// Packet-ins (copies) to the admin thread; full → counted drop.
    pub punt: crossbeam_channel::Sender<(Mbuf, PacketInInfo)>,
}

/// The parsed packets of a burst, allocated once.
struct Scratch {
    keys: [FlowKey; BURST_SIZE],
    /// With a pre-pass: the packets that parse, a bit each, and their
    /// flow cache lookups.
    live: u32,
    lookups: [CacheLookup; BURST_SIZE],
}

/// The handles a worker holds across generations.
struct Handles {
    meters: Option<WorkerMeterHook>,
    tenants: Option<WorkerTenants>,
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        core: usize,
        rx: Vec<RxSource>,
        tx: Vec<TxQueue>,
        program: Program,
        stats: Arc<WorkerStats>,
        ctx: PipelineContext,
        updates: Updates,
    ) -> Self {
        let txbuf = tx.iter().map(|_| TxBuffer::new()).collect();
        stats
            .generation
            .store(program.generation, Ordering::Release);
        Self {
            id,
            core,
            rx,
            tx,
            txbuf,
            stats,
            program,
            ctx,
            updates,
        }
    }

    /// Stores the program's flow cache size in the gauges (no paths yet).
    fn publish_cache_size(&self) {
        let slots = self.program.cache.as_ref().map_or(0, |c| c.capacity());
        let g = &self.stats;
        g.flow_cache_slots.store(slots as u64, Ordering::Relaxed);
        g.flow_cache_paths.store(0, Ordering::Relaxed);
    }

    /// Takes the newest program from the admin thread (between bursts),
    /// acknowledges it and sends the old one back to be freed. The meter
    /// and tenant handles it replaces return their parked credit first.
    #[cold]
    fn switch(&mut self, handles: &mut Handles) {
        let mut newest = None;
        while let Ok(p) = self.updates.rx.try_recv() {
            if let Some(old) = newest.replace(p) {
                let _ = self.updates.retired.try_send(old);
            }
        }
        let Some(mut new) = newest else {
            return;
        };
        if let Handle::Set(h) = std::mem::replace(&mut new.meters, Handle::Keep) {
            if let Some(old) = handles.meters.as_mut() {
                old.flush();
            }
            new.meters = Handle::Set(std::mem::replace(&mut handles.meters, h));
        }
        if let Handle::Set(h) = std::mem::replace(&mut new.tenants, Handle::Keep) {
            if let Some(old) = handles.tenants.as_mut() {
                old.flush();
            }
            new.tenants = Handle::Set(std::mem::replace(&mut handles.tenants, h));
        }
        let old = std::mem::replace(&mut self.program, new);
        self.publish_cache_size();
        self.stats
            .generation
            .store(self.program.generation, Ordering::Release);
        // The channel has room for every program in flight; should it be
        // full, the old program is freed here instead.
        let _ = self.updates.retired.try_send(old);
    }

    /// Pins the calling thread to the worker's core, registers it with EAL,
    /// and polls until `stop` is set. Everything in flight is sent or freed
    /// before it returns.
    pub fn run(mut self, stop: &AtomicBool) {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: self.core }) {
            eprintln!("worker {}: could not pin to core {}", self.id, self.core);
        }
        // Kept for the life of the loop: unregisters when dropped.
        let _lcore = dpdk::Eal::register_thread()
            .map_err(|e| eprintln!("worker {}: {e} (mempool per-core cache disabled)", self.id))
            .ok();
        self.publish_cache_size();
        let mut burst = Burst::new();
        let mut scratch = Box::new(Scratch {
            keys: [FlowKey::default(); BURST_SIZE],
            live: 0,
            lookups: [CacheLookup::default(); BURST_SIZE],
        });
        let mut handles = Handles {
            meters: take_handle(&mut self.program.meters),
            tenants: take_handle(&mut self.program.tenants),
        };
        // The worker's own reference: no refcount traffic per burst.
        let mut forwarding = Arc::clone(&self.program.forwarding);
        let mut verdicts = [Verdict::Drop(DropReason::NoRoute); BURST_SIZE];
        let mut last = dpdk::rdtsc();
        'poll: loop {
            // Check for stop and for a new generation once per round over
            // the queues: two relaxed loads.
            if stop.load(Ordering::Relaxed) {
                break 'poll;
            }
            if self.updates.published.load(Ordering::Acquire) != self.program.generation {
                self.switch(&mut handles);
                forwarding = Arc::clone(&self.program.forwarding);
            }
            for i in 0..self.rx.len() {
                let n = self.rx[i].queue.rx_burst(&mut burst);
                let now;
                if n == 0 {
                    now = dpdk::rdtsc();
                    self.stats.idle_polls.add(1);
                    self.stats.idle_cycles.add(now.wrapping_sub(last));
                } else {
                    let port = self.rx[i].port;
                    self.process(
                        &forwarding,
                        &mut handles,
                        port,
                        &mut burst,
                        &mut scratch,
                        &mut verdicts,
                    );
                    now = dpdk::rdtsc();
                    self.stats.busy_polls.add(1);
                    self.stats.busy_cycles.add(now.wrapping_sub(last));
                }
                last = now;
            }
        }
        for p in 0..self.tx.len() {
            self.flush(p);
        }
        if let Some(h) = handles.meters.as_mut() {
            h.flush();
        }
        if let Some(h) = handles.tenants.as_mut() {
            h.flush();
        }
    }

    /// Classifies and transmits one rx burst from port `in_port`.
    #[inline]
    fn process(
        &mut self,
        forwarding: &Forwarding,
        handles: &mut Handles,
        in_port: u16,
        burst: &mut Burst,
        scratch: &mut Scratch,
        verdicts: &mut [Verdict; BURST_SIZE],
    ) {
        let n = burst.len();
        if self.program.down != 0 && self.program.down >> in_port & 1 == 1 {
            self.drop_down_burst(in_port, burst);
            return;
        }
        if let Forwarding::Pipeline(p) = forwarding {
            self.run_pipeline(p, handles, in_port, burst, scratch);
            return;
        }
        let Classified {
            rx_bytes,
            malformed,
            unrouted,
            uniform,
        } = Self::classify_by_port(forwarding, self.program.down, in_port, burst, verdicts);
        self.stats.rx_bursts[n].add(1);
        let pc = &self.stats.ports[in_port as usize];
        pc.rx_packets.add(n as u64);
        pc.rx_bytes.add(rx_bytes);
        if malformed != 0 {
            self.stats.count_drop(DropReason::Malformed, malformed);
        }
        if unrouted.0 != 0 {
            self.stats.count_drop(unrouted.1, unrouted.0);
        }
        self.transmit(burst, verdicts, rx_bytes, uniform);
    }

    /// A burst from a port that is administratively down: counted as
    /// received, then dropped.
    #[cold]
    fn drop_down_burst(&mut self, in_port: u16, burst: &mut Burst) {
        let n = burst.len();
        let bytes: u64 = burst.as_slice().iter().map(|m| m.len() as u64).sum();
        self.stats.rx_bursts[n].add(1);
        let pc = &self.stats.ports[in_port as usize];
        pc.rx_packets.add(n as u64);
        pc.rx_bytes.add(bytes);
        self.stats.count_drop(DropReason::PortDown, n as u64);
        burst.clear();
    }

    /// Runs every packet of the burst through the compiled pipeline, in
    /// order, each straight into its output port's tx buffer (copies for
    /// several outputs come from the mempool through [`WorkerSink`]).
    fn run_pipeline(
        &mut self,
        p: &CompiledPipeline,
        handles: &mut Handles,
        in_port: u16,
        burst: &mut Burst,
        s: &mut Scratch,
    ) {
        let n = burst.len();
        let ofport = p.ofport(in_port as u32).unwrap_or(in_port as u32 + 1);
        let links = self.ctx.links.load(Ordering::Relaxed) & !self.program.down;
        let port_live = |of: u32| {
            p.port_index(of)
                .is_some_and(|i| i < 64 && links >> i & 1 == 1)
        };
        let now = dpdk::rdtsc();
        let mut pass = PassThroughMeters;
        let meters: &mut dyn MeterHook = match &mut handles.meters {
            Some(hook) => {
                hook.now = now;
                hook
            }
            None => &mut pass,
        };
        let mut env = Env::with_liveness(meters, &port_live);
        let Some(counters) = self.program.counters.as_deref() else {
            // A pipeline without counters for this worker is a wiring bug:
            // count the burst as dropped rather than panic.
            self.stats.count_drop(DropReason::NoRoute, n as u64);
            burst.clear();
            return;
        };
        let mut tenants = handles.tenants.as_mut();
        let mut sink = WorkerSink::new(
            &self.ctx.pool,
            &mut self.tx,
            &mut self.txbuf,
            &self.stats,
            &self.ctx.punt,
            self.program.down,
        );
        let (mut rx_bytes, mut malformed, mut policed) = (0u64, 0u64, 0u64);
        let cache_before = self.program.cache.as_ref().map(cache_counts);
        // A flow cache too big for the CPU's caches: parse the burst and
        // ask for every packet's slots first, so that their misses overlap
        // instead of stalling each packet in turn.
        let pre = match &self.program.cache {
            Some(c) if p.prefetches_cache(c) => {
                s.live = 0;
                for (i, m) in burst.as_slice().iter().enumerate() {
                    let i = i % BURST_SIZE;
                    if m.is_contiguous() && wire::parse(m.data(), ofport, &mut s.keys[i]).is_ok() {
                        s.live |= 1 << i;
                    }
                }
                for (i, (key, ahead)) in s.keys.iter().zip(&mut s.lookups).enumerate().take(n) {
                    if s.live >> i & 1 != 0 {
                        p.prefetch_cached(key, c, ahead);
                    }
                }
                true
            }
            _ => false,
        };
        for (i, mut m) in burst.drain().enumerate() {
            let i = i % BURST_SIZE;
            let key = &mut s.keys[i];
            rx_bytes += m.len() as u64;
            let parsed = if pre {
                s.live >> i & 1 != 0
            } else {
                m.is_contiguous() && wire::parse(m.data(), ofport, key).is_ok()
            };
            if !parsed {
                malformed += 1;
                continue;
            }
            let mut regs = Registers::default();
            // Tenants by port, VLAN or source prefix are classified on the
            // packet as it arrived; by metadata, after the tables wrote it.
            let early = match &tenants {
                Some(t) if !t.needs_metadata() => t.classify(in_port as usize, key, &regs),
                _ => None,
            };
            let verdict = match &mut self.program.cache {
                Some(c) => {
                    let ahead = pre.then(|| &s.lookups[i]);
                    p.process_cached_ahead(
                        &mut m, key, &mut regs, &mut env, &mut sink, counters, c, ahead,
                    )
                }
                None => p.process(&mut m, key, &mut regs, &mut env, &mut sink, counters),
            };
            let pipeline::Verdict::Output { port, .. } = verdict else {
                continue;
            };
            if let Some(t) = tenants.as_deref_mut() {
                let tenant = early.or_else(|| {
                    t.needs_metadata()
                        .then(|| t.classify(in_port as usize, key, &regs))
                        .flatten()
                });
                if let Some(tenant) = tenant {
                    match t.police(tenant, m.len(), now) {
                        TenantVerdict::Pass => {}
                        TenantVerdict::Drop => {
                            policed += 1;
                            continue;
                        }
                        TenantVerdict::Remark { dscp } => {
                            exec::set_field(
                                Field::IpDscp,
                                dscp.into(),
                                0x3f,
                                &mut m,
                                key,
                                &mut regs,
                            );
                        }
                    }
                }
            }
            sink.push(port as usize, m);
        }
        if let Some(c) = &mut self.program.cache {
            p.settle(c, counters);
        }
        sink.flush();
        if let (Some(before), Some(c)) = (cache_before, &self.program.cache) {
            let after = cache_counts(c);
            for (i, counter) in self.stats.flow_cache.iter().enumerate() {
                counter.add(after[i] - before[i]);
            }
            self.stats
                .flow_cache_paths
                .store(c.filled() as u64, Ordering::Relaxed);
        }
        self.stats.rx_bursts[n].add(1);
        let pc = &self.stats.ports[in_port as usize];
        pc.rx_packets.add(n as u64);
        pc.rx_bytes.add(rx_bytes);
        if malformed != 0 {
            self.stats.count_drop(DropReason::Malformed, malformed);
        }
        if policed != 0 {
            self.stats.count_drop(DropReason::Policed, policed);
        }
    }

    /// The decision depends on the input port alone: read only each
    /// packet's length (a runt shorter than an Ethernet header, or a
    /// chained mbuf, is malformed). The packet data is never touched.
    #[inline]
    fn classify_by_port(
        forwarding: &Forwarding,
        down: u64,
        in_port: u16,
        burst: &Burst,
        verdicts: &mut [Verdict; BURST_SIZE],
    ) -> Classified {
        let route = match forwarding.port_route(in_port) {
            Some(out) if down >> out & 1 == 1 => Verdict::Drop(DropReason::PortDown),
            Some(out) => Verdict::Output(out),
            None => Verdict::Drop(DropReason::NoRoute),
        };
        let (mut rx_bytes, mut malformed) = (0u64, 0u64);
        for (i, m) in burst.as_slice().iter().enumerate() {
            let len = m.len();
            rx_bytes += len as u64;
            let bad = len < wire::ethernet::HEADER_LEN || !m.is_contiguous();
            malformed += bad as u64;
            verdicts[i] = if bad {
                Verdict::Drop(DropReason::Malformed)
            } else {
                route
            };
        }
        let unrouted = match route {
            Verdict::Drop(why) => (burst.len() as u64 - malformed, why),
            Verdict::Output(_) => (0, DropReason::NoRoute),
        };
        Classified {
            rx_bytes,
            malformed,
            unrouted,
            uniform: malformed == 0,
        }
    }

    /// Sends every packet whose verdict is an output, frees the others.
    #[inline]
    fn transmit(
        &mut self,
        burst: &mut Burst,
        verdicts: &[Verdict; BURST_SIZE],
        bytes: u64,
        uniform: bool,
    ) {
        // Fast path: the whole burst has one verdict.
        if uniform {
            match verdicts[0] {
                Verdict::Output(out) => {
                    let out = out as usize;
                    // Keep order with anything already buffered for that port.
                    if !self.txbuf[out].is_empty() {
                        self.flush(out);
                    }
                    let r = self.tx[out].tx_burst_all_counted(burst, bytes);
                    count_tx(&self.stats, out, r);
                }
                Verdict::Drop(_) => burst.clear(),
            }
            return;
        }

        let mut touched = 0u64;
        for (i, m) in burst.drain().enumerate() {
            match verdicts[i] {
                Verdict::Output(out) => {
                    let out = out as usize;
                    touched |= 1 << out;
                    let r = self.txbuf[out].push(m, &mut self.tx[out]);
                    count_tx(&self.stats, out, r);
                }
                Verdict::Drop(_) => drop::<Mbuf>(m),
            }
        }
        while touched != 0 {
            let p = touched.trailing_zeros() as usize;
            touched &= touched - 1;
            self.flush(p);
        }
    }

    fn flush(&mut self, port: usize) {
        let r = self.txbuf[port].flush(&mut self.tx[port]);
        count_tx(&self.stats, port, r);
    }
}

/// A flow cache's own counts, in [`CacheResult::ALL`] order.
#[inline]
fn cache_counts(c: &FlowCache) -> [u64; CacheResult::COUNT] {
    [c.fast_hits, c.hits - c.fast_hits, c.misses, c.bypassed]
}

fn take_handle<T>(h: &mut Handle<T>) -> Option<T> {
    match std::mem::replace(h, Handle::Keep) {
        Handle::Keep => None,
        Handle::Set(h) => h,
    }
}

/// Counts what a tx call did for `port`.
#[inline(always)]
fn count_tx(stats: &WorkerStats, port: usize, r: dpdk::TxResult) {
    if r.sent == 0 && r.dropped == 0 {
        return;
    }
    let pc = &stats.ports[port];
    pc.tx_packets.add(r.sent as u64);
    pc.tx_bytes.add(r.sent_bytes);
    if r.dropped != 0 {
        pc.tx_dropped.add(r.dropped as u64);
        stats.count_drop(DropReason::TxFull, r.dropped as u64);
    }
}
