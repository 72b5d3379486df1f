//! Tests of the reference interpreter: lookup order, instructions, the
//! action set, outputs, packet-ins, groups, meters and drops.

use super::env::{Env, MeterHook, MeterVerdict, PassThroughMeters};
use super::outcome::{DropCause, Outcome, PacketInReason, TraceStep};
use super::reference::ReferencePipeline;
use crate::openflow::{parse_flow, parse_group, NoPortNames};
use crate::rng::XorShift64;
use crate::wire::build::{Ipv4, PacketBuilder};
use crate::wire::{self, FlowKey};

// Shared with compile_tests.
pub(super) const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
pub(super) const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];

pub(super) fn tcp_frame(src: u32, dst: u32, sport: u16, dport: u16) -> Vec<u8> {
    PacketBuilder::new()
        .eth(B, A)
        .ipv4_with(Ipv4 {
            src,
            dst,
            dscp: 18,
            ..Ipv4::default()
        })
        .tcp(sport, dport)
        .payload(b"reference")
        .build()
        .unwrap()
}

pub(super) fn frame() -> Vec<u8> {
    tcp_frame(0x0a00_0001, 0x0a00_0002, 1234, 80)
}

fn pipeline(flows: &[&str], groups: &[&str]) -> ReferencePipeline {
    let mut p = ReferencePipeline::new(vec![1, 2, 3, 4], 7);
    for g in groups {
        p.add_group(parse_group(g, &NoPortNames).unwrap_or_else(|e| panic!("{g}: {e}")));
    }
    for f in flows {
        p.add_flow(parse_flow(f, &NoPortNames).unwrap_or_else(|e| panic!("{f}: {e}")));
    }
    p
}

fn run(p: &ReferencePipeline, frame: &[u8]) -> Outcome {
    let mut m = PassThroughMeters;
    p.process(frame, 1, &mut Env::new(&mut m))
}

fn ports(o: &Outcome) -> Vec<u32> {
    o.outputs.iter().map(|e| e.port).collect()
}

fn key_of(data: &[u8]) -> FlowKey {
    let mut k = FlowKey::default();
    wire::parse(data, 1, &mut k).unwrap();
    k
}

#[test]
fn highest_priority_wins_and_ties_go_to_the_first_added() {
    let a = "table=0,priority=10,in_port=1,actions=output:2";
    let b = "table=0,priority=10,eth_type=0x0800,actions=output:3";
    let hi = "table=0,priority=11,eth_type=0x0800,actions=output:4";
    assert_eq!(ports(&run(&pipeline(&[a, b], &[]), &frame())), [2]);
    assert_eq!(ports(&run(&pipeline(&[b, a], &[]), &frame())), [3]);
    assert_eq!(ports(&run(&pipeline(&[a, b, hi], &[]), &frame())), [4]);
    assert_eq!(ports(&run(&pipeline(&[hi, b, a], &[]), &frame())), [4]);
}

#[test]
fn same_match_and_priority_replaces() {
    let p = pipeline(
        &[
            "table=0,priority=10,in_port=1,actions=output:2",
            "table=0,priority=10,in_port=1,actions=output:3",
        ],
        &[],
    );
    assert_eq!(p.table(0).len(), 1);
    assert_eq!(ports(&run(&p, &frame())), [3]);
}

#[test]
fn table_miss_drops_unless_a_catch_all_exists() {
    let p = pipeline(&["table=0,priority=10,in_port=2,actions=output:3"], &[]);
    let o = run(&p, &frame());
    assert_eq!(o.dropped, Some(DropCause::TableMiss { table: 0 }));
    assert!(o.outputs.is_empty() && o.packet_ins.is_empty());

    let p = pipeline(
        &[
            "table=0,priority=10,in_port=2,actions=output:3",
            "table=0,priority=0,actions=CONTROLLER:65535",
        ],
        &[],
    );
    let o = run(&p, &frame());
    assert_eq!(o.packet_ins.len(), 1);
    assert_eq!(o.packet_ins[0].reason, PacketInReason::NoMatch);
    assert_eq!(o.dropped, None);

    let p = pipeline(&["table=0,priority=5,actions=goto_table:3"], &[]);
    assert_eq!(
        run(&p, &frame()).dropped,
        Some(DropCause::TableMiss { table: 3 })
    );
}

#[test]
fn action_set_runs_in_spec_order_at_the_end() {
    let p = pipeline(
        &[
            "table=0,priority=1,ip,actions=output:3,write_actions(output:2,set_field:10.9.9.9->nw_dst),goto_table:1",
            "table=1,priority=1,ip,actions=dec_ttl",
        ],
        &[],
    );
    let o = run(&p, &frame());
    assert_eq!(ports(&o), [3, 2]);
    let first = key_of(&o.outputs[0].data);
    let second = key_of(&o.outputs[1].data);
    assert_eq!(
        (first.ipv4_dst, first.ip_ttl),
        (0x0a00_0002, 64),
        "apply-actions output: a copy then"
    );
    assert_eq!(
        (second.ipv4_dst, second.ip_ttl),
        (0x0a09_0909, 63),
        "set-field before output"
    );
    assert!(o
        .trace
        .iter()
        .any(|s| matches!(s, TraceStep::ActionSet { actions } if actions.len() == 2)));
}

#[test]
fn write_actions_merge_and_clear() {
    let p = pipeline(
        &[
            "table=0,priority=1,actions=write_actions(output:2),goto_table:1",
            "table=1,priority=1,actions=write_actions(output:3),goto_table:2",
            "table=2,priority=1,actions=drop",
        ],
        &[],
    );
    assert_eq!(
        ports(&run(&p, &frame())),
        [3],
        "a later output replaces the earlier one"
    );

    let p = pipeline(
        &[
            "table=0,priority=1,actions=write_actions(output:2),goto_table:1",
            "table=1,priority=1,actions=clear_actions",
        ],
        &[],
    );
    let o = run(&p, &frame());
    assert!(o.outputs.is_empty());
    assert_eq!(o.dropped, Some(DropCause::NoOutput));
}

#[test]
fn write_metadata_with_a_mask() {
    let p = pipeline(
        &[
            "table=0,priority=1,actions=write_metadata:0xff00/0xff00,goto_table:1",
            "table=1,priority=1,actions=write_metadata:0x1/0xf,goto_table:2",
            "table=2,priority=1,metadata=0xff01,actions=output:2",
        ],
        &[],
    );
    let o = run(&p, &frame());
    assert_eq!(ports(&o), [2]);
    assert_eq!(o.final_regs.metadata, 0xff01);
}

#[test]
fn group_in_the_action_set_beats_output() {
    let p = pipeline(
        &["table=0,priority=1,actions=write_actions(group:1,output:3)"],
        &["group_id=1,type=indirect,bucket=actions=output:2"],
    );
    assert_eq!(ports(&run(&p, &frame())), [2]);
}

#[test]
fn output_ports() {
    let p = pipeline(
        &["table=0,priority=1,actions=output:1,IN_PORT,ALL,LOCAL"],
        &[],
    );
    let o = run(&p, &frame());
    // output:1 is the ingress port: nothing; IN_PORT: 1; ALL: 2, 3, 4.
    assert_eq!(ports(&o), [1, 2, 3, 4, crate::openflow::port::LOCAL]);
    let p = pipeline(&["table=0,priority=1,actions=FLOOD"], &[]);
    assert_eq!(ports(&run(&p, &frame())), [2, 3, 4]);
}

#[test]
fn packet_in_honours_max_len() {
    let p = pipeline(
        &[
            "table=0,priority=1,actions=write_metadata:0x5/0xff,goto_table:1",
            "table=1,priority=9,cookie=0x77,actions=CONTROLLER:20",
        ],
        &[],
    );
    let f = frame();
    let o = run(&p, &f);
    let [pi] = o.packet_ins.as_slice() else {
        panic!("{o}")
    };
    assert_eq!(
        (pi.reason, pi.table_id, pi.cookie, pi.metadata),
        (PacketInReason::Action, 1, 0x77, 5)
    );
    assert_eq!(pi.data, f[..20]);
    assert_eq!(pi.total_len, f.len());
}

#[test]
fn select_group_spreads_by_weight_and_is_stable() {
    let p = pipeline(
        &["table=0,priority=1,actions=group:1"],
        &["group_id=1,type=select,bucket=weight=1,actions=output:2,bucket=weight=3,actions=output:3"],
    );
    let mut rng = XorShift64::new(11);
    let mut on3 = 0;
    for _ in 0..2000 {
        let f = tcp_frame(rng.next_u32(), rng.next_u32(), rng.next_u32() as u16, 80);
        let o = run(&p, &f);
        assert_eq!(o.outputs.len(), 1);
        assert_eq!(ports(&run(&p, &f)), ports(&o), "same flow, same bucket");
        on3 += usize::from(o.outputs[0].port == 3);
    }
    let share = on3 as f64 / 2000.0;
    assert!((share - 0.75).abs() < 0.04, "{share}");
}

#[test]
fn fast_failover_follows_liveness() {
    let p = pipeline(
        &["table=0,priority=1,actions=group:1"],
        &["group_id=1,type=ff,bucket=watch_port=2,actions=output:2,bucket=watch_port=3,actions=output:3"],
    );
    let f = frame();
    let mut m = PassThroughMeters;
    let up = |live: &dyn Fn(u32) -> bool| {
        let mut m = PassThroughMeters;
        ports(&p.process(&f, 1, &mut Env::with_liveness(&mut m, live)))
    };
    assert_eq!(up(&|_| true), [2]);
    assert_eq!(up(&|port| port != 2), [3]);
    let o = p.process(&f, 1, &mut Env::with_liveness(&mut m, &|_| false));
    assert_eq!(o.dropped, Some(DropCause::NoLiveBucket { group: 1 }));
}

#[test]
fn chained_groups_and_bucket_copies() {
    let p = pipeline(
        &["table=0,priority=1,actions=group:1,output:4"],
        &[
            "group_id=1,type=all,bucket=actions=set_field:02:00:00:00:00:99->eth_dst,output:2,bucket=actions=group:2",
            "group_id=2,type=indirect,bucket=actions=output:3",
        ],
    );
    let o = run(&p, &frame());
    assert_eq!(ports(&o), [2, 3, 4]);
    assert_eq!(o.outputs[0].data[..6], [2, 0, 0, 0, 0, 0x99]);
    assert_eq!(
        o.outputs[2].data[..6],
        B,
        "a bucket's rewrite does not leak"
    );

    let looped = pipeline(
        &["table=0,priority=1,actions=group:1"],
        &["group_id=1,type=all,bucket=actions=output:2,bucket=actions=group:1"],
    );
    let o = run(&looped, &frame());
    assert!(
        matches!(o.dropped, Some(DropCause::GroupChainTooDeep { id: 1 })),
        "{:?}",
        o.dropped
    );
    assert_eq!(
        o.outputs.len(),
        usize::from(super::reference::MAX_GROUP_DEPTH)
    );

    let missing = pipeline(&["table=0,priority=1,actions=group:9,output:2"], &[]);
    let o = run(&missing, &frame());
    assert_eq!(ports(&o), [2]);
    assert_eq!(o.dropped, Some(DropCause::UnknownGroup { id: 9 }));
}

struct FixedMeter(MeterVerdict, Vec<(u32, usize)>);

impl MeterHook for FixedMeter {
    fn meter(&mut self, id: u32, len: usize) -> MeterVerdict {
        self.1.push((id, len));
        self.0
    }
}

#[test]
fn meters_drop_and_remark() {
    let p = pipeline(&["table=0,priority=1,actions=meter:3,output:2"], &[]);
    let f = frame();
    let mut m = FixedMeter(MeterVerdict::Drop, Vec::new());
    let o = p.process(&f, 1, &mut Env::new(&mut m));
    assert_eq!(o.dropped, Some(DropCause::Meter { id: 3 }));
    assert!(o.outputs.is_empty());
    assert_eq!(m.1, [(3, f.len())]);

    let mut m = FixedMeter(MeterVerdict::RemarkDscp { prec_level: 1 }, Vec::new());
    let o = p.process(&f, 1, &mut Env::new(&mut m));
    let k = key_of(&o.outputs[0].data);
    assert_eq!(k.ip_dscp, 20, "AF21 -> AF22");
    let ip = &o.outputs[0].data[14..34];
    assert_eq!(crate::wire::checksum::sum(ip), 0xffff);
}

#[test]
fn ttl_expiry_stops_the_packet() {
    let p = pipeline(
        &["table=0,priority=1,ip,actions=dec_ttl,output:2,write_actions(output:3)"],
        &[],
    );
    let f = PacketBuilder::new()
        .eth(B, A)
        .ipv4_with(Ipv4 {
            src: 1,
            dst: 2,
            ttl: 1,
            ..Ipv4::default()
        })
        .udp(1, 2)
        .build()
        .unwrap();
    let o = run(&p, &f);
    assert!(o.outputs.is_empty(), "{o}");
    assert_eq!(o.dropped, Some(DropCause::TtlExpired));
}

#[test]
fn malformed_frames_are_dropped() {
    let p = pipeline(&["table=0,priority=0,actions=output:2"], &[]);
    let mut f = frame();
    f[14] = 0x44; // IHL 4
    let o = run(&p, &f);
    assert!(matches!(o.dropped, Some(DropCause::Malformed(_))));
    assert!(o.outputs.is_empty());
}

#[test]
fn trace_reads_like_ofproto_trace() {
    let flows = "table=0,priority=10,in_port=1,actions=push_vlan:0x8100,set_field:4196->vlan_vid,goto_table:1\n\
                 table=1,priority=10,actions=write_actions(output:2)\n";
    let mut p = ReferencePipeline::new(vec![1, 2], 0);
    for e in crate::openflow::parse_flows_file(flows, &NoPortNames).unwrap() {
        p.add_flow(e);
    }
    let text = run(&p, &frame()).to_string();
    for want in [
        "Flow: in_port=1,",
        " 0. line 1: priority 10",
        "push_vlan:0x8100 -> done",
        "goto_table:1",
        " 1. line 2: priority 10",
        "Action set: output:2",
        "output:2 -> out port 2",
        "Final flow: in_port=1,",
        "vlan_vid=0x1064",
        "Result: output:2 (",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}
