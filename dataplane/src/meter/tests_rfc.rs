//! Hand-computed sequences for the tenant policers (RFC 2697, RFC 2698,
//! single-rate, packet mode, packet cap), with `ChunkPolicy::EXACT` so a
//! worker sees the textbook algorithm.
//!
//! Scale: 1000 Hz, so one tick is 1 ms and one quantum. A rate of 8000
//! bit/s is 1000 B/s, i.e. one byte per tick; packets are 1000 bytes.

use std::sync::Arc;

use super::*;

const HZ: u64 = 1000;
const PKT: u32 = 1000;
const G: Color = Color::Green;
const Y: Color = Color::Yellow;
const R: Color = Color::Red;

fn table(specs: &[PolicerSpec]) -> Arc<TenantPolicers> {
    TenantPolicers::new(TickScale::new(HZ).unwrap(), ChunkPolicy::EXACT, specs, 0).unwrap()
}

fn colors(w: &mut WorkerPolicers, tenant: TenantId, n: usize, now: u64) -> Vec<Color> {
    (0..n)
        .map(|_| w.police(tenant, PKT, now).unwrap().color)
        .collect()
}

fn police(rate: u64, burst: u64) -> PolicerSpec {
    PolicerSpec::new(Algorithm::Police { rate, burst }, Mode::Bytes)
}

fn bits(bytes: u64) -> u64 {
    bytes * 8
}

#[test]
fn single_rate_policer() {
    let t = table(&[police(8000, 3000)]);
    let mut w = t.worker();
    // Burst at start: the bucket starts full (3000 B).
    assert_eq!(colors(&mut w, 0, 4, 0), [G, G, G, R]);
    assert_eq!(t.levels(0).unwrap(), [0]);
    // 500 ms later only 500 B: red, and red takes nothing.
    assert_eq!(colors(&mut w, 0, 1, 500), [R]);
    assert_eq!(t.levels(0).unwrap(), [bits(500)]);
    // At 1000 ms exactly 1000 B.
    assert_eq!(colors(&mut w, 0, 2, 1000), [G, R]);
    // Sustained over-rate: 2 packets per second offered for 10 s, 1 passes.
    let mut green = 0;
    for s in 2..12u64 {
        for half in [0, 500] {
            green += colors(&mut w, 0, 1, s * 1000 + half)
                .iter()
                .filter(|&&c| c == G)
                .count();
        }
    }
    assert_eq!(green, 10);
    // Idle refill, and no credit beyond the depth.
    assert_eq!(colors(&mut w, 0, 1, 100_000), [G]);
    assert_eq!(t.levels(0).unwrap(), [bits(2000)]);
    assert_eq!(colors(&mut w, 0, 3, 100_000), [G, G, R]);
    let c = t.counters(0).unwrap();
    assert_eq!(c.green.passed.packets, 3 + 1 + 10 + 3);
    assert_eq!(c.red.dropped.bytes, u64::from(PKT) * c.red.dropped.packets);
    assert_eq!(c.total().packets, 4 + 1 + 2 + 20 + 4);
}

#[test]
fn rate_change_keeps_fill() {
    let t = table(&[police(8000, 3000)]);
    let mut w = t.worker();
    assert_eq!(colors(&mut w, 0, 1, 0), [G]);
    // 2000 B left; a deeper bucket keeps the fill (no top-up).
    t.reconfigure(0, &police(16_000, 10_000), 0).unwrap();
    assert_eq!(t.levels(0).unwrap(), [bits(2000)]);
    // The new rate applies from now: 2 B per ms.
    assert_eq!(colors(&mut w, 0, 3, 500), [G, G, G]);
    assert_eq!(t.levels(0).unwrap(), [0]);
    // A shallower bucket clamps the fill.
    assert_eq!(colors(&mut w, 0, 1, 5000), [G]); // 10_000 -> 9000
    t.reconfigure(0, &police(16_000, 1500), 5000).unwrap();
    assert_eq!(t.levels(0).unwrap(), [bits(1500)]);
    // Time before the change is credited at the old rate.
    t.reconfigure(0, &police(8000, 10_000), 5000).unwrap();
    t.reconfigure(0, &police(80_000, 10_000), 5500).unwrap();
    assert_eq!(t.levels(0).unwrap(), [bits(2000)]);
    assert_eq!(t.spec(0), Some(police(80_000, 10_000)));
    // Shape changes are refused and change nothing.
    let tcm = PolicerSpec::new(
        Algorithm::SrTcm {
            cir: 1,
            cbs: 1,
            ebs: 1,
        },
        Mode::Bytes,
    );
    assert!(matches!(
        t.reconfigure(0, &tcm, 0),
        Err(MeterError::ShapeChanged { .. })
    ));
    let pkts = PolicerSpec {
        mode: Mode::Packets,
        ..police(10, 10)
    };
    assert!(matches!(
        t.reconfigure(0, &pkts, 0),
        Err(MeterError::ShapeChanged { .. })
    ));
    assert!(matches!(
        t.reconfigure(1, &pkts, 0),
        Err(MeterError::UnknownId { .. })
    ));
    assert_eq!(t.spec(0), Some(police(80_000, 10_000)));
}

#[test]
fn packet_mode() {
    let spec = PolicerSpec::new(Algorithm::Police { rate: 10, burst: 5 }, Mode::Packets);
    let t = table(&[spec]);
    let mut w = t.worker();
    // Packet size does not matter.
    let c: Vec<_> = [64, 9000, 1500, 64, 64, 64]
        .iter()
        .map(|&len| w.police(0, len, 0).unwrap().color)
        .collect();
    assert_eq!(c, [G, G, G, G, G, R]);
    assert_eq!(w.police(0, 9000, 99).unwrap().color, R);
    assert_eq!(w.police(0, 9000, 100).unwrap().color, G);
    assert_eq!(w.police(0, 64, 150).unwrap().color, R);
    assert_eq!(w.police(0, 64, 200).unwrap().color, G);
    assert_eq!(t.levels(0).unwrap(), [0]);
}

#[test]
fn srtcm_rfc2697() {
    // CIR 1000 B/s, CBS 2000 B, EBS 3000 B; yellow remarked, red dropped.
    let spec = PolicerSpec::new(
        Algorithm::SrTcm {
            cir: 8000,
            cbs: 2000,
            ebs: 3000,
        },
        Mode::Bytes,
    )
    .with_actions(Action::SetDscp(10), Action::Drop);
    let t = table(&[spec]);
    let mut w = t.worker();
    // Both buckets start full: 2 green (C), 3 yellow (E), then red.
    assert_eq!(colors(&mut w, 0, 6, 0), [G, G, Y, Y, Y, R]);
    let v = w.police(0, PKT, 0).unwrap();
    assert_eq!(
        v,
        Verdict {
            color: R,
            action: Action::Drop
        }
    );
    // C refills first; E gets nothing until C is full.
    assert_eq!(colors(&mut w, 0, 2, 1000), [G, R]);
    // 4 s later C gained 4000 B: 2000 fill C, the overflow 2000 goes to E.
    assert_eq!(colors(&mut w, 0, 1, 5000), [G]);
    assert_eq!(t.levels(0).unwrap(), [bits(1000), bits(2000)]);
    assert_eq!(colors(&mut w, 0, 4, 5000), [G, Y, Y, R]);
    // Long idle: both full, nothing beyond.
    assert_eq!(colors(&mut w, 0, 6, 1_000_000), [G, G, Y, Y, Y, R]);
    // Counters by color and outcome.
    let c = t.counters(0).unwrap();
    assert_eq!(c.green.passed.packets, 2 + 1 + 2 + 2);
    assert_eq!(c.yellow.remarked.packets, 3 + 2 + 3);
    assert_eq!(c.yellow.passed.packets, 0);
    assert_eq!(c.red.dropped.packets, 1 + 1 + 1 + 1 + 1);
    assert_eq!(c.yellow.remarked.bytes, 8 * u64::from(PKT));
    // Rate change: a smaller CBS clamps C, E keeps its fill.
    assert_eq!(colors(&mut w, 0, 1, 2_000_000), [G]);
    let smaller = PolicerSpec::new(
        Algorithm::SrTcm {
            cir: 8000,
            cbs: 500,
            ebs: 3000,
        },
        Mode::Bytes,
    );
    t.reconfigure(0, &smaller, 2_000_000).unwrap();
    assert_eq!(t.levels(0).unwrap(), [bits(500), bits(3000)]);
    // Yellow and red actions changed in place too (default: forward/drop).
    assert_eq!(
        w.police(0, PKT, 2_000_000).unwrap(),
        Verdict {
            color: Y,
            action: Action::Forward
        }
    );
}

#[test]
fn srtcm_color_aware() {
    let spec = PolicerSpec::new(
        Algorithm::SrTcm {
            cir: 8000,
            cbs: 2000,
            ebs: 3000,
        },
        Mode::Bytes,
    );
    let t = table(&[spec]);
    let mut w = t.worker();
    // Pre-yellow uses E only, pre-red stays red and takes nothing.
    assert_eq!(w.police_colored(0, PKT, 0, Y).unwrap().color, Y);
    assert_eq!(w.police_colored(0, PKT, 0, R).unwrap().color, R);
    assert_eq!(t.levels(0).unwrap(), [bits(2000), bits(2000)]);
    assert_eq!(w.police_colored(0, PKT, 0, G).unwrap().color, G);
    // A green packet that C cannot cover falls to E.
    assert_eq!(w.police_colored(0, 1500, 0, G).unwrap().color, Y);
    assert_eq!(t.levels(0).unwrap(), [bits(1000), bits(500)]);
    // Never greener than it came.
    assert_eq!(w.police_colored(0, 100, 0, Y).unwrap().color, Y);
    assert_eq!(w.police_colored(0, 100, 0, Y).unwrap().color, Y);
    assert_eq!(w.police_colored(0, 400, 0, Y).unwrap().color, R);
}

fn trtcm() -> PolicerSpec {
    // CIR 1000 B/s, CBS 2000 B; PIR 2000 B/s, PBS 4000 B.
    PolicerSpec::new(
        Algorithm::TrTcm {
            cir: 8000,
            cbs: 2000,
            pir: 16_000,
            pbs: 4000,
        },
        Mode::Bytes,
    )
}

#[test]
fn trtcm_rfc2698() {
    let t = table(&[trtcm()]);
    let mut w = t.worker();
    // Green takes from both, yellow from P only, red from neither.
    assert_eq!(colors(&mut w, 0, 5, 0), [G, G, Y, Y, R]);
    assert_eq!(t.levels(0).unwrap(), [0, 0]);
    // 500 ms: P +1000, C +500: P covers, C does not: yellow.
    assert_eq!(colors(&mut w, 0, 1, 500), [Y]);
    assert_eq!(t.levels(0).unwrap(), [bits(500), 0]);
    // 1000 ms: P +1000, C +500 -> 1000: green.
    assert_eq!(colors(&mut w, 0, 2, 1000), [G, R]);
    // Sustained over-rate: 4 packets/s for 20 s: 1/s green, 1/s yellow.
    let mut seen = [0usize; 3];
    for ms in (1250..21_250u64).step_by(250) {
        seen[w.police(0, PKT, ms).unwrap().color.index()] += 1;
    }
    assert_eq!(seen, [20, 20, 40]);
    // Idle: both buckets full, no more.
    assert_eq!(colors(&mut w, 0, 1, 1_000_000), [G]);
    assert_eq!(t.levels(0).unwrap(), [bits(1000), bits(3000)]);
    // Rate change: PIR up, PBS down: P clamped, C untouched.
    let mut spec = trtcm();
    if let Algorithm::TrTcm { pir, pbs, .. } = &mut spec.algorithm {
        *pir = 80_000;
        *pbs = 1000;
    }
    t.reconfigure(0, &spec, 1_000_000).unwrap();
    assert_eq!(t.levels(0).unwrap(), [bits(1000), bits(1000)]);
    assert_eq!(colors(&mut w, 0, 2, 1_000_000), [G, R]);
    // 100 ms: P +1000 (10 B/ms, clamped to 1000), C +100.
    assert_eq!(colors(&mut w, 0, 2, 1_000_100), [Y, R]);
}

#[test]
fn trtcm_color_aware() {
    let t = table(&[trtcm()]);
    let mut w = t.worker();
    assert_eq!(w.police_colored(0, PKT, 0, R).unwrap().color, R);
    assert_eq!(w.police_colored(0, PKT, 0, Y).unwrap().color, Y);
    assert_eq!(t.levels(0).unwrap(), [bits(2000), bits(3000)]);
    assert_eq!(w.police_colored(0, PKT, 0, G).unwrap().color, G);
    assert_eq!(t.levels(0).unwrap(), [bits(1000), bits(2000)]);
}

#[test]
fn packet_cap() {
    // 8 Mbit/s with 1 MB of burst, but at most 10 pps with 3 of burst.
    let cap = PacketCap { pps: 10, burst: 3 };
    let t = table(&[
        police(8_000_000, 1_000_000).with_packet_cap(cap),
        police(8000, 1000).with_packet_cap(cap),
        police(8000, 1000)
            .with_packet_cap(cap)
            .with_actions(Action::Forward, Action::SetDscp(8)),
    ]);
    let mut w = t.worker();
    assert_eq!(colors(&mut w, 0, 4, 0), [G, G, G, R]);
    assert_eq!(colors(&mut w, 0, 2, 100), [G, R]);
    // Tenant 1: the byte bucket (1 packet deep) binds: packets it drops
    // get their cap token back (into local credit; flush to see it).
    assert_eq!(colors(&mut w, 1, 3, 0), [G, R, R]);
    w.flush();
    assert_eq!(t.levels(1).unwrap(), [0, 2]);
    // Tenant 2: red is forwarded (remarked), so the cap token stays spent.
    assert_eq!(colors(&mut w, 2, 3, 0), [G, R, R]);
    assert_eq!(t.levels(2).unwrap(), [0, 0]);
    let c = t.counters(2).unwrap();
    assert_eq!(c.red.remarked.packets, 2);
    assert_eq!(c.forwarded().packets, 3);
}

#[test]
fn counters_across_workers_and_flush() {
    let specs = [police(8000, 3000), police(8000, 3000)];
    let t =
        TenantPolicers::new(TickScale::new(HZ).unwrap(), ChunkPolicy::DEFAULT, &specs, 0).unwrap();
    let mut a = t.worker();
    let mut b = t.worker();
    assert_eq!(a.police(2, PKT, 0), None);
    a.police(0, PKT, 0);
    b.police(0, 500, 0);
    b.police(1, 64, 0);
    assert_eq!(a.local_counters(0).unwrap().total().packets, 1);
    let c = t.counters(0).unwrap();
    assert_eq!(
        c.green.passed,
        Count {
            packets: 2,
            bytes: 1500
        }
    );
    let all = t.all_counters();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].total(),
        Count {
            packets: 1,
            bytes: 64
        }
    );
    assert_eq!(t.counters(2), None);
    // With chunks, workers hold credit; giving it back restores the exact
    // bucket: 3000 - 1000 - 500 bytes.
    assert!(t.levels(0).unwrap()[0] < bits(1500));
    a.flush();
    drop(b);
    assert_eq!(t.levels(0).unwrap(), [bits(1500)]);
    assert_eq!(t.levels(1).unwrap(), [bits(3000 - 64)]);
    // Counters of a dropped worker still count.
    assert_eq!(t.counters(1).unwrap().total().packets, 1);
}

#[test]
fn carry_over_into_new_table() {
    let old = table(&[police(8000, 3000), trtcm()]);
    let mut w = old.worker();
    w.police(0, PKT, 0);
    let new = table(&[trtcm(), police(8000, 2500)]);
    new.carry_over(1, &old, 0).unwrap();
    assert_eq!(new.levels(1).unwrap(), [bits(2000)]);
    assert!(matches!(
        new.carry_over(0, &old, 0),
        Err(MeterError::ShapeChanged { .. })
    ));
    assert!(matches!(
        new.carry_over(0, &old, 5),
        Err(MeterError::UnknownId { .. })
    ));
    let other = TenantPolicers::new(
        TickScale::new(2000).unwrap(),
        ChunkPolicy::EXACT,
        &[trtcm()],
        0,
    )
    .unwrap();
    assert!(matches!(
        other.carry_over(0, &old, 1),
        Err(MeterError::ScaleMismatch(1000, 2000))
    ));
}

#[test]
fn spec_errors() {
    let s = TickScale::new(2_500_000_000).unwrap();
    let err = |spec: PolicerSpec| match TenantPolicers::new(
        s,
        ChunkPolicy::DEFAULT,
        &[police(1, 1), spec],
        0,
    ) {
        Err(MeterError::Entry {
            index: 1, error, ..
        }) => *error,
        other => panic!("{other:?}"),
    };
    assert!(matches!(err(police(1000, 0)), MeterError::ZeroBurst { .. }));
    assert!(matches!(
        err(police(MAX_RATE + 1, 10)),
        MeterError::RateTooHigh { .. }
    ));
    assert!(matches!(
        err(police(1000, 1 << 40)),
        MeterError::BurstTooLarge { .. }
    ));
    let srtcm = |cbs, ebs| PolicerSpec::new(Algorithm::SrTcm { cir: 1, cbs, ebs }, Mode::Bytes);
    assert_eq!(err(srtcm(0, 0)), MeterError::SrTcmNoBurst);
    assert!(TenantPolicers::new(s, ChunkPolicy::DEFAULT, &[srtcm(0, 5), srtcm(5, 0)], 0).is_ok());
    let tr = PolicerSpec::new(
        Algorithm::TrTcm {
            cir: 10,
            cbs: 1,
            pir: 9,
            pbs: 1,
        },
        Mode::Bytes,
    );
    assert_eq!(err(tr), MeterError::PirBelowCir { cir: 10, pir: 9 });
    let bad_dscp = police(1, 1).with_actions(Action::Forward, Action::SetDscp(64));
    assert_eq!(err(bad_dscp), MeterError::InvalidDscp(64));
    let bad_cap = police(1, 1).with_packet_cap(PacketCap { pps: 1, burst: 0 });
    assert!(matches!(err(bad_cap), MeterError::ZeroBurst { .. }));
    let e = TenantPolicers::new(s, ChunkPolicy::DEFAULT, &[police(1000, 0)], 0).unwrap_err();
    assert_eq!(e.to_string(), "tenant #0: policer burst must be above 0");
    // 400 Gbit/s with an 8 GiB burst at 5 GHz is fine.
    let s5 = TickScale::new(5_000_000_000).unwrap();
    assert!(TenantPolicers::new(
        s5,
        ChunkPolicy::DEFAULT,
        &[police(400_000_000_000, 8 << 30)],
        0
    )
    .is_ok());
}

#[test]
fn long_run_has_no_drift() {
    // 2.5 GHz TSC, 1 Gbit/s, one hour in 1 s steps with 1 MB "packets"
    // (the cost is all that matters) and a 250 MB bucket, so it never
    // overflows: the credit handed out is exactly rate × time, with no
    // rounding accumulated over 9e12 ticks.
    let scale = TickScale::new(2_500_000_000).unwrap();
    let rate = 1_000_000_000;
    let spec = police(rate, 250_000_000);
    let t = TenantPolicers::new(scale, ChunkPolicy::DEFAULT, &[spec], 0).unwrap();
    let mut w = t.worker();
    let mut offer = |now: u64, n: usize| {
        let mut bits = 0;
        for _ in 0..n {
            if w.police(0, 1_000_000, now).unwrap().action == Action::Forward {
                bits += 8_000_000;
            }
        }
        bits
    };
    assert_eq!(offer(0, 251), 250 * 8_000_000);
    let mut forwarded = 0u64;
    for s in 1..=3600 {
        forwarded += offer(scale.ticks(s), 126);
    }
    drop(w); // local credit back to the bucket
    let left = t.levels(0).unwrap()[0];
    assert_eq!(forwarded + left, rate * 3600);
    assert!(left < 8_000_000 * 2);
}

#[test]
fn layout_and_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<TenantPolicers>();
    send_sync::<OpenFlowMeters>();
    send::<WorkerPolicers>();
    send::<WorkerMeters>();
    assert_eq!(std::mem::size_of::<bucket::SharedBucket>(), 64);
    policer::assert_layout();
}

#[test]
fn tenant_limits_defaults() {
    let l = TenantLimits {
        rate: Some(2_500_000_000),
        ..TenantLimits::default()
    };
    let spec = l.spec().unwrap();
    assert_eq!(spec.mode, Mode::Bytes);
    assert_eq!(
        spec.algorithm,
        Algorithm::Police {
            rate: 2_500_000_000,
            burst: 3_125_000
        }
    );
    assert_eq!(
        (spec.yellow, spec.red, spec.packet_cap),
        (Action::Drop, Action::Drop, None)
    );

    let both = TenantLimits {
        rate: Some(1_000_000_000),
        pps: Some(1_000_000),
        burst: Some(256 * 1024),
        marker: Marker::SrTcm,
        exceed: Action::SetDscp(10),
        ..TenantLimits::default()
    };
    let spec = both.spec().unwrap();
    assert_eq!(
        spec.algorithm,
        Algorithm::SrTcm {
            cir: 1_000_000_000,
            cbs: 262_144,
            ebs: 262_144
        }
    );
    assert_eq!(
        spec.packet_cap,
        Some(PacketCap {
            pps: 1_000_000,
            burst: 10_000
        })
    );
    assert_eq!(spec.red, Action::SetDscp(10));

    let pps_only = TenantLimits {
        pps: Some(500),
        marker: Marker::TrTcm,
        peak_rate: Some(10_000),
        ..TenantLimits::default()
    };
    let spec = pps_only.spec().unwrap();
    assert_eq!(spec.mode, Mode::Packets);
    assert_eq!(
        spec.algorithm,
        Algorithm::TrTcm {
            cir: 500,
            cbs: 32,
            pir: 10_000,
            pbs: 100
        }
    );
    let s = TickScale::new(2_500_000_000).unwrap();
    assert!(TenantPolicers::new(s, ChunkPolicy::DEFAULT, &[spec], 0).is_ok());

    assert_eq!(TenantLimits::default().spec(), Err(MeterError::NoLimit));
    let no_pir = TenantLimits {
        marker: Marker::TrTcm,
        ..pps_only
    };
    assert_eq!(
        TenantLimits {
            peak_rate: None,
            ..no_pir
        }
        .spec(),
        Err(MeterError::MissingPeakRate)
    );
}
