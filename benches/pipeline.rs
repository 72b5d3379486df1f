//! The compiled pipeline on the R2 workload
//! (`sluice::pipeline::CompiledPipeline`).
//!
//! Workload: R2 of `../shared/bench/ovs-dpdk/gen_rules.py`, generated here
//! with the same structure (table 0: 100 tenant classifiers, `dl_vlan` →
//! `write_metadata`, `goto_table:1`; table 1: 1,000 wildcard ACL rules,
//! 10 per tenant — TCP and low-UDP port-block denies, high-UDP permits,
//! random priorities; table 2: 10,000 /32 routes → `output:2`; a priority-0
//! drop in each table), as ovs-ofctl text parsed by the real parser; and
//! traffic like `gen_pcaps.py`: 60-byte Ethernet/802.1Q/IPv4/UDP frames,
//! random sources in 10/8, destinations drawn from the routes, UDP ports
//! 1024..=65535, round-robin over the tenants, shuffled.
//!
//! * `process/r2/<flows>`: `CompiledPipeline::process` per packet (frames
//!   already parsed, as a worker calls it) with 1, 1,000 and 100,000
//!   distinct 5-tuples;
//! * `process/cached-r2/<flows>`: `process_cached` with an 8,192-slot
//!   flow cache, settled after every burst of 32 as a worker does;
//! * `process/cached-1m-r2/<flows>`: the same with 1,048,576 slots, and
//!   `process/ahead-1m-r2/<flows>` with them looked up a burst of 32
//!   ahead as the workers do (`prefetch_cached`, then
//!   `process_cached_ahead`);
//! * `process/parse+r2/<flows>`: `wire::parse` and `process`;
//! * `r2-100k/parse` and `r2-100k/compile`: the ovs-ofctl text of 100,000 flows
//!   (R2 scaled: 10,000 ACL rules, 89,897 routes) parsed, and compiled.
//!
//! Each iteration handles `BATCH` packets: criterion's time divided by
//! `BATCH` is ns per packet (its "thrpt" is packets per second).

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::openflow::{parse_flows_file, FlowEntry, NoPortNames};
use sluice::pipeline::{
    CacheLookup, CompiledPipeline, DropCause, Env, PacketBuf, PacketInInfo, PassThroughMeters,
    Registers, Sink, VecPacket, Verdict,
};
use sluice::wire::{self, FlowKey};

use sluice::pipeline::workload::{r2, traffic};

const BATCH: usize = 1024;
/// OpenFlow ports: in = 1, out = 2.
const PORTS: [u32; 2] = [1, 2];

fn parse(text: &str) -> Vec<FlowEntry> {
    parse_flows_file(text, &NoPortNames).expect("generated flows parse")
}

/// A sink that only counts (R2 never copies).
#[derive(Default)]
struct CountSink(u64);

impl Sink<VecPacket> for CountSink {
    fn copy_out(&mut self, _: u32, _: Option<u32>, _: &VecPacket) {
        self.0 += 1;
    }
    fn packet_in(&mut self, _: &PacketInInfo, _: &VecPacket) {
        self.0 += 1;
    }
    fn clone_packet(&mut self, p: &VecPacket) -> Option<VecPacket> {
        self.0 += 1;
        Some(p.clone())
    }
    fn dropped(&mut self, _: DropCause) {}
}

fn bench_process(c: &mut Criterion) {
    let (text, routes) = r2(100, 1000, 10_000, 7);
    let flows = parse(&text);
    let pipe = CompiledPipeline::build(&flows, &[], &[], &PORTS, 1).expect("R2 compiles");
    let counters = pipe.new_counters();
    for t in pipe.table_info([]) {
        eprintln!(
            "R2 table {}: {} entries, {} classifier",
            t.id, t.entries, t.kind
        );
    }
    let mut g = c.benchmark_group("process");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in [1usize, 1000, 100_000] {
        let frames = traffic(n, 100, &routes, 20_240_601);
        let mut pkts: Vec<VecPacket> = frames.iter().map(|f| VecPacket::new(f)).collect();
        let mut keys: Vec<FlowKey> = frames
            .iter()
            .map(|f| {
                let mut k = FlowKey::default();
                wire::parse(f, 1, &mut k).expect("frame parses");
                k
            })
            .collect();
        // Every packet is forwarded out of port 2, itself.
        let mut m = PassThroughMeters;
        let mut sink = CountSink::default();
        for (p, k) in pkts.iter_mut().zip(&mut keys) {
            let v = pipe.process(
                p,
                k,
                &mut Registers::default(),
                &mut Env::new(&mut m),
                &mut sink,
                &counters,
            );
            assert_eq!(
                v,
                Verdict::Output {
                    port: 1,
                    queue: None
                }
            );
        }
        assert_eq!(sink.0, 0, "no copies");
        let mut at = 0;
        g.bench_function(BenchmarkId::new("r2", n), |b| {
            b.iter(|| {
                let mut m = PassThroughMeters;
                let mut env = Env::new(&mut m);
                let mut out = 0u32;
                for _ in 0..BATCH {
                    let i = at;
                    at = if at + 1 == pkts.len() { 0 } else { at + 1 };
                    let mut regs = Registers::default();
                    if let Verdict::Output { port, .. } = pipe.process(
                        &mut pkts[i],
                        &mut keys[i],
                        &mut regs,
                        &mut env,
                        &mut sink,
                        &counters,
                    ) {
                        out += port;
                    }
                }
                black_box(out)
            })
        });
        // Bursts of 32 as a worker runs them: looked up one by one, or
        // (`ahead`) keyed, hashed and prefetched first.
        for (name, slots, prefetch) in [
            ("cached-r2", 8192, false),
            ("cached-1m-r2", 1 << 20, false),
            ("ahead-1m-r2", 1 << 20, true),
        ] {
            let mut at = 0;
            let mut cache = pipe.new_flow_cache(slots);
            let mut lookups = [CacheLookup::default(); 32];
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    let mut m = PassThroughMeters;
                    let mut env = Env::new(&mut m);
                    let mut out = 0u32;
                    for _ in 0..BATCH / 32 {
                        let ahead = prefetch && pipe.prefetches_cache(&cache);
                        let first = at;
                        if ahead {
                            for (j, l) in lookups.iter_mut().enumerate() {
                                let i = (first + j) % pkts.len();
                                pipe.prefetch_cached(&keys[i], &cache, l);
                            }
                        }
                        for l in &lookups {
                            let i = at;
                            at = if at + 1 == pkts.len() { 0 } else { at + 1 };
                            let mut regs = Registers::default();
                            if let Verdict::Output { port, .. } = pipe.process_cached_ahead(
                                &mut pkts[i],
                                &mut keys[i],
                                &mut regs,
                                &mut env,
                                &mut sink,
                                &counters,
                                &mut cache,
                                ahead.then_some(l),
                            ) {
                                out += port;
                            }
                        }
                        pipe.settle(&mut cache, &counters);
                    }
                    black_box(out)
                })
            });
        }
        let mut at = 0;
        g.bench_function(BenchmarkId::new("parse+r2", n), |b| {
            b.iter(|| {
                let mut m = PassThroughMeters;
                let mut env = Env::new(&mut m);
                let mut out = 0u32;
                for _ in 0..BATCH {
                    let i = at;
                    at = if at + 1 == pkts.len() { 0 } else { at + 1 };
                    let mut regs = Registers::default();
                    let key = &mut keys[i];
                    if wire::parse(pkts[i].data(), 1, key).is_err() {
                        continue;
                    }
                    if let Verdict::Output { port, .. } =
                        pipe.process(&mut pkts[i], key, &mut regs, &mut env, &mut sink, &counters)
                    {
                        out += port;
                    }
                }
                black_box(out)
            })
        });
    }
    g.finish();
}

fn bench_compile(c: &mut Criterion) {
    let (text, _) = r2(100, 10_000, 89_897, 11);
    let flows = parse(&text);
    assert_eq!(flows.len(), 100_000);
    let mut g = c.benchmark_group("r2-100k");
    g.sample_size(10);
    g.bench_function("parse", |b| b.iter(|| black_box(parse(&text).len())));
    g.bench_function("compile", |b| {
        b.iter(|| {
            let p = CompiledPipeline::build(&flows, &[], &[], &PORTS, 1).expect("compiles");
            black_box(p.len())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench_process, bench_compile
}
criterion_main!(benches);
