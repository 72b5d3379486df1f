//! Instruction-count harness for `wire::parse`, to run under valgrind's
//! callgrind (deterministic; not a wall-clock benchmark).
//!
//! `parse_count <shape> [n]` parses one frame of `shape` `n` times
//! (default 10,000,000) into the same key. `parse` is called through a
//! function pointer, so it is the out-of-line function the worker calls,
//! and its inclusive cost divided by `n` is the per-packet cost:
//!
//! ```text
//! cargo build --release --example parse_count
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/examples/parse_count r2
//! callgrind_annotate --inclusive=yes cg.out | grep 'sluice::wire::parse::parse '
//! ```
//!
//! Shapes (60 bytes unless noted, as captured without FCS):
//! `r2` (the R2 benchmark frame: VLAN + IPv4 with DF + UDP, 14 bytes of
//! payload), `v4udp`, `v4tcp` (untagged), `v6tcp` (VLAN + IPv6 + TCP,
//! 78 bytes); off the fast path: `qinq` (two tags, IPv4, UDP), `v4icmp`,
//! `short` (IPv4 + UDP, 42 bytes, unpadded), `arp`.
use sluice::wire::build::{Arp, Ipv4, PacketBuilder};
use sluice::wire::{parse, FlowKey, Malformed};
use std::hint::black_box;

const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn ipv4() -> Ipv4 {
    Ipv4 {
        src: 0x0a01_0203,
        dst: 0x0a04_0506,
        dont_frag: true,
        ..Ipv4::default()
    }
}

fn frame(shape: &str) -> Vec<u8> {
    let b = PacketBuilder::new().eth(DST, SRC);
    let b = match shape {
        "r2" => b
            .vlan(150, 0)
            .ipv4_with(ipv4())
            .udp(4000, 5000)
            .payload(&[0; 14]),
        "v4udp" => b.ipv4_with(ipv4()).udp(4000, 5000).payload(&[0; 18]),
        "v4tcp" => b.ipv4_with(ipv4()).tcp(4000, 80).payload(&[0; 6]),
        "v6tcp" => b
            .vlan(150, 0)
            .ipv6(0x2001_0db8 << 96 | 1, 0x2001_0db8 << 96 | 2)
            .tcp(4000, 80),
        // Shapes off the fast path.
        "qinq" => b
            .svlan(10, 0)
            .vlan(150, 0)
            .ipv4_with(ipv4())
            .udp(4000, 5000)
            .payload(&[0; 10]),
        "v4icmp" => b.ipv4_with(ipv4()).icmpv4_echo(false, 1, 2).pad60(),
        "short" => b.ipv4_with(ipv4()).udp(4000, 5000),
        "arp" => b
            .arp(Arp {
                op: 1,
                sha: SRC,
                spa: 0x0a01_0203,
                tha: [0; 6],
                tpa: 0x0a04_0506,
            })
            .pad60(),
        _ => panic!("unknown shape {shape} (r2, v4udp, v4tcp, v6tcp, qinq, v4icmp, short, arp)"),
    };
    b.build().unwrap()
}

type ParseFn = fn(&[u8], u32, &mut FlowKey) -> Result<(), Malformed>;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "r2".into());
    let n: u64 = args.next().map_or(10_000_000, |s| s.parse().unwrap());
    let f = frame(&shape);
    let mut key = FlowKey::default();
    let parse_fn: ParseFn = black_box(parse);
    let mut ok = 0u64;
    for _ in 0..n {
        ok += u64::from(parse_fn(black_box(&f), black_box(3), &mut key).is_ok());
    }
    black_box(&key);
    println!(
        "{shape}: {} bytes, {ok}/{n} ok, {:?}",
        f.len(),
        key.normalized()
    );
}
