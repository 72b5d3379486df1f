//! Table-driven tests of the model, parser and printer.

use std::collections::HashMap;

use super::*;
use crate::rng::XorShift64;

fn names() -> HashMap<String, u32> {
    [("uplink", 7), ("vf1", 11), ("wän0", 12)]
        .into_iter()
        .map(|(n, p)| (n.to_string(), p))
        .collect()
}

fn flow(text: &str) -> FlowEntry {
    parse_flow(text, &names()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> ParseError {
    match parse_flow(text, &names()) {
        Ok(e) => panic!("{text}: parsed as {e}"),
        Err(e) => e,
    }
}

/// Parse, then check the printed forms parse back to the same entry.
fn round_trip(e: &FlowEntry) {
    for text in [e.to_string(), format!("{e:#}")] {
        let back = parse_flow(&text, &names()).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(&back, e, "{text}");
    }
}

/// A matched field as (field, value, mask or `None` for exact).
type Want = (Field, u128, Option<u128>);

fn fields(text: &str) -> Vec<Want> {
    let e = flow(&format!("{text},actions=drop"));
    round_trip(&e);
    e.r#match
        .fields()
        .iter()
        .map(|f| (f.field, f.value, f.partial_mask()))
        .collect()
}

const IPV4: Want = (Field::EthType, 0x0800, None);
const IPV6: Want = (Field::EthType, 0x86dd, None);

#[test]
fn match_fields_and_value_forms() {
    use Field::*;
    let proto = |p: u128| (IpProto, p, None);
    let cases: Vec<(&str, Vec<Want>)> = vec![
        ("in_port=1", vec![(InPort, 1, None)]),
        ("in_port=LOCAL", vec![(InPort, port::LOCAL.into(), None)]),
        (
            "in_port=controller",
            vec![(InPort, port::CONTROLLER.into(), None)],
        ),
        ("in_port=uplink", vec![(InPort, 7, None)]),
        ("in_port:0xffffff00", vec![(InPort, 0xffff_ff00, None)]),
        ("metadata=0xff/0xf0", vec![(Metadata, 0xf0, Some(0xf0))]),
        (
            "metadata=18446744073709551615",
            vec![(Metadata, u64::MAX.into(), None)],
        ),
        ("metadata=0x1/0xffffffffffffffff", vec![(Metadata, 1, None)]),
        (
            "dl_src=00:11:22:33:44:55",
            vec![(EthSrc, 0x0011_2233_4455, None)],
        ),
        (
            "eth_dst=01:00:00:00:00:00/01:00:00:00:00:00",
            vec![(EthDst, 1 << 40, Some(1 << 40))],
        ),
        (
            "eth_dst=0A:0b:c:d:e:F",
            vec![(EthDst, 0x0a0b_0c0d_0e0f, None)],
        ),
        ("dl_type=0x0806", vec![(EthType, 0x806, None)]),
        ("eth_type=2048", vec![IPV4]),
        ("vlan_vid=0x1064", vec![(VlanVid, 0x1064, None)]),
        ("dl_vlan=100", vec![(VlanVid, 0x1064, None)]),
        ("dl_vlan=0xffff", vec![(VlanVid, 0, None)]),
        ("vlan_vid=0", vec![(VlanVid, 0, None)]),
        (
            "vlan_vid=0x1000/0x1000",
            vec![(VlanVid, 0x1000, Some(0x1000))],
        ),
        ("vlan_tci=0x1064/0x1fff", vec![(VlanVid, 0x1064, None)]),
        ("vlan_tci=0", vec![(VlanVid, 0, None)]),
        (
            "vlan_tci=0x7064",
            vec![(VlanVid, 0x1064, None), (VlanPcp, 3, None)],
        ),
        (
            "vlan_tci=0x6000/0xe000",
            vec![(VlanVid, 0x1000, Some(0x1000)), (VlanPcp, 3, None)],
        ),
        (
            "dl_vlan_pcp=5",
            vec![(VlanVid, 0x1000, Some(0x1000)), (VlanPcp, 5, None)],
        ),
        (
            "dl_vlan=7,dl_vlan_pcp=5",
            vec![(VlanVid, 0x1007, None), (VlanPcp, 5, None)],
        ),
        (
            "vlan_vid=0x0060/0x00f0,dl_vlan_pcp=1",
            vec![(VlanVid, 0x1060, Some(0x10f0)), (VlanPcp, 1, None)],
        ),
        (
            "vlan_vid=0x1000/0x1000,vlan_pcp=7",
            vec![(VlanVid, 0x1000, Some(0x1000)), (VlanPcp, 7, None)],
        ),
        ("ip,nw_tos=32", vec![IPV4, (IpDscp, 8, None)]),
        ("ipv6,ip_dscp=63", vec![IPV6, (IpDscp, 63, None)]),
        ("ip,nw_ecn=3", vec![IPV4, (IpEcn, 3, None)]),
        ("ip,ip_ecn=1", vec![IPV4, (IpEcn, 1, None)]),
        ("ip,nw_proto=6", vec![IPV4, proto(6)]),
        ("dl_type=0x0800,ip_proto=132", vec![IPV4, proto(132)]),
        (
            "ip,nw_src=10.0.0.0/8",
            vec![IPV4, (Ipv4Src, 0x0a00_0000, Some(0xff00_0000))],
        ),
        (
            "ip,nw_src=10.1.2.3/8",
            vec![IPV4, (Ipv4Src, 0x0a00_0000, Some(0xff00_0000))],
        ),
        (
            "ip,ip_dst=10.0.0.1/255.0.255.0",
            vec![IPV4, (Ipv4Dst, 0x0a00_0000, Some(0xff00_ff00))],
        ),
        (
            "ip,ipv4_src=10.0.0.1/32",
            vec![IPV4, (Ipv4Src, 0x0a00_0001, None)],
        ),
        ("ip,nw_src=0.0.0.0/0", vec![IPV4]),
        ("tcp,tp_dst=80", vec![IPV4, proto(6), (TcpDst, 80, None)]),
        (
            "udp,tp_src=0x0400/0xfc00",
            vec![IPV4, proto(17), (UdpSrc, 0x400, Some(0xfc00))],
        ),
        ("sctp6,tp_dst=9", vec![IPV6, proto(132), (SctpDst, 9, None)]),
        ("tp_src=1,tcp6", vec![IPV6, proto(6), (TcpSrc, 1, None)]),
        (
            "tcp,tcp_src=0x8000/0x8000",
            vec![IPV4, proto(6), (TcpSrc, 0x8000, Some(0x8000))],
        ),
        (
            "udp6,udp_dst=65535",
            vec![IPV6, proto(17), (UdpDst, 65535, None)],
        ),
        (
            "sctp,sctp_src=1",
            vec![IPV4, proto(132), (SctpSrc, 1, None)],
        ),
        (
            "icmp,icmp_type=8",
            vec![IPV4, proto(1), (Icmpv4Type, 8, None)],
        ),
        (
            "icmp,icmpv4_code=3",
            vec![IPV4, proto(1), (Icmpv4Code, 3, None)],
        ),
        (
            "arp,arp_op=2",
            vec![(EthType, 0x806, None), (ArpOp, 2, None)],
        ),
        (
            "arp,arp_spa=10.0.0.0/24",
            vec![
                (EthType, 0x806, None),
                (ArpSpa, 0x0a00_0000, Some(0xffff_ff00)),
            ],
        ),
        (
            "arp,arp_tpa=1.2.3.4",
            vec![(EthType, 0x806, None), (ArpTpa, 0x0102_0304, None)],
        ),
        (
            "arp,arp_sha=00:00:00:00:00:01",
            vec![(EthType, 0x806, None), (ArpSha, 1, None)],
        ),
        (
            "arp,arp_tha=ff:ff:ff:ff:ff:ff/ff:ff:ff:ff:ff:00",
            vec![
                (EthType, 0x806, None),
                (ArpTha, 0xffff_ffff_ff00, Some(0xffff_ffff_ff00)),
            ],
        ),
        (
            "ipv6,ipv6_src=2001:db8::/32",
            vec![
                IPV6,
                (Ipv6Src, 0x2001_0db8u128 << 96, Some(u128::MAX << 96)),
            ],
        ),
        ("ipv6,ipv6_dst=::1", vec![IPV6, (Ipv6Dst, 1, None)]),
        (
            "ipv6,ipv6_dst=::1/::ffff",
            vec![IPV6, (Ipv6Dst, 1, Some(0xffff))],
        ),
        (
            "ipv6,ipv6_dst=::ffff:1.2.3.4",
            vec![IPV6, (Ipv6Dst, 0xffff_0102_0304, None)],
        ),
        (
            "ipv6,ipv6_label=0x12345",
            vec![IPV6, (Ipv6Flabel, 0x12345, None)],
        ),
        (
            "ipv6,ipv6_flabel=0x1/0xf",
            vec![IPV6, (Ipv6Flabel, 1, Some(0xf))],
        ),
        (
            "icmp6,icmpv6_type=135,icmpv6_code=0",
            vec![
                IPV6,
                proto(58),
                (Icmpv6Type, 135, None),
                (Icmpv6Code, 0, None),
            ],
        ),
        (
            "icmp6,icmpv6_type=136,nd_target=fe80::1",
            vec![
                IPV6,
                proto(58),
                (Icmpv6Type, 136, None),
                (Ipv6NdTarget, (0xfe80u128 << 112) | 1, None),
            ],
        ),
        (
            "icmp6,icmpv6_type=135,ipv6_nd_sll=00:00:00:00:00:01",
            vec![
                IPV6,
                proto(58),
                (Icmpv6Type, 135, None),
                (Ipv6NdSll, 1, None),
            ],
        ),
        (
            "icmp6,icmpv6_type=136,nd_tll=00:00:00:00:00:02",
            vec![
                IPV6,
                proto(58),
                (Icmpv6Type, 136, None),
                (Ipv6NdTll, 2, None),
            ],
        ),
        (
            "mpls,mpls_label=1048575",
            vec![(EthType, 0x8847, None), (MplsLabel, 0xfffff, None)],
        ),
        (
            "mplsm,mpls_tc=7",
            vec![(EthType, 0x8848, None), (MplsTc, 7, None)],
        ),
        (
            "mpls,mpls_bos=1",
            vec![(EthType, 0x8847, None), (MplsBos, 1, None)],
        ),
        (
            "dl_type=0x88e7,pbb_isid=0xffffff/0xff",
            vec![(EthType, 0x88e7, None), (PbbIsid, 0xff, Some(0xff))],
        ),
        (
            "tun_id=0x1234/0xffff",
            vec![(TunnelId, 0x1234, Some(0xffff))],
        ),
        ("tunnel_id=5", vec![(TunnelId, 5, None)]),
        (
            "ipv6,ipv6_exthdr=0x44",
            vec![IPV6, (Ipv6Exthdr, 0x44, None)],
        ),
        (
            "ipv6,ipv6_exthdr=0x40/0x1f0",
            vec![IPV6, (Ipv6Exthdr, 0x40, Some(0x1f0))],
        ),
        (
            "ipv6,ipv6_exthdr=+hop-frag",
            vec![IPV6, (Ipv6Exthdr, 0x40, Some(0x50))],
        ),
        (
            "ipv6,ipv6_exthdr=-nonext+esp+auth-dest+frag-router+hop+unrep-unseq",
            vec![IPV6, (Ipv6Exthdr, 0xd6, None)],
        ),
        // Order of the text does not matter; the match is sorted.
        (
            "nw_dst=1.1.1.1,tcp_dst=1,ip_proto=6,in_port=3,eth_type=0x0800",
            vec![
                (InPort, 3, None),
                IPV4,
                proto(6),
                (Ipv4Dst, 0x0101_0101, None),
                (TcpDst, 1, None),
            ],
        ),
        // A shorthand and an explicit field that agree are fine.
        ("tcp,ip_proto=6,eth_type=0x0800,ip", vec![IPV4, proto(6)]),
        ("", vec![]),
    ];
    for (text, want) in cases {
        assert_eq!(fields(text), want, "{text}");
    }
}

#[test]
fn every_field_has_consistent_facts() {
    for f in ALL_FIELDS {
        assert_eq!(Field::from_oxm_id(f.oxm_id()), Some(f));
        assert_eq!(Field::from_name(f.name()), Some(f), "{f}");
        assert_eq!(Field::from_name(f.oxm_name()), Some(f), "{f}");
        assert_eq!(
            Field::from_register_name(&format!("OXM_OF_{}", f.oxm_name().to_uppercase())),
            Some(f)
        );
        assert!(f.bits() > 0 && f.bits() <= 128);
        assert_eq!(f.full_mask().count_ones(), f.bits());
    }
    // A few spec facts (OF1.3.5 table 12).
    assert!(!Field::InPort.maskable() && !Field::EthType.maskable() && !Field::IpProto.maskable());
    assert!(Field::VlanVid.maskable() && Field::Ipv6Flabel.maskable() && Field::PbbIsid.maskable());
    assert!(
        Field::TcpDst.maskable(),
        "ovs extension used by the ACL benchmark"
    );
    assert!(
        !Field::InPort.writable() && !Field::Metadata.writable() && !Field::Ipv6Exthdr.writable()
    );
    assert!(Field::EthType.writable() && Field::MplsBos.writable() && Field::TunnelId.writable());
    assert_eq!(Field::VlanVid.bits(), 13);
    assert_eq!(Field::Ipv6Exthdr.bits(), 9);
    assert_eq!(Field::from_oxm_id(1), None);
    assert_eq!(Field::from_oxm_id(40), None);
}

#[test]
fn flow_keywords() {
    let e = flow("actions=drop");
    assert_eq!(
        (e.table, e.priority, e.cookie, e.cookie_mask),
        (0, 32768, 0, u64::MAX)
    );
    assert!(e.r#match.is_empty() && e.instructions.is_empty());
    let e = flow(
        "table=3 priority=7 cookie=0xabc idle_timeout=10 hard_timeout=0x20 send_flow_rem check_overlap \
         reset_counts no_packet_counts no_byte_counts in_port=1 actions=output:2",
    );
    assert_eq!(
        (
            e.table,
            e.priority,
            e.cookie,
            e.idle_timeout,
            e.hard_timeout
        ),
        (3, 7, 0xabc, 10, 32)
    );
    assert_eq!(e.flags, FlowFlags(0x1f));
    round_trip(&e);
    let e = flow("cookie=0x12/0xf0,actions=drop");
    assert_eq!((e.cookie, e.cookie_mask), (0x10, 0xf0));
    round_trip(&e);
    // What dump-flows prints besides the flow is ignored.
    let e = flow(" cookie=0x0, duration=12.5s, table=1, n_packets=3, n_bytes=180, idle_age=2, priority=9, ip actions=drop");
    assert_eq!((e.table, e.priority), (1, 9));
    assert_eq!(e.r#match.exact(Field::EthType), Some(0x800));
    // Source location of the first token.
    assert_eq!(
        flow("  table=1,actions=drop").source,
        SourceLoc { line: 1, col: 3 }
    );
}

#[test]
fn actions() {
    use Action::*;
    let sf = Action::set_field;
    let cases: Vec<(&str, &str, Vec<Action>)> = vec![
        ("", "output:2", vec![Output(OutPort::Port(2))]),
        ("", "2", vec![Output(OutPort::Port(2))]),
        ("", "uplink", vec![Output(OutPort::Port(7))]),
        ("", "output:vf1", vec![Output(OutPort::Port(11))]),
        (
            "",
            "CONTROLLER:65535",
            vec![Output(OutPort::Controller { max_len: 65535 })],
        ),
        (
            "",
            "controller",
            vec![Output(OutPort::Controller { max_len: 65535 })],
        ),
        (
            "",
            "controller:128",
            vec![Output(OutPort::Controller { max_len: 128 })],
        ),
        (
            "",
            "controller(max_len=64)",
            vec![Output(OutPort::Controller { max_len: 64 })],
        ),
        (
            "",
            "output:controller",
            vec![Output(OutPort::Controller { max_len: 65535 })],
        ),
        (
            "",
            "in_port,IN_PORT,output:in_port",
            vec![Output(OutPort::InPort); 3],
        ),
        (
            "",
            "all,flood,local,normal,LOCAL",
            vec![
                Output(OutPort::All),
                Output(OutPort::Flood),
                Output(OutPort::Local),
                Output(OutPort::Normal),
                Output(OutPort::Local),
            ],
        ),
        ("", "group:5", vec![Group(5)]),
        (
            "",
            "push_vlan:0x8100,push_vlan:0x88a8",
            vec![PushVlan(0x8100), PushVlan(0x88a8)],
        ),
        ("", "pop_vlan,strip_vlan", vec![PopVlan, PopVlan]),
        (
            "",
            "push_mpls:0x8847,push_mpls:0x8848",
            vec![PushMpls(0x8847), PushMpls(0x8848)],
        ),
        ("mpls", "pop_mpls:0x0800", vec![PopMpls(0x800)]),
        (
            "mpls",
            "set_mpls_ttl:10,dec_mpls_ttl,copy_ttl_in,copy_ttl_out",
            vec![SetMplsTtl(10), DecMplsTtl, CopyTtlIn, CopyTtlOut],
        ),
        (
            "mpls",
            "set_mpls_label:5,set_mpls_tc:2",
            vec![sf(Field::MplsLabel, 5), sf(Field::MplsTc, 2)],
        ),
        (
            "ip",
            "mod_nw_ttl:9,set_nw_ttl:8,dec_ttl",
            vec![SetNwTtl(9), SetNwTtl(8), DecNwTtl],
        ),
        ("ipv6", "dec_ttl", vec![DecNwTtl]),
        (
            "ip",
            "mod_nw_src:1.2.3.4,mod_nw_dst:5.6.7.8",
            vec![
                sf(Field::Ipv4Src, 0x0102_0304),
                sf(Field::Ipv4Dst, 0x0506_0708),
            ],
        ),
        (
            "ip",
            "mod_nw_tos:32,mod_nw_ecn:1",
            vec![sf(Field::IpDscp, 8), sf(Field::IpEcn, 1)],
        ),
        ("", "push_pbb:0x88e7", vec![PushPbb(0x88e7)]),
        ("dl_type=0x88e7", "pop_pbb", vec![PopPbb]),
        ("", "set_queue:3", vec![SetQueue(3)]),
        (
            "",
            "mod_dl_src:00:00:00:00:00:01,mod_dl_dst:00:00:00:00:00:02",
            vec![sf(Field::EthSrc, 1), sf(Field::EthDst, 2)],
        ),
        ("tcp", "mod_tp_src:80", vec![sf(Field::TcpSrc, 80)]),
        ("udp6", "mod_tp_dst:53", vec![sf(Field::UdpDst, 53)]),
        ("sctp", "mod_tp_dst:1", vec![sf(Field::SctpDst, 1)]),
        (
            "vlan_vid=0x1000/0x1000",
            "mod_vlan_vid:10,mod_vlan_pcp:3",
            vec![sf(Field::VlanVid, 0x100a), sf(Field::VlanPcp, 3)],
        ),
        (
            "vlan_vid=0",
            "mod_vlan_vid:10",
            vec![PushVlan(0x8100), sf(Field::VlanVid, 0x100a)],
        ),
        (
            "dl_vlan=0xffff",
            "mod_vlan_pcp:2",
            vec![PushVlan(0x8100), sf(Field::VlanPcp, 2)],
        ),
        (
            "",
            "set_tunnel:0x5,set_tunnel64:0x500000000",
            vec![sf(Field::TunnelId, 5), sf(Field::TunnelId, 0x5_0000_0000)],
        ),
        (
            "dl_vlan=1",
            "set_field:0x64->vlan_vid",
            vec![sf(Field::VlanVid, 0x1064)],
        ),
        (
            "",
            "push_vlan:0x8100,set_field:0x1064->vlan_vid",
            vec![PushVlan(0x8100), sf(Field::VlanVid, 0x1064)],
        ),
        (
            "ip",
            "set_field:0x1/0x3->ip_ecn",
            vec![SetField {
                field: Field::IpEcn,
                value: 1,
                mask: 3,
            }],
        ),
        (
            "ip",
            "set_field:10.0.0.0/8->nw_dst",
            vec![SetField {
                field: Field::Ipv4Dst,
                value: 0x0a00_0000,
                mask: 0xff00_0000,
            }],
        ),
        (
            "ip",
            "load:0x5->OXM_OF_IPV4_SRC[0..7]",
            vec![SetField {
                field: Field::Ipv4Src,
                value: 5,
                mask: 0xff,
            }],
        ),
        ("", "load:1->NXM_NX_TUN_ID[]", vec![sf(Field::TunnelId, 1)]),
        (
            "",
            "load:0x0a0b0c0d0e0f->eth_dst",
            vec![sf(Field::EthDst, 0x0a0b_0c0d_0e0f)],
        ),
        (
            "ip",
            "load:3->ip_dscp[4..5],load:1->ip_dscp[0]",
            vec![
                SetField {
                    field: Field::IpDscp,
                    value: 0x30,
                    mask: 0x30,
                },
                SetField {
                    field: Field::IpDscp,
                    value: 1,
                    mask: 1,
                },
            ],
        ),
        // Prerequisites follow the actions.
        (
            "ip",
            "push_mpls:0x8847,set_mpls_ttl:5",
            vec![PushMpls(0x8847), SetMplsTtl(5)],
        ),
        (
            "mpls",
            "pop_mpls:0x0800,mod_nw_dst:1.1.1.1",
            vec![PopMpls(0x800), sf(Field::Ipv4Dst, 0x0101_0101)],
        ),
        (
            "tcp",
            "set_field:17->ip_proto,mod_tp_dst:53",
            vec![sf(Field::IpProto, 17), sf(Field::UdpDst, 53)],
        ),
        (
            "ip",
            "set_field:0x86dd->eth_type,set_field:::1->ipv6_dst",
            vec![sf(Field::EthType, 0x86dd), sf(Field::Ipv6Dst, 1)],
        ),
        (
            "icmp6,icmpv6_type=128",
            "set_field:135->icmpv6_type,set_field:::1->nd_target",
            vec![sf(Field::Icmpv6Type, 135), sf(Field::Ipv6NdTarget, 1)],
        ),
        (
            "",
            "Output:3,CONTROLLER",
            vec![
                Output(OutPort::Port(3)),
                Output(OutPort::Controller { max_len: 65535 }),
            ],
        ),
    ];
    for (m, a, want) in cases {
        let text = if m.is_empty() {
            format!("actions={a}")
        } else {
            format!("{m},actions={a}")
        };
        let e = flow(&text);
        assert_eq!(e.instructions.apply_actions(), &want[..], "{text}");
        round_trip(&e);
    }
}

#[test]
fn write_actions_are_an_action_set() {
    use Action::*;
    let e = flow("actions=write_actions(output:1,output:2)");
    assert_eq!(
        e.instructions.write_actions(),
        Some(&[Output(OutPort::Port(2))][..])
    );
    let e = flow("ip,actions=write_actions(output:1,set_field:1.2.3.4->nw_src,dec_ttl,push_vlan:0x8100,group:3,set_queue:1)");
    assert_eq!(
        e.instructions.write_actions(),
        Some(
            &[
                PushVlan(0x8100),
                DecNwTtl,
                Action::set_field(Field::Ipv4Src, 0x0102_0304),
                SetQueue(1),
                Group(3),
                Output(OutPort::Port(1))
            ][..]
        )
    );
    assert_eq!(
        e.to_string(),
        "cookie=0x0, table=0, priority=32768, eth_type=0x0800 actions=write_actions(push_vlan:0x8100,dec_ttl,\
         set_field:1.2.3.4->nw_src,set_queue:1,group:3,output:1)"
    );
    round_trip(&e);
    // Two masked writes of one field merge; here into a full write.
    let e = flow("ip,actions=write_actions(set_field:0x1/0x1->ip_ecn,set_field:0x2/0x2->ip_ecn)");
    assert_eq!(
        e.instructions.write_actions(),
        Some(&[Action::set_field(Field::IpEcn, 3)][..])
    );
    // Distinct set-fields stay, in OXM order; later replaces earlier.
    let e = flow("ip,actions=write_actions(set_field:2.2.2.2->nw_dst,set_field:1.1.1.1->nw_src,set_field:3.3.3.3->nw_dst)");
    assert_eq!(
        e.instructions.write_actions(),
        Some(
            &[
                Action::set_field(Field::Ipv4Src, 0x0101_0101),
                Action::set_field(Field::Ipv4Dst, 0x0303_0303)
            ][..]
        )
    );
    // Prerequisites follow the set's execution order, not the text's.
    let e = flow("mpls,actions=write_actions(set_field:1.1.1.1->nw_dst,pop_mpls:0x0800)");
    assert_eq!(
        e.instructions.write_actions(),
        Some(
            &[
                PopMpls(0x800),
                Action::set_field(Field::Ipv4Dst, 0x0101_0101)
            ][..]
        )
    );
    round_trip(&e);
    assert_eq!(
        flow("actions=write_actions()").instructions.write_actions(),
        Some(&[][..])
    );
    assert_eq!(
        flow("actions=write_actions(drop)")
            .instructions
            .write_actions(),
        Some(&[][..])
    );
}

#[test]
fn instructions() {
    let text = "table=2,priority=1,actions=meter:1,output:1,clear_actions,write_actions(group:1),write_metadata:0x1/0xff,goto_table:5";
    let e = flow(text);
    let i = &e.instructions;
    assert_eq!(i.meter(), Some(1));
    assert_eq!(i.apply_actions(), &[Action::Output(OutPort::Port(1))]);
    assert!(i.clear_actions());
    assert_eq!(i.write_actions(), Some(&[Action::Group(1)][..]));
    assert_eq!(i.write_metadata(), Some((1, 0xff)));
    assert_eq!(i.goto_table(), Some(5));
    assert_eq!(i.len(), 6);
    assert_eq!(format!("{e:#}"), text);
    round_trip(&e);
    let kinds: Vec<InstructionKind> = i.iter().map(Instruction::kind).collect();
    assert!(kinds.windows(2).all(|w| w[0] < w[1]));

    assert_eq!(
        flow("actions=write_metadata:5")
            .instructions
            .write_metadata(),
        Some((5, u64::MAX))
    );
    assert_eq!(
        flow("actions=write_metadata:0xff/0xf")
            .instructions
            .write_metadata(),
        Some((0xf, 0xf))
    );
    assert_eq!(
        flow("actions=goto_table:254").instructions.goto_table(),
        Some(254)
    );
    assert_eq!(
        flow("actions=meter:4294967294").instructions.meter(),
        Some(OFPM_CONTROLLER)
    );
    assert!(flow("actions=drop").instructions.is_empty());
    assert!(flow("actions=").instructions.is_empty());
    assert_eq!(
        flow("actions=drop").to_string(),
        "cookie=0x0, table=0, priority=32768 actions=drop"
    );

    // The model enforces one instruction of each type.
    let mut set = InstructionSet::new();
    set.insert(Instruction::GotoTable(3)).unwrap();
    set.insert(Instruction::Meter(1)).unwrap();
    assert_eq!(
        set.insert(Instruction::GotoTable(4)),
        Err(DuplicateInstruction(InstructionKind::GotoTable))
    );
    assert_eq!(set.iter().next(), Some(&Instruction::Meter(1)));
    set.insert(Instruction::ApplyActions(vec![])).unwrap();
    assert_eq!(set.len(), 2);
}

#[test]
fn errors_say_where_and_what() {
    let cases: &[(&str, u32, &str)] = &[
        ("nw_srcc=1.2.3.4,actions=drop", 1, "unknown field \"nw_srcc\"; expected a match field such as nw_src"),
        ("frobnicate=1,actions=drop", 1, "unknown field \"frobnicate\"; expected a match field (in_port"),
        ("ip,nw_src=10.0.0.300,actions=drop", 11, "expected an IPv4 address or prefix, found \"10.0.0.300\""),
        ("ip,nw_src=10.0.0.1/33,actions=drop", 20, "prefix length /33 is longer than 32 bits"),
        ("ipv6,ipv6_src=1::2::3,actions=drop", 15, "expected an IPv6 address or prefix, found \"1::2::3\""),
        ("dl_src=00:11:22:33:44,actions=drop", 8, "expected an Ethernet address"),
        ("nw_src=10.0.0.1,actions=drop", 1, "nw_src requires eth_type=0x0800 (or ip/tcp/udp/sctp/icmp)"),
        ("ip_src=10.0.0.1,actions=drop", 1, "ip_src requires eth_type=0x0800"),
        ("tcp,tcp_dst=70000,actions=drop", 13, "value 70000 does not fit in tcp_dst (16 bits, at most 65535)"),
        ("ip,ip_proto=6/0xff,actions=drop", 14, "ip_proto does not take a mask"),
        ("in_port=1/1,actions=drop", 9, "in_port does not take a mask"),
        ("in_port=1,in_port=2,actions=drop", 11, "in_port is matched twice"),
        ("dl_type=0x0800,eth_type=0x0800,actions=drop", 16, "eth_type is matched twice (already set by \"dl_type\")"),
        ("ip,ipv6,actions=drop", 4, "ipv6 is matched twice (already set by \"ip\")"),
        ("tcp,udp,actions=drop", 5, "udp is matched twice (already set by \"tcp\")"),
        ("tp_dst=80,actions=drop", 1, "tp_dst requires ip_proto=6, 17 or 132"),
        ("icmp6,nd_target=::1,actions=drop", 7, "nd_target requires icmp6 and icmpv6_type=135 or 136"),
        ("icmp6,icmpv6_type=136,nd_sll=00:00:00:00:00:01,actions=drop", 23, "nd_sll requires icmp6 and icmpv6_type=135"),
        ("vlan_pcp=3,actions=drop", 1, "vlan_pcp requires a VLAN tag"),
        ("vlan_vid=0,vlan_pcp=3,actions=drop", 12, "vlan_pcp requires a VLAN tag"),
        ("vlan_vid=0,dl_vlan_pcp=3,actions=drop", 12, "dl_vlan_pcp matches tagged packets only"),
        ("ipv6,icmp_type=1,actions=drop", 6, "icmp_type requires ip_proto=1 and eth_type=0x0800 (icmp)"),
        ("ip,tcp_src=1,actions=drop", 4, "tcp_src requires ip_proto=6 and eth_type=0x0800 or 0x86dd (tcp or tcp6)"),
        ("arp,nw_src=1.2.3.4,actions=drop", 5, "; for ARP use arp_spa / arp_tpa"),
        ("mpls_label=1,actions=drop", 1, "mpls_label requires eth_type=0x8847 or 0x8848 (or mpls/mplsm)"),
        ("pbb_isid=1,actions=drop", 1, "pbb_isid requires eth_type=0x88e7"),
        ("ipv6_exthdr=+hop,actions=drop", 1, "ipv6_exthdr requires eth_type=0x86dd"),
        ("ipv6,ipv6_exthdr=+hop+bogus,actions=drop", 18, "unknown ipv6_exthdr flag \"bogus\""),
        ("ipv6,ipv6_exthdr=0x200,actions=drop", 18, "does not fit in ipv6_exthdr (9 bits"),
        ("ip,ip_dscp=64,actions=drop", 12, "does not fit in ip_dscp (6 bits, at most 63)"),
        ("tcp,tp_dst=99999,actions=drop", 12, "value 99999 does not fit in tp_dst (16 bits"),
        ("dl_type=0x10000,actions=drop", 9, "value 0x10000 does not fit in dl_type (16 bits"),
        ("mpls,actions=set_mpls_tc:8", 26, "value 8 does not fit in set_mpls_tc (3 bits"),
        ("vlan_vid=0x2000,actions=drop", 10, "does not fit in vlan_vid (13 bits"),
        ("dl_vlan=4096,actions=drop", 9, "dl_vlan must be a VLAN id 0-4095 or 0xffff"),
        ("vlan_tci=0x1000/0x3000,actions=drop", 10, "mask must cover all three PCP bits"),
        ("vlan_tci=0x2000,actions=drop", 10, "an untagged packet (CFI bit 0x1000 clear) has no PCP"),
        ("ip,actions=write_actions(set_field:1->ip_dscp,set_field:0x8847->eth_type)", 26, "setting ip_dscp requires eth_type=0x0800 or 0x86dd (or ip/ipv6), from the match, the apply actions or an action that runs before it in the action set"),
        ("ip,actions=push_mpls:0x8847,write_actions(dec_ttl)", 43, "\"dec_ttl\" requires eth_type=0x0800 or 0x86dd"),
        ("ip,nw_tos=33,actions=drop", 11, "low 2 (ECN) bits must be 0"),
        ("ip,actions", 4, "expected actions=ACTION"),
        ("in_port=1", 10, "missing \"actions=\""),
        ("in_port=,actions=drop", 1, "\"in_port\" needs a value"),
        ("ip=1,actions=drop", 1, "\"ip\" takes no value"),
        ("in_port=0,actions=drop", 9, "port 0 is not a valid OpenFlow port"),
        ("in_port=ANY,actions=drop", 9, "in_port cannot be ANY"),
        ("in_port=nosuch,actions=drop", 9, "unknown port \"nosuch\""),
        ("table=255,actions=drop", 7, "table must be 0-254"),
        ("table=1,table=2,actions=drop", 9, "table is given twice"),
        ("priority=65536,actions=drop", 10, "priority: value 65536 is out of range"),
        ("in_port=1,actions=outptu:2", 19, "unknown action \"outptu\"; expected an action such as output"),
        ("actions=frobnicate", 9, "unknown action \"frobnicate\"; expected an action (output:PORT"),
        ("actions=output:0", 16, "port 0 is not a valid OpenFlow port"),
        ("actions=0", 9, "port 0 is not a valid OpenFlow port"),
        ("actions=output:vf9", 16, "unknown port \"vf9\""),
        ("actions=output:TABLE", 16, "only valid in packet-out"),
        ("actions=output:ANY", 16, "ANY is not a valid output port"),
        ("actions=output:4294967040,output:4294967041", 34, "is reserved; not a valid output port"),
        ("actions=output(port=1)", 9, "output(...) is not supported"),
        ("actions=goto_table:1,output:2", 22, "\"output\" must come before \"goto_table\""),
        ("actions=clear_actions,meter:1", 23, "\"meter\" must come before \"clear_actions\""),
        ("table=3,actions=goto_table:2", 28, "goto_table:2 must go to a later table than this flow's table 3"),
        ("actions=goto_table:0", 20, "must go to a later table"),
        ("actions=meter:1,meter:2", 17, "duplicate meter instruction"),
        ("actions=meter:0", 15, "meter id must be 1-4294901760"),
        ("actions=drop,output:1", 9, "\"drop\" must not be combined"),
        ("actions=output:1,drop", 18, "\"drop\" must not be combined"),
        ("actions=apply_actions(output:1)", 9, "apply_actions is implied"),
        ("actions=write_actions:1", 9, "expected write_actions(ACTION"),
        ("actions=write_actions(goto_table:1)", 23, "goto_table is an instruction and cannot appear in an action list"),
        ("actions=write_actions(output:1", 22, "missing \")\""),
        ("actions=write_actions(output:1))", 32, "expected \",\" after \"write_actions(...)\", found \")\""),
        ("actions=clear_actions:1", 9, "\"clear_actions\" takes no value"),
        ("actions=set_field:1.2.3.4->nw_src", 9, "setting nw_src requires eth_type=0x0800 (or ip/tcp/udp/sctp/icmp), from the match or an earlier action"),
        ("ip,actions=set_field:1.2.3.4", 22, "expected set_field:VALUE->FIELD"),
        ("ip,actions=set_field:1->in_port", 25, "in_port is read-only"),
        ("actions=set_field:1->metadata", 22, "use write_metadata"),
        ("ipv6,actions=set_field:1->ipv6_exthdr", 27, "ipv6_exthdr is read-only"),
        ("actions=set_field:1->vlan_tci", 22, "cannot set vlan_tci"),
        ("actions=set_field:1->nw_srcc", 22, "unknown field \"nw_srcc\"; expected a field such as nw_src"),
        ("ip,actions=set_field:64->ip_dscp", 22, "does not fit in ip_dscp"),
        ("actions=set_field:5->vlan_vid", 9, "setting vlan_vid requires a VLAN tag"),
        ("vlan_vid=0x1000/0x1000,actions=pop_vlan,set_field:5->vlan_vid", 41, "setting vlan_vid requires a VLAN tag"),
        ("actions=push_vlan:0x1234", 19, "push_vlan ethertype must be 0x8100 or 0x88a8, found 0x1234"),
        ("actions=push_vlan", 9, "\"push_vlan\" needs a value"),
        ("actions=push_mpls:0x0800", 19, "push_mpls ethertype must be 0x8847 or 0x8848"),
        ("actions=push_pbb:0x8100", 18, "push_pbb ethertype must be 0x88e7"),
        ("actions=dec_ttl", 9, "\"dec_ttl\" requires eth_type=0x0800 or 0x86dd (or ip/ipv6)"),
        ("actions=dec_ttl(1,2)", 9, "dec_ttl takes no arguments"),
        ("actions=pop_mpls:0x0800", 9, "\"pop_mpls\" requires eth_type=0x8847 or 0x8848"),
        ("ip,actions=copy_ttl_out", 12, "\"copy_ttl_out\" requires eth_type=0x8847"),
        ("actions=pop_pbb", 9, "\"pop_pbb\" requires eth_type=0x88e7"),
        ("mpls,actions=pop_mpls:0x0800,set_mpls_ttl:1", 30, "\"set_mpls_ttl\" requires eth_type=0x8847"),
        ("ip,actions=mod_tp_dst:80", 12, "mod_tp_dst requires ip_proto=6, 17 or 132"),
        ("actions=mod_vlan_vid:10,output:1", 9, "mod_vlan_vid needs to know whether the packet is tagged"),
        ("dl_vlan=1,actions=mod_vlan_vid:4096", 32, "mod_vlan_vid must be a VLAN id 0-4095"),
        ("ip,actions=mod_nw_tos:3", 23, "low 2 (ECN) bits 0"),
        ("actions=group:4294967041", 15, "group id must be 0-4294967040"),
        ("actions=controller(foo=1)", 20, "unsupported controller option \"foo\""),
        ("ip,actions=load:0x100->ip_proto[0..7]", 17, "value 0x100 does not fit in 8 bits"),
        ("ip,actions=load:1->ip_proto[3..9]", 28, "bad bit range \"[3..9]\" for ip_proto (8 bits)"),
        ("ip,actions=load:1->ip_proto", 17, ""),
        ("cookie=0x1/0x1/0x1,actions=drop", 12, "cookie mask: expected a number"),
        ("in_port=1)", 10, "unbalanced \")\""),
    ];
    let mut wrong = Vec::new();
    for &(text, col, want) in cases {
        if want.is_empty() {
            flow(text);
            continue;
        }
        let e = err(text);
        if !e.message.contains(want) || (e.line, e.col) != (1, col) {
            wrong.push(format!("{text}: got {e}, want 1:{col}: {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn error_columns_count_characters() {
    // "in_port=wän0,ip_dscp=99": ä is two bytes but one column.
    let e = err("in_port=wän0,ip_dscp=99,actions=drop");
    assert_eq!((e.line, e.col), (1, 22), "{}", e.message);
    assert_eq!(
        flow("in_port=wän0,actions=drop")
            .r#match
            .exact(Field::InPort),
        Some(12)
    );
    let e = err("in_port=1,actions=output:2,é");
    assert_eq!((e.line, e.col), (1, 28), "{}", e.message);
    // A multi-line flow text counts lines.
    let e = parse_flow("in_port=1,\n  ip,nw_dst=1.2.3,actions=drop", &NoPortNames).unwrap_err();
    assert_eq!((e.line, e.col), (2, 13), "{}", e.message);
    assert_eq!(
        e.to_string(),
        "2:13: expected an IPv4 address or prefix, found \"1.2.3\""
    );
}

#[test]
fn flows_files() {
    let text = "# table 0\r\n\
                table=0,priority=10,in_port=1,actions=output:2 # to uplink\r\n\
                \r\n\
                   \t\n\
                table=0,priority=0,actions=drop\n";
    let flows = parse_flows_file(text, &NoPortNames).unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0].source, SourceLoc { line: 2, col: 1 });
    assert_eq!(flows[1].source, SourceLoc { line: 5, col: 1 });
    assert_eq!(
        flows[0].instructions.apply_actions(),
        &[Action::Output(OutPort::Port(2))]
    );

    let bad = "in_port=1,actions=output:2\n  nw_src=1.1.1.1,actions=drop\nok=1\nactions=drop\n";
    let errs = parse_flows_file(bad, &NoPortNames).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!((errs[0].line, errs[0].col), (2, 3));
    assert!(errs[0].message.contains("nw_src requires"));
    assert_eq!((errs[1].line, errs[1].col), (3, 1));
    assert!(parse_flows_file("", &NoPortNames).unwrap().is_empty());
    assert!(parse_flows_file("# nothing\n\n", &NoPortNames)
        .unwrap()
        .is_empty());
}

#[test]
fn display_forms() {
    let e = flow("priority=10,in_port=1,dl_type=0x0800,nw_dst=10.0.0.0/8,actions=output:2");
    assert_eq!(
        e.to_string(),
        "cookie=0x0, table=0, priority=10, in_port=1,eth_type=0x0800,nw_dst=10.0.0.0/8 actions=output:2"
    );
    assert_eq!(
        format!("{e:#}"),
        "table=0,priority=10,in_port=1,eth_type=0x0800,nw_dst=10.0.0.0/8,actions=output:2"
    );
    let stats = FlowStats {
        duration: std::time::Duration::from_millis(3_250),
        n_packets: 5,
        n_bytes: 300,
    };
    assert_eq!(
        e.dump(Some(stats)).to_string(),
        "cookie=0x0, duration=3.250s, table=0, n_packets=5, n_bytes=300, priority=10, \
         in_port=1,eth_type=0x0800,nw_dst=10.0.0.0/8 actions=output:2"
    );
    let e = flow("table=1,idle_timeout=5,hard_timeout=6,send_flow_rem,cookie=0x1f,actions=drop");
    assert_eq!(
        e.to_string(),
        "cookie=0x1f, table=1, idle_timeout=5, hard_timeout=6, send_flow_rem, priority=32768 actions=drop"
    );
    assert_eq!(format!("{e:#}"), "table=1,priority=32768,cookie=0x1f,idle_timeout=5,hard_timeout=6,send_flow_rem,actions=drop");
    let m = parse_match("udp,nw_dst=10.1.0.0/16,tp_dst=0x0400/0xfc00", &NoPortNames).unwrap();
    assert_eq!(
        m.to_string(),
        "eth_type=0x0800,ip_proto=17,nw_dst=10.1.0.0/16,udp_dst=0x400/0xfc00"
    );
    assert_eq!(
        Field::Ipv4Src.display_value(0x0a00_0001, None).to_string(),
        "10.0.0.1"
    );
}

#[test]
fn match_model() {
    let mut m = Match::new();
    m.insert(Field::Ipv4Dst, 0x0a00_0001, Some(0xff00_0000))
        .unwrap();
    m.insert(Field::EthType, 0x800, None).unwrap();
    assert_eq!(m.fields()[0].field, Field::EthType);
    assert_eq!(m.get(Field::Ipv4Dst).map(|f| f.value), Some(0x0a00_0000));
    assert!(m.get(Field::Ipv4Dst).unwrap().matches(0x0a01_0203));
    assert!(!m.get(Field::Ipv4Dst).unwrap().matches(0x0b00_0000));
    assert_eq!(
        m.insert(Field::EthType, 0x800, None),
        Err(MatchError::Duplicate(Field::EthType))
    );
    assert_eq!(
        m.insert(Field::IpProto, 6, Some(0xf)),
        Err(MatchError::NotMaskable {
            field: Field::IpProto
        })
    );
    assert_eq!(
        m.insert(Field::IpProto, 256, None),
        Err(MatchError::ValueTooWide {
            field: Field::IpProto,
            value: 256
        })
    );
    assert_eq!(m.insert(Field::IpProto, 6, Some(0xff)), Ok(()));
    assert!(m.get(Field::IpProto).unwrap().is_exact());
    assert_eq!(m.check_prerequisites(), Ok(()));
    m.insert(Field::UdpDst, 1, None).unwrap();
    assert_eq!(
        m.check_prerequisites(),
        Err(MatchError::Prerequisite {
            field: Field::UdpDst,
            prereq: Field::UdpDst.prereq()
        })
    );
    m.insert(Field::Metadata, 1, Some(0)).unwrap();
    assert!(m.get(Field::Metadata).is_none());
}

#[test]
fn groups() {
    let g = parse_group(
        "group_id=1,type=select,bucket=weight=3,watch_port=uplink,actions=output:2,bucket=output:3",
        &names(),
    )
    .unwrap();
    assert_eq!((g.id, g.kind), (1, GroupType::Select));
    assert_eq!(
        g.buckets,
        vec![
            Bucket {
                weight: 3,
                watch_port: 7,
                watch_group: OFPG_ANY,
                actions: vec![Action::Output(OutPort::Port(2))]
            },
            Bucket {
                weight: 1,
                watch_port: port::ANY,
                watch_group: OFPG_ANY,
                actions: vec![Action::Output(OutPort::Port(3))]
            },
        ]
    );
    assert_eq!(g.to_string(), "group_id=1,type=select,bucket=weight=3,watch_port=7,actions=output:2,bucket=weight=1,actions=output:3");
    let ok = [
        "group_id=2,type=all,bucket=actions=output:1,set_field:1.2.3.4->nw_dst,output:2,bucket=actions=drop",
        "group_id=3,type=indirect,bucket=actions=group:4",
        "group_id=4,type=ff,bucket=watch_port=1,actions=output:1,bucket=watch_group=9,actions=output:2",
        "group_id=5 type=fast_failover bucket=watch_port:2,output:2",
        "group_id=6,type=select,bucket=weight=0,actions=output:1",
        "group_id=7,type=all",
        "group_id=4294967040,type=all,bucket=actions=push_vlan:0x8100,set_field:0x1005->vlan_vid,output:1",
    ];
    for text in ok {
        let g = parse_group(text, &names()).unwrap_or_else(|e| panic!("{text}: {e}"));
        let back = parse_group(&g.to_string(), &names()).unwrap_or_else(|e| panic!("{g}: {e}"));
        assert_eq!(back, g, "{text}");
    }
    let bad: &[(&str, u32, &str)] = &[
        ("type=all,bucket=actions=output:1", 1, "missing group_id"),
        ("group_id=1,bucket=actions=output:1", 1, "missing type"),
        (
            "group_id=1,type=round_robin",
            17,
            "unknown group type \"round_robin\"",
        ),
        (
            "group_id=4294967041,type=all",
            10,
            "group_id must be 0-4294967040",
        ),
        (
            "group_id=1,type=indirect,bucket=actions=output:1,bucket=actions=output:2",
            50,
            "exactly one bucket, found 2",
        ),
        (
            "group_id=1,type=indirect",
            25,
            "exactly one bucket, found 0",
        ),
        (
            "group_id=1,type=ff,bucket=actions=output:1",
            20,
            "needs watch_port or watch_group",
        ),
        (
            "group_id=1,type=all,bucket=weight=2,actions=output:1",
            28,
            "weight is only meaningful in select groups",
        ),
        (
            "group_id=1,type=select,bucket=weight=1",
            24,
            "bucket must specify actions",
        ),
        (
            "group_id=1,type=all,bucket=actions=outptu:1",
            36,
            "unknown action \"outptu\"",
        ),
        (
            "group_id=1,type=all,bucket=actions=goto_table:1",
            36,
            "goto_table is an instruction",
        ),
        (
            "group_id=1,type=all,bucket=goto_table:1",
            28,
            "goto_table is an instruction",
        ),
        (
            "group_id=1,type=select,selection_method=hash,bucket=output:1",
            24,
            "requires OpenFlow 1.5",
        ),
        (
            "group_id=1,type=all,bucket=bucket_id=1,output:1",
            28,
            "bucket_id requires OpenFlow 1.5",
        ),
        (
            "group_id=1,group_id=2,type=all",
            12,
            "group_id is given twice",
        ),
        (
            "group_id=1,type=ff,bucket=watch_port=0,output:1",
            38,
            "invalid watch_port",
        ),
        (
            "group_id=1,colour=red,type=all",
            12,
            "unknown group keyword \"colour\"",
        ),
    ];
    for &(text, col, want) in bad {
        let e = parse_group(text, &names()).expect_err(text);
        assert!(
            e.message.contains(want),
            "{text}: got \"{}\", want \"{want}\"",
            e.message
        );
        assert_eq!(e.col, col, "{text}: {}", e.message);
    }
    let gs = parse_groups_file(
        "group_id=1,type=all,bucket=output:1\n# c\ngroup_id=2,type=all\n",
        &NoPortNames,
    )
    .unwrap();
    assert_eq!(gs.len(), 2);
    assert_eq!(gs[1].source, SourceLoc { line: 3, col: 1 });
}

#[test]
fn meters() {
    let m =
        parse_meter("meter=1,pktps,burst,stats,bands=type=drop,rate=100000000,burst_size=1000000")
            .unwrap();
    assert_eq!(m.id, 1);
    assert_eq!(
        m.flags,
        MeterFlags(MeterFlags::PKTPS.0 | MeterFlags::BURST.0 | MeterFlags::STATS.0)
    );
    assert_eq!(
        m.bands,
        vec![Band {
            kind: BandKind::Drop,
            rate: 100_000_000,
            burst_size: 1_000_000
        }]
    );
    assert_eq!(
        m.to_string(),
        "meter=1,pktps,burst,stats,bands=type=drop,rate=100000000,burst_size=1000000"
    );
    let m = parse_meter(
        "meter=2 kbps band=type=drop rate=1000 type=dscp_remark rate=2000 prec_level=2",
    )
    .unwrap();
    assert_eq!(
        m.bands,
        vec![
            Band {
                kind: BandKind::Drop,
                rate: 1000,
                burst_size: 0
            },
            Band {
                kind: BandKind::DscpRemark { prec_level: 2 },
                rate: 2000,
                burst_size: 0
            },
        ]
    );
    assert_eq!(parse_meter(&m.to_string()), Ok(m));
    assert_eq!(
        parse_meter("meter=controller,kbps,bands=type=drop,rate=1").map(|m| m.id),
        Ok(OFPM_CONTROLLER)
    );
    let bad: &[(&str, u32, &str)] = &[
        ("kbps,bands=type=drop,rate=1", 1, "missing meter=ID"),
        ("meter=1,bands=type=drop,rate=1", 1, "either kbps or pktps"),
        ("meter=1,kbps,pktps,bands=type=drop,rate=1", 1, "not both"),
        ("meter=1,kbps", 13, "missing bands="),
        ("meter=1,kbps,bands=", 14, "at least one band"),
        ("meter=1,kbps,bands=type=drop", 20, "rate above 0"),
        ("meter=1,kbps,bands=type=drop,rate=0", 20, "rate above 0"),
        (
            "meter=1,kbps,bands=type=dscp_remark,rate=5",
            20,
            "must have prec_level",
        ),
        (
            "meter=1,kbps,bands=type=drop,rate=5,prec_level=1",
            37,
            "only a dscp_remark band has prec_level",
        ),
        (
            "meter=1,kbps,burst,bands=type=drop,rate=5",
            26,
            "must have burst_size",
        ),
        (
            "meter=1,kbps,bands=type=drop,rate=5,burst_size=3",
            20,
            "only when the meter has the burst flag",
        ),
        ("meter=1,kbps,bands=rate=5", 20, "must start with type="),
        (
            "meter=1,kbps,bands=type=police,rate=5",
            25,
            "unknown band type \"police\"",
        ),
        (
            "meter=1,kbps,bands=type=drop,rate=5,colour=1",
            37,
            "unknown band keyword \"colour\"",
        ),
        (
            "meter=0,kbps,bands=type=drop,rate=5",
            7,
            "meter id must be 1-",
        ),
        (
            "meter=all,kbps,bands=type=drop,rate=5",
            7,
            "only valid for deleting",
        ),
        (
            "meter=1,fast,bands=type=drop,rate=5",
            9,
            "unknown meter keyword \"fast\"",
        ),
        (
            "meter=1,kbps=1,bands=type=drop,rate=5",
            9,
            "\"kbps\" takes no value",
        ),
        (
            "meter=1,kbps,bands=type=drop,rate=99999999999",
            35,
            "rate: value 99999999999 is out of range",
        ),
    ];
    for &(text, col, want) in bad {
        let e = parse_meter(text).expect_err(text);
        assert!(
            e.message.contains(want),
            "{text}: got \"{}\", want \"{want}\"",
            e.message
        );
        assert_eq!(e.col, col, "{text}: {}", e.message);
    }
    let ms = parse_meters_file(
        "meter=1,kbps,bands=type=drop,rate=5\nmeter=2,kbps,bands=type=drop,rate=0\n",
    )
    .unwrap_err();
    assert_eq!((ms.len(), ms[0].line), (1, 2));
}

#[test]
fn action_set_order_and_merge() {
    use Action::*;
    let list = vec![
        Output(OutPort::Port(1)),
        Group(2),
        SetQueue(1),
        SetMplsTtl(3),
        SetNwTtl(4),
        Action::set_field(Field::TcpDst, 1),
        Action::set_field(Field::EthSrc, 1),
        DecMplsTtl,
        DecNwTtl,
        CopyTtlOut,
        PushVlan(0x8100),
        PushPbb(0x88e7),
        PushMpls(0x8847),
        PopMpls(0x800),
        PopPbb,
        PopVlan,
        CopyTtlIn,
    ];
    let mut want = list.clone();
    want.reverse(); // the list was written in reverse execution order
    assert_eq!(action_set(list), want);
    assert_eq!(
        action_set(vec![PushVlan(0x8100), PushVlan(0x88a8)]),
        vec![PushVlan(0x88a8)]
    );
}

/// Random valid flows built through the model API print and parse back to
/// themselves: the printer and the parser agree on every field format.
#[test]
fn random_flows_round_trip() {
    let mut rng = XorShift64::new(11);
    let contexts: [&[(Field, u128)]; 8] = [
        &[],
        &[(Field::EthType, 0x0800), (Field::IpProto, 6)],
        &[(Field::EthType, 0x86dd), (Field::IpProto, 17)],
        &[(Field::EthType, 0x0800), (Field::IpProto, 132)],
        &[(Field::EthType, 0x0806)],
        &[(Field::EthType, 0x8847)],
        &[
            (Field::EthType, 0x86dd),
            (Field::IpProto, 58),
            (Field::Icmpv6Type, 135),
        ],
        &[(Field::EthType, 0x0800), (Field::IpProto, 1)],
    ];
    let rand128 =
        |rng: &mut XorShift64| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    for i in 0..3000 {
        let ctx = contexts[rng.below(contexts.len() as u64) as usize];
        let mut m = Match::new();
        for &(f, v) in ctx {
            m.insert(f, v, None).unwrap();
        }
        if rng.chance(1, 2) {
            m.insert(Field::VlanVid, 0x1000 | (rng.below(4096) as u128), None)
                .unwrap();
            if rng.chance(1, 2) {
                m.insert(Field::VlanPcp, rng.below(8) as u128, None)
                    .unwrap();
            }
        }
        let facts = PacketFacts::from_match(&m);
        for f in ALL_FIELDS {
            if m.get(f).is_some() || !facts.satisfies(f.prereq()) || !rng.chance(1, 3) {
                continue;
            }
            let mut v = rand128(&mut rng) & f.full_mask();
            if f == Field::InPort {
                v = 1 + rng.below(0xffff_ff00) as u128;
            }
            let mask =
                (f.maskable() && rng.chance(1, 2)).then(|| rand128(&mut rng) & f.full_mask());
            m.insert(f, v, mask).unwrap();
        }
        assert_eq!(m.check_prerequisites(), Ok(()));
        let mut apply = Vec::new();
        let mut facts = PacketFacts::from_match(&m);
        for _ in 0..rng.below(4) {
            let f = ALL_FIELDS[rng.below(ALL_FIELDS.len() as u64) as usize];
            let need = if f == Field::VlanVid {
                Prereq::VlanPresent
            } else {
                f.prereq()
            };
            if f.writable() && facts.satisfies(need) {
                let v = rand128(&mut rng) & f.full_mask();
                let a = if rng.chance(1, 3) {
                    let mask = rand128(&mut rng) & f.full_mask() | 1;
                    Action::SetField {
                        field: f,
                        value: v & mask,
                        mask,
                    }
                } else if f == Field::VlanVid {
                    Action::set_field(f, v | 0x1000)
                } else {
                    Action::set_field(f, v)
                };
                facts.apply(&a);
                apply.push(a);
            }
        }
        apply.push(Action::Output(OutPort::Port(1 + rng.below(100) as u32)));
        let mut instructions = InstructionSet::new();
        instructions
            .insert(Instruction::ApplyActions(apply))
            .unwrap();
        if rng.chance(1, 3) {
            instructions
                .insert(Instruction::Meter(1 + rng.below(1000) as u32))
                .unwrap();
        }
        if rng.chance(1, 3) {
            // An action set runs in its own order: only set-fields that do
            // not change what later ones require.
            let mut set = vec![Action::Group(rng.below(100) as u32)];
            for f in ALL_FIELDS {
                let need = if f == Field::VlanVid {
                    Prereq::VlanPresent
                } else {
                    f.prereq()
                };
                let changes = matches!(f, Field::EthType | Field::IpProto | Field::Icmpv6Type);
                if f.writable() && !changes && facts.satisfies(need) && rng.chance(1, 4) {
                    let v = rand128(&mut rng) & f.full_mask();
                    set.push(Action::set_field(
                        f,
                        if f == Field::VlanVid { v | 0x1000 } else { v },
                    ));
                }
            }
            instructions.insert(Instruction::WriteActions(set)).unwrap();
        }
        if rng.chance(1, 3) {
            instructions
                .insert(Instruction::WriteMetadata {
                    value: rng.next_u64(),
                    mask: rng.next_u64(),
                })
                .unwrap();
        }
        let table = rng.below(200) as u8;
        if rng.chance(1, 3) {
            instructions
                .insert(Instruction::GotoTable(table + 1))
                .unwrap();
        }
        let e = FlowEntry {
            table,
            priority: rng.below(65536) as u16,
            cookie: rng.next_u64(),
            r#match: m,
            instructions,
            ..FlowEntry::default()
        };
        for text in [e.to_string(), format!("{e:#}")] {
            let back =
                parse_flow(&text, &NoPortNames).unwrap_or_else(|err| panic!("#{i} {text}: {err}"));
            assert_eq!(back, e, "#{i} {text}");
        }
    }
}

/// Mangled flow text never panics; whatever parses prints and parses back.
#[test]
fn mutated_text_never_panics() {
    let seeds = [
        "table=0,priority=32768,eth_type=0x86dd,ipv6_dst=::20/::ffff:ffff:ffff:ffff:ffff:ffff:ffff,actions=CONTROLLER:65535",
        "table=1,priority=10,metadata=7,udp,nw_src=10.0.0.0/8,nw_dst=10.1.0.0/16,tp_dst=0x0400/0xfc00,actions=goto_table:2",
        "vlan_tci=0x1064/0x1fff,actions=meter:1,set_field:0x10cb->vlan_vid,write_actions(output:1),write_metadata:0x1/0xff,goto_table:1",
        "icmp6,icmpv6_type=135,nd_target=20::20,actions=load:0x5->OXM_OF_IPV6_ND_TARGET[0..7],controller(max_len=9)",
        "mpls,actions=pop_mpls:0x0800,dec_ttl,mod_nw_tos:8,group:1",
    ];
    let alphabet: Vec<char> = ",=:()/->[]. 0x1f9azé_+\u{2028}".chars().collect();
    let mut rng = XorShift64::new(5);
    let mut parsed = 0;
    for i in 0..3000 {
        let mut chars: Vec<char> = seeds[i % seeds.len()].chars().collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(chars.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => {
                    chars[at] = alphabet[rng.below(alphabet.len() as u64) as usize]
                }
                _ => chars.insert(at, alphabet[rng.below(alphabet.len() as u64) as usize]),
            }
        }
        let text: String = chars.into_iter().collect();
        match parse_flow(&text, &NoPortNames) {
            Ok(e) => {
                parsed += 1;
                let again = parse_flow(&e.to_string(), &NoPortNames)
                    .unwrap_or_else(|err| panic!("{text} -> {e}: {err}"));
                assert_eq!(again, e, "{text}");
            }
            Err(e) => {
                assert!(
                    e.line >= 1 && e.col >= 1 && !e.message.is_empty(),
                    "{text}: {e:?}"
                );
                assert!(e.col as usize <= text.chars().count() + 1, "{text}: {e:?}");
            }
        }
        let _ = parse_group(&text, &NoPortNames);
        let _ = parse_meter(&text);
    }
    assert!(parsed > 50, "{parsed}");
}

/// 100,000 flows shaped like the benchmark's R2 rule set
/// (`shared/bench/ovs-dpdk/gen_rules.py`): tenant classifiers, wildcard
/// ACLs with port blocks as value/mask, exact /32 routes. Prints the parse
/// time; `cargo test --release` is the number that counts (target < 0.2 s).
#[test]
fn parse_100k_r2_flows() {
    // R2 scaled to 100,000 flows: 100 tenants, 10,000 ACL rules, 89,897
    // routes and a miss per table.
    let (text, _) = crate::pipeline::workload::r2(100, 10_000, 89_897, 7);
    let start = std::time::Instant::now();
    let flows = parse_flows_file(&text, &NoPortNames)
        .unwrap_or_else(|e| panic!("{:?}", &e[..e.len().min(3)]));
    let took = start.elapsed();
    eprintln!(
        "parsed {} R2-style flows ({} bytes) in {:.3} s ({})",
        flows.len(),
        text.len(),
        took.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    assert_eq!(flows.len(), 100_000);
    let per_table = |t: u8| flows.iter().filter(|f| f.table == t).count();
    assert_eq!(
        [per_table(0), per_table(1), per_table(2)],
        [101, 10_001, 89_898]
    );
    assert!(flows.iter().any(|f| f.table == 1
        && f.r#match
            .get(Field::TcpDst)
            .is_some_and(|m| m.mask != 0xffff)));
    assert_eq!(flows[0].r#match.exact(Field::VlanVid), Some(0x1064));
    assert_eq!(flows[0].instructions.write_metadata(), Some((1, u64::MAX)));
}
