//! The compiled OpenFlow pipeline in the real binary, on mbufs: pcap in →
//! three ports' pcaps out, compared byte for byte with what the reference
//! interpreter (written straight from the spec) produces in-process for
//! the same flows and frames — rewrites with checksum updates, pushes,
//! TTL, several outputs (copies), ALL, packet-ins, table misses and
//! malformed frames; and with thousands of flows in a big flow cache,
//! whose bursts the worker parses and prefetches before processing.
mod common;

use common::frames::{read_pcap, traffic, write_pcap};
use common::{preamble, require_root, sample, scratch, Sluice};
use sluice::openflow::parse_flow;
use sluice::pipeline::{
    Env, FlowCache, Outcome, PassThroughMeters, ReferencePipeline, DEFAULT_SALT,
};
use sluice::rng::XorShift64;
use sluice::wire::build::PacketBuilder;
use std::collections::BTreeMap;
use std::path::Path;

const FLOWS: &[&str] = &[
    "table=0,priority=100,in_port=in,tcp,actions=push_vlan:0x8100,set_field:0x1064->vlan_vid,output:out",
    "table=0,priority=90,in_port=in,udp,nw_dst=10.0.1.0/24,actions=set_field:10.9.9.9->nw_dst,dec_ttl,goto_table:1",
    "table=1,priority=0,udp,actions=output:out,set_field:7->udp_dst,output:out2",
    "table=0,priority=80,in_port=in,arp,actions=all",
    "table=0,priority=70,in_port=in,ipv6,icmp6,actions=CONTROLLER:128",
    "table=0,priority=60,in_port=in,ipv6,actions=mod_nw_ttl:3,output:out2",
    "table=0,priority=50,in_port=in,mpls,actions=pop_mpls:0x0800,output:out",
    "table=0,priority=40,in_port=in,ip,nw_dst=10.0.2.1,actions=drop",
    "table=0,priority=1,in_port=in,ip,actions=output:out",
];

/// `sluice_flow_cache_packets_total` by result: fast_hit, hit, miss,
/// bypassed (-1: absent).
fn flow_cache_results(m: &str) -> [f64; 4] {
    ["fast_hit", "hit", "miss", "bypassed"]
        .map(|r| sample(m, "sluice_flow_cache_packets_total", &[("result", r)]).unwrap_or(-1.0))
}

/// Ports "in" (OpenFlow 1: reads `input`), "out" and "out2" (2, 3); each
/// writes what it sends to `dir`/out<OpenFlow port>.pcap.
fn pcap_ports(dir: &Path, input: &Path) -> String {
    let pcap = |p: u32| dir.join(format!("out{p}.pcap")).display().to_string();
    format!(
        "[[port]]\nname = \"in\"\ndevice = \"net_pcap0,rx_pcap={},tx_pcap={}\"\n\n\
         [[port]]\nname = \"out\"\ndevice = \"net_pcap1,tx_pcap={}\"\n\n\
         [[port]]\nname = \"out2\"\ndevice = \"net_pcap2,tx_pcap={}\"\n\n",
        input.display(),
        pcap(1),
        pcap(2),
        pcap(3),
    )
}

/// The reference interpreter (written straight from the spec), in-process,
/// with `flows` on the [`pcap_ports`]: the frames it sends out of each
/// OpenFlow port, in order, and every frame's outcome (outputs taken).
fn reference_run<S: AsRef<str>>(
    flows: &[S],
    frames: &[Vec<u8>],
) -> (BTreeMap<u32, Vec<Vec<u8>>>, Vec<Outcome>) {
    let names: BTreeMap<String, u32> = [("in", 1), ("out", 2), ("out2", 3)]
        .iter()
        .map(|(n, p)| (n.to_string(), *p))
        .collect();
    let mut reference = ReferencePipeline::new(vec![1, 2, 3], DEFAULT_SALT);
    for f in flows {
        let f = f.as_ref();
        reference.add_flow(parse_flow(f, &names).unwrap_or_else(|e| panic!("{f}: {e}")));
    }
    let mut sent: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    let outcomes = frames
        .iter()
        .map(|f| {
            let mut meters = PassThroughMeters;
            let mut out = reference.process(f, 1, &mut Env::new(&mut meters));
            for e in std::mem::take(&mut out.outputs) {
                sent.entry(e.port).or_default().push(e.data);
            }
            out
        })
        .collect();
    (sent, outcomes)
}

/// The [`pcap_ports`]' pcaps in `dir` hold exactly the frames `want` has
/// for them (nothing for a port it lacks).
fn assert_sent(dir: &Path, want: &mut BTreeMap<u32, Vec<Vec<u8>>>, ports: &[u32]) {
    for &port in ports {
        let got = read_pcap(&dir.join(format!("out{port}.pcap")));
        let want = want.remove(&port).unwrap_or_default();
        assert_eq!(got.len(), want.len(), "frames out of port {port}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "port {port} frame {i} differs");
        }
    }
}

#[test]
fn compiled_pipeline_on_mbufs_matches_the_reference() {
    if !require_root() {
        return;
    }
    let dir = scratch("pipeline");
    let frames: Vec<Vec<u8>> = traffic().into_iter().map(|(f, _)| f).collect();
    let input = dir.join("in.pcap");
    write_pcap(
        &input,
        &frames.iter().map(|f| f.as_slice()).collect::<Vec<_>>(),
    );

    let (mut want, outcomes) = reference_run(FLOWS, &frames);
    let mut want_packet_ins = Vec::new();
    let (mut want_table_miss, mut want_malformed) = (0, 0);
    for out in outcomes {
        want_packet_ins.extend(
            out.packet_ins
                .into_iter()
                .map(|p| (p.reason.as_str(), p.data)),
        );
        match out.dropped.map(|d| d.as_str()) {
            Some("table_miss") => want_table_miss += 1,
            Some("malformed") => want_malformed += 1,
            _ => {}
        }
    }
    assert!(
        want.len() >= 2 && !want_packet_ins.is_empty() && want_table_miss > 0 && want_malformed > 0
    );

    let prefix = "sluice-t-pipeline";
    let flows: Vec<String> = FLOWS.iter().map(|f| format!("  \"{f}\",")).collect();
    let config = format!(
        "{}[mempool]\ndata_room = 10240\n\n{}[pipeline]\nflows = [\n{}\n]\n",
        preamble(prefix, &[1]),
        pcap_ports(&dir, &input),
        flows.join("\n"),
    );
    let sluice = Sluice::start(&dir, prefix, &config);
    let n = frames.len() as f64;
    let m = sluice.wait_metrics("all frames", 30, |m| {
        sample(m, "sluice_port_rx_packets_total", &[("port", "in")]) == Some(n)
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, packet_ins) = sluice.get("/packet-ins");
    assert_eq!(code, 200);
    let (code, dump) = sluice.get("/dump-flows");
    assert_eq!(code, 200);
    assert_eq!(dump.lines().count(), FLOWS.len(), "{dump}");
    assert_eq!(
        sample(&m, "sluice_drops_total", &[("reason", "table_miss")]),
        Some(want_table_miss as f64),
        "{m}"
    );
    assert_eq!(
        sample(&m, "sluice_drops_total", &[("reason", "malformed")]),
        Some(want_malformed as f64),
        "{m}"
    );
    // Every frame that reached the pipeline went through the flow cache
    // one way or another; the first of each flow was a miss.
    let results = flow_cache_results(&m);
    assert_eq!(
        results.iter().sum::<f64>(),
        n - want_malformed as f64,
        "flow cache {results:?}\n{m}"
    );
    assert!(results[2] >= 1.0, "flow cache {results:?}");
    let fin = sluice.stop();
    fin.assert_clean();

    assert_sent(&dir, &mut want, &[1, 2, 3]);
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let want_hex: Vec<String> = want_packet_ins
        .iter()
        .map(|(reason, d)| format!("{reason} {}", hex(d)))
        .collect();
    let got_hex: Vec<String> = packet_ins
        .lines()
        .map(|l| {
            let field = |k: &str| l.split_whitespace().find_map(|kv| kv.strip_prefix(k));
            format!(
                "{} {}",
                field("reason=").unwrap_or("?"),
                field("data=").unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(got_hex, want_hex, "packet-ins");
}

#[test]
fn thousands_of_flows_through_a_prefetched_flow_cache_match_the_reference() {
    if !require_root() {
        return;
    }
    let dir = scratch("pipeline-cache");
    // 6,000 routes, a fifth of them rewriting; traffic over 6,100
    // destinations (some unrouted), three rounds in random order, with
    // runts among them (the burst pre-pass skips them).
    const ROUTES: u32 = 6000;
    let mut flows = vec![
        "table=0,priority=1,in_port=in,actions=write_metadata:0x7/0xff,goto_table:1".to_string(),
    ];
    for i in 0..ROUTES {
        let actions = if i % 5 == 0 {
            "set_field:10.9.9.9->nw_dst,output:out2".to_string()
        } else {
            "output:out".to_string()
        };
        flows.push(format!(
            "table=1,priority=10,ip,nw_dst=10.0.{}.{},actions={actions}",
            i / 256,
            i % 256
        ));
    }
    flows.push("table=1,priority=0,actions=drop".into());
    let mut rng = XorShift64::new(0xcafe);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for _round in 0..3 {
        let mut order: Vec<u32> = (0..ROUTES + 100).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for i in order {
            let f = PacketBuilder::new()
                .eth([2, 0, 0, 0, 0, 0xb], [2, 0, 0, 0, 0, 0xa])
                .ipv4(0x0a01_0001, 0x0a00_0000 | i)
                .tcp(1000 + (i % 9) as u16, 80)
                .pad60()
                .build()
                .expect("frame");
            if rng.below(50) == 0 {
                frames.push(f[..20].to_vec());
            }
            frames.push(f);
        }
    }
    let input = dir.join("in.pcap");
    write_pcap(
        &input,
        &frames.iter().map(|f| f.as_slice()).collect::<Vec<_>>(),
    );

    let (mut want, outcomes) = reference_run(&flows, &frames);
    let want_malformed = outcomes
        .iter()
        .filter(|o| o.dropped.map(|d| d.as_str()) == Some("malformed"))
        .count();
    assert!(want_malformed > 100 && want[&2].len() > 10_000 && want[&3].len() > 3000);

    let prefix = "sluice-t-pipeline-cache";
    let rules = dir.join("routes.flows");
    std::fs::write(&rules, flows.join("\n")).unwrap();
    let config = format!(
        "{}{}[pipeline]\nflows_file = \"{}\"\nflow_cache_slots = 65536\n",
        preamble(prefix, &[1]),
        pcap_ports(&dir, &input),
        rules.display(),
    );
    let sluice = Sluice::start(&dir, prefix, &config);
    let n = frames.len() as f64;
    let m = sluice.wait_metrics("all frames", 60, |m| {
        sample(m, "sluice_port_rx_packets_total", &[("port", "in")]) == Some(n)
    });
    // (A burst's cache counters and gauge are stored before its rx count.)
    let results = flow_cache_results(&m);
    assert_eq!(
        results.iter().sum::<f64>(),
        n - want_malformed as f64,
        "{results:?}\n{m}"
    );
    // Filling, never bypassed; the routes' paths outnumber what the worker
    // keeps in the CPU's caches, so its bursts were looked up ahead.
    assert_eq!(results[3], 0.0, "{results:?}");
    assert!(results[0] > 8000.0 && results[1] > 2000.0, "{results:?}");
    let paths = sample(&m, "sluice_flow_cache_paths", &[("worker", "0")]).unwrap_or(0.0);
    assert!(
        paths > FlowCache::PREFETCH_FILLED as f64,
        "{paths} paths\n{m}"
    );
    assert_eq!(
        sample(&m, "sluice_flow_cache_slots", &[("worker", "0")]),
        Some(65536.0)
    );
    assert_eq!(
        sample(&m, "sluice_drops_total", &[("reason", "malformed")]),
        Some(want_malformed as f64),
        "{m}"
    );
    let fin = sluice.stop();
    fin.assert_clean();
    assert_sent(&dir, &mut want, &[1, 2, 3]);
}
