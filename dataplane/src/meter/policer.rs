//! Per-tenant policers: single-rate, srTCM (RFC 2697), trTCM (RFC 2698).
//!
//! # Design
//!
//! [`TenantPolicers`] is one table for all tenants, indexed by a dense
//! [`TenantId`] (the config layer assigns them), shared by `Arc`:
//!
//! * `entries`: per tenant, what the packet path needs besides credit:
//!   algorithm, mode, packet cap, index of its first bucket, and the
//!   yellow/red [`Action`]s (atomics, so the admin can change them in
//!   place). 12 bytes each, read-only for workers: 10,000 tenants are
//!   120 KB, shared in every core's cache.
//! * `buckets`: the tenant's `SharedBucket`s (1 to 3), one cache line
//!   each. Police: `[bucket]`; srTCM: `[C, E]`, where E is filled only by
//!   the overflow of C (RFC 2697 §4.1); trTCM: `[C, P]`; then the packet
//!   cap if any.
//!
//! Each worker holds a [`WorkerPolicers`]: a slot per tenant (one
//! `TenantSlot`, 192 bytes, cache-line aligned, so no two workers ever
//! write the same line) with its local credit and hold (see
//! [`super::bucket`]) for the tenant's buckets and its counters. Local
//! credit and the hottest counter (green passed) share the slot's first
//! cache line, so a green packet paid from local credit touches one line
//! of worker-private memory plus the read-only entry; a red packet under a
//! hold touches the second line (red dropped) instead of any shared one.
//! The table keeps an `Arc` to every worker's slots so the admin thread
//! can sum counters ([`TenantCounters`]).
//!
//! # A packet
//!
//! [`WorkerPolicers::police`] computes the cost (`8 × len` bits or one
//! packet, in units), checks the packet cap first if the tenant has one
//! (failing it is red and touches nothing else), runs the algorithm
//! against local credit / shared buckets (see [`super::bucket`]), maps the
//! color to the configured action and counts it. When both a bit rate and
//! a packet cap are configured and the packet ends up dropped, its cap
//! token is given back: a packet counts against a limit only if it gets
//! through the other one.
//!
//! # Threads
//!
//! Workers: `police*` on their own `WorkerPolicers`. Admin: `new`,
//! `reconfigure`, `carry_over`, `counters`, `levels`, `spec`; the two
//! mutexes inside are taken only by admin calls and `worker()`.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use super::bucket::{
    acquire, acquire_excess, give_back, BucketParams, ChunkPolicy, LocalCredit, SharedBucket,
    TickScale,
};
use super::counters::{bump, ColorCounters, Count, Outcome, TenantCounters};
use super::units::{default_burst_bytes, default_burst_packets};
use super::{Action, Color, MeterError, Mode, Verdict};

/// Dense tenant index into a [`TenantPolicers`] table.
pub type TenantId = u32;

/// A tenant's metering algorithm. Rates are in bits per second and bursts
/// in bytes in [`Mode::Bytes`]; packets per second and packets in
/// [`Mode::Packets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// One bucket: green if it covers the packet, else red.
    Police { rate: u64, burst: u64 },
    /// RFC 2697 single-rate three-color marker: committed bucket C (CIR,
    /// CBS) and excess bucket E (EBS) filled by C's overflow.
    SrTcm { cir: u64, cbs: u64, ebs: u64 },
    /// RFC 2698 two-rate three-color marker: peak bucket P (PIR, PBS) and
    /// committed bucket C (CIR, CBS).
    TrTcm {
        cir: u64,
        cbs: u64,
        pir: u64,
        pbs: u64,
    },
}

impl Algorithm {
    fn kind(&self) -> Kind {
        match self {
            Algorithm::Police { .. } => Kind::Police,
            Algorithm::SrTcm { .. } => Kind::SrTcm,
            Algorithm::TrTcm { .. } => Kind::TrTcm,
        }
    }

    /// The committed (or only) rate.
    pub fn committed_rate(&self) -> u64 {
        match *self {
            Algorithm::Police { rate, .. } => rate,
            Algorithm::SrTcm { cir, .. } | Algorithm::TrTcm { cir, .. } => cir,
        }
    }
}

/// A packets-per-second limit on top of a byte-mode algorithm (a tenant
/// configured with both `rate` and `pps`). Exceeding it makes a packet red.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketCap {
    pub pps: u64,
    /// Bucket depth in packets.
    pub burst: u64,
}

/// Everything about one tenant's policer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PolicerSpec {
    pub algorithm: Algorithm,
    pub mode: Mode,
    pub packet_cap: Option<PacketCap>,
    /// Action for yellow packets (srTCM/trTCM only). Green is always
    /// forwarded unchanged.
    pub yellow: Action,
    pub red: Action,
}

impl PolicerSpec {
    /// Forwards green and yellow, drops red, no packet cap.
    pub fn new(algorithm: Algorithm, mode: Mode) -> Self {
        Self {
            algorithm,
            mode,
            packet_cap: None,
            yellow: Action::Forward,
            red: Action::Drop,
        }
    }

    pub fn with_actions(self, yellow: Action, red: Action) -> Self {
        Self {
            yellow,
            red,
            ..self
        }
    }

    pub fn with_packet_cap(self, cap: PacketCap) -> Self {
        Self {
            packet_cap: Some(cap),
            ..self
        }
    }

    /// Validates against the scale and returns the shape and the buckets'
    /// parameters in bucket order.
    fn compile(
        &self,
        scale: &TickScale,
        chunk: &ChunkPolicy,
    ) -> Result<(Shape, [Option<BucketParams>; 3]), MeterError> {
        let (burst_scale, unit) = match self.mode {
            Mode::Bytes => (8, "bytes"),
            Mode::Packets => (1, "packets"),
        };
        let bucket = |what, rate, burst: u64| {
            if burst == 0 {
                return Err(MeterError::ZeroBurst { what });
            }
            BucketParams::new(scale, chunk, what, rate, burst, burst_scale, unit)
        };
        let mut p = [None; 3];
        match self.algorithm {
            Algorithm::Police { rate, burst } => p[0] = Some(bucket("policer burst", rate, burst)?),
            Algorithm::SrTcm { cir, cbs, ebs } => {
                if cbs == 0 && ebs == 0 {
                    return Err(MeterError::SrTcmNoBurst);
                }
                let params = |what, burst| {
                    BucketParams::new(scale, chunk, what, cir, burst, burst_scale, unit)
                };
                p[0] = Some(params("srTCM CBS", cbs)?);
                // E gains nothing by itself, only C's overflow; its chunk
                // is sized as if it ran at CIR, which is its top speed.
                p[1] = Some(BucketParams {
                    rate: 0,
                    ..params("srTCM EBS", ebs)?
                });
            }
            Algorithm::TrTcm { cir, cbs, pir, pbs } => {
                if pir < cir {
                    return Err(MeterError::PirBelowCir { cir, pir });
                }
                p[0] = Some(bucket("trTCM CBS", cir, cbs)?);
                p[1] = Some(bucket("trTCM PBS", pir, pbs)?);
            }
        }
        let main = self.algorithm.kind().main_buckets();
        if let Some(cap) = self.packet_cap {
            if cap.burst == 0 {
                return Err(MeterError::ZeroBurst {
                    what: "packet cap burst",
                });
            }
            p[main] = Some(BucketParams::new(
                scale,
                chunk,
                "packet cap",
                cap.pps,
                cap.burst,
                1,
                "packets",
            )?);
        }
        self.yellow.validate()?;
        self.red.validate()?;
        let shape = Shape {
            kind: self.algorithm.kind(),
            mode: self.mode,
            cap: self.packet_cap.is_some(),
        };
        Ok((shape, p))
    }
}

/// The `color =` choice of a tenant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Marker {
    #[default]
    Police,
    SrTcm,
    TrTcm,
}

/// A tenant's limits as the config file states them, with the defaults
/// filled in by [`TenantLimits::spec`]:
///
/// * `rate` given: byte mode (`rate` in bits/s, `burst` in bytes, default
///   [`default_burst_bytes`]); `pps` as well: a [`PacketCap`] with
///   [`default_burst_packets`]. Only `pps`: packet mode (`burst` in
///   packets, default [`default_burst_packets`]). Neither: an error.
/// * srTCM: CIR = the rate, CBS = the burst, EBS = `excess_burst` or the
///   burst. trTCM: CIR/CBS likewise, PIR = `peak_rate` (required, same
///   unit as the rate), PBS = `excess_burst` or the default burst of the
///   PIR (at least the CBS).
/// * `exceed` applies to yellow and red alike ("drop", or "remark" with a
///   DSCP); change [`PolicerSpec::yellow`] / [`PolicerSpec::red`] of the
///   result to treat them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantLimits {
    pub rate: Option<u64>,
    pub pps: Option<u64>,
    pub burst: Option<u64>,
    pub peak_rate: Option<u64>,
    pub excess_burst: Option<u64>,
    pub marker: Marker,
    pub exceed: Action,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            rate: None,
            pps: None,
            burst: None,
            peak_rate: None,
            excess_burst: None,
            marker: Marker::Police,
            exceed: Action::Drop,
        }
    }
}

impl TenantLimits {
    /// The policer for these limits (validated further when a table is
    /// built).
    pub fn spec(&self) -> Result<PolicerSpec, MeterError> {
        let (mode, rate, default_burst): (Mode, u64, fn(u64) -> u64) = match (self.rate, self.pps) {
            (Some(r), _) => (Mode::Bytes, r, default_burst_bytes),
            (None, Some(p)) => (Mode::Packets, p, default_burst_packets),
            (None, None) => return Err(MeterError::NoLimit),
        };
        let burst = self.burst.unwrap_or_else(|| default_burst(rate));
        let algorithm = match self.marker {
            Marker::Police => Algorithm::Police { rate, burst },
            Marker::SrTcm => Algorithm::SrTcm {
                cir: rate,
                cbs: burst,
                ebs: self.excess_burst.unwrap_or(burst),
            },
            Marker::TrTcm => {
                let pir = self.peak_rate.ok_or(MeterError::MissingPeakRate)?;
                Algorithm::TrTcm {
                    cir: rate,
                    cbs: burst,
                    pir,
                    pbs: self
                        .excess_burst
                        .unwrap_or_else(|| default_burst(pir).max(burst)),
                }
            }
        };
        let mut spec = PolicerSpec::new(algorithm, mode).with_actions(self.exceed, self.exceed);
        if let (Some(_), Some(pps)) = (self.rate, self.pps) {
            spec = spec.with_packet_cap(PacketCap {
                pps,
                burst: default_burst_packets(pps),
            });
        }
        Ok(spec)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Police,
    SrTcm,
    TrTcm,
}

impl Kind {
    const fn main_buckets(self) -> usize {
        match self {
            Kind::Police => 1,
            Kind::SrTcm | Kind::TrTcm => 2,
        }
    }
}

/// What cannot change in place: it decides which buckets exist and what
/// their units mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    kind: Kind,
    mode: Mode,
    cap: bool,
}

impl Shape {
    const fn buckets(&self) -> usize {
        self.kind.main_buckets() + self.cap as usize
    }
}

/// Read-mostly per-tenant data (see the module docs).
#[derive(Debug)]
struct Entry {
    first: u32,
    shape: Shape,
    yellow: AtomicU16,
    red: AtomicU16,
}

/// Local credit slot of the packet cap.
const CAP: usize = 2;

/// Counter pair index for (color, outcome): green passed first, so that it
/// sits in the slot's first cache line with the credit, then red dropped.
const PAIR: [[usize; 3]; 3] = [[0, 7, 8], [2, 5, 3], [6, 1, 4]];
/// The pair of green, forwarded packets.
const GREEN_PASSED: usize = PAIR[Color::Green.index()][Action::Forward.outcome() as usize];

/// A worker's per-tenant state: local credit (and hold) per bucket role,
/// then `[packets, bytes]` counter pairs laid out by [`PAIR`].
#[derive(Debug, Default)]
#[repr(C, align(64))]
struct TenantSlot {
    credit: [LocalCredit; 3],
    counts: [[AtomicU64; 2]; 9],
}

impl TenantSlot {
    fn snapshot(&self) -> TenantCounters {
        let mut t = TenantCounters::default();
        for color in Color::ALL {
            let cc: &mut ColorCounters = t.color_mut(color);
            for o in Outcome::ALL {
                *cc.get_mut(o) = Count::load(&self.counts[PAIR[color.index()][o as usize]]);
            }
        }
        t
    }
}

/// The sizes the module docs promise.
#[cfg(test)]
pub(crate) fn assert_layout() {
    assert!(std::mem::size_of::<Entry>() <= 12);
    assert_eq!(std::mem::size_of::<TenantSlot>(), 192);
    // Credit and the green-passed pair in the first line, red-dropped in
    // the second.
    let slot = TenantSlot::default();
    let base = &slot as *const TenantSlot as usize;
    let end = |pair: usize| &slot.counts[pair][1] as *const AtomicU64 as usize + 8 - base;
    assert_eq!(end(PAIR[0][0]), 64);
    assert!(end(PAIR[2][1]) <= 128);
}

/// All tenants' policers (see the module docs). Built and reconfigured by
/// the admin thread, used by workers through [`WorkerPolicers`].
#[derive(Debug)]
pub struct TenantPolicers {
    scale: TickScale,
    chunk: ChunkPolicy,
    entries: Box<[Entry]>,
    buckets: Box<[SharedBucket]>,
    specs: Mutex<Vec<PolicerSpec>>,
    workers: Mutex<Vec<Arc<[TenantSlot]>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TenantPolicers {
    /// A table with one policer per spec (tenant `i` is `specs[i]`), all
    /// buckets full at time `now`.
    pub fn new(
        scale: TickScale,
        chunk: ChunkPolicy,
        specs: &[PolicerSpec],
        now: u64,
    ) -> Result<Arc<Self>, MeterError> {
        let q = scale.quantum(now);
        let mut entries = Vec::with_capacity(specs.len());
        let mut buckets = Vec::with_capacity(specs.len() * 2);
        for (index, spec) in specs.iter().enumerate() {
            let (shape, params) = spec
                .compile(&scale, &chunk)
                .map_err(|e| MeterError::Entry {
                    what: "tenant",
                    index,
                    error: Box::new(e),
                })?;
            let first = u32::try_from(buckets.len())
                .map_err(|_| MeterError::TooManyBuckets(buckets.len()))?;
            buckets.extend(params.iter().flatten().map(|p| SharedBucket::new(*p, q)));
            entries.push(Entry {
                first,
                shape,
                yellow: AtomicU16::new(spec.yellow.encode()),
                red: AtomicU16::new(spec.red.encode()),
            });
        }
        Ok(Arc::new(Self {
            scale,
            chunk,
            entries: entries.into(),
            buckets: buckets.into(),
            specs: Mutex::new(specs.to_vec()),
            workers: Mutex::new(Vec::new()),
        }))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn scale(&self) -> TickScale {
        self.scale
    }

    pub fn chunk_policy(&self) -> ChunkPolicy {
        self.chunk
    }

    /// A new worker's handle (allocates its slots; call at setup).
    pub fn worker(self: &Arc<Self>) -> WorkerPolicers {
        let slots: Arc<[TenantSlot]> = (0..self.len()).map(|_| TenantSlot::default()).collect();
        lock(&self.workers).push(Arc::clone(&slots));
        WorkerPolicers {
            table: Arc::clone(self),
            slots,
        }
    }

    /// The spec tenant `id` runs with now (for rate/burst gauges).
    pub fn spec(&self, id: TenantId) -> Option<PolicerSpec> {
        lock(&self.specs).get(id as usize).copied()
    }

    fn entry(&self, id: TenantId) -> Result<(&Entry, &[SharedBucket]), MeterError> {
        let unknown = || MeterError::UnknownId {
            what: "tenant",
            index: id as usize,
            len: self.len(),
        };
        let e = self.entries.get(id as usize).ok_or_else(unknown)?;
        let first = e.first as usize;
        let b = self
            .buckets
            .get(first..first + e.shape.buckets())
            .ok_or_else(unknown)?;
        Ok((e, b))
    }

    /// Changes tenant `id`'s rates, bursts and actions at time `now`,
    /// keeping the buckets' current fill (clamped to the new depths). The
    /// algorithm, the mode and whether there is a packet cap must stay the
    /// same; otherwise build a new table (and [`carry_over`] if wanted).
    ///
    /// [`carry_over`]: TenantPolicers::carry_over
    pub fn reconfigure(
        &self,
        id: TenantId,
        spec: &PolicerSpec,
        now: u64,
    ) -> Result<(), MeterError> {
        let (entry, buckets) = self.entry(id)?;
        let index = id as usize;
        let (shape, params) =
            spec.compile(&self.scale, &self.chunk)
                .map_err(|e| MeterError::Entry {
                    what: "tenant",
                    index,
                    error: Box::new(e),
                })?;
        let changed = |reason| MeterError::ShapeChanged {
            what: "tenant",
            index,
            reason,
        };
        if shape.kind != entry.shape.kind {
            return Err(changed("different algorithm"));
        }
        if shape.mode != entry.shape.mode {
            return Err(changed("bytes vs packets"));
        }
        if shape.cap != entry.shape.cap {
            return Err(changed("packet cap added or removed"));
        }
        let q = self.scale.quantum(now);
        let mut spill = 0;
        for (i, (b, p)) in buckets.iter().zip(params.iter().flatten()).enumerate() {
            let overflow = b.reconfigure(*p, q);
            if shape.kind == Kind::SrTcm && i == 0 {
                spill = overflow;
            }
        }
        if shape.kind == Kind::SrTcm {
            buckets[1].deposit(spill);
        }
        entry.yellow.store(spec.yellow.encode(), Relaxed);
        entry.red.store(spec.red.encode(), Relaxed);
        if let Some(s) = lock(&self.specs).get_mut(index) {
            *s = *spec;
        }
        Ok(())
    }

    /// Copies the shared fill of `old`'s tenant `old_id` into tenant `id`
    /// (clamped to the depths), for a rebuilt table that keeps a tenant
    /// with the same algorithm. Credit parked in the old workers' local
    /// slots (at most a chunk per worker and bucket) is not carried.
    pub fn carry_over(
        &self,
        id: TenantId,
        old: &TenantPolicers,
        old_id: TenantId,
    ) -> Result<(), MeterError> {
        if old.scale != self.scale {
            return Err(MeterError::ScaleMismatch(old.scale.hz(), self.scale.hz()));
        }
        let (e, b) = self.entry(id)?;
        let (oe, ob) = old.entry(old_id)?;
        if e.shape != oe.shape {
            return Err(MeterError::ShapeChanged {
                what: "tenant",
                index: id as usize,
                reason: "carried from a policer of another shape",
            });
        }
        for (to, from) in b.iter().zip(ob) {
            to.set_fill(from.fill());
        }
        Ok(())
    }

    /// Tokens (bits or packets) now in tenant `id`'s shared buckets, in
    /// bucket order (police: `[bucket]`; srTCM: `[C, E]`; trTCM: `[C, P]`;
    /// then the packet cap), not counting credit parked in workers.
    pub fn levels(&self, id: TenantId) -> Option<Vec<u64>> {
        let (_, b) = self.entry(id).ok()?;
        let qps = self.scale.quanta_per_sec();
        Some(b.iter().map(|b| b.fill() / qps).collect())
    }

    /// Tenant `id`'s counters summed over all workers.
    pub fn counters(&self, id: TenantId) -> Option<TenantCounters> {
        if id as usize >= self.len() {
            return None;
        }
        let mut total = TenantCounters::default();
        for w in lock(&self.workers).iter() {
            if let Some(slot) = w.get(id as usize) {
                total += slot.snapshot();
            }
        }
        Some(total)
    }

    /// Every tenant's counters (index = [`TenantId`]), summed over workers.
    pub fn all_counters(&self) -> Vec<TenantCounters> {
        let mut all = vec![TenantCounters::default(); self.len()];
        for w in lock(&self.workers).iter() {
            for (t, slot) in all.iter_mut().zip(w.iter()) {
                *t += slot.snapshot();
            }
        }
        all
    }
}

/// One worker's handle on a [`TenantPolicers`] table: its local credit and
/// counters for every tenant. Not `Clone`; `&mut self` keeps each slot
/// single-writer. Dropping it gives the local credit back to the table.
#[derive(Debug)]
pub struct WorkerPolicers {
    table: Arc<TenantPolicers>,
    slots: Arc<[TenantSlot]>,
}

impl WorkerPolicers {
    pub fn table(&self) -> &Arc<TenantPolicers> {
        &self.table
    }

    /// Polices a packet of `len` bytes of tenant `tenant` at TSC time `now`
    /// (color-blind). `None` if the tenant does not exist.
    #[inline]
    pub fn police(&mut self, tenant: TenantId, len: u32, now: u64) -> Option<Verdict> {
        self.police_colored(tenant, len, now, Color::Green)
    }

    /// Color-aware policing of a packet pre-colored `pre` (RFC 2697 §3,
    /// RFC 2698 §3): a packet never leaves greener than it came. Green is
    /// color-blind; the single-rate policer treats yellow like green.
    #[inline]
    pub fn police_colored(
        &mut self,
        tenant: TenantId,
        len: u32,
        now: u64,
        pre: Color,
    ) -> Option<Verdict> {
        let t = &*self.table;
        let i = tenant as usize;
        let entry = t.entries.get(i)?;
        let slot = self.slots.get(i)?;
        let one = t.scale.quanta_per_sec();
        let cost = match entry.shape.mode {
            Mode::Bytes => u64::from(len) * 8 * one,
            Mode::Packets => one,
        };
        // Fast path, the common case under the rate: a green packet paid
        // from this worker's local credit (no shared bucket, no clock).
        if pre == Color::Green && !entry.shape.cap {
            let (c0, c1) = (&slot.credit[0], &slot.credit[1]);
            let have0 = c0.available();
            let paid = match entry.shape.kind {
                Kind::Police | Kind::SrTcm => {
                    let ok = have0 >= cost;
                    if ok {
                        c0.spend(have0, cost);
                    }
                    ok
                }
                Kind::TrTcm => {
                    let have1 = c1.available();
                    let ok = have0 >= cost && have1 >= cost;
                    if ok {
                        c0.spend(have0, cost);
                        c1.spend(have1, cost);
                    }
                    ok
                }
            };
            if paid {
                bump(&slot.counts[GREEN_PASSED], len);
                return Some(Verdict {
                    color: Color::Green,
                    action: Action::Forward,
                });
            }
        }
        let first = entry.first as usize;
        let b = t.buckets.get(first..first + entry.shape.buckets())?;
        let q = t.scale.quantum(now);
        let main = entry.shape.kind.main_buckets();
        let cap = if entry.shape.cap { b.get(main) } else { None };
        let credit = &slot.credit;

        let capped = cap.is_some_and(|c| !acquire(&credit[CAP], c, None, one, q));
        let color = if capped {
            Color::Red
        } else {
            match entry.shape.kind {
                Kind::Police => {
                    let bucket = &b[0];
                    if pre != Color::Red && acquire(&credit[0], bucket, None, cost, q) {
                        Color::Green
                    } else {
                        Color::Red
                    }
                }
                Kind::SrTcm => {
                    let (c, e) = (&b[0], &b[1]);
                    if pre == Color::Green && acquire(&credit[0], c, Some(e), cost, q) {
                        Color::Green
                    } else if pre != Color::Red
                        && acquire_excess(&credit[1], e, c, &credit[0], cost, q)
                    {
                        Color::Yellow
                    } else {
                        Color::Red
                    }
                }
                Kind::TrTcm => {
                    let (c, p) = (&b[0], &b[1]);
                    if pre == Color::Red || !acquire(&credit[1], p, None, cost, q) {
                        Color::Red
                    } else if pre == Color::Yellow || !acquire(&credit[0], c, None, cost, q) {
                        Color::Yellow
                    } else {
                        Color::Green
                    }
                }
            }
        };
        let action = match color {
            Color::Green => Action::Forward,
            Color::Yellow => Action::decode(entry.yellow.load(Relaxed)),
            Color::Red => Action::decode(entry.red.load(Relaxed)),
        };
        if action == Action::Drop && cap.is_some() && !capped {
            // Paid a cap token but dropped by the main algorithm: refund.
            credit[CAP].refund(one);
        }
        bump(
            &slot.counts[PAIR[color.index()][action.outcome() as usize]],
            len,
        );
        Some(Verdict { color, action })
    }

    /// Gives all local credit back to the shared buckets (also done on
    /// drop). The worker keeps working; it takes new credit as needed.
    pub fn flush(&mut self) {
        let t = &*self.table;
        for (entry, slot) in t.entries.iter().zip(self.slots.iter()) {
            let first = entry.first as usize;
            let Some(b) = t.buckets.get(first..first + entry.shape.buckets()) else {
                continue;
            };
            match entry.shape.kind {
                Kind::Police => give_back(&slot.credit[0], &b[0], None),
                Kind::SrTcm => {
                    give_back(&slot.credit[0], &b[0], Some(&b[1]));
                    give_back(&slot.credit[1], &b[1], None);
                }
                Kind::TrTcm => {
                    give_back(&slot.credit[0], &b[0], None);
                    give_back(&slot.credit[1], &b[1], None);
                }
            }
            if let Some(c) = b.get(entry.shape.kind.main_buckets()) {
                give_back(&slot.credit[CAP], c, None);
            }
        }
    }

    /// This worker's own counters for tenant `id` (tests, debugging).
    pub fn local_counters(&self, id: TenantId) -> Option<TenantCounters> {
        self.slots.get(id as usize).map(TenantSlot::snapshot)
    }
}

impl Drop for WorkerPolicers {
    fn drop(&mut self) {
        self.flush();
    }
}
