//! Tests of the compiled pipeline: validation messages, warnings, the
//! zero-copy rules, groups, counters and dump-flows, and the property test
//! that holds it equal to the reference interpreter on random rule sets
//! and packets.

use super::compile::{CompiledPipeline, Site};
use super::counters::PipelineCounters;
use super::env::{Env, MeterHook, MeterVerdict, PassThroughMeters};
use super::outcome::{DropCause, Outcome, PacketInReason, TraceStep};
use super::packet::{PacketBuf, VecPacket};
use super::reference::ReferencePipeline;
use super::run::{CollectSink, FrameRun, PacketInInfo, Sink, Verdict};
use super::Registers;
use crate::openflow::{
    parse_flow, parse_group, parse_meter, FlowEntry, GroupEntry, MeterEntry, NoPortNames,
};
use crate::rng::XorShift64;
use crate::wire::build::{Ipv4, PacketBuilder};
use crate::wire::{self, FlowKey};

use super::reference_tests::{frame, tcp_frame, A, B};

const PORTS: [u32; 4] = [1, 2, 3, 4];

/// Flows with their line numbers (1-based, in list order).
fn flows(lines: &[&str]) -> Vec<FlowEntry> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut f = parse_flow(l, &NoPortNames).unwrap_or_else(|e| panic!("{l}: {e}"));
            f.source.line = i as u32 + 1;
            f
        })
        .collect()
}

fn groups(lines: &[&str]) -> Vec<GroupEntry> {
    lines
        .iter()
        .map(|l| parse_group(l, &NoPortNames).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn meters(lines: &[&str]) -> Vec<MeterEntry> {
    lines
        .iter()
        .map(|l| parse_meter(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn compile(fl: &[&str], gr: &[&str]) -> CompiledPipeline {
    compile_metered(fl, gr, &[])
}

fn compile_metered(fl: &[&str], gr: &[&str], me: &[&str]) -> CompiledPipeline {
    CompiledPipeline::build(&flows(fl), &groups(gr), &meters(me), &PORTS, 7)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn run(p: &CompiledPipeline, frame: &[u8]) -> FrameRun {
    let mut m = PassThroughMeters;
    let c = p.new_counters();
    p.run_frame(frame, 1, Registers::default(), &mut Env::new(&mut m), &c)
}

fn errors(fl: &[&str], gr: &[&str], me: &[&str]) -> Vec<String> {
    match CompiledPipeline::build(&flows(fl), &groups(gr), &meters(me), &PORTS, 7) {
        Ok(_) => panic!("compiled: {fl:?}"),
        Err(e) => e.errors.iter().map(|d| d.to_string()).collect(),
    }
}

#[test]
fn dangling_references_are_errors_with_their_line() {
    let e = errors(
        &[
            "table=0,priority=1,actions=output:9",
            "table=0,priority=2,actions=group:5",
            "table=0,priority=3,actions=meter:4,output:2",
            "table=0,priority=4,actions=goto_table:3",
            "table=0,priority=5,actions=NORMAL",
            "table=0,priority=6,actions=write_actions(output:7)",
        ],
        &[],
        &[],
    );
    assert_eq!(e.len(), 6, "{e:#?}");
    assert!(
        e[0].starts_with(
            "1:1: flow: output to port 9 is not a configured port (ports: 1, 2, 3, 4)"
        ),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("2:1: flow: group 5 is not defined"),
        "{}",
        e[1]
    );
    assert!(
        e[2].starts_with("3:1: flow: meter 4 is not defined"),
        "{}",
        e[2]
    );
    assert!(
        e[3].contains("goto_table:3, but table 3 has no flows"),
        "{}",
        e[3]
    );
    assert!(e[4].contains("output:NORMAL is not supported"), "{}", e[4]);
    assert!(
        e[5].starts_with("6:1:") && e[5].contains("port 7"),
        "{}",
        e[5]
    );
}

#[test]
fn group_errors_loops_and_depth() {
    let e = errors(
        &["actions=group:1"],
        &[
            "group_id=1,type=all,bucket=actions=group:2",
            "group_id=2,type=indirect,bucket=actions=group:1",
        ],
        &[],
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("group chain loop: 1 -> 2 -> 1"), "{}", e[0]);

    let e = errors(
        &["actions=group:1"],
        &[
            "group_id=1,type=all,bucket=actions=output:2",
            "group_id=1,type=all,bucket=actions=output:3",
            "group_id=3,type=ff,bucket=watch_port:8,actions=output:2",
            "group_id=4,type=ff,bucket=watch_group:9,actions=output:2",
        ],
        &[],
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].contains("group 1 is defined twice"), "{}", e[0]);
    assert!(
        e[1].contains("watch_port 8 is not a configured port"),
        "{}",
        e[1]
    );
    assert!(e[2].contains("watch_group 9 is not defined"), "{}", e[2]);

    // A chain of 17 groups is one too many; 16 compile.
    let chain: Vec<String> = (1..=17)
        .map(|i| {
            if i < 17 {
                format!("group_id={i},type=indirect,bucket=actions=group:{}", i + 1)
            } else {
                format!("group_id={i},type=indirect,bucket=actions=output:2")
            }
        })
        .collect();
    let refs: Vec<&str> = chain.iter().map(String::as_str).collect();
    let e = errors(&["actions=group:1"], &refs, &[]);
    assert!(e[0].contains("chain of 17 groups"), "{}", e[0]);
    assert!(CompiledPipeline::build(
        &flows(&["actions=group:2"]),
        &groups(&refs[1..]),
        &[],
        &PORTS,
        1
    )
    .is_ok());

    let e = errors(
        &["actions=group:1"],
        &[
            "group_id=1,type=ff,bucket=watch_group:2,actions=output:2",
            "group_id=2,type=ff,bucket=watch_group:1,actions=output:3",
        ],
        &[],
    );
    assert!(e[0].contains("watch_group loop"), "{}", e[0]);

    let e = errors(
        &["actions=drop"],
        &[],
        &[
            "meter=1,pktps,band=type=drop,rate=1",
            "meter=1,pktps,band=type=drop,rate=2",
        ],
    );
    assert!(e[0].contains("meter 1 is defined twice"), "{}", e[0]);
}

#[test]
fn warnings_for_replaced_overlapping_and_dead_flows() {
    let p = CompiledPipeline::build(
        &flows(&[
            "table=0,priority=5,ip,actions=output:2",
            "table=0,priority=5,ip,nw_dst=10.0.0.0/8,actions=output:3",
            "table=0,priority=5,ip,actions=output:4",
            "table=0,priority=6,in_port=9,actions=output:3",
        ]),
        &[],
        &[],
        &PORTS,
        1,
    )
    .unwrap();
    let w: Vec<String> = p.warnings().iter().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(w
        .iter()
        .any(|m| m.starts_with("4:1:") && m.contains("in_port=9")));
    assert!(w
        .iter()
        .any(|m| m.starts_with("3:1:") && m.contains("replaces the flow") && m.contains("at 1:1")));
    assert!(w
        .iter()
        .any(|m| m.starts_with("2:1:") && m.contains("overlaps the flow at 3:1")));
    // The replacement took the first flow's place.
    let o = run(&p, &frame());
    assert_eq!(o.outcome.outputs[0].port, 4);
    assert_eq!(p.len(), 3);
    assert_eq!(p.warnings()[0].site, Site::Flow(3));
}

#[test]
fn one_output_at_the_end_copies_nothing() {
    let p = compile(
        &[
            "table=0,priority=1,ip,actions=set_field:10.9.9.9->ip_dst,goto_table:1",
            "table=1,priority=1,actions=write_actions(output:3)",
        ],
        &[],
    );
    let r = run(&p, &frame());
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 2,
            queue: None
        }
    );
    assert_eq!(r.copies, 0);
    assert_eq!(r.outcome.outputs.len(), 1);
    assert_eq!(r.outcome.outputs[0].port, 3);
}

#[test]
fn outputs_before_a_rewrite_are_copied_first() {
    let p = compile(
        &["ip,actions=output:2,set_field:5->ip_dscp,output:3,set_queue:4,output:4"],
        &[],
    );
    let f = frame();
    let r = run(&p, &f);
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 3,
            queue: Some(4)
        }
    );
    assert_eq!(r.copies, 2);
    let o = &r.outcome.outputs;
    assert_eq!(o[0].data, f, "copied before the rewrite");
    assert_eq!(o[1].data, o[2].data);
    assert_ne!(o[1].data, f);
    assert_eq!(o[2].queue, Some(4));
}

#[test]
fn flood_and_all_copy_all_but_one() {
    let p = compile(&["actions=FLOOD"], &[]);
    let r = run(&p, &frame());
    let ports: Vec<u32> = r.outcome.outputs.iter().map(|e| e.port).collect();
    assert_eq!(ports, [2, 3, 4]);
    assert_eq!(r.copies, 2);
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 3,
            queue: None
        }
    );
}

#[test]
fn output_to_in_port_by_number_sends_nothing_but_in_port_does() {
    let p = compile(&["actions=output:1"], &[]);
    let r = run(&p, &frame());
    assert_eq!(r.verdict, Verdict::Drop(DropCause::NoOutput));
    let p = compile(&["actions=IN_PORT"], &[]);
    let r = run(&p, &frame());
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 0,
            queue: None
        }
    );
}

#[test]
fn local_is_counted_not_sent() {
    let p = compile(&["actions=LOCAL,output:2"], &[]);
    let c = p.new_counters();
    let mut m = PassThroughMeters;
    let r = p.run_frame(&frame(), 1, Registers::default(), &mut Env::new(&mut m), &c);
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 1,
            queue: None
        }
    );
    assert_eq!(c.no_local_port.get(), 1);
}

#[test]
fn packet_in_carries_reason_table_cookie_and_max_len() {
    let p = compile(
        &[
            "table=0,priority=9,cookie=0x77,ip,actions=write_metadata:0x5,goto_table:3",
            "table=3,priority=0,actions=CONTROLLER:20",
        ],
        &[],
    );
    let r = run(&p, &frame());
    assert_eq!(r.verdict, Verdict::Consumed);
    let pi = &r.outcome.packet_ins[0];
    assert_eq!(pi.reason, PacketInReason::NoMatch);
    assert_eq!((pi.table_id, pi.cookie, pi.metadata), (3, 0, 5));
    assert_eq!(pi.data.len(), 20);
    assert_eq!(pi.total_len, frame().len());
}

#[test]
fn action_set_runs_in_order_and_a_group_beats_output() {
    let p = compile(
        &[
            "table=0,priority=1,ip,actions=write_actions(output:2,dec_ttl,set_field:7->ip_dscp),goto_table:1",
            "table=1,priority=1,actions=write_actions(group:1)",
        ],
        &["group_id=1,type=indirect,bucket=actions=set_field:02:00:00:00:00:99->eth_dst,output:4"],
    );
    let r = run(&p, &frame());
    assert_eq!(r.outcome.outputs.len(), 1);
    let e = &r.outcome.outputs[0];
    assert_eq!(e.port, 4);
    let mut k = FlowKey::default();
    wire::parse(&e.data, 4, &mut k).unwrap();
    assert_eq!((k.ip_dscp, k.ip_ttl, k.eth_dst), (7, 63, 0x0200_0000_0099));
    // The last bucket of a group at the end works on the packet itself.
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 3,
            queue: None
        }
    );
    assert_eq!(r.copies, 0);
}

#[test]
fn all_group_copies_only_buckets_that_rewrite() {
    let p = compile(
        &["actions=group:1"],
        &["group_id=1,type=all,bucket=actions=output:2,bucket=actions=set_field:9->ip_dscp,output:3,bucket=actions=output:4"],
    );
    let f = frame();
    let r = run(&p, &f);
    let o = &r.outcome.outputs;
    assert_eq!(o.iter().map(|e| e.port).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(o[0].data, f);
    assert_eq!(o[2].data, f, "the rewrite stayed in its bucket");
    assert_ne!(o[1].data, f);
    // Port 2 was pending when bucket 2 copied: one copy_out and one clone.
    assert_eq!(r.copies, 2);
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 3,
            queue: None
        }
    );
}

struct NoBuffers(CollectSink);

impl Sink<VecPacket> for NoBuffers {
    fn copy_out(&mut self, port: u32, queue: Option<u32>, pkt: &VecPacket) {
        self.0.copy_out(port, queue, pkt)
    }
    fn packet_in(&mut self, info: &PacketInInfo, pkt: &VecPacket) {
        self.0.packet_in(info, pkt)
    }
    fn clone_packet(&mut self, _: &VecPacket) -> Option<VecPacket> {
        None
    }
}

#[test]
fn a_bucket_without_a_buffer_is_skipped_and_counted() {
    let p = compile(
        &["actions=group:1,output:4"],
        &["group_id=1,type=all,bucket=actions=set_field:9->ip_dscp,output:3,bucket=actions=output:2"],
    );
    let f = frame();
    let mut key = FlowKey::default();
    wire::parse(&f, 1, &mut key).unwrap();
    let mut pkt = VecPacket::new(&f);
    let mut sink = NoBuffers(CollectSink::default());
    let c = p.new_counters();
    let mut m = PassThroughMeters;
    let v = p.process(
        &mut pkt,
        &mut key,
        &mut Registers::default(),
        &mut Env::new(&mut m),
        &mut sink,
        &c,
    );
    assert_eq!(
        v,
        Verdict::Output {
            port: 3,
            queue: None
        }
    );
    assert_eq!(c.copy_failures.get(), 1);
    assert_eq!(sink.0.outputs.len(), 1, "bucket 2's output");
    assert_eq!(pkt.data(), &f[..]);
}

#[test]
fn counters_and_dump_flows() {
    let p = compile(
        &[
            "table=0,priority=10,cookie=0x1,ip,actions=goto_table:1",
            "table=0,priority=0,actions=drop",
            "table=1,priority=5,tcp,tp_dst=80,actions=output:2",
        ],
        &[],
    );
    let c = [p.new_counters(), p.new_counters()];
    let mut m = PassThroughMeters;
    let f = frame();
    let arp = PacketBuilder::new()
        .eth(B, A)
        .arp(Default::default())
        .build()
        .unwrap();
    for (i, fr) in [&f, &f, &arp].iter().enumerate() {
        p.run_frame(
            fr,
            1,
            Registers::default(),
            &mut Env::new(&mut m),
            &c[i % 2],
        );
    }
    let t = p.totals(c.iter());
    assert_eq!(t.tables, [(3, 3), (2, 2)]);
    assert_eq!(t.entries[0].0, 2);
    assert_eq!(t.entries[1], (1, arp.len() as u64));
    assert_eq!(t.drops[DropCause::NoOutput.index()], 1);
    let info = p.table_info(c.iter());
    assert_eq!(info[1].id, 1);
    assert_eq!(info[1].entries, 1);
    let dump = p.dump_flows(c.iter());
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines[0].starts_with(" cookie=0x1, duration=")
            && lines[0].contains("n_packets=2, n_bytes=")
            && lines[0].contains("priority=10, eth_type=0x0800 actions=goto_table:1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].contains("table=1") && lines[2].contains("n_packets=2"),
        "{}",
        lines[2]
    );
    // Counters of another pipeline are ignored, never indexed out of range.
    let other = compile(&["actions=drop"], &[]);
    let foreign = other.new_counters();
    assert!(!p.owns_counters(&foreign));
    assert_eq!(p.totals([&foreign]).entries[0], (0, 0));
    let r = p.run_frame(&f, 1, Registers::default(), &mut Env::new(&mut m), &foreign);
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 1,
            queue: None
        }
    );
}

#[test]
fn a_flow_cache_of_another_pipeline_is_ignored() {
    let a = compile(&["ip,actions=output:2"], &[]);
    let b = compile(&["ip,actions=output:3"], &[]);
    let mut cache = a.new_flow_cache(64);
    assert!(a.owns_cache(&cache) && !b.owns_cache(&cache));
    assert!(a.cacheable());
    let mut m = PassThroughMeters;
    let c = a.new_counters();
    for _ in 0..2 {
        let r = a.run_frame_cached(
            &frame(),
            1,
            Registers::default(),
            &mut Env::new(&mut m),
            &c,
            &mut cache,
        );
        assert_eq!(
            r.verdict,
            Verdict::Output {
                port: 1,
                queue: None
            }
        );
    }
    assert_eq!((cache.hits, cache.misses), (1, 1));
    let c = b.new_counters();
    let r = b.run_frame_cached(
        &frame(),
        1,
        Registers::default(),
        &mut Env::new(&mut m),
        &c,
        &mut cache,
    );
    assert_eq!(
        r.verdict,
        Verdict::Output {
            port: 2,
            queue: None
        },
        "b's own lookups"
    );
    assert_eq!((cache.hits, cache.misses), (1, 1), "not consulted");
}

#[test]
fn a_cached_plain_output_path_composes_metadata_and_counts_every_entry() {
    let p = compile(
        &[
            "table=0,in_port=1,actions=write_metadata:0x5/0xff,goto_table:1",
            "table=1,metadata=0x5/0xff,actions=write_metadata:0x100/0xf00,goto_table:2",
            "table=2,ip,actions=output:2",
        ],
        &[],
    );
    let mut cache = p.new_flow_cache(64);
    let (plain, cached) = (p.new_counters(), p.new_counters());
    let mut m = PassThroughMeters;
    let f = frame();
    for round in 0..3 {
        let mut got = Vec::new();
        for use_cache in [false, true] {
            let mut key = FlowKey::default();
            wire::parse(&f, 1, &mut key).unwrap();
            let mut pkt = VecPacket::new(&f);
            // The default registers, as a port's packets have.
            let mut regs = Registers::default();
            let mut sink = CollectSink::default();
            let mut env = Env::new(&mut m);
            let v = if use_cache {
                p.process_cached(
                    &mut pkt, &mut key, &mut regs, &mut env, &mut sink, &cached, &mut cache,
                )
            } else {
                p.process(&mut pkt, &mut key, &mut regs, &mut env, &mut sink, &plain)
            };
            got.push((v, regs.metadata));
        }
        let want = (
            Verdict::Output {
                port: 1,
                queue: None,
            },
            0x105,
        );
        assert_eq!(got, [want, want], "round {round}");
    }
    assert_eq!((cache.misses, cache.hits, cache.fast_hits), (1, 2, 2));
    let len = f.len() as u64;
    // The first fast hit counts its path; the second, which follows it,
    // is counted when the run is settled.
    assert_eq!(p.totals([&cached]).entries, vec![(2, 2 * len); 3]);
    p.settle(&mut cache, &cached);
    assert_eq!(p.totals([&cached]).entries, vec![(3, 3 * len); 3]);
    assert_eq!(p.totals([&cached]), p.totals([&plain]));
    // Other registers (not a packet from a port): the cache, whose keys
    // leave them out, is not consulted; the classifiers compose the writes
    // over them.
    let mut key = FlowKey::default();
    wire::parse(&f, 1, &mut key).unwrap();
    let mut regs = Registers {
        metadata: 0xf00f_0000_0000_0033,
        tunnel_id: 0,
    };
    let v = p.process_cached(
        &mut VecPacket::new(&f),
        &mut key,
        &mut regs,
        &mut Env::new(&mut m),
        &mut CollectSink::default(),
        &cached,
        &mut cache,
    );
    assert_eq!(
        (v, regs.metadata),
        (
            Verdict::Output {
                port: 1,
                queue: None
            },
            0xf00f_0000_0000_0105
        )
    );
    assert_eq!((cache.misses, cache.hits), (1, 2), "not consulted");
}

#[test]
fn runs_of_fast_hits_count_every_packet_once_in_its_own_path() {
    // Two flows with their own route, one of them metered; table 0's entry
    // is shared by both.
    let p = compile_metered(
        &[
            "table=0,in_port=1,actions=goto_table:1",
            "table=1,priority=10,ip,nw_dst=10.0.0.2,actions=output:2",
            "table=1,priority=10,ip,nw_dst=10.0.0.3,actions=meter:1,goto_table:2",
            "table=1,priority=0,actions=drop",
            "table=2,actions=output:3",
        ],
        &[],
        &["meter=1,pktps,bands=type=drop,rate=10"],
    );
    let a = tcp_frame(0x0a00_0001, 0x0a00_0002, 1234, 80);
    let mut b = tcp_frame(0x0a00_0001, 0x0a00_0003, 1234, 80);
    b.extend_from_slice(b"longer");
    let mut rng = XorShift64::new(11);
    let (plain, cached) = (p.new_counters(), p.new_counters());
    let mut cache = p.new_flow_cache(64);
    let mut dropped = 0;
    for burst in 0..20 {
        for _ in 0..rng.below(40) {
            // Runs of each flow of random length, and single packets; the
            // metered flow's packets pass or drop at random.
            let f = if rng.below(3) == 0 { &a } else { &b };
            let verdict = if rng.below(4) == 0 {
                MeterVerdict::Drop
            } else {
                MeterVerdict::Pass
            };
            let mut key = FlowKey::default();
            wire::parse(f, 1, &mut key).unwrap();
            let mut sink = CollectSink::default();
            let (mut pa, mut pb) = (VecPacket::new(f), VecPacket::new(f));
            let (mut ka, mut ra) = (key, Registers::default());
            let mut m = ScriptedMeters(vec![verdict]);
            let want = p.process(
                &mut pa,
                &mut ka,
                &mut ra,
                &mut Env::new(&mut m),
                &mut sink,
                &plain,
            );
            let mut rb = Registers::default();
            let mut m = ScriptedMeters(vec![verdict]);
            let mut env = Env::new(&mut m);
            let got = p.process_cached(
                &mut pb, &mut key, &mut rb, &mut env, &mut sink, &cached, &mut cache,
            );
            assert_eq!(got, want, "burst {burst}");
            dropped += u32::from(matches!(got, Verdict::Drop(_)));
        }
        p.settle(&mut cache, &cached);
        assert_eq!(
            p.totals([&cached]),
            p.totals([&plain]),
            "after burst {burst}"
        );
    }
    assert!(
        cache.fast_hits > 100,
        "runs were taken ({})",
        cache.fast_hits
    );
    assert!(dropped > 10, "the meter dropped ({dropped})");
}

/// Meter verdicts in a fixed order.
struct ScriptedMeters(Vec<MeterVerdict>);

impl MeterHook for ScriptedMeters {
    fn meter(&mut self, _id: u32, _len: usize) -> MeterVerdict {
        if self.0.is_empty() {
            MeterVerdict::Pass
        } else {
            self.0.remove(0)
        }
    }
}

#[test]
fn a_cached_metered_path_calls_its_meters_and_drops_like_the_tables() {
    let p = compile_metered(
        &[
            "table=0,actions=meter:1,write_metadata:0x1/0xff,goto_table:1",
            "table=1,ip,actions=output:2",
        ],
        &[],
        &["meter=1,pktps,bands=type=drop,rate=10"],
    );
    use MeterVerdict::{Drop, Pass};
    let script = vec![Pass, Pass, Drop, Pass, Drop];
    let (plain, cached) = (p.new_counters(), p.new_counters());
    let mut cache = p.new_flow_cache(64);
    let (mut m1, mut m2) = (ScriptedMeters(script.clone()), ScriptedMeters(script));
    for round in 0..5 {
        let want = p.run_frame(
            &frame(),
            1,
            Registers::default(),
            &mut Env::new(&mut m1),
            &plain,
        );
        let got = p.run_frame_cached(
            &frame(),
            1,
            Registers::default(),
            &mut Env::new(&mut m2),
            &cached,
            &mut cache,
        );
        assert_eq!(got.verdict, want.verdict, "round {round}");
        assert_eq!(got.drops, want.drops, "round {round}");
        assert_eq!(got.outcome.outputs, want.outcome.outputs, "round {round}");
    }
    assert_eq!(
        (cache.misses, cache.fast_hits),
        (1, 4),
        "every hit was fast"
    );
    assert_eq!(p.totals([&cached]), p.totals([&plain]));
    assert_eq!(
        cached.drops(&DropCause::Meter { id: 1 }),
        2,
        "the meter's drops are counted"
    );
}

#[test]
fn a_cached_path_is_not_replayed_past_a_meter_that_may_remark_a_matched_dscp() {
    // The first packet is remarked (AF21 -> AF22) and so misses the DSCP
    // rule; the second, the same flow, passes the meter unchanged and
    // must match it.
    let p = compile_metered(
        &[
            "table=0,actions=meter:1,goto_table:1",
            "table=1,priority=10,ip,ip_dscp=18,actions=output:2",
            "table=1,priority=5,ip,actions=output:3",
        ],
        &[],
        &["meter=1,pktps,bands=type=dscp_remark,rate=10,prec_level=1"],
    );
    let mut m = ScriptedMeters(vec![MeterVerdict::RemarkDscp { prec_level: 1 }]);
    let mut cache = p.new_flow_cache(64);
    let c = p.new_counters();
    let ports: Vec<u32> = (0..2)
        .map(|_| {
            let r = p.run_frame_cached(
                &frame(),
                1,
                Registers::default(),
                &mut Env::new(&mut m),
                &c,
                &mut cache,
            );
            match r.verdict {
                Verdict::Output { port, .. } => PORTS[port as usize],
                v => panic!("{v:?}"),
            }
        })
        .collect();
    assert_eq!(ports, [3, 2]);
}

#[test]
fn the_compiled_pipeline_is_shareable() {
    fn check<T: Send + Sync>() {}
    check::<CompiledPipeline>();
    check::<PipelineCounters>();
}

// ---------------------------------------------------------------------
// Property test: compiled == reference on random rule sets and packets.

/// A meter hook whose verdicts follow a seed (the same sequence for both
/// pipelines as long as they call it in the same order).
struct RandomMeters(XorShift64, Vec<(u32, usize)>);

impl MeterHook for RandomMeters {
    fn meter(&mut self, id: u32, len: usize) -> MeterVerdict {
        self.1.push((id, len));
        match self.0.below(6) {
            0 => MeterVerdict::Drop,
            1 => MeterVerdict::RemarkDscp {
                prec_level: 1 + self.0.below(2) as u8,
            },
            _ => MeterVerdict::Pass,
        }
    }
}

fn pick<'a>(rng: &mut XorShift64, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len() as u64) as usize]
}

const IPS: [&str; 4] = ["10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.1"];

/// A random match in ovs syntax (prerequisites written out).
fn random_match(rng: &mut XorShift64) -> String {
    let mut parts: Vec<String> = Vec::new();
    if rng.chance(1, 3) {
        parts.push(format!("in_port={}", 1 + rng.below(3)));
    }
    if rng.chance(1, 4) {
        let md = rng.below(4);
        if rng.chance(1, 2) {
            parts.push(format!("metadata={md}"));
        } else {
            parts.push(format!("metadata={md}/0x3"));
        }
    }
    if rng.chance(1, 4) {
        parts.push(
            pick(
                rng,
                &[
                    "dl_vlan=10",
                    "dl_vlan=11",
                    "vlan_tci=0/0x1000",
                    "vlan_tci=0x1000/0x1000",
                ],
            )
            .to_string(),
        );
    }
    if rng.chance(1, 6) {
        parts.push(
            pick(
                rng,
                &[
                    "dl_dst=02:00:00:00:00:bb",
                    "dl_src=02:00:00:00:00:aa",
                    "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
                ],
            )
            .to_string(),
        );
    }
    if rng.chance(1, 6) {
        parts.push(format!("tun_id={}", rng.below(3)));
    }
    match rng.below(5) {
        0 | 1 => {
            let proto = pick(rng, &["ip", "tcp", "udp", "icmp"]);
            parts.push(proto.to_string());
            if rng.chance(1, 2) {
                let plen = pick(rng, &["", "/8", "/16", "/31"]);
                let dir = pick(rng, &["nw_src", "nw_dst"]);
                parts.push(format!("{dir}={}{plen}", pick(rng, &IPS)));
            }
            if rng.chance(1, 4) {
                parts.push(format!("ip_dscp={}", pick(rng, &["18", "20", "0"])));
            }
            if matches!(proto, "tcp" | "udp") && rng.chance(1, 2) {
                let dir = pick(rng, &["tp_src", "tp_dst"]);
                let v = pick(rng, &["80", "1234", "0x0050/0xfff0", "0/0xfc00"]);
                parts.push(format!("{dir}={v}"));
            }
        }
        2 => parts.push(pick(rng, &["arp", "arp,arp_op=1", "ipv6"]).to_string()),
        _ => {}
    }
    parts.join(",")
}

fn random_action(rng: &mut XorShift64, groups: u32, in_set: bool) -> String {
    let ports = [
        "output:2", "output:3", "output:4", "output:1", "IN_PORT", "ALL", "FLOOD",
    ];
    match rng.below(if in_set { 14 } else { 16 }) {
        0..=3 => pick(rng, &ports).to_string(),
        4 => format!("CONTROLLER:{}", pick(rng, &["65535", "16", "0"])),
        5 if groups > 0 => format!("group:{}", 1 + rng.below(u64::from(groups))),
        6 => format!("set_queue:{}", rng.below(3)),
        7 => format!("set_field:02:00:00:00:00:{:02x}->eth_dst", rng.below(4)),
        8 => pick(
            rng,
            &["set_field:0x1005->vlan_vid", "push_vlan:0x8100", "pop_vlan"],
        )
        .to_string(),
        9 => pick(
            rng,
            &[
                "dec_ttl",
                "mod_nw_ttl:1",
                "set_field:10.0.0.2->ip_dst",
                "set_field:22->ip_dscp",
            ],
        )
        .to_string(),
        10 => pick(
            rng,
            &[
                "set_field:5->tun_id",
                "set_field:0x4/0x4->tun_id",
                "set_field:0x2/0x6->tun_id",
            ],
        )
        .to_string(),
        11 => pick(
            rng,
            &[
                "push_mpls:0x8847",
                "dec_mpls_ttl",
                "set_field:02:00:00:00:00:00/ff:00:00:00:00:00->eth_src",
            ],
        )
        .to_string(),
        12 => pick(
            rng,
            &[
                "set_field:80->tcp_dst",
                "set_field:7->udp_src",
                "copy_ttl_out",
            ],
        )
        .to_string(),
        13 => pick(
            rng,
            &[
                "set_field:0x0a000000/0xff000000->ip_src",
                "set_field:0x000000ff/0x000000ff->ip_src",
            ],
        )
        .to_string(),
        _ => pick(rng, &["output:2", "dec_ttl"]).to_string(),
    }
}

fn random_actions(rng: &mut XorShift64, groups: u32, in_set: bool) -> String {
    let n = 1 + rng.below(4);
    (0..n)
        .map(|_| random_action(rng, groups, in_set))
        .collect::<Vec<_>>()
        .join(",")
}

struct Case {
    flows: Vec<FlowEntry>,
    groups: Vec<GroupEntry>,
    meters: Vec<MeterEntry>,
}

fn random_case(rng: &mut XorShift64) -> Case {
    let ngroups = rng.below(5) as u32;
    let mut groups = Vec::new();
    for id in 1..=ngroups {
        let kind = pick(rng, &["all", "select", "indirect", "ff"]);
        let nb = if kind == "indirect" {
            1
        } else {
            1 + rng.below(3)
        };
        let mut text = format!("group_id={id},type={kind}");
        for _ in 0..nb {
            text.push_str(",bucket=");
            if kind == "select" {
                text.push_str(&format!("weight:{},", rng.below(3)));
            }
            if kind == "ff" || (kind == "select" && rng.chance(1, 3)) {
                text.push_str(&format!("watch_port:{},", 1 + rng.below(4)));
            }
            if kind == "ff" && id < ngroups && rng.chance(1, 3) {
                text.push_str(&format!("watch_group:{},", id + 1));
            }
            // Buckets chain only to later groups (no loops).
            let mut acts = random_actions(rng, 0, false);
            if id < ngroups && rng.chance(1, 3) {
                acts.push_str(&format!(
                    ",group:{}",
                    id + 1 + rng.below(u64::from(ngroups - id)) as u32
                ));
            }
            text.push_str(&format!("actions={acts}"));
        }
        if let Ok(g) = parse_group(&text, &NoPortNames) {
            groups.push(g);
        } else {
            // Keep ids dense: a simple fallback group.
            groups.push(
                parse_group(
                    &format!("group_id={id},type=all,bucket=actions=output:2"),
                    &NoPortNames,
                )
                .unwrap(),
            );
        }
    }
    let meters = meters(&[
        "meter=1,pktps,band=type=drop,rate=1",
        "meter=2,pktps,band=type=dscp_remark,rate=1,prec_level=1",
    ]);
    let ntables = 1 + rng.below(4);
    let tables: Vec<u64> = {
        let mut t: Vec<u64> = vec![0];
        for _ in 1..ntables {
            let next = t.last().unwrap() + 1 + rng.below(3);
            t.push(next);
        }
        t
    };
    let mut flows = Vec::new();
    let mut line = 0;
    for (ti, &t) in tables.iter().enumerate() {
        let n = 1 + rng.below(10);
        let mut made = 0;
        let mut tries = 0;
        while made < n && tries < 200 {
            tries += 1;
            let mut ins: Vec<String> = Vec::new();
            if rng.chance(1, 8) {
                ins.push(format!("meter:{}", 1 + rng.below(2)));
            }
            if rng.chance(2, 3) {
                ins.push(random_actions(rng, ngroups, false));
            }
            if rng.chance(1, 5) {
                ins.push("clear_actions".into());
            }
            if rng.chance(1, 2) {
                ins.push(format!(
                    "write_actions({})",
                    random_actions(rng, ngroups, true)
                ));
            }
            if rng.chance(1, 3) {
                ins.push(format!(
                    "write_metadata:{}/0x{:x}",
                    rng.below(4),
                    1 + rng.below(7)
                ));
            }
            if ti + 1 < tables.len() && rng.chance(2, 3) {
                let to = tables[ti + 1 + rng.below((tables.len() - ti - 1) as u64) as usize];
                ins.push(format!("goto_table:{to}"));
            }
            let prio = rng.below(4) * 10;
            // Often a catch-all, so that packets get further.
            let m = if made == 0 && rng.chance(2, 3) {
                String::new()
            } else {
                random_match(rng)
            };
            let text = format!(
                "table={t},priority={prio},{m}{}actions={}",
                if m.is_empty() { "" } else { "," },
                if ins.is_empty() {
                    "drop".to_string()
                } else {
                    ins.join(",")
                }
            );
            if let Ok(mut f) = parse_flow(&text, &NoPortNames) {
                line += 1;
                f.source.line = line;
                flows.push(f);
                made += 1;
            }
        }
    }
    Case {
        flows,
        groups,
        meters,
    }
}

fn random_frame(rng: &mut XorShift64) -> (Vec<u8>, u32) {
    let ip = |rng: &mut XorShift64| -> u32 {
        let s = pick(rng, &IPS);
        let o: Vec<u32> = s.split('.').map(|x| x.parse().unwrap()).collect();
        (o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]
    };
    let mut b = PacketBuilder::new().eth(
        if rng.chance(1, 4) {
            [1, 0, 0, 0, 0, 1]
        } else {
            B
        },
        A,
    );
    if rng.chance(1, 3) {
        b = b.vlan(10 + rng.below(2) as u16, rng.below(8) as u8);
    }
    b = match rng.below(8) {
        0 => b.arp(Default::default()),
        1 => b.ipv6(1, 2).udp(1, 2),
        2 => b.ethertype(0x88b5).payload(&[1, 2, 3, 4]),
        _ => {
            let (src, dst) = (ip(rng), ip(rng));
            let b = b.ipv4_with(Ipv4 {
                src,
                dst,
                dscp: [18, 20, 0][rng.below(3) as usize],
                ttl: [64, 1, 2][rng.below(3) as usize],
                ..Ipv4::default()
            });
            let port = |rng: &mut XorShift64| [80u16, 1234, 0x52, 7][rng.below(4) as usize];
            match rng.below(3) {
                0 => b.tcp(port(rng), port(rng)),
                1 => b.udp(port(rng), port(rng)),
                _ => b.icmpv4_echo(false, 1, 1),
            }
        }
    };
    let frame = b.payload(b"prop").build().unwrap();
    (frame, 1 + rng.below(4) as u32)
}

/// Every drop in the reference's trace, in order.
fn reference_drops(o: &Outcome) -> Vec<DropCause> {
    o.trace
        .iter()
        .filter_map(|s| match s {
            TraceStep::Drop { cause, .. } => Some(*cause),
            _ => None,
        })
        .collect()
}

#[test]
fn compiled_equals_reference_on_random_rule_sets() {
    let mut rng = XorShift64::new(0x5eed_c0de);
    let (mut cases, mut packets, mut compared_outputs) = (0, 0, 0);
    let mut verdicts = [0usize; 3];
    let (mut multi, mut packet_ins, mut copy_drops) = (0, 0, 0);
    let (mut hits, mut lookups, mut fast_hits) = (0, 0, 0);
    while cases < 400 {
        let case = random_case(&mut rng);
        let compiled =
            match CompiledPipeline::build(&case.flows, &case.groups, &case.meters, &PORTS, 99) {
                Ok(p) => p,
                Err(e) => panic!("random case does not compile: {e}\n{:#?}", case.flows),
            };
        let mut reference = ReferencePipeline::new(PORTS.to_vec(), 99);
        for g in &case.groups {
            reference.add_group(g.clone());
        }
        for m in &case.meters {
            reference.add_meter(m.clone());
        }
        for f in &case.flows {
            reference.add_flow(f.clone());
        }
        let live_mask = rng.below(16);
        let live = move |p: u32| p == 0 || p > 4 || live_mask & (1 << (p - 1)) != 0;
        let counters = compiled.new_counters();
        // The cached runs count into their own block: twice the uncached.
        let cached_counters = compiled.new_counters();
        // A small cache, so that slots are also overwritten.
        let mut cache = compiled.new_flow_cache(16);
        cases += 1;
        for _ in 0..40 {
            let (frame, in_port) = random_frame(&mut rng);
            let tunnel = rng.below(3);
            // Metadata starts at 0 in a switch; other values test that it
            // is part of the flow cache's key.
            let regs = Registers {
                metadata: if rng.chance(1, 4) { rng.below(4) } else { 0 },
                tunnel_id: tunnel,
            };
            let seed = rng.next_u64();
            let mut m1 = RandomMeters(XorShift64::new(seed), Vec::new());
            let want = reference.process_with(
                &frame,
                in_port,
                regs,
                &mut Env::with_liveness(&mut m1, &live),
            );
            let mut m2 = RandomMeters(XorShift64::new(seed), Vec::new());
            let got = compiled.run_frame(
                &frame,
                in_port,
                regs,
                &mut Env::with_liveness(&mut m2, &live),
                &counters,
            );
            // Through the flow cache, twice (a miss that records, then
            // usually a hit).
            let mut cached = Vec::new();
            for _ in 0..2 {
                let mut m3 = RandomMeters(XorShift64::new(seed), Vec::new());
                let mut env = Env::with_liveness(&mut m3, &live);
                cached.push(compiled.run_frame_cached(
                    &frame,
                    in_port,
                    regs,
                    &mut env,
                    &cached_counters,
                    &mut cache,
                ));
                assert_eq!(m3.1, m1.1, "meter calls (cached)");
            }
            packets += 1;
            compared_outputs += want.outputs.len();
            let ctx = || {
                let fl: Vec<String> = case.flows.iter().map(|f| format!("{f:#}")).collect();
                let gr: Vec<String> = case.groups.iter().map(|g| format!("{g}")).collect();
                format!(
                    "flows:\n  {}\ngroups:\n  {}\nin_port {in_port} frame {frame:02x?}\n{want}",
                    fl.join("\n  "),
                    gr.join("\n  ")
                )
            };
            assert_eq!(m1.1, m2.1, "meter calls\n{}", ctx());
            assert_eq!(got.outcome.outputs, want.outputs, "outputs\n{}", ctx());
            assert_eq!(
                got.outcome.packet_ins,
                want.packet_ins,
                "packet-ins\n{}",
                ctx()
            );
            let mut want_drops = reference_drops(&want);
            if want.dropped == Some(DropCause::NoOutput) {
                want_drops.push(DropCause::NoOutput);
            }
            assert_eq!(got.drops, want_drops, "drops\n{}", ctx());
            assert_eq!(got.outcome.dropped, want.dropped, "drop cause\n{}", ctx());
            for c in &cached {
                assert_eq!(
                    c.outcome.outputs,
                    want.outputs,
                    "outputs (cached)\n{}",
                    ctx()
                );
                assert_eq!(
                    c.outcome.packet_ins,
                    want.packet_ins,
                    "packet-ins (cached)\n{}",
                    ctx()
                );
                assert_eq!(c.drops, want_drops, "drops (cached)\n{}", ctx());
                assert_eq!(c.verdict, got.verdict, "verdict (cached)\n{}", ctx());
            }
            multi += usize::from(want.outputs.len() > 1);
            packet_ins += want.packet_ins.len();
            copy_drops += usize::from(!want.outputs.is_empty() && want.dropped.is_some());
            verdicts[match got.verdict {
                Verdict::Output { .. } => 0,
                Verdict::Consumed => 1,
                Verdict::Drop(_) => 2,
            }] += 1;
        }
        hits += cache.hits;
        lookups += cache.hits + cache.misses;
        fast_hits += cache.fast_hits;
        let (a, b) = (
            compiled.totals([&counters]),
            compiled.totals([&cached_counters]),
        );
        let twice: Vec<(u64, u64)> = a.entries.iter().map(|&(p, b)| (2 * p, 2 * b)).collect();
        assert_eq!(
            b.entries, twice,
            "entry counters (cached)\n{:#?}",
            case.flows
        );
        let twice: Vec<(u64, u64)> = a.tables.iter().map(|&(l, m)| (2 * l, 2 * m)).collect();
        assert_eq!(
            b.tables, twice,
            "table counters (cached)\n{:#?}",
            case.flows
        );
    }
    println!(
        "{cases} rule sets, {packets} packets, {compared_outputs} outputs compared; verdicts output/consumed/drop {verdicts:?}; \
         {multi} with several outputs, {packet_ins} packet-ins, {copy_drops} with outputs and a drop; \
         flow cache: {hits} hits ({fast_hits} fast) of {lookups} lookups"
    );
    assert!(
        fast_hits > 0 && fast_hits < hits,
        "both hit paths run: {fast_hits} of {hits}"
    );
    assert!(
        hits > lookups / 4,
        "the cache must be exercised: {hits} of {lookups}"
    );
    assert!(multi > packets / 20 && packet_ins > packets / 50 && copy_drops > packets / 100);
    // The generator must exercise every verdict.
    assert!(verdicts.iter().all(|&v| v > packets / 50), "{verdicts:?}");
}

#[test]
fn process_keeps_the_key_in_step_with_the_packet() {
    let p = compile(
        &["ip,actions=push_vlan:0x8100,set_field:0x1007->vlan_vid,set_field:10.0.0.9->ip_src,output:2"],
        &[],
    );
    let f = frame();
    let mut key = FlowKey::default();
    wire::parse(&f, 1, &mut key).unwrap();
    let mut pkt = VecPacket::new(&f);
    let mut sink = CollectSink::default();
    let c = p.new_counters();
    let mut m = PassThroughMeters;
    let mut regs = Registers::default();
    let v = p.process(
        &mut pkt,
        &mut key,
        &mut regs,
        &mut Env::new(&mut m),
        &mut sink,
        &c,
    );
    assert_eq!(
        v,
        Verdict::Output {
            port: 1,
            queue: None
        }
    );
    let mut fresh = FlowKey::default();
    wire::parse(pkt.data(), 1, &mut fresh).unwrap();
    assert_eq!(key.normalized(), fresh.normalized());
    assert_eq!(fresh.vlan_vid, 0x1007);
    assert_eq!(fresh.ipv4_src, 0x0a00_0009);
}

#[test]
fn plain_entries_take_steps_and_the_rest_read_their_entry() {
    use super::program::Step;
    let p = compile(
        &[
            "table=0,priority=3,in_port=1,actions=goto_table:1",
            "table=0,priority=2,in_port=2,actions=write_metadata:0x4,goto_table:1",
            "table=1,priority=3,ip,nw_dst=10.0.0.2,actions=output:3",
            "table=1,priority=2,ip,actions=output:3,write_metadata:0x1/0x1",
            "table=1,priority=1,actions=output:4,output:3",
        ],
        &[],
    );
    let steps: Vec<Step> = p.steps.clone();
    assert_eq!(steps.len(), p.entries.len());
    // A goto without metadata names the table index; an output names the
    // port index and its OpenFlow number; a metadata write or more than
    // one action reads the entry.
    assert_eq!(steps[0], Step { code: 1, ofport: 0 });
    assert_eq!(steps[1], Step::GENERAL);
    assert_eq!(
        steps[2],
        Step {
            code: Step::OUTPUT | 2,
            ofport: 3
        }
    );
    assert_eq!(steps[3], Step::GENERAL);
    assert_eq!(steps[4], Step::GENERAL);
    let c = p.new_counters();
    let mut m = PassThroughMeters;
    let mut go = |frame: &[u8], in_port| {
        p.run_frame(
            frame,
            in_port,
            Registers::default(),
            &mut Env::new(&mut m),
            &c,
        )
    };
    // Step, step: out on port 3, nothing written.
    let r = go(&frame(), 1);
    assert_eq!(r.outcome.outputs.len(), 1);
    assert_eq!(r.outcome.outputs[0].port, 3);
    assert_eq!(r.outcome.final_regs.metadata, 0);
    // Entry, step: the goto's metadata stays.
    let r = go(&frame(), 2);
    assert_eq!(r.outcome.outputs[0].port, 3);
    assert_eq!(r.outcome.final_regs.metadata, 4);
    // Step, entry: the output entry's metadata write is made.
    let r = go(&tcp_frame(0x0a00_0001, 0x0a00_0009, 1234, 80), 1);
    assert_eq!(r.outcome.outputs[0].port, 3);
    assert_eq!(r.outcome.final_regs.metadata, 1);
    assert_eq!(c.entries[0].packets.get(), 2);
    assert_eq!(c.entries[2].packets.get(), 2);
    assert_eq!(c.entries[3].packets.get(), 1);
    // The same through the flow cache: recorded, then the fast path.
    let mut cache = p.new_flow_cache(64);
    for _ in 0..2 {
        let r = p.run_frame_cached(
            &tcp_frame(0x0a00_0001, 0x0a00_0009, 1234, 80),
            2,
            Registers::default(),
            &mut Env::new(&mut m),
            &c,
            &mut cache,
        );
        assert_eq!(r.outcome.outputs[0].port, 3);
        assert_eq!(r.outcome.final_regs.metadata, 5, "0x4, then 0x1/0x1");
    }
    assert_eq!(cache.fast_hits, 1);
}

#[test]
fn bursts_looked_up_ahead_give_what_the_tables_give() {
    // 6,000 routes of their own: the cache holds more paths than
    // PREFETCH_FILLED, and bursts are looked up a burst ahead the way the
    // workers do it. Some paths are plain outputs (fast hits), some
    // rewrite (replayed), some drop.
    let mut lines =
        vec!["table=0,in_port=1,actions=write_metadata:0x7/0xff,goto_table:1".to_string()];
    for i in 0..6000u32 {
        let out = if i % 5 == 0 {
            "set_field:10.9.9.9->nw_dst,output:3".to_string()
        } else {
            format!("output:{}", 2 + i % 2)
        };
        lines.push(format!(
            "table=1,priority=10,ip,nw_dst=10.0.{}.{},actions={out}",
            i / 256,
            i % 256
        ));
    }
    lines.push("table=1,priority=0,actions=drop".into());
    let lines: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
    let p = compile(&lines, &[]);
    let mut cache = p.new_flow_cache(1 << 16);
    let (plain, cached) = (p.new_counters(), p.new_counters());
    let mut rng = XorShift64::new(0xa11ead);
    let (mut ahead_bursts, mut ahead_packets) = (0, 0);
    for burst in 0..1500 {
        let frames: Vec<Vec<u8>> = (0..32)
            .map(|_| {
                // A few unrouted destinations (table 1's drop).
                let i = rng.below(6100) as u32;
                tcp_frame(0x0a00_0001, 0x0a00_0000 | i, 1000 + (i % 7) as u16, 80)
            })
            .collect();
        let mut keys = vec![FlowKey::default(); frames.len()];
        for (f, k) in frames.iter().zip(&mut keys) {
            wire::parse(f, 1, k).unwrap();
        }
        let ahead = p.prefetches_cache(&cache);
        let mut lookups = vec![super::CacheLookup::default(); frames.len()];
        if ahead {
            ahead_bursts += 1;
            for (k, l) in keys.iter().zip(&mut lookups) {
                p.prefetch_cached(k, &cache, l);
            }
        }
        for (i, f) in frames.iter().enumerate() {
            let mut m = PassThroughMeters;
            let (mut want_sink, mut got_sink) = (CollectSink::default(), CollectSink::default());
            let (mut pa, mut pb) = (VecPacket::new(f), VecPacket::new(f));
            let (mut ka, mut kb) = (keys[i], keys[i]);
            let (mut ra, mut rb) = (Registers::default(), Registers::default());
            let want = p.process(
                &mut pa,
                &mut ka,
                &mut ra,
                &mut Env::new(&mut m),
                &mut want_sink,
                &plain,
            );
            let got = p.process_cached_ahead(
                &mut pb,
                &mut kb,
                &mut rb,
                &mut Env::new(&mut m),
                &mut got_sink,
                &cached,
                &mut cache,
                ahead.then_some(&lookups[i]),
            );
            assert_eq!(got, want, "burst {burst} packet {i}");
            assert_eq!(pb.data(), pa.data(), "burst {burst} packet {i}");
            assert_eq!(
                (rb.metadata, kb),
                (ra.metadata, ka),
                "burst {burst} packet {i}"
            );
            ahead_packets += usize::from(ahead);
        }
        p.settle(&mut cache, &cached);
    }
    assert_eq!(p.totals([&cached]), p.totals([&plain]));
    assert!(
        cache.filled() > super::FlowCache::PREFETCH_FILLED,
        "{}",
        cache.filled()
    );
    assert!(ahead_bursts > 500, "{ahead_bursts} bursts looked up ahead");
    assert!(cache.fast_hits > 10_000, "{}", cache.fast_hits);
    assert!(cache.hits > cache.fast_hits, "replayed paths too");
    assert_eq!(cache.bypassed, 0, "a filling cache is consulted");
    assert!(ahead_packets > 0);
}
