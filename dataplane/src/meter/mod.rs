//! The rate-limit engine: token buckets for per-tenant policers (single-rate
//! policer, RFC 2697 srTCM, RFC 2698 trTCM) and OpenFlow 1.3 meters, exact
//! in aggregate across workers, plus parsing of rate and size units.
//!
//! # What
//!
//! * [`TenantPolicers`] / [`WorkerPolicers`]: one policer per tenant
//!   ([`PolicerSpec`]: an [`Algorithm`] in byte or packet [`Mode`], an
//!   optional packet-rate cap, and an [`Action`] for yellow and for red).
//!   Counters per tenant, per [`Color`] and per outcome
//!   ([`TenantCounters`]).
//! * [`OpenFlowMeters`] / [`WorkerMeters`]: OpenFlow 1.3 meters
//!   ([`MeterSpec`]: kbps or pktps, burst flag, up to [`MAX_BANDS`] drop /
//!   dscp_remark bands) with OpenFlow's per-meter and per-band counters
//!   ([`MeterCounters`]).
//! * [`units`]: `parse_rate("2.5Gbit")`, `parse_size("256KiB")`,
//!   `parse_pps("1Mpps")` and the default burst for a rate.
//!
//! # Time
//!
//! Time is a `u64` tick count (the TSC) passed into every call as `now`;
//! there is no clock object and no virtual call per packet. A [`TickScale`]
//! made from the measured TSC frequency turns ticks into *quanta*
//! (`now >> shift`, at most 2^26 quanta per second) so that every quantity
//! fits in a `u64`. Tests drive `now` by hand and are fully deterministic.
//!
//! # Exact integer arithmetic
//!
//! A bucket counts *units*: one token (one bit in byte mode, one packet in
//! packet mode) is `qps` units, where `qps` is the scale's quanta per
//! second, and one quantum adds exactly `rate` units (rate in tokens per
//! second). So a bucket gains `rate` tokens per second of quanta with no
//! division, no rounding and no drift over any length of time. The only
//! approximation is `qps = hz >> shift` itself, which is off from the true
//! `hz / 2^shift` by less than one part in 2^25 (3e-8), far below the error
//! of the TSC frequency measurement.
//!
//! Bounds (checked when a table is built, so no arithmetic on the packet
//! path can overflow): `qps <= 2^26`; rates up to [`MAX_RATE`] = 2^42 tokens
//! per second (4.4 Tbit/s, or 4.4e12 packets/s; 400 Gbit/s is 2^38.5);
//! depths up to 2^62 units, which is at least 2^36 tokens = 8 GiB of burst
//! at any tick frequency (the exact maximum is
//! [`TickScale::max_burst_tokens`]). A packet costs `len * 8 * qps <= 2^61`
//! units for any `len: u32`. A refill multiplies elapsed quanta by the rate
//! with saturation, so a bucket idle for years simply fills up.
//!
//! # Exact across workers without a lock per packet
//!
//! Each bucket lives once in a shared, cache-line-aligned array
//! ([`bucket`]'s `SharedBucket`: fill, last refill time, rate, depth,
//! chunk, all atomics). Each worker keeps *local credit* per bucket in its
//! own slot array. A packet is paid from local credit when it suffices
//! (two plain loads and a store: no atomic read-modify-write, no shared
//! cache line). Otherwise the worker refills the shared bucket lazily (it
//! claims the interval since the last refill with one `fetch_max` on the
//! timestamp, so every quantum is credited exactly once whatever the
//! interleaving, and workers whose TSC lags just find nothing to claim)
//! and takes what the packet still needs plus up to one *chunk* of extra
//! credit with a compare-and-swap. When even that fails, the worker knows
//! the earliest quantum at which the bucket could cover the packet
//! (deficit / rate) and answers "no" locally until then (a *hold*), so
//! under overload red packets stay off the shared cache line too.
//!
//! The chunk is `min(depth / 64, 250 µs of rate)` by default
//! ([`ChunkPolicy`]). Credit only moves between the shared bucket and the
//! workers, it is never created or lost, so the error of the whole system
//! against one ideal bucket is the credit parked in workers: at most `W`
//! chunks (plus the unpaid remainder of one packet each) for `W` workers.
//! Over any window, forwarded = `rate * window` ± (`W * (chunk + max
//! packet)` + the depth when the window starts with a full bucket). With
//! the defaults and 16 workers that is ±4 ms of rate, 0.4% of a 1-second
//! window; 16 chunks are at most a quarter of the depth, so a burst after
//! idle may exceed the depth by that much. [`ChunkPolicy::EXACT`] (chunk 0)
//! makes a single worker behave exactly like the RFC algorithms.
//!
//! # Threads
//!
//! Workers own a [`WorkerPolicers`] / [`WorkerMeters`] (one per table, not
//! shared; methods take `&mut self`) and touch per packet only their own
//! slot for that tenant, the table's read-only entry and, once per chunk,
//! the shared bucket. The admin thread builds tables, reconfigures rates in
//! place (current fill kept, clamped to the new depth) and sums the
//! workers' counters (single-writer relaxed atomics) into snapshots. Nothing
//! on the packet path allocates, locks or panics; an unknown tenant or meter
//! index returns `None`.
#![deny(unsafe_code)]

pub mod bucket;
mod counters;
mod ofmeter;
mod policer;
pub mod units;

#[cfg(test)]
mod accuracy_tests;
#[cfg(test)]
mod tests_rfc;

pub use bucket::{ChunkPolicy, TickScale, MAX_QUANTA_PER_SEC, MAX_RATE};
pub use counters::{ColorCounters, Count, MeterCounters, Outcome, TenantCounters};
pub use ofmeter::{
    BandType, MeterBand, MeterId, MeterSpec, MeterUnit, MeterVerdict, OpenFlowMeters, WorkerMeters,
    MAX_BANDS,
};
pub use policer::{
    Algorithm, Marker, PacketCap, PolicerSpec, TenantId, TenantLimits, TenantPolicers,
    WorkerPolicers,
};
pub use units::{parse_pps, parse_rate, parse_size, UnitError};

/// Packet color after metering (RFC 2697 / 2698 terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Color {
    Green = 0,
    Yellow = 1,
    Red = 2,
}

impl Color {
    pub const ALL: [Color; 3] = [Color::Green, Color::Yellow, Color::Red];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Red => "red",
        }
    }
}

/// Whether the buckets count bytes or packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Rates in bits per second, bursts in bytes; a packet costs `8 * len`
    /// tokens (bits).
    Bytes,
    /// Rates in packets per second, bursts in packets; a packet costs one.
    Packets,
}

/// What to do with a packet of a given color.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Forward unchanged.
    Forward,
    /// Drop.
    Drop,
    /// Forward with the IP DSCP set to this value (0..=63).
    SetDscp(u8),
    /// Forward with the drop precedence of an AF DSCP raised by this many
    /// levels (OpenFlow `dscp_remark` `prec_level`); see
    /// [`raise_drop_precedence`].
    RaiseDropPrecedence(u8),
}

impl Action {
    /// True unless the packet is dropped.
    #[inline]
    pub const fn forwards(self) -> bool {
        !matches!(self, Action::Drop)
    }

    /// The counter outcome of this action.
    #[inline]
    pub const fn outcome(self) -> Outcome {
        match self {
            Action::Forward => Outcome::Passed,
            Action::Drop => Outcome::Dropped,
            Action::SetDscp(_) | Action::RaiseDropPrecedence(_) => Outcome::Remarked,
        }
    }

    /// The DSCP to write into a packet whose DSCP is `current`, or `None`
    /// when the action leaves the DSCP alone (forward, drop).
    #[inline]
    pub const fn rewrite_dscp(self, current: u8) -> Option<u8> {
        match self {
            Action::SetDscp(d) => Some(d & 0x3f),
            Action::RaiseDropPrecedence(levels) => Some(raise_drop_precedence(current, levels)),
            Action::Forward | Action::Drop => None,
        }
    }

    pub(crate) fn validate(self) -> Result<Self, MeterError> {
        match self {
            Action::SetDscp(d) if d > 63 => Err(MeterError::InvalidDscp(d)),
            a => Ok(a),
        }
    }

    /// Packs into 16 bits for an `AtomicU16` (tag in the high byte).
    pub(crate) const fn encode(self) -> u16 {
        match self {
            Action::Forward => 0,
            Action::Drop => 1 << 8,
            Action::SetDscp(d) => (2 << 8) | d as u16,
            Action::RaiseDropPrecedence(l) => (3 << 8) | l as u16,
        }
    }

    pub(crate) const fn decode(v: u16) -> Self {
        let arg = (v & 0xff) as u8;
        match v >> 8 {
            1 => Action::Drop,
            2 => Action::SetDscp(arg),
            3 => Action::RaiseDropPrecedence(arg),
            _ => Action::Forward,
        }
    }
}

/// Raises the drop precedence of an Assured Forwarding DSCP (RFC 2597:
/// AFxy = `8x + 2y`, class x in 1..=4, drop precedence y in 1..=3) by
/// `levels`, saturating at precedence 3. Any other DSCP (best effort, EF,
/// class selectors, experimental) has no drop precedence to raise and is
/// returned unchanged, as are the two ECN-free high bits of a value > 63
/// (masked off first).
pub const fn raise_drop_precedence(dscp: u8, levels: u8) -> u8 {
    let dscp = dscp & 0x3f;
    let class = dscp >> 3;
    let low = dscp & 0x7;
    let is_af = class >= 1 && class <= 4 && (low == 2 || low == 4 || low == 6);
    if !is_af {
        return dscp;
    }
    let prec = low >> 1;
    let raised = if levels >= 3 { 3 } else { prec + levels };
    let raised = if raised > 3 { 3 } else { raised };
    (class << 3) | (raised << 1)
}

/// The result of policing one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verdict {
    pub color: Color,
    pub action: Action,
}

/// Errors from building or reconfiguring a table. Packet-path calls never
/// return errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeterError {
    #[error("tick frequency must be above 0 Hz")]
    ZeroHz,
    #[error("{what} {rate} per second is above the supported maximum {max}")]
    RateTooHigh {
        what: &'static str,
        rate: u64,
        max: u64,
    },
    #[error("{what} {burst} {unit} is above the supported maximum {max} {unit}")]
    BurstTooLarge {
        what: &'static str,
        burst: u64,
        max: u64,
        unit: &'static str,
    },
    #[error("{what} must be above 0")]
    ZeroBurst { what: &'static str },
    #[error("srTCM (RFC 2697) needs CBS or EBS above 0")]
    SrTcmNoBurst,
    #[error("trTCM (RFC 2698) needs PIR ({pir}) >= CIR ({cir})")]
    PirBelowCir { cir: u64, pir: u64 },
    #[error("DSCP {0} is out of range 0..=63")]
    InvalidDscp(u8),
    #[error("an OpenFlow meter needs at least one band")]
    NoBands,
    #[error("{0} meter bands given; at most {MAX_BANDS} are supported")]
    TooManyBands(usize),
    #[error("meter band rate must be above 0")]
    ZeroBandRate,
    #[error("too many buckets in one table ({0})")]
    TooManyBuckets(usize),
    #[error("{what} #{index}: {error}")]
    Entry {
        what: &'static str,
        index: usize,
        error: Box<MeterError>,
    },
    #[error("no {what} #{index} (the table has {len})")]
    UnknownId {
        what: &'static str,
        index: usize,
        len: usize,
    },
    #[error("{what} #{index} cannot change in place ({reason}); build a new table")]
    ShapeChanged {
        what: &'static str,
        index: usize,
        reason: &'static str,
    },
    #[error("tables use different tick scales ({0} Hz vs {1} Hz)")]
    ScaleMismatch(u64, u64),
    #[error("a tenant limit needs a rate or a pps")]
    NoLimit,
    #[error("trTCM needs a peak rate (PIR)")]
    MissingPeakRate,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_precedence() {
        // AF11 -> AF12 -> AF13, saturating.
        assert_eq!(raise_drop_precedence(10, 1), 12);
        assert_eq!(raise_drop_precedence(12, 1), 14);
        assert_eq!(raise_drop_precedence(14, 1), 14);
        assert_eq!(raise_drop_precedence(10, 2), 14);
        assert_eq!(raise_drop_precedence(34, 255), 38); // AF41 -> AF43
        assert_eq!(raise_drop_precedence(28, 0), 28);
        // Not AF: unchanged.
        for d in [0u8, 8, 16, 46, 48, 56, 40, 9, 11] {
            assert_eq!(raise_drop_precedence(d, 1), d, "dscp {d}");
        }
        // ECN bits never leak in.
        assert_eq!(raise_drop_precedence(0x40 | 10, 1), 12);
    }

    #[test]
    fn action_codec_and_rewrite() {
        for a in [
            Action::Forward,
            Action::Drop,
            Action::SetDscp(0),
            Action::SetDscp(63),
            Action::RaiseDropPrecedence(2),
        ] {
            assert_eq!(Action::decode(a.encode()), a);
        }
        assert_eq!(Action::SetDscp(46).rewrite_dscp(0), Some(46));
        assert_eq!(Action::RaiseDropPrecedence(1).rewrite_dscp(18), Some(20));
        assert_eq!(Action::Drop.rewrite_dscp(18), None);
        assert!(!Action::Drop.forwards());
        assert!(Action::SetDscp(1).forwards());
        assert_eq!(
            Action::SetDscp(64).validate(),
            Err(MeterError::InvalidDscp(64))
        );
    }
}
