//! The R2 workload of `../shared/bench/ovs-dpdk` (`gen_rules.py`,
//! `gen_pcaps.py`) regenerated in Rust with the same structure, for the
//! pipeline and classifier benchmarks and tests: rules as ovs-ofctl
//! add-flows text, traffic as frames. Not on any packet path.

use crate::openflow::{parse_flow, Match, NoPortNames};
use crate::pipeline::fields::Registers;
use crate::rng::XorShift64;
use crate::wire::build::PacketBuilder;
use crate::wire::FlowKey;

pub fn ip(v: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 255,
        (v >> 8) & 255,
        v & 255
    )
}

pub fn prefix(rng: &mut XorShift64, lens: &[u32]) -> String {
    let len = lens[rng.below(lens.len() as u64) as usize];
    let v = (10 << 24) | (rng.next_u32() >> 8);
    format!("{}/{len}", ip(v & (u32::MAX << (32 - len))))
}

/// An inclusive port range as value/mask blocks (gen_rules.py's
/// `range_to_masks`).
pub fn port_blocks(mut lo: u32, hi: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    while lo <= hi {
        let mut size = if lo == 0 {
            1 << 16
        } else {
            lo & lo.wrapping_neg()
        };
        while size > hi - lo + 1 {
            size >>= 1;
        }
        out.push((lo, 0xffff & !(size - 1)));
        lo += size;
    }
    out
}

pub fn tp_dst(v: u32, m: u32) -> String {
    if m == 0xffff {
        format!("tp_dst={v}")
    } else {
        format!("tp_dst=0x{v:04x}/0x{m:04x}")
    }
}

/// R2 table by table: each table's flows in add-flows syntax without the
/// `table=` field, a priority-0 miss last, and the routed destinations.
/// Table 0 classifies `tenants` VLANs (metadata = tenant + 1), table 1
/// holds `acl` wildcard rules (per tenant: a default permit, TCP and
/// low-UDP denies, high-UDP permits, port ranges as value/mask blocks),
/// table 2 `routes` /32 routes.
pub fn r2_tables(
    tenants: u32,
    acl: usize,
    routes: usize,
    seed: u64,
) -> ([Vec<String>; 3], Vec<u32>) {
    let mut rng = XorShift64::new(seed);
    let mut t0: Vec<String> = (0..tenants)
        .map(|t| {
            format!(
                "priority=100,in_port=1,dl_vlan={},actions=write_metadata:{},goto_table:1",
                100 + t,
                t + 1
            )
        })
        .collect();
    let per = acl / tenants as usize;
    let mut t1 = Vec::new();
    for t in 0..tenants {
        let md = t + 1;
        let mut rules = vec![format!("priority=10,metadata={md},ip,actions=goto_table:2")];
        let mut k = 0;
        while rules.len() < per {
            let prio = 20 + rng.below(59_980);
            let (matches, action): (Vec<String>, &str) = match k % 3 {
                0 => {
                    let lo = rng.below(60_001) as u32;
                    let hi = (lo + [0, 3, 15, 99, 1000][rng.below(5) as usize]).min(65_535);
                    let src = prefix(&mut rng, &[8, 12, 16, 20, 24]);
                    let m = port_blocks(lo, hi)
                        .into_iter()
                        .map(|(v, m)| format!("tcp,nw_src={src},{}", tp_dst(v, m)));
                    (m.collect(), "drop")
                }
                1 => {
                    let lo = rng.below(1001) as u32;
                    let hi = (lo + [0, 4, 20, 100][rng.below(4) as usize]).min(1023);
                    let dst = prefix(&mut rng, &[8, 12, 16, 20, 24]);
                    let m = port_blocks(lo, hi)
                        .into_iter()
                        .map(|(v, m)| format!("udp,nw_dst={dst},{}", tp_dst(v, m)));
                    (m.collect(), "drop")
                }
                _ => {
                    let lo = 1024 + rng.below(60_000 - 1024 + 1) as u32;
                    let hi = (lo + [255, 1023, 4095][rng.below(3) as usize]).min(65_535);
                    let src = prefix(&mut rng, &[8, 12, 16]);
                    let dst = prefix(&mut rng, &[8, 12]);
                    let m = port_blocks(lo, hi)
                        .into_iter()
                        .map(|(v, m)| format!("udp,nw_src={src},nw_dst={dst},{}", tp_dst(v, m)));
                    (m.collect(), "goto_table:2")
                }
            };
            k += 1;
            for m in matches {
                if rules.len() >= per {
                    break;
                }
                rules.push(format!(
                    "priority={prio},metadata={md},{m},actions={action}"
                ));
            }
        }
        t1.extend(rules);
    }
    let mut seen = std::collections::HashSet::new();
    let mut route_ips = Vec::new();
    while route_ips.len() < routes {
        let v = (10 << 24) | (rng.next_u32() >> 8);
        if v & 0xff != 0 && v & 0xff != 255 && seen.insert(v) {
            route_ips.push(v);
        }
    }
    let mut t2: Vec<String> = route_ips
        .iter()
        .map(|&v| format!("priority=100,ip,nw_dst={},actions=output:2", ip(v)))
        .collect();
    for t in [&mut t0, &mut t1, &mut t2] {
        t.push("priority=0,actions=drop".to_string());
    }
    ([t0, t1, t2], route_ips)
}

/// R2 as an add-flows file ([`r2_tables`] with their `table=` fields), and
/// the routed destinations.
pub fn r2(tenants: u32, acl: usize, routes: usize, seed: u64) -> (String, Vec<u32>) {
    let (tables, route_ips) = r2_tables(tenants, acl, routes, seed);
    let mut text = String::new();
    for (t, lines) in tables.iter().enumerate() {
        for l in lines {
            text.push_str(&format!("table={t},{l}\n"));
        }
    }
    (text, route_ips)
}

/// R2 parsed: per table, each flow's priority and match ([`r2_tables`]),
/// and the routed destinations.
pub fn r2_matches(
    tenants: u32,
    acl: usize,
    routes: usize,
    seed: u64,
) -> ([Vec<(u16, Match)>; 3], Vec<u32>) {
    let (tables, route_ips) = r2_tables(tenants, acl, routes, seed);
    let parsed = tables.map(|lines| {
        lines
            .iter()
            .map(|l| {
                let f = parse_flow(l, &NoPortNames).expect("generated flows parse");
                (f.priority, f.r#match)
            })
            .collect()
    });
    (parsed, route_ips)
}

/// gen_pcaps.py 5-tuples: `flows` of them, round-robin over `tenants`
/// (`(tenant, src, dst, sport, dport)`), random sources in 10/8,
/// destinations drawn from `routes`, ports 1024..=65535; shuffled.
fn tuples(flows: usize, tenants: u32, routes: &[u32], seed: u64) -> Vec<(u32, u32, u32, u16, u16)> {
    let mut rng = XorShift64::new(seed);
    let mut out: Vec<_> = (0..flows)
        .map(|i| {
            let t = if flows > 1 { i as u32 % tenants } else { 0 };
            let src = (10 << 24) | (rng.next_u32() >> 8);
            let dst = routes[rng.below(routes.len() as u64) as usize];
            let sport = 1024 + rng.below(65_536 - 1024) as u16;
            let dport = 1024 + rng.below(65_536 - 1024) as u16;
            (t, src, dst, sport, dport)
        })
        .collect();
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i as u64 + 1) as usize);
    }
    out
}

/// gen_pcaps.py frames: `flows` distinct UDP 5-tuples (tenant `t` on VLAN
/// 100 + t), shuffled.
pub fn traffic(flows: usize, tenants: u32, routes: &[u32], seed: u64) -> Vec<Vec<u8>> {
    tuples(flows, tenants, routes, seed)
        .into_iter()
        .map(|(t, src, dst, sport, dport)| {
            PacketBuilder::new()
                .eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
                .vlan(100 + t as u16, 0)
                .ipv4(src, dst)
                .udp(sport, dport)
                .pad60()
                .build()
                .expect("frame builds")
        })
        .collect()
}

/// The same packets as [`traffic`] (same arguments) as the keys the
/// classifiers see, with the registers table 0 leaves (metadata = tenant +
/// 1), for lookups without parsing.
pub fn flow_keys(
    flows: usize,
    tenants: u32,
    routes: &[u32],
    seed: u64,
) -> Vec<(FlowKey, Registers)> {
    tuples(flows, tenants, routes, seed)
        .into_iter()
        .map(|(t, src, dst, sport, dport)| {
            let key = FlowKey {
                in_port: 1,
                eth_type: 0x0800,
                vlan_vid: 0x1000 | (100 + t as u16),
                ip_proto: 17,
                ipv4_src: src,
                ipv4_dst: dst,
                tp_src: sport,
                tp_dst: dport,
                ..FlowKey::default()
            };
            let regs = Registers {
                metadata: u64::from(t) + 1,
                tunnel_id: 0,
            };
            (key, regs)
        })
        .collect()
}
