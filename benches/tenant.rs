//! Per-packet cost of tenant classification and policing
//! (`sluice::tenant`), and of the OpenFlow meter hook.
//!
//! One thread; 1 / 100 / 10,000 tenants or meters; packets drawn from a
//! pre-generated table (random tenant, random length 64..=1500) and
//! written into one parsed flow key, the TSC advanced by 100 ticks (40 ns
//! at 2.5 GHz) per packet; 400 Gbit/s limits so that policing is paid from local credit
//! (the engine's own bench, `benches/meter.rs`, covers the shared and
//! overload paths).
//!
//! * `classify/src`: one IPv4 /24 per tenant (a poptrie above a few
//!   prefixes); `classify/metadata`: one metadata value per tenant under
//!   a common mask `0xffff` (a direct array); `classify/vlan`: one VID per
//!   tenant (up to 4,000).
//! * `classify_police/src`: classification then `police`, what a worker
//!   does per packet.
//! * `meter_hook/direct` (ids 1..=N, a direct array) and
//!   `meter_hook/hashed` (ids spread over 32 bits, a hash table):
//!   `MeterHook::meter` with one drop band.
//!
//! Each iteration handles 1024 packets: time per iteration / 1024 is ns
//! per packet.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::config::{IpPrefix, TenantConfig, TenantMatch};
use sluice::meter::{TenantLimits, TickScale};
use sluice::openflow::parse_meter;
use sluice::pipeline::fields::Registers;
use sluice::pipeline::MeterHook;
use sluice::rng::XorShift64;
use sluice::tenant::{MeterTable, TenantTable, TenantVerdict};
use sluice::wire::{self, build::PacketBuilder, FlowKey};
use std::time::Duration;

const HZ: u64 = 2_500_000_000;
const BATCH: usize = 1024;
const TABLE: usize = 1 << 16;
const TICKS_PER_PACKET: u64 = 100;
const RATE: u64 = 400_000_000_000;
const SIZES: [usize; 3] = [1, 100, 10_000];

#[derive(Clone, Copy)]
enum Kind {
    Src,
    Metadata,
    Vlan,
}

fn limits() -> TenantLimits {
    TenantLimits {
        rate: Some(RATE),
        ..TenantLimits::default()
    }
}

fn tenants(kind: Kind, n: usize) -> Vec<TenantConfig> {
    (0..n)
        .map(|i| {
            let selector = match kind {
                Kind::Src => TenantMatch::Src(vec![IpPrefix::V4 {
                    addr: 0x0a00_0000 | (i as u32) << 8,
                    len: 24,
                }]),
                Kind::Metadata => TenantMatch::Metadata {
                    value: i as u64,
                    mask: 0xffff,
                },
                Kind::Vlan => TenantMatch::Vlans(vec![1 + i as u16]),
            };
            let l = limits();
            TenantConfig {
                name: format!("t{i}"),
                selector,
                limits: l,
                policer: l.spec().expect("spec"),
            }
        })
        .collect()
}

/// A parsed UDP/IPv4 key (VLAN-tagged for VLAN tenants) whose source,
/// VID and metadata each packet overwrites: in a worker the key was just
/// parsed and is in L1, so the table below is kept compact instead of
/// holding whole keys.
fn base_key(kind: Kind) -> FlowKey {
    let mut b = PacketBuilder::new().eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    if let Kind::Vlan = kind {
        b = b.vlan(1, 0);
    }
    let frame = b
        .ipv4(0x0a00_0001, 0xc000_0201)
        .udp(1, 2)
        .build()
        .expect("frame");
    let mut key = FlowKey::default();
    wire::parse(&frame, 1, &mut key).expect("parse");
    key
}

/// Per packet of a random tenant: (IPv4 source, VLAN id, metadata, length).
fn traffic(n: usize, seed: u64) -> Vec<(u32, u16, u64, u32)> {
    let mut rng = XorShift64::new(seed);
    (0..TABLE)
        .map(|_| {
            let t = rng.below(n as u64) as u32;
            let src = 0x0a00_0000 | t << 8 | (rng.next_u32() & 0xff);
            let vid = 0x1000 | (1 + t as u16);
            let metadata = u64::from(t) | (rng.next_u64() << 16);
            (src, vid, metadata, 64 + rng.below(1437) as u32)
        })
        .collect()
}

fn bench_tenants(c: &mut Criterion, name: &str, kind: Kind, police: bool) {
    let scale = TickScale::new(HZ).expect("scale");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));
    for n in SIZES {
        if matches!(kind, Kind::Vlan) && n > 4000 {
            continue;
        }
        let table = TenantTable::new(tenants(kind, n), 1, scale, 0).expect("table");
        let mut worker = table.worker();
        let pkts = traffic(n, n as u64);
        let mut key = base_key(kind);
        let mut regs = Registers::default();
        let (mut i, mut now) = (0usize, 0u64);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let mut passed = 0u32;
                for _ in 0..BATCH {
                    let (src, vid, metadata, len) = pkts[i];
                    i = (i + 1) & (TABLE - 1);
                    now += TICKS_PER_PACKET;
                    key.ipv4_src = src;
                    key.vlan_vid = vid;
                    regs.metadata = metadata;
                    let t = worker.classify(0, black_box(&key), &regs);
                    if police {
                        if let Some(t) = t {
                            let v = worker.police(t, len as usize, now);
                            passed += u32::from(v == TenantVerdict::Pass);
                        }
                    } else {
                        passed += u32::from(t.is_some());
                    }
                }
                black_box(passed)
            })
        });
    }
    group.finish();
}

fn classify(c: &mut Criterion) {
    bench_tenants(c, "classify/src", Kind::Src, false);
    bench_tenants(c, "classify/metadata", Kind::Metadata, false);
    bench_tenants(c, "classify/vlan", Kind::Vlan, false);
    bench_tenants(c, "classify_police/src", Kind::Src, true);
}

fn meter_hook(c: &mut Criterion) {
    let scale = TickScale::new(HZ).expect("scale");
    for (name, spread) in [("meter_hook/direct", 1u64), ("meter_hook/hashed", 400_000)] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(BATCH as u64));
        for n in SIZES {
            let ids: Vec<u32> = (1..=n as u64).map(|i| (i * spread) as u32).collect();
            let entries: Vec<_> = ids
                .iter()
                .map(|id| {
                    parse_meter(&format!("meter={id},kbps,bands=type=drop,rate=400000000"))
                        .expect("meter")
                })
                .collect();
            let table = MeterTable::new(&entries, scale, 0).expect("meters");
            let mut hook = table.hook();
            let mut rng = XorShift64::new(n as u64);
            let pkts: Vec<(u32, usize)> = (0..TABLE)
                .map(|_| {
                    let id = ids[rng.below(n as u64) as usize];
                    (id, 64 + rng.below(1437) as usize)
                })
                .collect();
            let mut i = 0usize;
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    let mut passed = 0u32;
                    for _ in 0..BATCH {
                        let (id, len) = pkts[i];
                        i = (i + 1) & (TABLE - 1);
                        hook.now += TICKS_PER_PACKET;
                        passed +=
                            u32::from(hook.meter(id, len) == sluice::pipeline::MeterVerdict::Pass);
                    }
                    black_box(passed)
                })
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = classify, meter_hook
}
criterion_main!(benches);
