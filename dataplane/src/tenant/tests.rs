//! Tenant classification per kind (against a linear scan), policing
//! verdicts, in-place changes and rebuilds, multi-worker accuracy through
//! `WorkerTenants`, and the OpenFlow meter table, hook and dump.

use super::*;
use crate::config::tenant::{IpPrefix, TenantMatch};
use crate::meter::{Marker, TenantLimits};
use crate::openflow::{parse_meter, MeterEntry};
use crate::pipeline::env::{MeterHook, MeterVerdict};
use crate::rng::XorShift64;
use crate::wire::build::PacketBuilder;
use classify::SCAN_MAX;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// 1 tick = 1 ms: easy hand computation.
const MS: u64 = 1000;

fn scale(hz: u64) -> TickScale {
    TickScale::new(hz).unwrap()
}

fn limits(rate_bits: u64) -> TenantLimits {
    TenantLimits {
        rate: Some(rate_bits),
        ..TenantLimits::default()
    }
}

fn tenant(name: &str, selector: TenantMatch, limits: TenantLimits) -> TenantConfig {
    TenantConfig {
        name: name.to_string(),
        selector,
        limits,
        policer: limits.spec().unwrap(),
    }
}

fn parsed(frame: &[u8]) -> FlowKey {
    let mut k = FlowKey::default();
    crate::wire::parse(frame, 1, &mut k).unwrap();
    k
}

fn v4_key(src: u32, vlan: Option<u16>) -> FlowKey {
    let mut b = PacketBuilder::new().eth(MAC_B, MAC_A);
    if let Some(v) = vlan {
        b = b.vlan(v, 0);
    }
    parsed(&b.ipv4(src, 0x0a00_0001).udp(1, 2).build().unwrap())
}

fn v6_key(src: u128) -> FlowKey {
    let b = PacketBuilder::new()
        .eth(MAC_B, MAC_A)
        .ipv6(src, 1)
        .udp(1, 2);
    parsed(&b.build().unwrap())
}

fn arp_key() -> FlowKey {
    let b = PacketBuilder::new()
        .eth(MAC_B, MAC_A)
        .ethertype(0x0806)
        .payload(&[0; 28]);
    let mut k = FlowKey::default();
    let _ = crate::wire::parse(&b.build().unwrap(), 1, &mut k);
    k
}

const NOREGS: Registers = Registers {
    metadata: 0,
    tunnel_id: 0,
};

fn table(tenants: Vec<TenantConfig>, nports: usize) -> TenantTable {
    TenantTable::with_chunk(tenants, nports, scale(MS), ChunkPolicy::EXACT, 0).unwrap()
}

#[test]
fn classify_by_port() {
    let t = table(
        vec![
            tenant("a", TenantMatch::Ports(vec![0, 2]), limits(8000)),
            tenant("b", TenantMatch::Ports(vec![3]), limits(8000)),
        ],
        4,
    );
    let k = v4_key(1, None);
    let got: Vec<Option<usize>> = (0..6).map(|p| t.classify(p, &k, &NOREGS)).collect();
    assert_eq!(got, [Some(0), None, Some(0), Some(1), None, None]);
    assert_eq!(t.kind(), Some(MatchKind::Ports));
    assert!(!t.worker().needs_metadata());
    // A port beyond the switch's ports cannot be claimed.
    let e = TenantTable::new(
        vec![tenant("a", TenantMatch::Ports(vec![4]), limits(8000))],
        4,
        scale(MS),
        0,
    )
    .unwrap_err();
    assert!(matches!(
        e,
        TenantError::Classify(ClassifyError::PortOutOfRange { port: 4, .. })
    ));
}

#[test]
fn classify_by_vlan() {
    let t = table(
        vec![
            tenant("a", TenantMatch::Vlans(vec![100, 4094]), limits(8000)),
            tenant("b", TenantMatch::Vlans(vec![1]), limits(8000)),
        ],
        1,
    );
    let c = |vlan| t.classify(0, &v4_key(7, vlan), &NOREGS);
    assert_eq!(c(Some(100)), Some(0));
    assert_eq!(c(Some(4094)), Some(0));
    assert_eq!(c(Some(1)), Some(1));
    assert_eq!(c(Some(2)), None);
    assert_eq!(c(None), None);
    // A priority tag (VID 0) is no VLAN tenant's.
    assert_eq!(c(Some(0)), None);
}

/// Random disjoint prefixes of both families: classification equals a
/// linear scan over the prefixes.
#[test]
fn classify_by_source_prefix_matches_a_linear_scan() {
    let mut rng = XorShift64::new(7);
    for n in [1usize, 5, 40, 300] {
        // Disjoint by construction: a distinct /16 (v4) or /48 (v6) block
        // per prefix, then a longer prefix inside it.
        let mut prefixes = Vec::new();
        for i in 0..n {
            let block = (i as u32 + 1) << 16;
            let len = 16 + rng.below(17) as u8;
            let addr = (block | rng.next_u32() & 0xffff)
                & !(u32::MAX.checked_shr(u32::from(len)).unwrap_or(0));
            prefixes.push(IpPrefix::V4 { addr, len });
            let block6 = (0x2001_0db8_u128 << 96) | ((i as u128 + 1) << 80);
            let len6 = 48 + rng.below(81) as u8;
            let host6 = (u128::from(rng.next_u64()) << 16) & ((1u128 << 80) - 1);
            let mask6 = !(u128::MAX.checked_shr(u32::from(len6)).unwrap_or(0));
            prefixes.push(IpPrefix::V6 {
                addr: (block6 | host6) & mask6,
                len: len6,
            });
        }
        // Spread over up to 16 tenants.
        let tenants_n = n.min(16);
        let mut lists = vec![Vec::new(); tenants_n];
        for (i, p) in prefixes.iter().enumerate() {
            lists[i % tenants_n].push(*p);
        }
        let cfgs: Vec<TenantConfig> = lists
            .into_iter()
            .enumerate()
            .map(|(i, l)| tenant(&format!("t{i}"), TenantMatch::Src(l), limits(8000)))
            .collect();
        let t = table(cfgs.clone(), 1);
        let linear = |key: &FlowKey| -> Option<usize> {
            cfgs.iter().position(|c| {
                let TenantMatch::Src(list) = &c.selector else {
                    return false;
                };
                list.iter().any(|p| {
                    let (lo, hi) = p.range();
                    match p {
                        IpPrefix::V4 { .. } => {
                            key.eth_type == 0x0800 && (lo..=hi).contains(&u128::from(key.ipv4_src))
                        }
                        IpPrefix::V6 { .. } => {
                            key.eth_type == 0x86dd && (lo..=hi).contains(&key.ipv6_src)
                        }
                    }
                })
            })
        };
        let mut hits = 0;
        for _ in 0..400 {
            // Half the probes inside some prefix, half anywhere.
            let p = prefixes[rng.below(prefixes.len() as u64) as usize];
            let (lo, hi) = p.range();
            let inside = lo + (u128::from(rng.next_u64()) % (hi - lo).saturating_add(1).max(1));
            let key = match p {
                IpPrefix::V4 { .. } if rng.chance(1, 2) => v4_key(inside as u32, None),
                IpPrefix::V4 { .. } => v4_key(rng.next_u32(), Some(5)),
                IpPrefix::V6 { .. } if rng.chance(1, 2) => v6_key(inside),
                IpPrefix::V6 { .. } => v6_key(u128::from(rng.next_u64()) << 64),
            };
            let want = linear(&key);
            hits += usize::from(want.is_some());
            assert_eq!(t.classify(0, &key, &NOREGS), want, "n={n} key {key:?}");
        }
        assert!(hits > 150, "the probes must mostly hit ({hits})");
        let d = t.classifier().describe();
        let want = if n <= SCAN_MAX { "scan" } else { "classifier" };
        assert!(d.contains(&format!("ipv4 {want}")), "{d}");
        assert_eq!(t.classify(0, &arp_key(), &NOREGS), None);
    }
}

#[test]
fn classify_by_metadata() {
    let md = |value, mask| TenantMatch::Metadata { value, mask };
    let t = table(
        vec![
            tenant("a", md(0x10, 0xff), limits(8000)),
            tenant("b", md(0x11, 0xff), limits(8000)),
            tenant("c", md(0x102, 0xf0f), limits(8000)),
            tenant("d", md(0xdead_0000_0000_0000, u64::MAX), limits(8000)),
        ],
        1,
    );
    assert!(t.worker().needs_metadata());
    let k = v4_key(1, None);
    let c = |metadata| {
        t.classify(
            0,
            &k,
            &Registers {
                metadata,
                tunnel_id: 0,
            },
        )
    };
    assert_eq!(c(0x10), Some(0));
    assert_eq!(c(0xab_0010), Some(0));
    assert_eq!(c(0x11), Some(1));
    assert_eq!(c(0x112), Some(2));
    assert_eq!(c(0xff1f2), Some(2));
    assert_eq!(c(0x113), None);
    assert_eq!(c(0x1ff), None);
    assert_eq!(c(0xdead_0000_0000_0000), Some(3));
    assert_eq!(c(0), None);
}

/// More pairs than the scan holds (the classifier path) and one common
/// mask (the direct array), against a scan.
#[test]
fn classify_many_metadata_tenants_matches_a_linear_scan() {
    for common_mask in [None, Some(0xff0u64)] {
        many_metadata_tenants(common_mask);
    }
}

fn many_metadata_tenants(common_mask: Option<u64>) {
    let mut rng = XorShift64::new(11);
    let mut cfgs = Vec::new();
    for i in 0..60u64 {
        // Distinct low bytes keep the pairs disjoint; masks vary.
        let (value, mask) = match (common_mask, i % 3) {
            (Some(m), _) => ((i << 4) & m, m),
            (None, 0) => (i, 0xff),
            (None, 1) => ((rng.next_u64() & 0xff00) | i, 0xffff),
            (None, _) => ((rng.next_u64() << 8) | i, u64::MAX),
        };
        cfgs.push(tenant(
            &format!("m{i}"),
            TenantMatch::Metadata { value, mask },
            limits(8000),
        ));
    }
    let t = table(cfgs.clone(), 1);
    let k = v4_key(1, None);
    let mut hits = 0;
    for _ in 0..2000 {
        let pick = &cfgs[rng.below(cfgs.len() as u64) as usize];
        let TenantMatch::Metadata { value, mask } = pick.selector else {
            unreachable!()
        };
        let metadata = if rng.chance(1, 2) {
            value | (rng.next_u64() & !mask)
        } else {
            rng.next_u64()
        };
        let want = cfgs.iter().position(|c| match c.selector {
            TenantMatch::Metadata { value, mask } => metadata & mask == value,
            _ => false,
        });
        hits += usize::from(want.is_some());
        let regs = Registers {
            metadata,
            tunnel_id: 0,
        };
        assert_eq!(t.classify(0, &k, &regs), want, "metadata {metadata:#x}");
    }
    assert!(hits > 900, "{hits}");
    let d = t.classifier().describe();
    match common_mask {
        Some(_) => assert_eq!(d, "metadata: direct array of 256 under mask 0xff0"),
        None => assert!(d.starts_with("metadata: classifier"), "{d}"),
    }
}

#[test]
fn tables_refuse_ambiguity() {
    let e = TenantTable::new(
        vec![
            tenant("a", TenantMatch::Ports(vec![0]), limits(8000)),
            tenant("b", TenantMatch::Vlans(vec![3]), limits(8000)),
        ],
        1,
        scale(MS),
        0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("same kind"), "{e}");
    let e = TenantTable::new(
        vec![
            tenant("a", TenantMatch::Vlans(vec![3, 4]), limits(8000)),
            tenant("b", TenantMatch::Vlans(vec![4]), limits(8000)),
        ],
        1,
        scale(MS),
        0,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "VLAN 4 of tenant #1 overlaps VLAN 4 of tenant #0"
    );
    let e = TenantTable::new(
        vec![
            tenant("a", TenantMatch::Vlans(vec![3]), limits(8000)),
            tenant("a", TenantMatch::Vlans(vec![4]), limits(8000)),
        ],
        1,
        scale(MS),
        0,
    )
    .unwrap_err();
    assert_eq!(e, TenantError::DuplicateName("a".into()));
    let mut c = tenant("a", TenantMatch::Vlans(vec![3]), limits(8000));
    c.policer.red = Action::RaiseDropPrecedence(1);
    assert!(matches!(
        TenantTable::new(vec![c], 1, scale(MS), 0),
        Err(TenantError::UnsupportedAction { .. })
    ));
    let empty = TenantTable::new(Vec::new(), 4, scale(MS), 0).unwrap();
    assert_eq!(empty.classify(0, &v4_key(1, None), &NOREGS), None);
    assert_eq!(empty.kind(), None);
}

/// 8000 bit/s = 1000 B/s = one byte per tick; 1000-byte packets.
#[test]
fn police_verdicts_and_counters() {
    let remark = TenantLimits {
        rate: Some(8000),
        burst: Some(2000),
        marker: Marker::SrTcm,
        excess_burst: Some(1000),
        ..TenantLimits::default()
    };
    let mut sr = tenant("sr", TenantMatch::Ports(vec![0]), remark);
    sr.policer.yellow = Action::SetDscp(10);
    sr.policer.red = Action::Drop;
    let t = table(
        vec![
            sr,
            tenant(
                "p",
                TenantMatch::Ports(vec![1]),
                TenantLimits {
                    pps: Some(1000),
                    burst: Some(1),
                    ..TenantLimits::default()
                },
            ),
        ],
        2,
    );
    let mut w = t.worker();
    let got: Vec<TenantVerdict> = (0..5).map(|_| w.police(0, 1000, 0)).collect();
    use TenantVerdict::*;
    assert_eq!(
        got,
        [Pass, Pass, Remark { dscp: 10 }, Drop, Drop],
        "CBS 2000 B, EBS 1000 B"
    );
    // 1 s later C holds 1000 B again: one more passes.
    assert_eq!(w.police(0, 1000, 1000), Pass);
    assert_eq!(w.police(0, 1000, 1000), Drop);
    // Packet mode: one packet per ms.
    assert_eq!(w.police(1, 64, 0), Pass);
    assert_eq!(w.police(1, 64, 0), Drop);
    assert_eq!(w.police(1, 9000, 1), Pass);
    // No such tenant: no limit.
    assert_eq!(w.police(2, 64, 0), Pass);
    assert_eq!(w.police(usize::MAX, 64, 0), Pass);
    let c = t.counters(0).unwrap();
    assert_eq!(c.green.passed.packets, 3);
    assert_eq!(c.yellow.remarked.bytes, 1000);
    assert_eq!(c.red.dropped.packets, 3);
    assert_eq!(w.local_counters(0), Some(c));
    let s = t.samples();
    assert_eq!(s[0].name, "sr");
    assert_eq!(s[0].passed.packets, 3);
    assert_eq!(s[0].remarked.packets, 1);
    assert_eq!(s[0].dropped.bytes, 3000);
    assert_eq!(s[0].committed_rate_bytes_per_second, 1000);
    assert_eq!(s[0].committed_burst_bytes, 2000);
    assert_eq!(s[0].peak_rate_bytes_per_second, 0);
    // Packet mode has no byte rate.
    assert_eq!(s[1].committed_rate_bytes_per_second, 0);
    assert_eq!(s[1].passed.packets, 2);
    assert_eq!(s[1].dropped.packets, 1);
}

#[test]
fn samples_of_a_two_rate_tenant() {
    let l = TenantLimits {
        rate: Some(8_000_000),
        burst: Some(10_000),
        marker: Marker::TrTcm,
        peak_rate: Some(16_000_000),
        excess_burst: Some(20_000),
        ..TenantLimits::default()
    };
    let t = table(vec![tenant("tr", TenantMatch::Vlans(vec![9]), l)], 1);
    let s = &t.samples()[0];
    assert_eq!(
        (
            s.committed_rate_bytes_per_second,
            s.committed_burst_bytes,
            s.peak_rate_bytes_per_second,
            s.peak_burst_bytes
        ),
        (1_000_000, 10_000, 2_000_000, 20_000)
    );
}

#[test]
fn reconfigure_in_place() {
    let mut t = table(
        vec![tenant(
            "a",
            TenantMatch::Ports(vec![0]),
            TenantLimits {
                burst: Some(3000),
                ..limits(8000)
            },
        )],
        1,
    );
    let mut w = t.worker();
    assert_eq!(w.police(0, 1000, 0), TenantVerdict::Pass);
    // Double the rate, halve the burst: fill 2000 B is clamped to 1500.
    let faster = tenant(
        "a",
        TenantMatch::Ports(vec![0]),
        TenantLimits {
            burst: Some(1500),
            ..limits(16000)
        },
    );
    t.reconfigure(0, faster.clone(), 0).unwrap();
    assert_eq!(t.policers().levels(0).unwrap(), vec![1500 * 8]);
    assert_eq!(t.stats()[0].spec, faster.policer);
    assert_eq!(t.configs()[0], faster);
    let moved = tenant("a", TenantMatch::Ports(vec![1]), limits(8000));
    assert!(matches!(
        t.reconfigure(0, moved, 0),
        Err(TenantError::MatchChanged { .. })
    ));
    let other_kind = tenant(
        "a",
        TenantMatch::Ports(vec![0]),
        TenantLimits {
            marker: Marker::SrTcm,
            ..limits(8000)
        },
    );
    assert!(matches!(
        t.reconfigure(0, other_kind, 0),
        Err(TenantError::Policer { .. })
    ));
    assert!(matches!(
        t.reconfigure(5, faster, 0),
        Err(TenantError::UnknownTenant { index: 5, len: 1 })
    ));
}

/// Tenants that keep their name keep counters (including what the old
/// generation's workers count after the rebuild) and bucket fill; a new
/// tenant starts full and at zero; a tenant whose algorithm changes
/// starts full but keeps its counters.
#[test]
fn rebuild_keeps_counters_and_fill() {
    let a = |rate| {
        tenant(
            "a",
            TenantMatch::Ports(vec![0]),
            TenantLimits {
                burst: Some(5000),
                ..limits(rate)
            },
        )
    };
    let b = tenant(
        "b",
        TenantMatch::Ports(vec![1]),
        TenantLimits {
            burst: Some(5000),
            ..limits(8000)
        },
    );
    let g1 = table(vec![a(8000), b.clone()], 2);
    let mut w1 = g1.worker();
    for _ in 0..4 {
        w1.police(0, 1000, 0); // a: 4 pass, fill 1000 B
    }
    for _ in 0..6 {
        w1.police(1, 1000, 0); // b: 5 pass, 1 drop, fill 0
    }
    // Reload: a is renumbered and faster, b changes algorithm, c is new.
    let c = tenant("c", TenantMatch::Ports(vec![2]), limits(8000));
    let b_sr = tenant(
        "b",
        TenantMatch::Ports(vec![1]),
        TenantLimits {
            burst: Some(5000),
            marker: Marker::SrTcm,
            ..limits(8000)
        },
    );
    let g2 = TenantTable::rebuild_from(&g1, vec![c.clone(), a(16000), b_sr.clone()], 3, 0).unwrap();
    assert_eq!(g2.index_of("a"), Some(1));
    assert_eq!(g2.policers().levels(1).unwrap(), vec![1000 * 8], "a's fill");
    assert_eq!(
        g2.policers().levels(2).unwrap()[0],
        5000 * 8,
        "b starts full"
    );
    assert_eq!(
        g2.policers().levels(0).unwrap(),
        vec![18000 * 8],
        "c: default burst"
    );
    // The old worker finishes a burst on g1 after the rebuild: counted.
    w1.police(0, 1000, 0);
    let ca = g2.counters(1).unwrap();
    assert_eq!(ca.green.passed.packets, 5);
    let cb = g2.counters(2).unwrap();
    assert_eq!((cb.green.passed.packets, cb.red.dropped.packets), (5, 1));
    assert_eq!(g2.counters(0).unwrap(), TenantCounters::default());
    drop(w1);
    let mut w2 = g2.worker();
    w2.police(1, 1000, 0);
    // A second reload freezes g1's counts into the base and keeps g2 live.
    let g3 = TenantTable::rebuild_from(&g2, vec![a(16000)], 1, 0).unwrap();
    // g2 is still live for g3: 1 s later (2000 B at 16 kbit/s) a passes.
    assert_eq!(w2.police(1, 1000, 1000), TenantVerdict::Pass);
    let stats = g3.stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].counters.green.passed.packets, 7);
    assert_eq!(g3.counters(0), Some(stats[0].counters));
    assert_eq!(g3.samples()[0].passed.packets, 7);
    // Same scale and chunk policy as the first generation.
    assert_eq!(g3.policers().scale(), g1.policers().scale());
    assert_eq!(g3.policers().chunk_policy(), ChunkPolicy::EXACT);
    let _ = (b, c, b_sr);
}

/// One tenant's traffic over `workers` simulated workers through
/// `WorkerTenants`: classification at ingress, random packet sizes and
/// gaps, each worker reading its (lagging, per-burst) clock every 10 µs.
/// Returns forwarded bytes per true 1-second window and the drops.
fn simulate(workers: usize, load_pct: u64, seconds: usize, seed: u64) -> (Vec<u64>, u64, u64) {
    const HZ: u64 = 2_500_000_000;
    const RATE: u64 = 40_000_000; // 5 MB/s
    let t = TenantTable::new(
        vec![tenant("one", TenantMatch::Ports(vec![0, 1]), limits(RATE))],
        2,
        scale(HZ),
        0,
    )
    .unwrap();
    let mut rng = XorShift64::new(seed);
    struct W {
        h: WorkerTenants,
        lag: u64,
        clock: u64,
        read_at: u64,
    }
    let mut ws: Vec<W> = (0..workers)
        .map(|_| W {
            h: t.worker(),
            lag: rng.below(12_500), // up to 5 µs behind
            clock: 0,
            read_at: 0,
        })
        .collect();
    let key = v4_key(0x0a00_0002, None);
    let offered_bps = RATE / 8 * load_pct / 100;
    // Mean size 782 B: mean gap in ticks for the offered byte rate.
    let mean_gap = HZ * 782 / offered_bps;
    let mut windows = vec![0u64; seconds];
    let (mut dropped, mut offered) = (0u64, 0u64);
    let mut now = 0u64;
    let end = HZ * seconds as u64;
    loop {
        now += 1 + rng.below(2 * mean_gap);
        if now >= end {
            break;
        }
        let w = &mut ws[rng.below(workers as u64) as usize];
        if now >= w.read_at {
            // A new rx burst: read the TSC (behind by the worker's lag).
            w.clock = w.clock.max(now.saturating_sub(w.lag));
            w.read_at = now + 25_000;
        }
        let len = 64 + rng.below(1437) as usize;
        offered += len as u64;
        let port = rng.below(2) as usize;
        let Some(tn) = w.h.classify(port, &key, &NOREGS) else {
            panic!("the tenant owns both ports");
        };
        match w.h.police(tn, len, w.clock) {
            TenantVerdict::Drop => dropped += 1,
            _ => windows[(now / HZ) as usize] += len as u64,
        }
    }
    let c = t.counters(0).unwrap();
    assert_eq!(c.total().bytes, offered, "every packet is counted once");
    assert_eq!(c.forwarded().bytes, windows.iter().sum::<u64>());
    (windows, dropped, RATE / 8)
}

#[test]
fn multi_worker_accuracy_through_worker_tenants() {
    for (workers, seed) in [(2, 1), (16, 2)] {
        let (windows, _, rate) = simulate(workers, 300, 6, seed);
        let errs: Vec<String> = windows
            .iter()
            .map(|&w| format!("{:+.3}%", (w as f64 / rate as f64 - 1.0) * 100.0))
            .collect();
        println!(
            "{workers} workers, per 1 s window vs the rate: {}",
            errs.join(" ")
        );
        for (i, &w) in windows.iter().enumerate().skip(1) {
            let err = (w as f64 - rate as f64) / rate as f64;
            assert!(
                err.abs() <= 0.02,
                "{workers} workers, window {i}: {w} B vs {rate} B/s ({:+.2}%)",
                err * 100.0
            );
        }
        // First window: the rate plus at most the initial burst (the
        // default depth, 10 ms of 5 MB/s = 50,000 B, 1%) and parked credit.
        let first = windows[0] as f64 / rate as f64;
        assert!((0.98..=1.03).contains(&first), "first window {first}");
    }
}

#[test]
fn below_the_rate_nothing_is_lost() {
    let (_, dropped, _) = simulate(16, 90, 3, 3);
    assert_eq!(dropped, 0);
}

// ---------------------------------------------------------------------------
// OpenFlow meters
// ---------------------------------------------------------------------------

fn meters(texts: &[&str]) -> Vec<MeterEntry> {
    texts.iter().map(|t| parse_meter(t).unwrap()).collect()
}

#[test]
fn meter_specs_from_entries() {
    let e = meters(&[
        "meter=7,kbps,burst,bands=type=drop,rate=10000,burst_size=100",
        "meter=8,pktps,bands=type=dscp_remark,rate=50,prec_level=2,type=drop,rate=100",
    ]);
    let s = meter_spec(&e[0]).unwrap();
    assert_eq!(s.unit, crate::meter::MeterUnit::Kbps);
    assert!(s.burst);
    assert_eq!(s.bands.len(), 1);
    assert_eq!(s.bands[0].rate, 10000);
    assert_eq!(s.bands[0].burst_size, 100);
    assert_eq!(s.bands[0].band_type, crate::meter::BandType::Drop);
    let s = meter_spec(&e[1]).unwrap();
    assert_eq!(s.unit, crate::meter::MeterUnit::Pktps);
    assert!(!s.burst);
    assert_eq!(
        s.bands[0].band_type,
        crate::meter::BandType::DscpRemark { prec_level: 2 }
    );
    let mut both = e[0].clone();
    both.flags.insert(crate::openflow::MeterFlags::PKTPS);
    assert_eq!(meter_spec(&both), Err(MeterTableError::BothUnits(7)));
}

#[test]
fn meter_ids_direct_and_hashed() {
    let direct = MeterTable::new(
        &meters(&[
            "meter=5,kbps,bands=type=drop,rate=1000",
            "meter=1,kbps,bands=type=drop,rate=1000",
        ]),
        scale(MS),
        0,
    )
    .unwrap();
    assert!(matches!(direct.ids(), meters::MeterIds::Direct(_)));
    assert_eq!(direct.index_of(1), Some(0));
    assert_eq!(direct.index_of(5), Some(1));
    assert_eq!(direct.index_of(2), None);
    assert_eq!(direct.index_of(6), None);
    assert_eq!(direct.index_of(u32::MAX), None);
    let sorted = MeterTable::new(
        &meters(&[
            "meter=4000000000,kbps,bands=type=drop,rate=1000",
            "meter=3,kbps,bands=type=drop,rate=1000",
            "meter=70000,kbps,bands=type=drop,rate=1000",
        ]),
        scale(MS),
        0,
    )
    .unwrap();
    assert!(matches!(sorted.ids(), meters::MeterIds::Hashed { .. }));
    assert_eq!(sorted.index_of(3), Some(0));
    assert_eq!(sorted.index_of(70000), Some(1));
    assert_eq!(sorted.index_of(4_000_000_000), Some(2));
    assert_eq!(sorted.index_of(4), None);
    assert_eq!(sorted.index_of(0), None);
    // Many ids spread over 32 bits: every one found, others not.
    let ids: Vec<u32> = (1..=3000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) | 1)
        .collect();
    let entries: Vec<MeterEntry> = ids
        .iter()
        .map(|id| {
            parse_meter(&format!(
                "meter={},kbps,bands=type=drop,rate=1000",
                id % 0xffff_0000 + 1
            ))
            .unwrap()
        })
        .collect();
    let mut uniq: Vec<u32> = entries.iter().map(|e| e.id).collect();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), entries.len());
    let many = MeterTable::new(&entries, scale(MS), 0).unwrap();
    for (i, id) in uniq.iter().enumerate() {
        assert_eq!(many.index_of(*id), Some(i as u32));
        assert_eq!(
            many.index_of(id + 1).is_some(),
            uniq.binary_search(&(id + 1)).is_ok()
        );
    }
    // Errors.
    let dup = meters(&[
        "meter=3,kbps,bands=type=drop,rate=1000",
        "meter=3,kbps,bands=type=drop,rate=2000",
    ]);
    assert_eq!(
        MeterTable::new(&dup, scale(MS), 0).unwrap_err(),
        MeterTableError::Duplicate(3)
    );
    let mut bad = meters(&["meter=3,kbps,bands=type=drop,rate=1000"]);
    bad[0].id = 0;
    assert_eq!(
        MeterTable::new(&bad, scale(MS), 0).unwrap_err(),
        MeterTableError::InvalidId(0)
    );
    bad[0].id = 9;
    bad[0].bands[0].rate = 0;
    let e = MeterTable::new(&bad, scale(MS), 0).unwrap_err();
    assert_eq!(e.to_string(), "meter 9: meter band rate must be above 0");
}

/// kbps meter at 8 kbit/s = 1000 B/s, burst 16 kbit = 2000 B; remark band
/// at 8, drop band at 16 kbit/s (32 kbit = 4000 B). 1000-byte packets at
/// tick 0, then after 500 ms (1 tick = 1 ms).
#[test]
fn hook_verdicts_counters_and_dump() {
    let e = meters(&[
        "meter=2,kbps,burst,stats,bands=type=dscp_remark,rate=8,burst_size=16,prec_level=1,type=drop,rate=16,burst_size=32",
        "meter=9,pktps,bands=type=drop,rate=10",
    ]);
    let mut t = MeterTable::with_chunk(&e, scale(MS), ChunkPolicy::EXACT, 0).unwrap();
    let mut h = t.hook();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(h.meter(2, 1000));
    }
    let remark = MeterVerdict::RemarkDscp { prec_level: 1 };
    use MeterVerdict::{Drop, Pass};
    assert_eq!(got, [Pass, Pass, remark, remark, Drop]);
    h.now = 500;
    assert_eq!(h.meter(2, 1000), remark);
    assert_eq!(h.meter(2, 1000), Drop);
    // Unknown meter: dropped and counted.
    assert_eq!(h.meter(3, 64), Drop);
    assert_eq!(h.unknown_meter_packets(), 1);
    // Packet meter: default depth 32 packets.
    let passed = (0..40).filter(|_| h.meter(9, 64) == Pass).count();
    assert_eq!(passed, 32);

    let s = t.samples();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].meter_id, 2);
    assert_eq!(s[0].input.packets, 7);
    assert_eq!(s[0].input.bytes, 7000);
    assert_eq!(s[0].bands[0].kind, "dscp_remark");
    assert_eq!(s[0].bands[0].traffic.packets, 3);
    assert_eq!(s[0].bands[1].kind, "drop");
    assert_eq!(s[0].bands[1].traffic.bytes, 2000);
    assert_eq!(s[1].bands[0].traffic.packets, 8);

    let dump = t.dump_meters(3_250, &|id| if id == 2 { 1 } else { 0 });
    assert_eq!(
        dump,
        "OFPST_METER_CONFIG reply (OF1.3):\n\
         meter=2 kbps burst stats bands=\n\
         type=dscp_remark rate=8 burst_size=16 prec_level=1\n\
         type=drop rate=16 burst_size=32\n\
         \n\
         meter=9 pktps bands=\n\
         type=drop rate=10\n\
         \n\
         OFPST_METER reply (OF1.3):\n\
         meter:2 flow_count:1 packet_in_count:7 byte_in_count:7000 duration:3.250s bands:\n\
         0: packet_count:3 byte_count:3000\n\
         1: packet_count:2 byte_count:2000\n\
         meter:9 flow_count:0 packet_in_count:40 byte_in_count:2560 duration:3.250s bands:\n\
         0: packet_count:8 byte_count:512\n"
    );

    // OFPMC_MODIFY: a faster drop band, counters and fill kept.
    let faster = meters(&[
        "meter=2,kbps,burst,stats,bands=type=dscp_remark,rate=8,burst_size=16,prec_level=1,type=drop,rate=32,burst_size=32",
    ]);
    t.modify(&faster[0], 500).unwrap();
    assert_eq!(t.entry(2).unwrap().bands[1].rate, 32);
    assert_eq!(t.stats(500)[0].counters.input.packets, 7);
    assert_eq!(t.levels(2).unwrap()[1], 0);
    let fewer = meters(&["meter=2,kbps,bands=type=drop,rate=8"]);
    assert!(matches!(
        t.modify(&fewer[0], 500),
        Err(MeterTableError::Engine { id: 2, .. })
    ));
    let unknown = meters(&["meter=4,kbps,bands=type=drop,rate=8"]);
    assert_eq!(t.modify(&unknown[0], 500), Err(MeterTableError::Unknown(4)));
}

#[test]
fn meter_rebuild_keeps_counters_fill_and_age_by_id() {
    // pktps, 10 packets of burst: the 11th packet in the same instant is dropped.
    let g1 = MeterTable::with_chunk(
        &meters(&[
            "meter=1,pktps,burst,bands=type=drop,rate=1,burst_size=10",
            "meter=2,pktps,bands=type=drop,rate=1000",
        ]),
        scale(MS),
        ChunkPolicy::EXACT,
        0,
    )
    .unwrap();
    let mut h1 = g1.hook();
    for _ in 0..8 {
        h1.meter(1, 100);
    }
    h1.flush();
    // Meter 1 changes its band rate (same unit and band count: fill and
    // counters carry), meter 2 goes, meter 3 is new.
    let g2 = MeterTable::rebuild_from(
        &g1,
        &meters(&[
            "meter=1,pktps,burst,bands=type=drop,rate=2,burst_size=10",
            "meter=3,pktps,bands=type=drop,rate=5",
        ]),
        0,
    )
    .unwrap();
    // The old worker finishes a burst on g1 after the rebuild: counted.
    h1.meter(1, 100);
    h1.flush();
    let s = g2.stats(0);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].entry.id, s[0].counters.input.packets), (1, 9));
    assert_eq!((s[1].entry.id, s[1].counters.input.packets), (3, 0));
    // 10 - 8 = 2 tokens carried into g2 (the 9th packet took one from g1).
    let mut h2 = g2.hook();
    let passed = (0..5)
        .filter(|_| h2.meter(1, 100) == MeterVerdict::Pass)
        .count();
    assert_eq!(passed, 2, "the fill carried, not a fresh burst of 10");
    h2.flush();
    drop(h1);
    // A second rebuild freezes g1 into the base and keeps g2 live.
    let g3 = MeterTable::rebuild_from(
        &g2,
        &g2.stats(0)
            .iter()
            .map(|s| s.entry.clone())
            .collect::<Vec<_>>(),
        0,
    )
    .unwrap();
    h2.meter(1, 100);
    h2.flush();
    let s = g3.stats(0);
    assert_eq!(s[0].counters.input.packets, 9 + 5 + 1);
    assert_eq!(
        s[0].counters.bands[0].packets,
        3 + 1,
        "drops counted over all generations"
    );
}
