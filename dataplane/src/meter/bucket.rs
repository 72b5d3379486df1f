//! The token bucket shared by all workers, the worker-local credit in front
//! of it, and the tick scale that makes the arithmetic exact.
//!
//! # Design
//!
//! A `SharedBucket` is six atomics on its own cache line: `fill` (units
//! of credit in the bucket), `last` (the quantum up to which time has been
//! credited), `rate` (units per quantum, i.e. tokens per second), `depth`
//! (maximum fill), `chunk` (extra credit a worker takes at once) and
//! `hold_cap` (the longest hold, 1 ms).
//! Workers never write it per packet: each keeps a `LocalCredit` (credit
//! and hold, single-writer `AtomicU64`s read and written with plain
//! relaxed loads and stores) and only when that is short does it run
//! `acquire_slow`:
//!
//! 1. *Refill lazily.* `last.fetch_max(q)` hands the caller the interval
//!    `(previous, q]` if `q` is newer; the caller adds `interval × rate` to
//!    `fill`, clamped to `depth` (a CAS loop; what does not fit is
//!    returned as overflow, which srTCM pours into its excess bucket).
//!    Intervals claimed this way are disjoint and cover time exactly once,
//!    so the credit created is exactly `rate × elapsed`, whichever workers
//!    refill and whatever their (skewed, lagging) clocks read: a worker
//!    whose TSC is behind simply claims nothing.
//! 2. *Take.* A CAS loop takes `need + chunk` units, or everything there
//!    is if that is less but still covers `need`; if the bucket holds less
//!    than `need` the packet does not conform and nothing is taken.
//! 3. *Hold.* After a failed take the worker records when the bucket
//!    could first cover it (see `acquire`) and until then fails locally.
//!
//! Credit is conserved: it is created only by refills and only moves
//! between the shared fill and the workers' local credits. The total
//! parked in `W` workers is below `W × (chunk + cost of one packet)`,
//! which bounds the difference between this system and one ideal bucket
//! (see the module docs of [`super`]). With `chunk = 0`
//! ([`ChunkPolicy::EXACT`]) every packet goes to the shared bucket and a
//! single worker sees exactly the textbook algorithm.
//!
//! # Threads
//!
//! Any worker may refill and take; the admin thread reconfigures (rate,
//! depth, chunk) and reads fills. All accesses are relaxed: each quantity
//! is updated by single atomic read-modify-writes and no other memory is
//! published through it. A reconfiguration racing with a refill may credit
//! one interval at the new rate; that is the only effect of the race.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::MeterError;

/// Upper bound of [`TickScale::quanta_per_sec`].
pub const MAX_QUANTA_PER_SEC: u64 = 1 << 26;
/// Highest configurable rate, in tokens (bits or packets) per second.
pub const MAX_RATE: u64 = 1 << 42;
/// Highest bucket depth, in units.
pub(crate) const MAX_DEPTH_UNITS: u64 = 1 << 62;

/// Converts TSC ticks into the quanta the buckets count in.
///
/// `shift` is the smallest such that `qps = hz >> shift` is at most
/// [`MAX_QUANTA_PER_SEC`]: at 2.5 GHz, `shift = 6` and a quantum is 25.6 ns.
/// One token is `qps` units and one quantum adds `rate` units, so a bucket
/// gains exactly `rate` tokens per `qps` quanta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickScale {
    hz: u64,
    shift: u32,
    qps: u64,
}

impl TickScale {
    /// A scale for a clock of `hz` ticks per second (the measured TSC
    /// frequency; any value in tests).
    pub fn new(hz: u64) -> Result<Self, MeterError> {
        if hz == 0 {
            return Err(MeterError::ZeroHz);
        }
        let mut shift = 0;
        while hz >> shift > MAX_QUANTA_PER_SEC {
            shift += 1;
        }
        Ok(Self {
            hz,
            shift,
            qps: hz >> shift,
        })
    }

    pub const fn hz(&self) -> u64 {
        self.hz
    }

    /// Ticks per quantum are `1 << shift`.
    pub const fn shift(&self) -> u32 {
        self.shift
    }

    /// Quanta per second, also the number of units in one token.
    pub const fn quanta_per_sec(&self) -> u64 {
        self.qps
    }

    /// The largest bucket depth in tokens (bits or packets) at this scale:
    /// at least 2^36.
    pub const fn max_burst_tokens(&self) -> u64 {
        MAX_DEPTH_UNITS / self.qps
    }

    #[inline(always)]
    pub(crate) const fn quantum(&self, now: u64) -> u64 {
        now >> self.shift
    }

    /// Ticks in `secs` seconds (for callers building timestamps).
    pub const fn ticks(&self, secs: u64) -> u64 {
        self.hz.saturating_mul(secs)
    }
}

/// How much extra credit a worker takes from a shared bucket at once.
///
/// The chunk of a bucket is `min(depth / burst_divisor, rate ×
/// max_micros µs)`; either field 0 makes the chunk 0. Bigger chunks mean
/// fewer atomic operations on the shared cache line, smaller ones a
/// tighter aggregate error (below `W` chunks for `W` workers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPolicy {
    pub burst_divisor: u64,
    pub max_micros: u64,
}

impl ChunkPolicy {
    /// `min(depth / 64, 250 µs of rate)`: with 16 workers at most a quarter
    /// of the depth, and 4 ms of rate (0.4% of a second), is parked locally.
    pub const DEFAULT: Self = Self {
        burst_divisor: 64,
        max_micros: 250,
    };

    /// No local credit: every packet goes to the shared bucket. Exact RFC
    /// behaviour, at the price of two atomic operations per packet.
    pub const EXACT: Self = Self {
        burst_divisor: 0,
        max_micros: 0,
    };

    pub(crate) fn chunk_units(&self, rate: u64, depth_units: u64, qps: u64) -> u64 {
        if self.burst_divisor == 0 || self.max_micros == 0 {
            return 0;
        }
        let by_depth = depth_units / self.burst_divisor;
        let by_time = u128::from(rate) * u128::from(self.max_micros) * u128::from(qps) / 1_000_000;
        by_depth.min(u64::try_from(by_time).unwrap_or(u64::MAX))
    }
}

impl Default for ChunkPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A bucket's parameters in units, validated against the scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BucketParams {
    /// Units per quantum (= tokens per second).
    pub rate: u64,
    pub depth: u64,
    pub chunk: u64,
    /// Longest hold after a failed take, in quanta (1 ms).
    pub hold_cap: u64,
}

impl BucketParams {
    /// `rate` in tokens per second and `burst` in tokens; `what` and
    /// `burst_unit` name them in errors, `burst_scale` converts the
    /// caller's burst unit (bytes, kbits) into tokens.
    pub fn new(
        scale: &TickScale,
        chunk: &ChunkPolicy,
        what: &'static str,
        rate: u64,
        burst: u64,
        burst_scale: u64,
        burst_unit: &'static str,
    ) -> Result<Self, MeterError> {
        if rate > MAX_RATE {
            return Err(MeterError::RateTooHigh {
                what,
                rate,
                max: MAX_RATE,
            });
        }
        let max_burst = scale.max_burst_tokens() / burst_scale;
        if burst > max_burst {
            return Err(MeterError::BurstTooLarge {
                what,
                burst,
                max: max_burst,
                unit: burst_unit,
            });
        }
        let depth = burst * burst_scale * scale.qps;
        Ok(Self {
            rate,
            depth,
            chunk: chunk.chunk_units(rate, depth, scale.qps),
            hold_cap: (scale.qps / 1000).max(1),
        })
    }
}

/// One token bucket, shared by all workers (see the module docs).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct SharedBucket {
    fill: AtomicU64,
    last: AtomicU64,
    rate: AtomicU64,
    depth: AtomicU64,
    chunk: AtomicU64,
    hold_cap: AtomicU64,
}

impl SharedBucket {
    /// A full bucket (RFC 2697/2698: buckets start full) whose time starts
    /// at quantum `q`.
    pub fn new(p: BucketParams, q: u64) -> Self {
        Self {
            fill: AtomicU64::new(p.depth),
            last: AtomicU64::new(q),
            rate: AtomicU64::new(p.rate),
            depth: AtomicU64::new(p.depth),
            chunk: AtomicU64::new(p.chunk),
            hold_cap: AtomicU64::new(p.hold_cap),
        }
    }

    /// Credits the time up to quantum `q` if nobody has yet; returns the
    /// units that did not fit below the depth.
    #[inline]
    pub fn refill(&self, q: u64) -> u64 {
        if q <= self.last.load(Relaxed) {
            return 0;
        }
        let prev = self.last.fetch_max(q, Relaxed);
        if q <= prev {
            return 0;
        }
        let add = (q - prev).saturating_mul(self.rate.load(Relaxed));
        self.deposit(add)
    }

    /// Adds `units`, clamped to the depth; returns what did not fit.
    pub fn deposit(&self, units: u64) -> u64 {
        if units == 0 {
            return 0;
        }
        let depth = self.depth.load(Relaxed);
        let mut cur = self.fill.load(Relaxed);
        loop {
            let new = cur.saturating_add(units).min(depth.max(cur));
            match self.fill.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                Ok(_) => return units - (new - cur),
                Err(v) => cur = v,
            }
        }
    }

    /// Takes at least `need` and at most `need + chunk` units; if the
    /// bucket holds less than `need`, takes nothing and returns its fill.
    #[inline]
    pub fn take(&self, need: u64) -> Result<u64, u64> {
        let want = need.saturating_add(self.chunk.load(Relaxed));
        let mut cur = self.fill.load(Relaxed);
        loop {
            if cur < need {
                return Err(cur);
            }
            let got = cur.min(want);
            match self
                .fill
                .compare_exchange_weak(cur, cur - got, Relaxed, Relaxed)
            {
                Ok(_) => return Ok(got),
                Err(v) => cur = v,
            }
        }
    }

    /// Changes rate, depth and chunk at quantum `q`: the time until `q` is
    /// credited at the old rate first, then the fill is kept, clamped to
    /// the new depth. Returns the overflow of that last refill.
    pub fn reconfigure(&self, p: BucketParams, q: u64) -> u64 {
        let overflow = self.refill(q);
        self.rate.store(p.rate, Relaxed);
        self.depth.store(p.depth, Relaxed);
        self.chunk.store(p.chunk, Relaxed);
        self.hold_cap.store(p.hold_cap, Relaxed);
        self.fill.fetch_min(p.depth, Relaxed);
        overflow
    }

    pub fn fill(&self) -> u64 {
        self.fill.load(Relaxed)
    }

    pub fn depth(&self) -> u64 {
        self.depth.load(Relaxed)
    }

    /// Replaces the fill (clamped to the depth); for carrying state into a
    /// rebuilt table.
    pub fn set_fill(&self, units: u64) {
        self.fill.store(units.min(self.depth()), Relaxed);
    }

    #[cfg(test)]
    pub fn with_fill(p: BucketParams, q: u64, fill: u64) -> Self {
        let b = Self::new(p, q);
        b.fill.store(fill, Relaxed);
        b
    }
}

/// A worker's local state for one bucket: credit already taken from the
/// shared bucket, and the *hold*, the quantum before which the shared
/// bucket cannot cover this worker's next packet. Single writer (the
/// worker): plain relaxed loads and stores, no read-modify-write.
#[derive(Debug, Default)]
pub(crate) struct LocalCredit {
    credit: AtomicU64,
    hold: AtomicU64,
}

impl LocalCredit {
    /// Credit held now (single writer: the owning worker).
    #[inline(always)]
    pub(crate) fn available(&self) -> u64 {
        self.credit.load(Relaxed)
    }

    /// Spends `cost` of the credit; `available() >= cost` must hold.
    #[inline(always)]
    pub(crate) fn spend(&self, have: u64, cost: u64) {
        self.credit.store(have - cost, Relaxed);
    }

    #[cfg(test)]
    pub fn credit(&self) -> u64 {
        self.credit.load(Relaxed)
    }

    /// Gives `units` back to this worker's credit (a refunded packet).
    pub fn refund(&self, units: u64) {
        self.credit
            .store(self.credit.load(Relaxed).saturating_add(units), Relaxed);
    }
}

/// Pays `cost` units for one packet out of the worker's `local` credit or,
/// failing that, out of `bucket` (refilled first; overflow to `spill`).
/// True if the packet conforms.
///
/// On failure the worker records a hold: the bucket held `fill` < `need`
/// and gains `rate` per quantum from claimed time only, so it cannot reach
/// `min(need, depth)` in fewer than `ceil((min(need, depth) - fill) /
/// rate)` quanta (capped at 1 ms so that a rate change or a flush by
/// another worker is noticed soon). Until then the answer is "no" without
/// touching the shared cache line, which keeps red packets as cheap as
/// green ones under overload. The bound is exact up to clock skew between
/// workers (a worker whose clock leads may have claimed time this worker's
/// clock has not reached), so it delays a conforming packet by at most
/// that skew and never loses credit.
#[inline(always)]
pub(crate) fn acquire(
    local: &LocalCredit,
    bucket: &SharedBucket,
    spill: Option<&SharedBucket>,
    cost: u64,
    q: u64,
) -> bool {
    let have = local.credit.load(Relaxed);
    if have >= cost {
        local.credit.store(have - cost, Relaxed);
        return true;
    }
    if q < local.hold.load(Relaxed) {
        return false;
    }
    acquire_slow(local, have, bucket, spill, cost, q)
}

#[inline(never)]
fn acquire_slow(
    local: &LocalCredit,
    have: u64,
    bucket: &SharedBucket,
    spill: Option<&SharedBucket>,
    cost: u64,
    q: u64,
) -> bool {
    let overflow = bucket.refill(q);
    if let Some(s) = spill {
        s.deposit(overflow);
    }
    let need = cost - have;
    match bucket.take(need) {
        Ok(got) => {
            local.credit.store(have + got - cost, Relaxed);
            true
        }
        Err(fill) => {
            let deficit = need.min(bucket.depth()).saturating_sub(fill);
            let cap = bucket.hold_cap.load(Relaxed);
            let wait = match bucket.rate.load(Relaxed) {
                0 => cap,
                rate => deficit.div_ceil(rate).min(cap),
            };
            local.hold.store(q.saturating_add(wait), Relaxed);
            false
        }
    }
}

/// [`acquire`] for srTCM's excess bucket E, which gains nothing by itself:
/// only the committed bucket C's overflow (`c` is refilled, its overflow
/// poured into `e`). E cannot grow before C is full, and this worker's
/// hold on C (`c_local`) is a lower bound of that time, so a failure on E
/// holds until then.
#[inline(always)]
pub(crate) fn acquire_excess(
    local: &LocalCredit,
    e: &SharedBucket,
    c: &SharedBucket,
    c_local: &LocalCredit,
    cost: u64,
    q: u64,
) -> bool {
    let have = local.credit.load(Relaxed);
    if have >= cost {
        local.credit.store(have - cost, Relaxed);
        return true;
    }
    if q < local.hold.load(Relaxed) {
        return false;
    }
    acquire_excess_slow(local, have, e, c, c_local, cost, q)
}

#[inline(never)]
fn acquire_excess_slow(
    local: &LocalCredit,
    have: u64,
    e: &SharedBucket,
    c: &SharedBucket,
    c_local: &LocalCredit,
    cost: u64,
    q: u64,
) -> bool {
    e.deposit(c.refill(q));
    match e.take(cost - have) {
        Ok(got) => {
            local.credit.store(have + got - cost, Relaxed);
            true
        }
        Err(_) => {
            local.hold.store(c_local.hold.load(Relaxed), Relaxed);
            false
        }
    }
}

/// Gives a worker's local credit back to its bucket (when the worker goes
/// away or switches tables), spilling what does not fit into `spill`.
pub(crate) fn give_back(local: &LocalCredit, to: &SharedBucket, spill: Option<&SharedBucket>) {
    let units = local.credit.swap(0, Relaxed);
    local.hold.store(0, Relaxed);
    let overflow = to.deposit(units);
    if let Some(s) = spill {
        s.deposit(overflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64;
    use std::sync::Arc;

    fn params(rate: u64, depth: u64, chunk: u64) -> BucketParams {
        BucketParams {
            rate,
            depth,
            chunk,
            hold_cap: 1000,
        }
    }

    #[test]
    fn scale() {
        let s = TickScale::new(2_500_000_000).unwrap();
        assert_eq!((s.shift(), s.quanta_per_sec()), (6, 39_062_500));
        let s = TickScale::new(5_000_000_000).unwrap();
        assert_eq!(s.shift(), 7);
        assert!(s.quanta_per_sec() <= MAX_QUANTA_PER_SEC);
        assert!(s.max_burst_tokens() >= 1 << 36);
        let s = TickScale::new(1000).unwrap();
        assert_eq!((s.shift(), s.quanta_per_sec()), (0, 1000));
        assert_eq!(TickScale::new(u64::MAX).unwrap().quanta_per_sec() >> 25, 1);
        assert_eq!(TickScale::new(0), Err(MeterError::ZeroHz));
    }

    #[test]
    fn chunk_policy() {
        let qps = 1_000_000;
        // 1 Gbit/s, 1 MB depth: 250 µs = 250_000 bits < depth/64 = 125_000 bits? no:
        // depth 8e6 bits / 64 = 125_000 bits wins.
        let depth = 8_000_000 * qps;
        assert_eq!(
            ChunkPolicy::DEFAULT.chunk_units(1_000_000_000, depth, qps),
            125_000 * qps
        );
        // A huge depth: the time bound wins.
        assert_eq!(
            ChunkPolicy::DEFAULT.chunk_units(1_000_000_000, 1 << 62, qps),
            250_000 * qps
        );
        assert_eq!(ChunkPolicy::EXACT.chunk_units(1_000_000_000, depth, qps), 0);
    }

    #[test]
    fn params_bounds() {
        let s = TickScale::new(5_000_000_000).unwrap();
        let c = ChunkPolicy::DEFAULT;
        let p = BucketParams::new(&s, &c, "rate", 400_000_000_000, 8 << 30, 8, "B").unwrap();
        assert_eq!(p.depth, (8u64 << 30) * 8 * s.quanta_per_sec());
        assert!(matches!(
            BucketParams::new(&s, &c, "rate", MAX_RATE + 1, 1, 1, "B"),
            Err(MeterError::RateTooHigh { .. })
        ));
        assert!(matches!(
            BucketParams::new(&s, &c, "burst", 1, u64::MAX, 8, "B"),
            Err(MeterError::BurstTooLarge { .. })
        ));
        // The largest accepted burst and rate cannot overflow anything.
        let max = s.max_burst_tokens() / 8;
        let p = BucketParams::new(&s, &c, "rate", MAX_RATE, max, 8, "B").unwrap();
        let b = SharedBucket::with_fill(p, 0, 0);
        b.refill(u64::MAX);
        assert_eq!(b.fill(), p.depth);
        assert!(b.take(u64::from(u32::MAX) * 8 * s.quanta_per_sec()).is_ok());
    }

    #[test]
    fn refill_take_clamp() {
        let b = SharedBucket::with_fill(params(10, 1000, 0), 100, 0);
        assert_eq!(b.refill(150), 0);
        assert_eq!(b.fill(), 500);
        // Stale and equal clocks claim nothing.
        assert_eq!(b.refill(120), 0);
        assert_eq!(b.refill(150), 0);
        assert_eq!(b.fill(), 500);
        assert_eq!(b.take(501), Err(500));
        assert_eq!(b.fill(), 500);
        assert_eq!(b.take(200), Ok(200));
        // Overflow beyond the depth is reported, not kept.
        assert_eq!(b.refill(300), 300 + 150 * 10 - 1000);
        assert_eq!(b.fill(), 1000);
    }

    #[test]
    fn take_with_chunk() {
        let b = SharedBucket::with_fill(params(0, 1000, 100), 0, 1000);
        assert_eq!(b.take(50), Ok(150));
        assert_eq!(b.fill(), 850);
        let b = SharedBucket::with_fill(params(0, 1000, 100), 0, 120);
        // Less than need + chunk but at least need: takes everything.
        assert_eq!(b.take(50), Ok(120));
        assert_eq!(b.fill(), 0);
    }

    #[test]
    fn local_credit() {
        let b = SharedBucket::with_fill(params(0, 1000, 100), 0, 1000);
        let local = LocalCredit::default();
        assert!(acquire(&local, &b, None, 40, 0));
        assert_eq!((local.credit(), b.fill()), (100, 860));
        assert!(acquire(&local, &b, None, 40, 0));
        assert!(acquire(&local, &b, None, 40, 0));
        assert_eq!((local.credit(), b.fill()), (20, 860));
        // Short by 20: takes 20 + chunk.
        assert!(acquire(&local, &b, None, 40, 0));
        assert_eq!((local.credit(), b.fill()), (100, 740));
        give_back(&local, &b, None);
        assert_eq!((local.credit(), b.fill()), (0, 840));
    }

    #[test]
    fn hold_after_failure() {
        // 10 units per quantum, empty: a 95-unit packet cannot pass before
        // quantum 10.
        let b = SharedBucket::with_fill(params(10, 1000, 0), 0, 0);
        let local = LocalCredit::default();
        assert!(!acquire(&local, &b, None, 95, 0));
        // Held: answered locally, the shared bucket is not even refilled.
        assert!(!acquire(&local, &b, None, 95, 9));
        assert_eq!(b.fill(), 0);
        assert!(acquire(&local, &b, None, 95, 10));
        assert_eq!(b.fill(), 5);
        // Another worker's fill does not shorten the hold, but the hold is
        // a lower bound: that worker can still pay in the meantime.
        assert!(!acquire(&local, &b, None, 95, 10));
        let other = LocalCredit::default();
        assert!(acquire(&other, &b, None, 5, 10));
        // A packet bigger than the depth holds until the bucket is full:
        // at 20 the fill is 100, full (1000) at 110.
        assert!(!acquire(&local, &b, None, 5000, 20));
        assert!(!acquire(&local, &b, None, 5000, 109));
        assert_eq!(b.fill(), 100);
        assert!(!acquire(&local, &b, None, 5000, 110));
        assert_eq!(b.fill(), 1000);
        // Rate 0: held for the cap.
        let z = SharedBucket::with_fill(params(0, 1000, 0), 0, 0);
        let local = LocalCredit::default();
        assert!(!acquire(&local, &z, None, 1, 0));
        assert!(!acquire(&local, &z, None, 1, 999));
        z.set_fill(1);
        assert!(!acquire(&local, &z, None, 1, 999));
        assert!(acquire(&local, &z, None, 1, 1000));
    }

    #[test]
    fn excess_bucket_hold_follows_committed() {
        let c = SharedBucket::with_fill(params(10, 100, 0), 0, 0);
        let e = SharedBucket::with_fill(params(0, 1000, 0), 0, 0);
        let (lc, le) = (LocalCredit::default(), LocalCredit::default());
        assert!(!acquire(&lc, &c, Some(&e), 50, 0)); // C full at 10 at the earliest
        assert!(!acquire_excess(&le, &e, &c, &lc, 50, 0));
        assert!(!acquire_excess(&le, &e, &c, &lc, 50, 4));
        assert_eq!(c.fill(), 0);
        // At 15 C overflowed by 50 into E.
        assert!(acquire_excess(&le, &e, &c, &lc, 50, 15));
        assert_eq!((c.fill(), e.fill()), (100, 0));
    }

    #[test]
    fn reconfigure_keeps_fill() {
        let b = SharedBucket::with_fill(params(10, 1000, 0), 0, 600);
        b.reconfigure(params(20, 2000, 0), 10);
        assert_eq!(b.fill(), 700); // 10 quanta at the old rate
        b.refill(20);
        assert_eq!(b.fill(), 900); // then the new one
        b.reconfigure(params(20, 500, 0), 20);
        assert_eq!(b.fill(), 500); // clamped to the new depth
    }

    /// Real threads hammering one bucket: whatever the interleaving, the
    /// credit handed out plus what is left equals what time created.
    #[test]
    fn conservation_under_threads() {
        const RATE: u64 = 7;
        let b = Arc::new(SharedBucket::with_fill(params(RATE, 1 << 61, 64), 0, 0));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    let mut rng = XorShift64::new(t);
                    let local = LocalCredit::default();
                    let (mut paid, mut q) = (0u64, 0u64);
                    for _ in 0..50_000 {
                        q += rng.below(3);
                        let cost = 1 + rng.below(40);
                        if acquire(&local, &b, None, cost, q) {
                            paid += cost;
                        }
                    }
                    (paid + local.credit(), q)
                })
            })
            .collect();
        let (mut out, mut qmax) = (0, 0);
        for h in handles {
            let (paid, q) = h.join().unwrap();
            out += paid;
            qmax = qmax.max(q);
        }
        // Credit the rest of the time (a thread's last packets may have
        // been paid locally); then time up to the largest q has been
        // credited exactly once.
        assert_eq!(b.refill(qmax), 0);
        assert_eq!(out + b.fill(), RATE * qmax);
    }
}
