//! Flow-key extraction tests: one per protocol combination, a reference
//! parser built only on the header views (to hold `parse` to the views'
//! rules), and a deterministic mutation run over builder frames.
use super::build::{Arp, Ipv4, Ipv6, PacketBuilder, Tcp};
use super::flow_key::{exthdr, present};
use super::*;
use crate::rng::XorShift64;

const A: MacAddr = [0x02, 0, 0, 0, 0, 0x0a];
const B: MacAddr = [0x02, 0, 0, 0, 0, 0x0b];
const V4A: u32 = 0x0a00_0001;
const V4B: u32 = 0x0a00_0002;
const V6A: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
const V6B: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

fn key_of(frame: &[u8]) -> FlowKey {
    let mut k = FlowKey::default();
    parse(frame, 7, &mut k).unwrap_or_else(|e| panic!("{e}: {frame:02x?}"));
    k
}

fn eth() -> PacketBuilder {
    PacketBuilder::new().eth(B, A)
}

// ---------------------------------------------------------------------
// A hand-made frame, byte by byte, so that the builder is not the only
// source of truth.

/// eth 02:..:0b <- 02:..:0a, VLAN 100 PCP 5, IPv4 10.0.0.1 -> 10.0.0.2
/// TTL 63 DSCP 10 ECN 2, UDP 5353 -> 53, 4 bytes payload, padded to 64;
/// checksums 0x67a0 (IPv4) and 0xfdf2 (UDP) computed by hand.
static HANDMADE: [u8; 64] = [
    0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x81, 0x00, // eth
    0xa0, 0x64, 0x08, 0x00, // vlan
    0x45, 0x2a, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x3f, 0x11, 0x67, 0xa0, // ipv4
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, // addresses
    0x14, 0xe9, 0x00, 0x35, 0x00, 0x0c, 0xfd, 0xf2, // udp
    b'd', b'a', b't', b'a', // payload
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding
];

#[test]
fn handmade_vlan_ipv4_udp() {
    let k = key_of(&HANDMADE);
    assert_eq!(k.in_port, 7);
    assert_eq!(k.eth_dst, 0x0200_0000_000b);
    assert_eq!(k.eth_src, 0x0200_0000_000a);
    assert_eq!(k.eth_type, 0x0800);
    assert_eq!(k.vlan_vid, 0x1000 | 100);
    assert_eq!(k.vlan_pcp, 5);
    assert_eq!(k.vlan_count, 1);
    assert_eq!((k.ip_dscp, k.ip_ecn, k.ip_ttl, k.ip_proto), (10, 2, 63, 17));
    assert_eq!((k.ipv4_src, k.ipv4_dst), (V4A, V4B));
    assert_eq!((k.tp_src, k.tp_dst), (5353, 53));
    assert_eq!((k.l3_offset, k.l4_offset), (18, 38));
    assert_eq!(
        k.present,
        present::VLAN | present::IPV4 | present::L4,
        "{:#x}",
        k.present
    );
    // Truncating into the padding is fine; into the IP packet is not.
    assert!(parse(&HANDMADE[..50], 0, &mut FlowKey::default()).is_ok());
    assert_eq!(
        parse(&HANDMADE[..49], 0, &mut FlowKey::default()),
        Err(Malformed::BadTotalLength)
    );
}

// ---------------------------------------------------------------------
// One test per protocol combination, frames from the builder.

#[test]
fn ipv4_tcp_with_options() {
    let f = eth()
        .ipv4_with(Ipv4 {
            src: V4A,
            dst: V4B,
            options: vec![0x94, 4, 0, 0],
            ttl: 9,
            ..Ipv4::default()
        })
        .tcp_with(Tcp {
            src: 40000,
            dst: 443,
            flags: tcp::flags::SYN | tcp::flags::ECE,
            options: vec![2, 4, 5, 0xb4],
            ..Tcp::default()
        })
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(k.eth_type, 0x0800);
    assert_eq!(k.vlan_vid, 0);
    assert_eq!(k.ip_ttl, 9);
    assert_eq!(k.ip_proto, 6);
    assert_eq!((k.tp_src, k.tp_dst), (40000, 443));
    assert_eq!(k.tcp_flags, 0x42);
    assert_eq!((k.l3_offset, k.l4_offset), (14, 38));
    assert!(k.has(present::IPV4 | present::L4));
    assert!(!k.has(present::FRAG));
}

#[test]
fn qinq_and_deep_tag_stacks() {
    let f = eth()
        .svlan(300, 6)
        .vlan(42, 1)
        .ipv4(V4A, V4B)
        .udp(1, 2)
        .pad60()
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(k.vlan_vid, 0x1000 | 300, "outer tag");
    assert_eq!(k.vlan_pcp, 6);
    assert_eq!(k.vlan_count, 2);
    assert_eq!(k.eth_type, 0x0800);
    assert_eq!(k.l3_offset, 22);
    assert_eq!((k.tp_src, k.tp_dst), (1, 2));

    // Priority-tagged frame: VID 0 is still "present".
    let f = eth().vlan(0, 3).ipv4(V4A, V4B).build().unwrap();
    assert_eq!(key_of(&f).vlan_vid, 0x1000);

    let mut b = eth();
    for i in 0..MAX_VLAN_TAGS as u16 {
        b = b.vlan(i + 1, 0);
    }
    let f = b.clone().ipv6(V6A, V6B).build().unwrap();
    let k = key_of(&f);
    assert_eq!(usize::from(k.vlan_count), MAX_VLAN_TAGS);
    assert_eq!(k.vlan_vid, 0x1001);
    assert_eq!(k.eth_type, 0x86dd);
    let f = b.vlan(99, 0).ipv6(V6A, V6B).build().unwrap();
    assert_eq!(
        parse(&f, 0, &mut FlowKey::default()),
        Err(Malformed::TooManyVlanTags)
    );
}

#[test]
fn mpls_top_entry() {
    let f = eth()
        .vlan(5, 0)
        .mpls(0xabcde, 5, 17)
        .mpls(16, 0, 64)
        .ipv4(V4A, V4B)
        .udp(1, 2)
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(k.eth_type, 0x8847);
    assert_eq!(k.mpls_label, 0xabcde);
    assert_eq!(k.mpls_tc, 5);
    assert_eq!(k.mpls_bos, 0);
    assert_eq!(k.mpls_ttl, 17);
    assert_eq!(k.l3_offset, 18);
    assert_eq!(k.present, present::VLAN | present::MPLS);
    let f = eth().mpls(3, 1, 1).build().unwrap();
    assert_eq!(key_of(&f).mpls_bos, 1);
    assert_eq!(
        parse(&f[..17], 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Mpls })
    );
}

#[test]
fn pbb_isid() {
    let f = eth()
        .pbb(0x00ab_cdef, 3, [2, 0, 0, 0, 0, 0x11], [2, 0, 0, 0, 0, 0x22])
        .ipv4(V4A, V4B)
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(k.eth_type, 0x88e7);
    assert_eq!(k.pbb_isid, 0xabcdef);
    assert_eq!(k.present, present::PBB);
    let t = PbbITag::new_checked(&f[14..]).unwrap();
    assert_eq!(t.customer_ethertype(), 0x0800);
    assert_eq!(t.pcp(), 3);
    assert_eq!(
        parse(&f[..31], 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Pbb })
    );
}

#[test]
fn arp_request_and_reply() {
    let f = PacketBuilder::new()
        .eth([0xff; 6], A)
        .arp(Arp {
            op: arp::OP_REQUEST,
            sha: A,
            spa: V4A,
            tha: [0; 6],
            tpa: V4B,
        })
        .pad60()
        .build()
        .unwrap();
    assert_eq!(f.len(), 60);
    let k = key_of(&f);
    assert_eq!(k.eth_type, 0x0806);
    assert_eq!(k.eth_dst, 0xffff_ffff_ffff);
    assert_eq!(k.arp_op, 1);
    assert_eq!(k.arp_sha, mac_to_u64(A));
    assert_eq!(k.arp_spa, V4A);
    assert_eq!(k.arp_tha, 0);
    assert_eq!(k.arp_tpa, V4B);
    assert!(k.has(present::ARP | present::ARP_ETH_IPV4));

    let f = eth()
        .vlan(7, 0)
        .arp(Arp {
            op: arp::OP_REPLY,
            sha: B,
            spa: V4B,
            tha: A,
            tpa: V4A,
        })
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!((k.arp_op, k.arp_tha, k.arp_tpa), (2, mac_to_u64(A), V4A));
    assert_eq!(k.l3_offset, 18);

    // Another hardware type: op recorded, addresses zero, not malformed.
    let mut g = f.clone();
    g[18..20].copy_from_slice(&[0, 6]);
    g[22] = 8; // 8-byte hardware addresses: needs 8 + 2 * 12 = 32 bytes
    assert_eq!(
        parse(&g, 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Arp })
    );
    g.resize(18 + 32, 0);
    let k = key_of(&g);
    assert!(k.has(present::ARP) && !k.has(present::ARP_ETH_IPV4));
    assert_eq!((k.arp_op, k.arp_spa, k.arp_sha), (2, 0, 0));
}

#[test]
fn ipv4_fragments() {
    let first = eth()
        .ipv4_with(Ipv4 {
            src: V4A,
            dst: V4B,
            more_frags: true,
            ident: 77,
            ..Ipv4::default()
        })
        .udp(1111, 2222)
        .payload(&[0; 16])
        .build()
        .unwrap();
    let k = key_of(&first);
    assert!(k.has(present::FRAG | present::L4));
    assert!(!k.has(present::LATER_FRAG));
    assert_eq!((k.tp_src, k.tp_dst), (1111, 2222));

    let later = eth()
        .ipv4_with(Ipv4 {
            src: V4A,
            dst: V4B,
            frag_offset: 24,
            protocol: Some(ip_proto::UDP),
            ..Ipv4::default()
        })
        .payload(&[0xee; 8])
        .build()
        .unwrap();
    let mut k = FlowKey {
        tp_src: 999,
        tp_dst: 999,
        ..FlowKey::default()
    };
    parse(&later, 1, &mut k).unwrap();
    assert!(k.has(present::FRAG | present::LATER_FRAG));
    assert!(!k.has(present::L4));
    assert_eq!(k.ip_proto, 17);
    assert_eq!(
        (k.tp_src, k.tp_dst),
        (0, 0),
        "later fragments have no ports"
    );
    assert_eq!(k.l4_offset, 34);

    // A first fragment too short for its UDP header is malformed.
    let tiny = eth()
        .ipv4_with(Ipv4 {
            src: V4A,
            dst: V4B,
            more_frags: true,
            protocol: Some(ip_proto::UDP),
            ..Ipv4::default()
        })
        .payload(&[0; 4])
        .build()
        .unwrap();
    assert_eq!(
        parse(&tiny, 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Udp })
    );
}

#[test]
fn ipv4_header_errors() {
    let f = eth().ipv4(V4A, V4B).udp(1, 2).build().unwrap();
    let cases: [(usize, u8, Malformed); 5] = [
        (14, 0x65, Malformed::BadIpVersion),
        (14, 0x44, Malformed::BadIhl),
        (14, 0x4f, Malformed::Truncated { layer: Layer::Ipv4 }),
        (17, 19, Malformed::BadTotalLength),
        (17, 29, Malformed::BadTotalLength),
    ];
    for (at, v, want) in cases {
        let mut g = f.clone();
        g[at] = v;
        assert_eq!(parse(&g, 0, &mut FlowKey::default()), Err(want), "{at}={v}");
    }
    assert_eq!(
        parse(&f[..33], 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Ipv4 })
    );
    // Bad UDP length and bad TCP data offset.
    let mut g = f.clone();
    g[39] = 9;
    assert_eq!(
        parse(&g, 0, &mut FlowKey::default()),
        Err(Malformed::BadUdpLength)
    );
    let t = eth().ipv4(V4A, V4B).tcp(1, 2).build().unwrap();
    let mut g = t.clone();
    g[46] = 0x40;
    assert_eq!(
        parse(&g, 0, &mut FlowKey::default()),
        Err(Malformed::BadTcpDataOffset)
    );
    g[46] = 0x60;
    assert_eq!(
        parse(&g, 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Tcp })
    );
}

#[test]
fn vlan_ipv6_tcp() {
    let f = eth()
        .vlan(0xabc, 7)
        .ipv6_with(Ipv6 {
            src: V6A,
            dst: V6B,
            traffic_class: 0xb9,
            flow_label: 0xfedcb,
            hop_limit: 3,
            next_header: None,
        })
        .tcp(8080, 22)
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(k.eth_type, 0x86dd);
    assert_eq!(k.vlan_vid, 0x1abc);
    assert_eq!(k.vlan_pcp, 7);
    assert_eq!((k.ip_dscp, k.ip_ecn), (46, 1));
    assert_eq!(k.ipv6_flabel, 0xfedcb);
    assert_eq!(k.ip_ttl, 3);
    assert_eq!((k.ipv6_src, k.ipv6_dst), (V6A, V6B));
    assert_eq!(k.ip_proto, 6);
    assert_eq!((k.tp_src, k.tp_dst), (8080, 22));
    assert_eq!(k.ipv6_exthdr, 0);
    assert_eq!((k.l3_offset, k.l4_offset), (18, 58));
    assert_eq!(
        parse(&f[..f.len() - 1], 0, &mut FlowKey::default()),
        Err(Malformed::BadPayloadLength)
    );
    let mut g = f.clone();
    g[18] = 0x45;
    assert_eq!(
        parse(&g, 0, &mut FlowKey::default()),
        Err(Malformed::BadIpVersion)
    );
}

#[test]
fn ipv6_each_extension_header() {
    struct Case {
        b: PacketBuilder,
        flags: u16,
        proto: u8,
        l4: bool,
        l4_offset: u16,
    }
    let v6 = || eth().ipv6(V6A, V6B);
    let cases = [
        Case {
            b: v6().hop_by_hop(&[]).udp(1, 2),
            flags: exthdr::HOP,
            proto: 17,
            l4: true,
            l4_offset: 62,
        },
        Case {
            b: v6().routing(4, 1, &[V6B]).tcp(1, 2),
            flags: exthdr::ROUTER,
            proto: 6,
            l4: true,
            l4_offset: 78,
        },
        Case {
            b: v6().ipv6_fragment(0, true, 1).udp(1, 2),
            flags: exthdr::FRAG,
            proto: 17,
            l4: true,
            l4_offset: 62,
        },
        Case {
            b: v6()
                .ipv6_fragment(64, false, 1)
                .announce(ip_proto::UDP)
                .payload(&[0; 8]),
            flags: exthdr::FRAG,
            proto: 17,
            l4: false,
            l4_offset: 62,
        },
        Case {
            b: v6().dest_opts(&[0x1e, 1, 0]).sctp(1, 2, 3),
            flags: exthdr::DEST,
            proto: 132,
            l4: true,
            l4_offset: 62,
        },
        Case {
            b: v6().ah(1, 2).tcp(1, 2),
            flags: exthdr::AUTH,
            proto: 6,
            l4: true,
            l4_offset: 78,
        },
        Case {
            b: v6().esp(1, 2).payload(&[0xaa; 16]),
            flags: exthdr::ESP,
            proto: 50,
            l4: false,
            l4_offset: 54,
        },
        Case {
            b: v6(),
            flags: exthdr::NONEXT,
            proto: 59,
            l4: false,
            l4_offset: 54,
        },
        Case {
            b: v6()
                .hop_by_hop(&[])
                .dest_opts(&[])
                .routing(0, 0, &[])
                .ah(1, 1)
                .esp(1, 1),
            flags: exthdr::HOP | exthdr::DEST | exthdr::ROUTER | exthdr::AUTH | exthdr::ESP,
            proto: 50,
            l4: false,
            l4_offset: 54 + 8 + 8 + 8 + 24,
        },
        Case {
            b: v6()
                .dest_opts(&[])
                .routing(0, 0, &[])
                .dest_opts(&[])
                .udp(1, 2),
            flags: exthdr::DEST | exthdr::ROUTER,
            proto: 17,
            l4: true,
            l4_offset: 54 + 24,
        },
        Case {
            b: v6().dest_opts(&[]).hop_by_hop(&[]).udp(1, 2),
            flags: exthdr::DEST | exthdr::HOP | exthdr::UNSEQ,
            proto: 17,
            l4: true,
            l4_offset: 70,
        },
        Case {
            b: v6().routing(0, 0, &[]).routing(0, 0, &[]).udp(1, 2),
            flags: exthdr::ROUTER | exthdr::UNREP,
            proto: 17,
            l4: true,
            l4_offset: 70,
        },
        Case {
            b: v6().dest_opts(&[]).dest_opts(&[]).udp(1, 2),
            flags: exthdr::DEST | exthdr::UNREP,
            proto: 17,
            l4: true,
            l4_offset: 70,
        },
        Case {
            b: v6().ah(1, 1).routing(0, 0, &[]).udp(1, 2),
            flags: exthdr::AUTH | exthdr::ROUTER | exthdr::UNSEQ,
            proto: 17,
            l4: true,
            l4_offset: 54 + 24 + 8,
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let f = c.b.build().unwrap();
        let k = key_of(&f);
        assert_eq!(k.ipv6_exthdr, c.flags, "case {i}: {:#x}", k.ipv6_exthdr);
        assert_eq!(k.ip_proto, c.proto, "case {i}");
        assert_eq!(k.has(present::L4), c.l4, "case {i}");
        assert_eq!(k.l4_offset, c.l4_offset, "case {i}");
        assert!(k.has(present::IPV6));
    }

    let mut b = eth().ipv6(V6A, V6B);
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        b = b.dest_opts(&[]);
    }
    assert!(key_of(&b.build().unwrap()).has(present::IPV6));
    let f = b.dest_opts(&[]).udp(1, 2).build().unwrap();
    assert_eq!(
        parse(&f, 0, &mut FlowKey::default()),
        Err(Malformed::TooManyExtHeaders)
    );
    // An extension header running past the payload length.
    let mut f = eth().ipv6(V6A, V6B).hop_by_hop(&[]).build().unwrap();
    f[55] = 1;
    f.extend_from_slice(&[0; 8]); // bytes exist, but beyond the payload
    assert_eq!(
        parse(&f, 0, &mut FlowKey::default()),
        Err(Malformed::Truncated {
            layer: Layer::Ipv6Ext
        })
    );
}

#[test]
fn icmp_v4_and_v6() {
    let f = eth()
        .ipv4(V4A, V4B)
        .icmpv4(icmpv4::DEST_UNREACHABLE, 3)
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!((k.ip_proto, k.icmp_type, k.icmp_code), (1, 3, 3));
    assert!(k.has(present::ICMP));
    assert_eq!((k.tp_src, k.tp_dst), (0, 0));

    let f = eth()
        .ipv6(V6A, V6B)
        .icmpv6(icmpv6::ECHO_REQUEST, 0, &[0, 1, 0, 2])
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!((k.ip_proto, k.icmp_type, k.icmp_code), (58, 128, 0));
    assert!(!k.has(present::ND));
    assert_eq!(
        parse(&f[..57], 0, &mut FlowKey::default()),
        Err(Malformed::BadPayloadLength)
    );
}

#[test]
fn neighbor_discovery() {
    let target = 0xfe80_0000_0000_0000_0000_0000_0000_0099u128;
    let f = eth()
        .ipv6(V6A, V6B)
        .nd_solicit(target, Some(A))
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(k.icmp_type, 135);
    assert_eq!(k.ipv6_nd_target, target);
    assert_eq!(k.ipv6_nd_sll, mac_to_u64(A));
    assert_eq!(k.ipv6_nd_tll, 0);
    assert!(k.has(present::ND | present::ND_SLL));

    let f = eth()
        .ipv6(V6A, V6B)
        .nd_advert(target, icmpv6::NA_SOLICITED, Some(B))
        .build()
        .unwrap();
    let mut k = FlowKey {
        ipv6_nd_sll: 123,
        ..FlowKey::default()
    };
    parse(&f, 0, &mut k).unwrap();
    assert_eq!(k.icmp_type, 136);
    assert_eq!(k.ipv6_nd_target, target);
    assert_eq!(k.ipv6_nd_tll, mac_to_u64(B));
    assert_eq!(k.ipv6_nd_sll, 0, "stale value overwritten");
    assert!(k.has(present::ND | present::ND_TLL) && !k.has(present::ND_SLL));

    let f = eth()
        .ipv6(V6A, V6B)
        .nd_solicit(target, None)
        .build()
        .unwrap();
    let k = key_of(&f);
    assert!(k.has(present::ND) && !k.has(present::ND_SLL));
    assert_eq!(k.ipv6_nd_sll, 0);

    // An NS carrying a TLL option: ignored (OpenFlow reads SLL in NS only).
    let body = [
        &[0u8, 0, 0, 0][..],
        &target.to_be_bytes(),
        &[2, 1, 1, 2, 3, 4, 5, 6],
    ]
    .concat();
    let f = eth().ipv6(V6A, V6B).icmpv6(135, 0, &body).build().unwrap();
    let k = key_of(&f);
    assert_eq!((k.ipv6_nd_sll, k.ipv6_nd_tll), (0, 0));

    // Zero-length option and truncated target are malformed.
    let mut bad = body.clone();
    bad[21] = 0;
    let f = eth().ipv6(V6A, V6B).icmpv6(135, 0, &bad).build().unwrap();
    assert_eq!(
        parse(&f, 0, &mut FlowKey::default()),
        Err(Malformed::BadNdOption)
    );
    let f = eth()
        .ipv6(V6A, V6B)
        .icmpv6(136, 0, &body[..10])
        .build()
        .unwrap();
    assert_eq!(
        parse(&f, 0, &mut FlowKey::default()),
        Err(Malformed::Truncated { layer: Layer::Nd })
    );
    // Code != 0: not ND, fields zero, not malformed.
    let f = eth()
        .ipv6(V6A, V6B)
        .icmpv6(136, 1, &body[..10])
        .build()
        .unwrap();
    let k = key_of(&f);
    assert!(!k.has(present::ND));
    assert_eq!(k.ipv6_nd_target, 0);
}

#[test]
fn sctp_and_unknowns() {
    let f = eth()
        .ipv4(V4A, V4B)
        .sctp(2905, 2906, 1)
        .payload(&[1, 0, 0, 4])
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!((k.ip_proto, k.tp_src, k.tp_dst), (132, 2905, 2906));

    // Unknown ethertype: only L2.
    let f = eth().ethertype(0x88cc).payload(&[0; 46]).build().unwrap();
    let k = key_of(&f);
    assert_eq!(k.eth_type, 0x88cc);
    assert_eq!(k.present, 0);
    assert_eq!(k.l3_offset, 14);

    // Unknown IP protocol: L3 only, l4_offset at the payload.
    let f = eth()
        .ipv4_with(Ipv4 {
            src: V4A,
            dst: V4B,
            protocol: Some(47),
            ..Ipv4::default()
        })
        .payload(&[0; 4])
        .build()
        .unwrap();
    let k = key_of(&f);
    assert_eq!(
        (k.ip_proto, k.l4_offset, k.present),
        (47, 34, present::IPV4)
    );

    // Frames shorter than an Ethernet header.
    for n in 0..14 {
        assert_eq!(
            parse(&f[..n], 0, &mut FlowKey::default()),
            Err(Malformed::Truncated {
                layer: Layer::Ethernet
            })
        );
    }
}

#[test]
fn malformed_names_and_indices() {
    let mut seen = std::collections::HashSet::new();
    for i in 0..Malformed::COUNT {
        let m = Malformed::from_index(i).unwrap();
        assert_eq!(m.index(), i);
        assert!(seen.insert(m.as_str()), "duplicate name {}", m.as_str());
        assert_eq!(m.to_string(), m.as_str());
    }
    assert_eq!(Malformed::from_index(Malformed::COUNT), None);
    for l in Layer::ALL {
        assert!(Malformed::Truncated { layer: l }
            .as_str()
            .ends_with(l.as_str()));
    }
}

// ---------------------------------------------------------------------
// A reference parser built only from the views' `new_checked` and
// getters. It mirrors what `parse` must compute, written the slow and
// obvious way; the mutation test holds `parse` to it.

fn exthdr_flags_reference(kinds: &[u8], nonext: bool) -> u16 {
    let bit = |k: u8| match k {
        ip_proto::HOPOPT => exthdr::HOP,
        ip_proto::IPV6_OPTS => exthdr::DEST,
        ip_proto::IPV6_ROUTE => exthdr::ROUTER,
        ip_proto::IPV6_FRAG => exthdr::FRAG,
        ip_proto::AH => exthdr::AUTH,
        _ => exthdr::ESP,
    };
    let mut flags = kinds.iter().fold(0, |f, &k| f | bit(k));
    if nonext {
        flags |= exthdr::NONEXT;
    }
    // Ranks in RFC 8200 order; a destination header after a routing,
    // fragment or AH header is the final one.
    let ranks: Vec<u8> = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| match k {
            ip_proto::HOPOPT => 0,
            ip_proto::IPV6_OPTS => {
                if kinds[..i].iter().any(|&p| {
                    matches!(p, ip_proto::IPV6_ROUTE | ip_proto::IPV6_FRAG | ip_proto::AH)
                }) {
                    6
                } else {
                    1
                }
            }
            ip_proto::IPV6_ROUTE => 2,
            ip_proto::IPV6_FRAG => 3,
            ip_proto::AH => 4,
            _ => 5,
        })
        .collect();
    let hop_late = kinds.iter().skip(1).any(|&k| k == ip_proto::HOPOPT);
    let out_of_order = ranks.windows(2).enumerate().any(|(i, _)| {
        let max_before = ranks[..=i].iter().copied().max().unwrap_or(0);
        ranks[i + 1] < max_before
    });
    if hop_late || out_of_order {
        flags |= exthdr::UNSEQ;
    }
    let count = |r: u8| ranks.iter().filter(|&&x| x == r).count();
    if [0, 1, 2, 3, 4, 5, 6].iter().any(|&r| count(r) > 1) {
        flags |= exthdr::UNREP;
    }
    flags
}

fn reference_l4(seg: &[u8], proto: u8, v6: bool, k: &mut FlowKey) -> Result<(), Malformed> {
    match proto {
        ip_proto::TCP => {
            let t = TcpPacket::new_checked(seg)?;
            k.tp_src = t.src_port();
            k.tp_dst = t.dst_port();
            k.tcp_flags = t.flags();
            k.present |= present::L4;
        }
        ip_proto::UDP => {
            let u = UdpPacket::new_checked(seg)?;
            k.tp_src = u.src_port();
            k.tp_dst = u.dst_port();
            k.present |= present::L4;
        }
        ip_proto::SCTP => {
            let s = SctpPacket::new_checked(seg)?;
            k.tp_src = s.src_port();
            k.tp_dst = s.dst_port();
            k.present |= present::L4;
        }
        ip_proto::ICMP if !v6 => {
            let i = Icmpv4Packet::new_checked(seg)?;
            k.icmp_type = i.msg_type();
            k.icmp_code = i.code();
            k.present |= present::ICMP;
        }
        ip_proto::ICMPV6 if v6 => {
            let i = Icmpv6Packet::new_checked(seg)?;
            k.icmp_type = i.msg_type();
            k.icmp_code = i.code();
            k.present |= present::ICMP;
            let nd_type = matches!(
                i.msg_type(),
                icmpv6::NEIGHBOR_SOLICIT | icmpv6::NEIGHBOR_ADVERT
            );
            if nd_type && i.code() == 0 {
                let m = NdMessage::new_checked(seg)?;
                k.ipv6_nd_target = m.target();
                k.present |= present::ND;
                for o in m.options() {
                    let o = o?;
                    let (want, bit) = if m.msg_type() == icmpv6::NEIGHBOR_SOLICIT {
                        (icmpv6::OPT_SOURCE_LL, present::ND_SLL)
                    } else {
                        (icmpv6::OPT_TARGET_LL, present::ND_TLL)
                    };
                    if o.kind == want && !k.has(bit) {
                        if let Some(mac) = o.link_layer_addr() {
                            if bit == present::ND_SLL {
                                k.ipv6_nd_sll = mac_to_u64(mac);
                            } else {
                                k.ipv6_nd_tll = mac_to_u64(mac);
                            }
                            k.present |= bit;
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn reference_parse(frame: &[u8], in_port: u32) -> Result<FlowKey, Malformed> {
    let mut k = FlowKey {
        in_port,
        ..FlowKey::default()
    };
    let e = EthernetFrame::new_checked(frame)?;
    k.eth_dst = mac_to_u64(e.dst());
    k.eth_src = mac_to_u64(e.src());
    let mut et = e.ethertype();
    let mut rest = e.payload();
    let mut off = 14;
    while vlan::is_tpid(et) {
        if usize::from(k.vlan_count) == MAX_VLAN_TAGS {
            return Err(Malformed::TooManyVlanTags);
        }
        let t = VlanTag::new_checked(rest)?;
        if k.vlan_count == 0 {
            k.vlan_vid = vlan::OFPVID_PRESENT | t.vid();
            k.vlan_pcp = t.pcp();
            k.present |= present::VLAN;
        }
        k.vlan_count += 1;
        et = t.ethertype();
        rest = &rest[4..];
        off += 4;
    }
    k.eth_type = et;
    k.l3_offset = off as u16;
    match et {
        ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => {
            let m = MplsEntry::new_checked(rest)?;
            k.mpls_label = m.label();
            k.mpls_tc = m.tc();
            k.mpls_bos = u8::from(m.bos());
            k.mpls_ttl = m.ttl();
            k.present |= present::MPLS;
        }
        ethertype::PBB => {
            k.pbb_isid = PbbITag::new_checked(rest)?.isid();
            k.present |= present::PBB;
        }
        ethertype::ARP => {
            let a = ArpPacket::new_checked(rest)?;
            k.arp_op = a.oper();
            k.present |= present::ARP;
            if a.htype() == arp::HTYPE_ETHERNET && a.ptype() == ethertype::IPV4 {
                k.arp_sha = mac_to_u64(a.sha());
                k.arp_spa = a.spa();
                k.arp_tha = mac_to_u64(a.tha());
                k.arp_tpa = a.tpa();
                k.present |= present::ARP_ETH_IPV4;
            }
        }
        ethertype::IPV4 => {
            if rest.len() >= 20 && rest[0] >> 4 != 4 {
                return Err(Malformed::BadIpVersion);
            }
            let p = Ipv4Packet::new_checked(rest)?;
            k.present |= present::IPV4;
            k.ip_dscp = p.dscp();
            k.ip_ecn = p.ecn();
            k.ip_proto = p.protocol();
            k.ip_ttl = p.ttl();
            k.ipv4_src = p.src();
            k.ipv4_dst = p.dst();
            k.l4_offset = (off + p.header_len()) as u16;
            if p.is_fragment() {
                k.present |= present::FRAG;
            }
            if p.frag_offset() != 0 {
                k.present |= present::LATER_FRAG;
            } else {
                reference_l4(p.payload(), p.protocol(), false, &mut k)?;
            }
        }
        ethertype::IPV6 => {
            if rest.len() >= 40 && rest[0] >> 4 != 6 {
                return Err(Malformed::BadIpVersion);
            }
            let p = Ipv6Packet::new_checked(rest)?;
            k.present |= present::IPV6;
            k.ip_dscp = p.dscp();
            k.ip_ecn = p.ecn();
            k.ip_ttl = p.hop_limit();
            k.ipv6_src = p.src();
            k.ipv6_dst = p.dst();
            k.ipv6_flabel = p.flow_label();
            let mut nh = p.next_header();
            let mut seg = p.payload();
            let mut at = off + 40;
            let mut kinds = Vec::new();
            let mut later = false;
            while ipv6::is_skippable_ext(nh) || nh == ip_proto::ESP {
                if kinds.len() == MAX_IPV6_EXT_HEADERS {
                    return Err(Malformed::TooManyExtHeaders);
                }
                kinds.push(nh);
                if nh == ip_proto::ESP {
                    break;
                }
                let h = Ipv6ExtHeader::new_checked(seg, nh)?;
                if nh == ip_proto::IPV6_FRAG {
                    k.present |= present::FRAG;
                    if Ipv6FragHeader::new_checked(seg)?.frag_offset() != 0 {
                        later = true;
                    }
                }
                at += h.header_len();
                nh = h.next_header();
                seg = &seg[h.header_len()..];
                if later {
                    break;
                }
            }
            let nonext = nh == ip_proto::IPV6_NONXT && !later;
            k.ipv6_exthdr = exthdr_flags_reference(&kinds, nonext);
            k.ip_proto = if kinds.last() == Some(&ip_proto::ESP) {
                ip_proto::ESP
            } else {
                nh
            };
            k.l4_offset = at as u16;
            if later {
                k.present |= present::LATER_FRAG;
            } else if k.ip_proto != ip_proto::ESP {
                reference_l4(seg, nh, true, &mut k)?;
            }
        }
        _ => {}
    }
    Ok(k)
}

/// Frames covering every path of `parse`, for the reference comparison
/// and the mutation run.
fn corpus() -> Vec<Vec<u8>> {
    let target = 0xfe80_0000_0000_0000_0000_0000_0000_0042u128;
    let bs: Vec<PacketBuilder> = vec![
        eth().ipv4(V4A, V4B).udp(1, 2).pad60(),
        eth().ipv4(V4A, V4B).tcp(3, 4).payload(b"abc"),
        eth()
            .ipv4_with(Ipv4 {
                src: V4A,
                dst: V4B,
                options: vec![1, 1, 1, 1, 0x94, 4, 0, 0],
                ..Ipv4::default()
            })
            .tcp_with(Tcp {
                options: vec![1, 1, 4, 2],
                ..Tcp::default()
            }),
        eth().vlan(1, 2).ipv6(V6A, V6B).tcp(5, 6),
        eth().svlan(9, 1).vlan(10, 2).ipv4(V4A, V4B).udp(7, 8),
        eth()
            .vlan(1, 0)
            .vlan(2, 0)
            .vlan(3, 0)
            .ipv6(V6A, V6B)
            .udp(1, 1),
        eth().mpls(1, 2, 3).mpls(4, 5, 6).ipv4(V4A, V4B).udp(1, 2),
        eth().pbb(77, 1, A, B).ipv4(V4A, V4B),
        eth().arp(Arp {
            op: 1,
            sha: A,
            spa: V4A,
            tha: B,
            tpa: V4B,
        }),
        eth()
            .ipv4_with(Ipv4 {
                src: V4A,
                dst: V4B,
                more_frags: true,
                ..Ipv4::default()
            })
            .udp(1, 2)
            .payload(&[0; 8]),
        eth()
            .ipv4_with(Ipv4 {
                src: V4A,
                dst: V4B,
                frag_offset: 8,
                protocol: Some(6),
                ..Ipv4::default()
            })
            .payload(&[0; 8]),
        eth()
            .ipv4(V4A, V4B)
            .icmpv4_echo(false, 1, 2)
            .payload(b"ping"),
        eth().ipv4(V4A, V4B).sctp(1, 2, 3).payload(&[0, 0, 0, 4]),
        eth().ipv6(V6A, V6B).hop_by_hop(&[]).udp(1, 2),
        eth().ipv6(V6A, V6B).routing(0, 1, &[V6A]).tcp(1, 2),
        eth().ipv6(V6A, V6B).ipv6_fragment(0, true, 9).udp(1, 2),
        eth()
            .ipv6(V6A, V6B)
            .ipv6_fragment(8, false, 9)
            .payload(&[0; 8]),
        eth()
            .ipv6(V6A, V6B)
            .dest_opts(&[])
            .ah(1, 2)
            .dest_opts(&[])
            .udp(1, 2),
        eth().ipv6(V6A, V6B).esp(1, 2).payload(&[0; 12]),
        eth().ipv6(V6A, V6B).ah(5, 5).icmpv6(128, 0, &[0; 4]),
        eth().ipv6(V6A, V6B).nd_solicit(target, Some(A)),
        eth().ipv6(V6A, V6B).nd_advert(target, 0x60, Some(B)),
        eth().ipv6(V6A, V6B).sctp(1, 2, 3),
        eth().ipv6(V6A, V6B),
        eth().ethertype(0x1234).payload(&[1, 2, 3]),
    ];
    let mut v: Vec<Vec<u8>> = bs.iter().map(|b| b.build().unwrap()).collect();
    v.push(HANDMADE.to_vec());
    v.extend(fast_shapes().iter().map(|b| b.build().unwrap()));
    v
}

/// IPv4 with DF set, as most senders send it.
fn ipv4_df() -> Ipv4 {
    Ipv4 {
        src: V4A,
        dst: V4B,
        dont_frag: true,
        ttl: 63,
        dscp: 46,
        ecn: 1,
        ..Ipv4::default()
    }
}

/// Frames of at least 58 bytes, the length from which `parse` tries its
/// fast path: the shapes it takes (Ethernet, at most one tag, IPv4 with
/// IHL 5 and not fragmented, UDP or TCP) and their neighbours that it must
/// hand to the general walk.
fn fast_shapes() -> Vec<PacketBuilder> {
    vec![
        // The R2 benchmark frame: VLAN, IPv4 with DF, UDP, 14 bytes.
        eth()
            .vlan(150, 0)
            .ipv4_with(ipv4_df())
            .udp(4000, 5000)
            .payload(&[0; 14]),
        eth().ipv4_with(ipv4_df()).udp(1, 2).pad60(),
        eth().ipv4(V4A, V4B).tcp(3, 4).payload(&[0; 6]),
        // Exactly 58 bytes: the TCP header ends the frame.
        eth().vlan(5, 7).ipv4(V4A, V4B).tcp(3, 4),
        eth().svlan(9, 1).ipv4_with(ipv4_df()).udp(1, 2).pad60(),
        eth()
            .vlan(1, 0)
            .ipv4(V4A, V4B)
            .tcp_with(Tcp {
                flags: tcp::flags::SYN | tcp::flags::ACK | tcp::flags::CWR,
                options: vec![2, 4, 5, 0xb4],
                ..Tcp::default()
            })
            .payload(&[1; 300]),
        eth().vlan(2, 0).ipv4(V4A, V4B).udp(7, 8).payload(&[0; 200]),
        // Not taken: options, fragments, other protocols, two tags,
        // another ethertype after the tag.
        eth()
            .vlan(3, 0)
            .ipv4_with(Ipv4 {
                src: V4A,
                dst: V4B,
                options: vec![0x94, 4, 0, 0],
                ..Ipv4::default()
            })
            .udp(1, 2)
            .pad60(),
        eth()
            .ipv4_with(Ipv4 {
                src: V4A,
                dst: V4B,
                more_frags: true,
                ..Ipv4::default()
            })
            .udp(1, 2)
            .payload(&[0; 24]),
        eth()
            .vlan(4, 0)
            .ipv4_with(Ipv4 {
                src: V4A,
                dst: V4B,
                frag_offset: 16,
                protocol: Some(ip_proto::TCP),
                ..Ipv4::default()
            })
            .payload(&[0; 24]),
        eth()
            .vlan(6, 0)
            .ipv4(V4A, V4B)
            .icmpv4_echo(true, 1, 2)
            .pad60(),
        eth()
            .ipv4(V4A, V4B)
            .sctp(1, 2, 3)
            .payload(&[0, 0, 0, 4])
            .pad60(),
        eth().vlan(7, 0).vlan(8, 0).ipv4(V4A, V4B).udp(1, 2).pad60(),
        eth().vlan(9, 0).ipv6(V6A, V6B).udp(1, 2),
        eth()
            .vlan(10, 0)
            .arp(Arp {
                op: 2,
                sha: A,
                spa: V4A,
                tha: B,
                tpa: V4B,
            })
            .pad60(),
    ]
}

/// The fast path's edges: every truncation, every value of each of the
/// first 64 bytes, every IPv4 total length and every UDP length / TCP data
/// offset and flags word, and padding after the IP packet, of every
/// `fast_shapes` frame. `check_consistent` holds `parse` to the general
/// walk and to the reference on each.
#[test]
fn fast_path_edges() {
    let mut rng = XorShift64::new(4);
    for b in fast_shapes() {
        let f = b.build().unwrap();
        assert!(f.len() >= 58, "{}", f.len());
        let k = check_consistent(&f, &mut rng).unwrap();
        for n in 0..f.len() {
            let _ = check_consistent(&f[..n], &mut rng);
        }
        let mut g = f.clone();
        for i in 0..f.len().min(64) {
            for v in 0..=255 {
                g[i] = v;
                let _ = check_consistent(&g, &mut rng);
            }
            g[i] = f[i];
        }
        let l3 = usize::from(k.l3_offset);
        let mut words = vec![l3 + 2];
        if k.has(present::L4) {
            let l4 = usize::from(k.l4_offset);
            words.push(l4 + if k.ip_proto == ip_proto::TCP { 12 } else { 4 });
        }
        for at in words {
            for w in 0..=u16::MAX {
                g[at..at + 2].copy_from_slice(&w.to_be_bytes());
                let _ = check_consistent(&g, &mut rng);
            }
            g[at..at + 2].copy_from_slice(&f[at..at + 2]);
        }
        for extra in [1, 2, 3, 8, 100] {
            g.resize(f.len() + extra, 0xa5);
            let padded = check_consistent(&g, &mut rng).unwrap();
            assert_eq!(padded, k, "{extra} bytes of padding");
        }
    }
}

/// A key full of junk, to show that `parse` writes what it promises.
fn junk_key(rng: &mut XorShift64) -> FlowKey {
    let mut r = || rng.next_u64();
    FlowKey {
        eth_dst: r(),
        eth_src: r(),
        in_port: r() as u32,
        ipv4_src: r() as u32,
        ipv4_dst: r() as u32,
        present: r() as u16,
        eth_type: r() as u16,
        vlan_vid: r() as u16,
        tp_src: r() as u16,
        tp_dst: r() as u16,
        l3_offset: r() as u16,
        l4_offset: r() as u16,
        tcp_flags: r() as u16,
        vlan_pcp: r() as u8,
        ip_dscp: r() as u8,
        ip_ecn: r() as u8,
        ip_proto: r() as u8,
        ip_ttl: r() as u8,
        icmp_type: r() as u8,
        icmp_code: r() as u8,
        vlan_count: r() as u8,
        mpls_tc: r() as u8,
        mpls_bos: r() as u8,
        mpls_ttl: r() as u8,
        mpls_label: r() as u32,
        pbb_isid: r() as u32,
        ipv6_src: (u128::from(r()) << 64) | u128::from(r()),
        ipv6_dst: (u128::from(r()) << 64) | u128::from(r()),
        ipv6_flabel: r() as u32,
        ipv6_exthdr: r() as u16,
        arp_op: r() as u16,
        arp_spa: r() as u32,
        arp_tpa: r() as u32,
        arp_sha: r(),
        arp_tha: r(),
        ipv6_nd_target: (u128::from(r()) << 64) | u128::from(r()),
        ipv6_nd_sll: r(),
        ipv6_nd_tll: r(),
    }
}

/// Checks one frame: `parse` into a junk key agrees with the reference
/// parser (same error, or same normalized key), and offsets point inside
/// the frame at the bytes the key claims. It also agrees with the general
/// walk (`parse` without its fast path) exactly: same result, and from the
/// same junk the same key, every field (stale ones included) and on `Err`
/// too.
fn check_consistent(frame: &[u8], rng: &mut XorShift64) -> Result<FlowKey, Malformed> {
    let mut k = junk_key(rng);
    let mut g = k;
    let got = parse(frame, 3, &mut k);
    assert_eq!(
        got,
        parse::parse_general(frame, 3, &mut g),
        "fast path vs general walk on {frame:02x?}"
    );
    assert_eq!(k, g, "fast path vs general walk on {frame:02x?}");
    let want = reference_parse(frame, 3);
    match (&got, &want) {
        (Ok(()), Ok(w)) => {
            let n = k.normalized();
            assert_eq!(&n, w, "frame {frame:02x?}");
            let l3 = usize::from(n.l3_offset);
            assert!(l3 <= frame.len());
            if n.has(present::IPV4) {
                assert_eq!(&frame[l3 + 12..l3 + 16], &n.ipv4_src.to_be_bytes());
            }
            if n.has(present::L4) {
                let l4 = usize::from(n.l4_offset);
                assert_eq!(&frame[l4..l4 + 2], &n.tp_src.to_be_bytes());
            }
            Ok(n)
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "frame {frame:02x?}");
            Err(*a)
        }
        _ => panic!("parse {got:?} vs reference {want:?} on {frame:02x?}"),
    }
}

#[test]
fn corpus_matches_reference() {
    let mut rng = XorShift64::new(1);
    for f in corpus() {
        check_consistent(&f, &mut rng).unwrap();
    }
}

/// The views' `check_len` rules and `parse` agree on every truncation of
/// every corpus frame (a truncated frame is never silently accepted
/// unless only padding or unparsed payload was cut).
#[test]
fn every_truncation() {
    let mut rng = XorShift64::new(2);
    for f in corpus() {
        for n in 0..f.len() {
            let _ = check_consistent(&f[..n], &mut rng);
        }
    }
}

/// Deterministic mutation run: random truncations, bit flips, byte
/// overwrites, length-field edits and extensions of valid frames. Nothing
/// may panic, `parse` must agree with the reference, and parsing must not
/// depend on what the key held before.
#[test]
fn mutations_never_panic_and_agree() {
    let corpus = corpus();
    let mut rng = XorShift64::new(0x5eed_f00d);
    let (mut ok, mut err) = (0u32, 0u32);
    let mut reasons = [0u32; Malformed::COUNT];
    const ROUNDS: usize = 200_000;
    let mut f = Vec::with_capacity(256);
    for _ in 0..ROUNDS {
        let base = &corpus[rng.below(corpus.len() as u64) as usize];
        f.clear();
        f.extend_from_slice(base);
        for _ in 0..1 + rng.below(3) {
            let len = f.len().max(1) as u64;
            match rng.below(6) {
                0 => f.truncate(rng.below(len + 1) as usize),
                1 => {
                    let i = rng.below(len) as usize;
                    if let Some(b) = f.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
                2 => {
                    let i = rng.below(len) as usize;
                    if let Some(b) = f.get_mut(i) {
                        *b = rng.next_u32() as u8;
                    }
                }
                3 => {
                    // Nudge a 16-bit word (likely a length or type field).
                    let i = rng.below(len.min(80)) as usize & !1;
                    if i + 1 < f.len() {
                        let w = u16::from_be_bytes([f[i], f[i + 1]]);
                        let d = rng.below(17) as i32 - 8;
                        let w = (i32::from(w) + d) as u16;
                        f[i..i + 2].copy_from_slice(&w.to_be_bytes());
                    }
                }
                4 => {
                    let extra = rng.below(24) as usize;
                    for _ in 0..extra {
                        f.push(rng.next_u32() as u8);
                    }
                }
                _ => {
                    // A length-ish byte: header length nibbles and lengths.
                    let i = rng.below(len.min(96)) as usize;
                    if let Some(b) = f.get_mut(i) {
                        *b = [0, 1, 2, 4, 5, 0x45, 0x4f, 0x50, 0xff][rng.below(9) as usize];
                    }
                }
            }
        }
        match check_consistent(&f, &mut rng) {
            Ok(_) => ok += 1,
            Err(e) => {
                err += 1;
                reasons[e.index()] += 1;
            }
        }
    }
    assert_eq!(ok as usize + err as usize, ROUNDS);
    // The run must exercise both outcomes and many distinct reasons.
    assert!(
        ok > ROUNDS as u32 / 10 && err > ROUNDS as u32 / 10,
        "{ok} ok, {err} err"
    );
    let distinct = reasons.iter().filter(|&&c| c > 0).count();
    assert!(distinct >= 15, "only {distinct} reasons hit: {reasons:?}");
}

/// Calls every getter of every view that `new_checked` accepts on `b`:
/// the module rule says none of them may panic.
fn exercise_views(b: &[u8]) -> usize {
    let mut n = 0;
    if let Ok(v) = EthernetFrame::new_checked(b) {
        n ^= (v.dst()[0] ^ v.src()[0]) as usize ^ v.ethertype() as usize ^ v.payload().len();
    }
    if let Ok(v) = VlanTag::new_checked(b) {
        n ^= v.pcp() as usize ^ v.dei() as usize ^ v.vid() as usize;
        n ^= v.ethertype() as usize ^ v.payload().len();
    }
    if let Ok(v) = MplsEntry::new_checked(b) {
        n ^= v.label() as usize ^ v.tc() as usize ^ v.bos() as usize ^ v.ttl() as usize;
        n ^= v.payload().len();
    }
    if let Ok(v) = PbbITag::new_checked(b) {
        n ^= v.isid() as usize ^ v.pcp() as usize ^ v.dei() as usize ^ v.uca() as usize;
        n ^= v.customer_dst()[0] as usize ^ v.customer_src()[5] as usize;
        n ^= v.customer_ethertype() as usize ^ v.payload().len();
    }
    if let Ok(v) = ArpPacket::new_checked(b) {
        n ^= v.htype() as usize ^ v.ptype() as usize ^ v.oper() as usize;
        n ^= v.is_ethernet_ipv4() as usize ^ v.sha()[0] as usize ^ v.spa() as usize;
        n ^= v.tha()[0] as usize ^ v.tpa() as usize;
        n ^= v.sender_hw().len() ^ v.sender_proto().len();
        n ^= v.target_hw().len() ^ v.target_proto().len();
    }
    if let Ok(v) = Ipv4Packet::new_checked(b) {
        n ^= v.version() as usize ^ v.header_len() ^ v.dscp() as usize ^ v.ecn() as usize;
        n ^= v.total_len() as usize ^ v.ident() as usize ^ v.dont_frag() as usize;
        n ^= v.more_frags() as usize ^ v.frag_offset() as usize ^ v.is_fragment() as usize;
        n ^= v.ttl() as usize ^ v.protocol() as usize ^ v.checksum() as usize;
        n ^= v.src() as usize ^ v.dst() as usize ^ v.options().len() ^ v.payload().len();
        n ^= v.verify_checksum() as usize;
    }
    if let Ok(v) = Ipv6Packet::new_checked(b) {
        n ^= v.version() as usize ^ v.traffic_class() as usize ^ v.dscp() as usize;
        n ^= v.ecn() as usize ^ v.flow_label() as usize ^ v.payload_len() as usize;
        n ^= v.next_header() as usize ^ v.hop_limit() as usize;
        n ^= (v.src() ^ v.dst()) as usize ^ v.payload().len();
    }
    for kind in [0u8, 43, 44, 51, 60] {
        if let Ok(v) = Ipv6ExtHeader::new_checked(b, kind) {
            n ^= v.kind() as usize ^ v.next_header() as usize ^ v.header_len();
            n ^= v.data().len() ^ v.payload().len();
            n ^= v.routing_type() as usize ^ v.segments_left() as usize;
        }
    }
    if let Ok(v) = Ipv6FragHeader::new_checked(b) {
        n ^= v.next_header() as usize ^ v.frag_offset() as usize;
        n ^= v.more_frags() as usize ^ v.ident() as usize;
    }
    if let Ok(v) = Icmpv4Packet::new_checked(b) {
        n ^= v.msg_type() as usize ^ v.code() as usize ^ v.checksum() as usize;
        n ^= v.echo_ident() as usize ^ v.echo_seq() as usize ^ v.payload().len();
        n ^= v.verify_checksum() as usize;
    }
    if let Ok(v) = Icmpv6Packet::new_checked(b) {
        n ^= v.msg_type() as usize ^ v.code() as usize ^ v.checksum() as usize;
        n ^= v.body().len() ^ v.verify_checksum(V6A, V6B) as usize;
    }
    if let Ok(v) = NdMessage::new_checked(b) {
        n ^= v.msg_type() as usize ^ v.code() as usize ^ v.flags() as usize;
        n ^= v.target() as usize;
        for o in v.options().flatten() {
            n ^= o.kind as usize ^ o.data.len() ^ o.link_layer_addr().is_some() as usize;
        }
    }
    if let Ok(v) = TcpPacket::new_checked(b) {
        n ^= v.src_port() as usize ^ v.dst_port() as usize ^ v.seq() as usize;
        n ^= v.ack() as usize ^ v.header_len() ^ v.flags() as usize ^ v.window() as usize;
        n ^= v.checksum() as usize ^ v.urgent() as usize ^ v.options().len();
        n ^= v.payload().len() ^ v.verify_checksum_v4(1, 2) as usize;
        n ^= v.verify_checksum_v6(1, 2) as usize;
    }
    if let Ok(v) = UdpPacket::new_checked(b) {
        n ^= v.src_port() as usize ^ v.dst_port() as usize ^ v.length() as usize;
        n ^= v.checksum() as usize ^ v.payload().len();
        n ^= v.verify_checksum_v4(1, 2) as usize ^ v.verify_checksum_v6(1, 2) as usize;
    }
    if let Ok(v) = SctpPacket::new_checked(b) {
        n ^= v.src_port() as usize ^ v.dst_port() as usize;
        n ^= v.verification_tag() as usize ^ v.checksum() as usize;
        n ^= v.chunks().len() ^ v.verify_checksum() as usize;
    }
    n
}

/// Slices of corpus frames at random offsets (so that every view sees
/// real headers of its kind), randomly cut and corrupted.
#[test]
fn views_never_panic_after_check_len() {
    let corpus = corpus();
    let mut rng = XorShift64::new(11);
    let mut sink = 0usize;
    for _ in 0..20_000 {
        let base = &corpus[rng.below(corpus.len() as u64) as usize];
        let start = rng.below(base.len() as u64) as usize;
        let end = start + rng.below((base.len() - start) as u64 + 1) as usize;
        let mut b = base[start..end].to_vec();
        if !b.is_empty() && rng.chance(1, 2) {
            let i = rng.below(b.len() as u64) as usize;
            b[i] = rng.next_u32() as u8;
        }
        sink = sink.wrapping_add(exercise_views(&b));
    }
    assert_ne!(sink, 0);
}

/// 16-bit one's-complement sum, the slow obvious way.
fn naive_sum(bytes: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        s += if i % 2 == 0 {
            u64::from(b) << 8
        } else {
            u64::from(b)
        };
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// Bitwise CRC32c (no table).
fn naive_crc32c(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Every checksum of every builder frame, recomputed from scratch with
/// naive code and pseudo-headers assembled byte by byte.
#[test]
fn builder_checksums_recomputed_from_scratch() {
    let mut checked = [0u32; 5];
    for f in corpus() {
        let k = key_of(&f);
        if !k.is_ip() || k.has(present::LATER_FRAG) {
            continue;
        }
        let l3 = usize::from(k.l3_offset);
        let l4 = usize::from(k.l4_offset);
        let (pseudo, seg): (Vec<u8>, &[u8]) = if k.has(present::IPV4) {
            let ihl = usize::from(f[l3] & 15) * 4;
            let total = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
            assert_eq!(naive_sum(&f[l3..l3 + ihl]), 0xffff, "ipv4 header");
            checked[0] += 1;
            let seg = &f[l4..l3 + total];
            let mut p = f[l3 + 12..l3 + 20].to_vec();
            p.extend_from_slice(&[0, k.ip_proto]);
            p.extend_from_slice(&(seg.len() as u16).to_be_bytes());
            (p, seg)
        } else {
            let plen = usize::from(u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]));
            let seg = &f[l4..l3 + 40 + plen];
            let mut p = f[l3 + 8..l3 + 40].to_vec();
            p.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, k.ip_proto]);
            (p, seg)
        };
        match k.ip_proto {
            ip_proto::TCP | ip_proto::UDP | ip_proto::ICMPV6 => {
                let all = [pseudo, seg.to_vec()].concat();
                assert_eq!(naive_sum(&all), 0xffff, "proto {}", k.ip_proto);
                checked[1] += 1;
            }
            ip_proto::ICMP => {
                assert_eq!(naive_sum(seg), 0xffff, "icmpv4");
                checked[2] += 1;
            }
            ip_proto::SCTP => {
                let mut z = seg.to_vec();
                z[8..12].fill(0);
                assert_eq!(naive_crc32c(&z).to_le_bytes(), seg[8..12], "sctp");
                checked[3] += 1;
            }
            _ => checked[4] += 1,
        }
    }
    assert!(checked[..4].iter().all(|&c| c > 0), "{checked:?}");
}
