//! Instruction-count harness for the R2 classifier lookups (run it under
//! valgrind; it measures nothing itself).
//!
//! `clsf_cost FLOWS PACKETS MODE`: builds the R2 tables as
//! `benches/classifier.rs` does, makes FLOWS distinct packets, runs one
//! warm-up pass over them (`warm`), then PACKETS packets round-robin
//! (`measure`). MODE: `all` (the three lookups a packet makes), `t0`,
//! `t1`, `t2` (one table), `none` (only the loop and the key reads).
//!
//! Per-packet cost (build with `cargo build --release --example
//! clsf_cost`; the numbers in the classifier docs came from this):
//!
//! ```text
//! valgrind --tool=callgrind --cache-sim=yes --LL=524288,8,64 \
//!     --toggle-collect='*measure*' target/release/examples/clsf_cost 100000 1000000 all
//! callgrind_annotate --inclusive=yes callgrind.out.*
//! ```
//!
//! and divide by PACKETS (`--LL` makes the simulated last level one
//! core's 512 KiB L2; the inclusive cost of `Direct::lookup`,
//! `Exact::lookup` and `Classifier::tree_lookup` is the lookups' own).
//! `MODE check` compares every lookup with a linear scan instead.

use std::hint::black_box;

use sluice::pipeline::classifier::{Classifier, Kind, Rule};
use sluice::pipeline::fields::Registers;
use sluice::pipeline::workload::{flow_keys, r2_matches};
use sluice::wire::FlowKey;

#[inline(always)]
fn body(cls: &[Classifier], traffic: &[(FlowKey, Registers)], packets: usize) -> u64 {
    let mut sum = 0u64;
    let mut at = 0;
    for _ in 0..packets {
        let (k, r) = &traffic[at];
        at = if at + 1 == traffic.len() { 0 } else { at + 1 };
        let (k, r) = (black_box(k), black_box(r));
        if cls.is_empty() {
            sum = sum.wrapping_add(u64::from(k.ipv4_dst) ^ r.metadata);
        }
        for c in cls {
            sum = sum.wrapping_add(u64::from(c.lookup(k, r).unwrap_or(7)));
        }
    }
    sum
}

#[inline(never)]
fn warm(cls: &[Classifier], traffic: &[(FlowKey, Registers)], packets: usize) -> u64 {
    body(cls, traffic, packets)
}

#[inline(never)]
fn measure(cls: &[Classifier], traffic: &[(FlowKey, Registers)], packets: usize) -> u64 {
    body(cls, traffic, packets)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flows: usize = args.get(1).map_or(1000, |a| a.parse().expect("FLOWS"));
    let packets: usize = args
        .get(2)
        .map_or(1_000_000, |a| a.parse().expect("PACKETS"));
    let mode = args.get(3).map_or("all", String::as_str);
    let (tables, routes) = r2_matches(100, 1000, 10_000, 7);
    let built: Vec<Classifier> = tables
        .iter()
        .map(|t| Classifier::build(&Rule::numbered(t)))
        .collect();
    let traffic = flow_keys(flows, 100, &routes, 99);
    if mode == "check" {
        // Every lookup agrees with a linear scan of the same rules.
        for (t, c) in tables.iter().zip(&built) {
            let lin = Classifier::build_as(&Rule::numbered(t), Kind::Linear).expect("linear");
            for (k, r) in &traffic {
                assert_eq!(c.lookup(k, r), lin.lookup(k, r));
            }
            eprintln!("{}: {} ok", c.kind(), traffic.len());
        }
        return;
    }
    let cls: Vec<Classifier> = match mode {
        "all" => built,
        "t0" => vec![built[0].clone()],
        "t1" => vec![built[1].clone()],
        "t2" => vec![built[2].clone()],
        "none" => Vec::new(),
        _ => panic!("MODE: all, t0, t1, t2, none or check"),
    };
    let w = warm(&cls, &traffic, traffic.len());
    let m = measure(&cls, &traffic, packets);
    println!("{mode} flows={flows} packets={packets} sum={}", w ^ m);
}
