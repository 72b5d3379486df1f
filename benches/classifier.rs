//! Classifier cost per lookup (`sluice::pipeline::classifier`).
//!
//! Workload: the R2 rule set of `../shared/bench/ovs-dpdk` regenerated
//! here with the same structure as `gen_rules.py` (table 0: 100 tenant
//! VLAN classifiers; table 1: 1,000 wildcard ACL rules; table 2: 10,000
//! /32 routes; a priority-0 miss in each), and traffic like
//! `gen_pcaps.py`: UDP 5-tuples, round-robin over the tenants, to routed
//! destinations, with 1, 1,000 and 100,000 distinct flows.
//!
//! * `r2/<table>/<flows>`: one table's lookups (the registers carry the
//!   metadata table 0 would write);
//! * `r2/pipeline/<flows>`: the three lookups a packet makes;
//! * `kind/<kind>`: one table per classifier kind, 1,000 flows (linear: a
//!   7-rule table; direct: R2 table 0; exact: table 2; lpm: 10,000 routes
//!   /16../32; partitioned: table 1; `tss-routes` and `tss-acl` are tables
//!   2 and 1 forced into plain tuple-space search, for comparison);
//! * `batch/<flows>`: `lookup_batch` over the ACL table;
//! * `build/100k`: compiling 100,000 flows (R2 scaled: 10,000 ACL rules,
//!   89,897 routes) from parsed matches.
//!
//! Each iteration classifies `BATCH` packets: criterion's time divided by
//! `BATCH` is ns per lookup (its "thrpt" is lookups per second).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::pipeline::classifier::{Classifier, Kind, Rule};
use std::time::Duration;

use sluice::openflow::{parse_flow, Match, NoPortNames};
use sluice::pipeline::fields::Registers;
use sluice::pipeline::workload::{flow_keys, ip, r2_matches};
use sluice::rng::XorShift64;
use sluice::wire::FlowKey;

/// R2: table 0 classifies `tenants` VLANs (metadata = tenant + 1), table 1
/// holds `acl` wildcard rules (10 per tenant at the default size: TCP and
/// low-UDP denies, high-UDP permits, port ranges as value/mask blocks),
/// table 2 `routes` /32 routes; each table ends with a priority-0 miss.
pub struct R2 {
    pub tables: [Vec<(u16, Match)>; 3],
    pub routes: Vec<u32>,
}

pub fn r2(tenants: u32, acl: usize, routes: usize, seed: u64) -> R2 {
    let (tables, routes) = r2_matches(tenants, acl, routes, seed);
    R2 { tables, routes }
}

const BATCH: usize = 256;

type Packet = (FlowKey, Registers);
type Table = Vec<(u16, Match)>;

/// 10,000 routes of mixed lengths /16../32 under `ip` (priority = length)
/// plus a miss, and traffic to hosts inside them.
fn lpm_table(seed: u64) -> (Table, Vec<Packet>) {
    let mut rng = XorShift64::new(seed);
    let mut table = Vec::new();
    let mut hosts = Vec::new();
    for _ in 0..10_000 {
        let len = 16 + rng.below(17) as u32;
        let v = ((10 << 24) | (rng.next_u32() >> 8)) & (u32::MAX << (32 - len));
        let text = format!("priority={len},ip,nw_dst={}/{len},actions=drop", ip(v));
        table.push((
            len as u16,
            parse_flow(&text, &NoPortNames).expect("parses").r#match,
        ));
        hosts.push(v | (rng.next_u32() & !(u32::MAX << (32 - len))));
    }
    table.push((0, Match::new()));
    let traffic = (0..1000)
        .map(|i| {
            let key = FlowKey {
                eth_type: 0x0800,
                ipv4_dst: hosts[(i * 7919) % hosts.len()],
                ..FlowKey::default()
            };
            (key, Registers::default())
        })
        .collect();
    (table, traffic)
}

/// A tiny table: 6 rules over in_port / tcp ports plus a miss.
fn linear_table() -> Vec<(u16, Match)> {
    [
        "priority=50,tcp,tp_dst=22",
        "priority=40,udp,tp_dst=53",
        "priority=30,in_port=2",
        "priority=20,tcp,tp_dst=80",
        "priority=20,tcp,tp_dst=443",
        "priority=10,arp",
        "priority=0",
    ]
    .iter()
    .map(|t| {
        let f = parse_flow(&format!("{t},actions=drop"), &NoPortNames).expect("parses");
        (f.priority, f.r#match)
    })
    .collect()
}

fn bench_lookups(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    c: &Classifier,
    traffic: &[(FlowKey, Registers)],
) {
    let mut at = 0;
    g.bench_function(id, |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for _ in 0..BATCH {
                let (k, r) = &traffic[at];
                at = if at + 1 == traffic.len() { 0 } else { at + 1 };
                hits = hits.wrapping_add(c.lookup(black_box(k), black_box(r)).unwrap_or(0));
            }
            hits
        })
    });
}

fn configure<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.sample_size(30);
    g
}

fn r2_benches(c: &mut Criterion) {
    let w = r2(100, 1000, 10_000, 7);
    let built: Vec<Classifier> = w
        .tables
        .iter()
        .map(|t| Classifier::build(&Rule::numbered(t)))
        .collect();
    let names = ["classify", "acl", "routes"];
    let mut g = configure(c, "r2");
    for flows in [1usize, 1000, 100_000] {
        let traffic = flow_keys(flows, 100, &w.routes, 99);
        for (name, cl) in names.iter().zip(&built) {
            bench_lookups(
                &mut g,
                BenchmarkId::new(format!("{name}-{}", cl.kind()), flows),
                cl,
                &traffic,
            );
        }
        let mut at = 0;
        g.bench_function(BenchmarkId::new("pipeline", flows), |b| {
            b.iter(|| {
                let mut hits = 0u32;
                for _ in 0..BATCH {
                    let (k, r) = &traffic[at];
                    at = if at + 1 == traffic.len() { 0 } else { at + 1 };
                    for cl in &built {
                        hits =
                            hits.wrapping_add(cl.lookup(black_box(k), black_box(r)).unwrap_or(0));
                    }
                }
                hits
            })
        });
    }
    g.finish();
}

fn kind_benches(c: &mut Criterion) {
    let w = r2(100, 1000, 10_000, 7);
    let traffic_r2 = flow_keys(1000, 100, &w.routes, 99);
    let (lpm, traffic_lpm) = lpm_table(3);
    let tiny = linear_table();
    let mut traffic_tiny = traffic_r2.clone();
    for (i, (k, _)) in traffic_tiny.iter_mut().enumerate() {
        k.ip_proto = if i % 2 == 0 { 6 } else { 17 };
        k.in_port = 1 + (i % 3) as u32;
    }
    let forced = |t: &Table, kind: Kind| {
        Classifier::build_as(&Rule::numbered(t), kind).expect("holds anything")
    };
    let cases: [(&str, Classifier, &[Packet]); 7] = [
        (
            "linear",
            Classifier::build(&Rule::numbered(&tiny)),
            &traffic_tiny,
        ),
        (
            "direct",
            Classifier::build(&Rule::numbered(&w.tables[0])),
            &traffic_r2,
        ),
        (
            "exact",
            Classifier::build(&Rule::numbered(&w.tables[2])),
            &traffic_r2,
        ),
        (
            "lpm",
            Classifier::build(&Rule::numbered(&lpm)),
            &traffic_lpm,
        ),
        (
            "partitioned",
            Classifier::build(&Rule::numbered(&w.tables[1])),
            &traffic_r2,
        ),
        // The same tables forced into plain tuple-space search.
        ("tss-routes", forced(&w.tables[2], Kind::Tss), &traffic_r2),
        ("tss-acl", forced(&w.tables[1], Kind::Tss), &traffic_r2),
    ];
    let mut g = configure(c, "kind");
    for (name, cl, traffic) in &cases {
        bench_lookups(
            &mut g,
            BenchmarkId::from_parameter(format!("{name}:{}", cl.kind())),
            cl,
            traffic,
        );
    }
    g.finish();
}

fn batch_benches(c: &mut Criterion) {
    let w = r2(100, 1000, 10_000, 7);
    let acl = Classifier::build(&Rule::numbered(&w.tables[1]));
    let mut g = configure(c, "batch");
    for flows in [1000usize, 100_000] {
        let traffic = flow_keys(flows, 100, &w.routes, 99);
        let keys: Vec<FlowKey> = traffic.iter().map(|t| t.0).collect();
        let regs: Vec<Registers> = traffic.iter().map(|t| t.1).collect();
        let mut out = vec![None; BATCH];
        let mut at = 0;
        g.bench_function(BenchmarkId::new("acl", flows), |b| {
            b.iter(|| {
                if at + BATCH > keys.len() {
                    at = 0;
                }
                acl.lookup_batch(
                    black_box(&keys[at..at + BATCH]),
                    &regs[at..at + BATCH],
                    &mut out,
                );
                at += BATCH;
                out[BATCH - 1]
            })
        });
    }
    g.finish();
}

fn build_benches(c: &mut Criterion) {
    let big = r2(100, 10_000, 89_897, 13);
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("100k", |b| {
        b.iter(|| {
            big.tables
                .iter()
                .map(|t| Classifier::build(&Rule::numbered(t)).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    r2_benches,
    kind_benches,
    batch_benches,
    build_benches
);
criterion_main!(benches);
