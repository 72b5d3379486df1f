//! Tests of the action executor: every action, with every checksum
//! verified from scratch on the result and the flow key compared with a
//! fresh parse of the rewritten packet.

use super::exec::{self, raise_drop_precedence, remark_dscp, Applied, Fault};
use super::fields::{self, Registers};
use super::packet::{PacketBuf, VecPacket};
use crate::openflow::{Action, Field, ALL_FIELDS};
use crate::rng::XorShift64;
use crate::wire::build::{Arp, Ipv4, Ipv6, PacketBuilder, Tcp};
use crate::wire::checksum::{crc32c, internet_checksum, l4_checksum_v4, l4_checksum_v6, sum};
use crate::wire::{self, ip_proto, present, FlowKey};

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];
const V6A: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0001;
const V6B: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0002;

fn tcp(src: u16, dst: u16) -> Tcp {
    Tcp {
        src,
        dst,
        seq: 7,
        ..Tcp::default()
    }
}

/// One frame of every kind the executor handles.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let b = || PacketBuilder::new().eth(B, A);
    let mut udp0 = b()
        .ipv4(0x0a00_0001, 0x0a00_0002)
        .udp(53, 1053)
        .payload(b"zero")
        .build()
        .unwrap();
    udp0[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    vec![
        (
            "ipv4/tcp",
            b().ipv4_with(Ipv4 {
                src: 0xc0a8_0a0a,
                dst: 0xc0a8_1414,
                ttl: 64,
                dscp: 8,
                ecn: 1,
                ..Ipv4::default()
            })
            .tcp_with(tcp(11111, 2222))
            .payload(&[1, 2, 3, 4, 5, 6, 7])
            .build()
            .unwrap(),
        ),
        (
            "vlan/ipv4/udp",
            b().vlan(100, 3)
                .ipv4(0x0a00_0001, 0x0a00_0002)
                .udp(1000, 2000)
                .payload(b"udp!")
                .build()
                .unwrap(),
        ),
        ("ipv4/udp zero checksum", udp0),
        (
            "ipv4 options/sctp",
            b().ipv4_with(Ipv4 {
                src: 1,
                dst: 2,
                options: vec![1, 1, 1, 0],
                ..Ipv4::default()
            })
            .sctp(5000, 6000, 0xdead_beef)
            .payload(&[0, 3, 0, 8, 1, 2, 3, 4])
            .build()
            .unwrap(),
        ),
        (
            "ipv4/icmp",
            b().ipv4(0x0a00_0001, 0x0a00_0002)
                .icmpv4_echo(false, 7, 1)
                .payload(b"ping")
                .build()
                .unwrap(),
        ),
        (
            "ipv6/tcp",
            b().ipv6_with(Ipv6 {
                src: V6A,
                dst: V6B,
                traffic_class: 0x21,
                flow_label: 0x12345,
                ..Ipv6::default()
            })
            .tcp_with(tcp(80, 8080))
            .payload(b"v6 tcp")
            .build()
            .unwrap(),
        ),
        (
            "ipv6/hop-by-hop/udp",
            b().ipv6(V6A, V6B)
                .hop_by_hop(&[])
                .udp(4000, 4001)
                .payload(b"ext")
                .build()
                .unwrap(),
        ),
        (
            "ipv6/icmpv6 echo",
            b().ipv6(V6A, V6B)
                .icmpv6(128, 0, &[0, 1, 0, 2, 9, 9])
                .build()
                .unwrap(),
        ),
        (
            "ipv6/nd solicit",
            b().ipv6(V6A, V6B).nd_solicit(V6B, Some(A)).build().unwrap(),
        ),
        (
            "ipv6/nd advert",
            b().ipv6(V6A, V6B)
                .nd_advert(V6A, 0x60, Some(B))
                .build()
                .unwrap(),
        ),
        (
            "svlan/vlan/ipv6/udp",
            b().svlan(10, 1)
                .vlan(20, 2)
                .ipv6(V6A, V6B)
                .udp(1, 2)
                .payload(b"qinq")
                .build()
                .unwrap(),
        ),
        (
            "arp",
            b().arp(Arp {
                op: 1,
                sha: A,
                spa: 0x0a00_0001,
                tha: [0; 6],
                tpa: 0x0a00_0002,
            })
            .pad60()
            .build()
            .unwrap(),
        ),
        (
            "mpls/ipv4/tcp",
            b().mpls(100, 3, 64)
                .ipv4(1, 2)
                .tcp_with(tcp(1, 2))
                .build()
                .unwrap(),
        ),
        (
            "mpls/mpls/ipv6/tcp",
            b().mpls(100, 3, 64)
                .mpls(200, 5, 30)
                .ipv6(V6A, V6B)
                .tcp_with(tcp(3, 4))
                .build()
                .unwrap(),
        ),
        (
            "pbb/ipv4/udp",
            b().pbb(0x1234, 2, A, B)
                .ipv4(1, 2)
                .udp(7, 8)
                .build()
                .unwrap(),
        ),
    ]
}

fn fresh(frame: &[u8]) -> Option<FlowKey> {
    let mut k = FlowKey::default();
    wire::parse(frame, 1, &mut k).ok().map(|()| k.normalized())
}

/// Every checksum of the frame, computed from scratch: `Err` names the
/// first one that is wrong. `layout` overrides which transport header the
/// bytes after the IP header hold (after set_field:ip_proto the header is
/// still the old one).
fn verify_checksums(frame: &[u8], layout: Option<u8>) -> Result<(), String> {
    let mut key = FlowKey::default();
    if wire::parse(frame, 1, &mut key).is_err() {
        return Ok(());
    }
    verify_with(frame, &key, layout.unwrap_or(key.ip_proto), key.ip_proto)
}

/// As [`verify_checksums`], with the layer offsets of `key`, the transport
/// header read as protocol `layout` and the pseudo-header protocol
/// `pseudo_proto`.
fn verify_with(frame: &[u8], key: &FlowKey, layout: u8, pseudo_proto: u8) -> Result<(), String> {
    let mpls_ip = key.has(present::MPLS).then(|| {
        // The IP header under a bottom-of-stack entry (for copy_ttl_in).
        let mut at = usize::from(key.l3_offset);
        while frame[at + 2] & 1 == 0 {
            at += 4;
        }
        at + 4
    });
    if let Some(at) = mpls_ip {
        if frame[at] >> 4 == 4 && frame[at] & 0x0f >= 5 {
            let hl = usize::from(frame[at] & 0xf) * 4;
            if sum(&frame[at..at + hl]) != 0xffff {
                return Err("IPv4 header under MPLS".into());
            }
        }
        return Ok(());
    }
    if !key.is_ip() {
        return Ok(());
    }
    let l3 = usize::from(key.l3_offset);
    let l4 = usize::from(key.l4_offset);
    let v4 = key.has(present::IPV4);
    let end = if v4 {
        let hl = usize::from(frame[l3] & 0xf) * 4;
        if sum(&frame[l3..l3 + hl]) != 0xffff {
            return Err("IPv4 header".into());
        }
        l3 + usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]))
    } else {
        l3 + 40 + usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]]))
    };
    if key.has(present::LATER_FRAG) {
        return Ok(());
    }
    let proto = layout;
    let mut seg = frame[l4..end].to_vec();
    let (at, zero_ok) = match proto {
        ip_proto::TCP => (16, false),
        ip_proto::UDP => (6, v4),
        ip_proto::ICMPV6 if !v4 => (2, false),
        ip_proto::ICMP if v4 => {
            let stored = u16::from_be_bytes([seg[2], seg[3]]);
            seg[2..4].copy_from_slice(&[0, 0]);
            return if internet_checksum(&seg) == stored {
                Ok(())
            } else {
                Err("ICMPv4".into())
            };
        }
        ip_proto::SCTP => {
            let stored = u32::from_le_bytes([seg[8], seg[9], seg[10], seg[11]]);
            seg[8..12].copy_from_slice(&[0; 4]);
            return if crc32c(&seg) == stored {
                Ok(())
            } else {
                Err("SCTP CRC32c".into())
            };
        }
        _ => return Ok(()),
    };
    let stored = u16::from_be_bytes([seg[at], seg[at + 1]]);
    if zero_ok && stored == 0 {
        return Ok(());
    }
    seg[at..at + 2].copy_from_slice(&[0, 0]);
    let mut want = if v4 {
        l4_checksum_v4(key.ipv4_src, key.ipv4_dst, pseudo_proto, &seg)
    } else {
        l4_checksum_v6(key.ipv6_src, key.ipv6_dst, pseudo_proto, &seg)
    };
    if proto == ip_proto::UDP && want == 0 {
        want = 0xffff;
    }
    if stored == want {
        Ok(())
    } else {
        Err(format!(
            "L4 proto {proto}: stored {stored:#06x}, from scratch {want:#06x}"
        ))
    }
}

struct Packet {
    buf: VecPacket,
    key: FlowKey,
    regs: Registers,
}

fn packet(frame: &[u8]) -> Packet {
    let mut key = FlowKey::default();
    wire::parse(frame, 1, &mut key).expect("sample parses");
    Packet {
        buf: VecPacket::new(frame),
        key,
        regs: Registers::default(),
    }
}

impl Packet {
    fn run(&mut self, a: &Action) -> Result<Applied, Fault> {
        exec::execute(a, &mut self.buf, &mut self.key, &mut self.regs)
    }

    /// The key matches a fresh parse and every checksum verifies.
    fn check(&self, what: &str) {
        let data = self.buf.data();
        if let Some(k) = fresh(data) {
            assert_eq!(
                self.key.normalized(),
                k,
                "{what}: key out of step with the packet"
            );
        }
        if let Err(e) = verify_checksums(data, None) {
            panic!("{what}: bad checksum: {e}");
        }
    }
}

/// Fields that share a `FlowKey` member with `f`.
fn same_storage(f: Field, g: Field) -> bool {
    use Field::*;
    let group = |x: Field| match x {
        TcpSrc | UdpSrc | SctpSrc => 1,
        TcpDst | UdpDst | SctpDst => 2,
        Icmpv4Type | Icmpv6Type => 3,
        Icmpv4Code | Icmpv6Code => 4,
        _ => 100 + x as u32,
    };
    group(f) == group(g)
}

/// Does writing this field change how the packet parses?
fn structural(f: Field) -> bool {
    matches!(
        f,
        Field::EthType | Field::IpProto | Field::Icmpv6Type | Field::Icmpv6Code
    )
}

/// Every writable field on every sample that has it, with random values
/// and masks: the field takes the new value, nothing else changes, the key
/// stays in step and all checksums verify.
#[test]
fn set_field_on_every_field() {
    let mut rng = XorShift64::new(42);
    let mut done = 0;
    for (name, frame) in samples() {
        let before = packet(&frame);
        for &field in ALL_FIELDS
            .iter()
            .filter(|f| f.writable() && **f != Field::TunnelId)
        {
            let has = match field {
                Field::VlanVid | Field::VlanPcp => before.key.vlan_count > 0,
                f => fields::has(&before.key, f),
            };
            if !has {
                continue;
            }
            for trial in 0..12 {
                let full = field.full_mask();
                let mut value =
                    (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) & full;
                let mask = if trial % 3 == 2 {
                    (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) & full
                } else {
                    full
                };
                if field == Field::VlanVid {
                    value |= 0x1000;
                }
                let mut p = packet(&frame);
                let old = fields::raw(&p.key, &p.regs, field);
                let old_proto = p.key.ip_proto;
                let want = (old & !mask) | (value & mask);
                let what = format!("{name}: set_field:{value:#x}/{mask:#x}->{field}");
                let applied = p
                    .run(&Action::SetField {
                        field,
                        value: value & mask,
                        mask,
                    })
                    .unwrap();
                done += 1;
                let after = fresh(p.buf.data());
                if structural(field) {
                    match applied {
                        Applied::Modified => {
                            let k = after.expect("parses after Modified");
                            // A new eth_type that is a TPID, or an IPv6 next
                            // header that is an extension header, makes the
                            // parser walk on: the key reports what follows.
                            let walks_on = match field {
                                Field::EthType => wire::vlan::is_tpid(want as u16),
                                Field::IpProto => {
                                    k.has(present::IPV6)
                                        && matches!(want, 0 | 43 | 44 | 50 | 51 | 59 | 60)
                                }
                                _ => false,
                            };
                            if !walks_on {
                                assert_eq!(fields::raw(&k, &p.regs, field), want, "{what}");
                            }
                            assert_eq!(p.key.normalized(), k, "{what}");
                        }
                        Applied::Unparseable(_) => assert!(after.is_none(), "{what}"),
                        other => panic!("{what}: {other:?}"),
                    }
                    let r = if field == Field::IpProto {
                        verify_with(p.buf.data(), &before.key, old_proto, want as u8)
                    } else {
                        verify_checksums(p.buf.data(), None)
                    };
                    if let Err(e) = r {
                        panic!("{what}: {e}");
                    }
                    continue;
                }
                assert_eq!(applied, Applied::Modified, "{what}");
                p.check(&what);
                let k = after.expect("non-structural rewrite parses");
                let field_now = if field == Field::VlanVid {
                    want & 0x1fff
                } else {
                    want
                };
                assert_eq!(fields::raw(&k, &p.regs, field), field_now, "{what}");
                for &other in ALL_FIELDS.iter().filter(|g| !same_storage(field, **g)) {
                    assert_eq!(
                        fields::value(&k, &p.regs, other),
                        fields::value(&before.key.normalized(), &before.regs, other),
                        "{what}: {other} changed"
                    );
                }
                assert_eq!(p.buf.len(), frame.len(), "{what}: length");
            }
        }
    }
    assert!(done > 500, "only {done} rewrites");
}

#[test]
fn set_field_on_a_missing_header_is_skipped() {
    let frames = samples();
    let arp = &frames.iter().find(|(n, _)| *n == "arp").unwrap().1;
    for f in [
        Field::Ipv4Src,
        Field::TcpDst,
        Field::VlanVid,
        Field::MplsLabel,
        Field::Ipv6NdSll,
        Field::PbbIsid,
    ] {
        let mut p = packet(arp);
        let r = p.run(&Action::set_field(f, 1)).unwrap();
        assert!(matches!(r, Applied::Skipped(_)), "{f}: {r:?}");
        assert_eq!(p.buf.data(), arp.as_slice());
    }
    let mut p = packet(arp);
    assert!(matches!(
        p.run(&Action::set_field(Field::Metadata, 1)).unwrap(),
        Applied::Skipped(_)
    ));
}

#[test]
fn tunnel_id_is_a_register() {
    let (_, frame) = &samples()[0];
    let mut p = packet(frame);
    let r = p
        .run(&Action::SetField {
            field: Field::TunnelId,
            value: 0x3000,
            mask: 0xf000,
        })
        .unwrap();
    assert_eq!(r, Applied::Register);
    assert_eq!(p.regs.tunnel_id, 0x3000);
    assert_eq!(p.buf.data(), frame.as_slice());
}

#[test]
fn zero_udp_checksum_stays_zero() {
    let frames = samples();
    let udp0 = &frames.iter().find(|(n, _)| n.contains("zero")).unwrap().1;
    for a in [
        Action::set_field(Field::UdpSrc, 9),
        Action::set_field(Field::Ipv4Dst, 0x0102_0304),
        Action::set_field(Field::IpProto, 6),
    ] {
        let mut p = packet(udp0);
        p.run(&a).unwrap();
        assert_eq!(&p.buf.data()[40..42], &[0, 0], "{a}");
    }
}

#[test]
fn sctp_crc_is_recomputed() {
    let frames = samples();
    let sctp = &frames.iter().find(|(n, _)| n.contains("sctp")).unwrap().1;
    let mut p = packet(sctp);
    p.run(&Action::set_field(Field::SctpDst, 12345)).unwrap();
    p.check("sctp_dst");
    assert_ne!(p.buf.data(), sctp.as_slice());
}

fn frame(name: &str) -> Vec<u8> {
    samples().into_iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn push_vlan_copies_the_outer_tag() {
    let f = frame("ipv4/tcp");
    let mut p = packet(&f);
    assert_eq!(p.run(&Action::PushVlan(0x8100)).unwrap(), Applied::Modified);
    p.check("push_vlan");
    assert_eq!(&p.buf.data()[12..18], &[0x81, 0x00, 0, 0, 0x08, 0x00]);
    assert_eq!((p.key.vlan_vid, p.key.vlan_count), (0x1000, 1));
    p.run(&Action::set_field(Field::VlanVid, 0x1000 | 100))
        .unwrap();
    p.run(&Action::set_field(Field::VlanPcp, 5)).unwrap();
    p.run(&Action::PushVlan(0x88a8)).unwrap();
    p.check("push_vlan twice");
    assert_eq!(
        &p.buf.data()[12..22],
        &[0x88, 0xa8, 0xa0, 100, 0x81, 0x00, 0xa0, 100, 0x08, 0x00]
    );
    assert_eq!(
        (p.key.vlan_vid, p.key.vlan_pcp, p.key.vlan_count),
        (0x1064, 5, 2)
    );
    assert_eq!(&p.buf.data()[22..], &f[14..]);
}

#[test]
fn pop_vlan_restores_the_frame() {
    let f = frame("ipv4/tcp");
    let mut p = packet(&f);
    p.run(&Action::PushVlan(0x8100)).unwrap();
    assert_eq!(p.run(&Action::PopVlan).unwrap(), Applied::Modified);
    p.check("pop_vlan");
    assert_eq!(p.buf.data(), f.as_slice());
    assert!(matches!(
        p.run(&Action::PopVlan).unwrap(),
        Applied::Skipped(_)
    ));
    let q = frame("svlan/vlan/ipv6/udp");
    let mut p = packet(&q);
    p.run(&Action::PopVlan).unwrap();
    p.check("pop outer of two");
    assert_eq!((p.key.vlan_vid, p.key.vlan_count), (0x1000 | 20, 1));
}

#[test]
fn push_mpls_onto_ip_takes_the_ttl() {
    let f = frame("vlan/ipv4/udp");
    let mut p = packet(&f);
    assert_eq!(p.run(&Action::PushMpls(0x8847)).unwrap(), Applied::Modified);
    p.check("push_mpls");
    let d = p.buf.data();
    // After the VLAN tag: ethertype 0x8847, label 0, TC 0, BoS 1, TTL 64.
    assert_eq!(&d[16..22], &[0x88, 0x47, 0, 0, 1, 64]);
    assert_eq!(&d[22..], &f[18..]);
    assert_eq!(
        (p.key.mpls_label, p.key.mpls_bos, p.key.mpls_ttl),
        (0, 1, 64)
    );

    let arp = frame("arp");
    let mut p = packet(&arp);
    p.run(&Action::PushMpls(0x8848)).unwrap();
    assert_eq!(
        &p.buf.data()[12..18],
        &[0x88, 0x48, 0, 0, 1, 0],
        "TTL 0 when not IP"
    );
}

#[test]
fn push_mpls_onto_mpls_copies_the_top_entry() {
    let f = frame("mpls/ipv4/tcp");
    let mut p = packet(&f);
    p.run(&Action::PushMpls(0x8847)).unwrap();
    p.check("push_mpls on mpls");
    let d = p.buf.data();
    let top = u32::from_be_bytes([d[14], d[15], d[16], d[17]]);
    assert_eq!(
        top,
        (100 << 12) | (3 << 9) | 64,
        "label 100, TC 3, BoS 0, TTL 64"
    );
    assert_eq!(&d[18..], &f[14..]);
}

#[test]
fn pop_mpls_sets_the_ethertype() {
    let f = frame("mpls/ipv4/tcp");
    let mut p = packet(&f);
    assert_eq!(p.run(&Action::PopMpls(0x0800)).unwrap(), Applied::Modified);
    p.check("pop_mpls");
    assert!(p.key.has(present::IPV4 | present::L4));
    assert_eq!(&p.buf.data()[12..14], &[0x08, 0x00]);
    assert_eq!(&p.buf.data()[14..], &f[18..]);
    let mut two = packet(&frame("mpls/mpls/ipv6/tcp"));
    two.run(&Action::PopMpls(0x8847)).unwrap();
    assert_eq!((two.key.mpls_label, two.key.mpls_bos), (200, 1));
    assert!(matches!(
        packet(&frame("arp")).run(&Action::PopMpls(0x800)).unwrap(),
        Applied::Skipped(_)
    ));
}

#[test]
fn push_and_pop_pbb() {
    let f = frame("vlan/ipv4/udp");
    let mut p = packet(&f);
    assert_eq!(p.run(&Action::PushPbb(0x88e7)).unwrap(), Applied::Modified);
    p.check("push_pbb");
    let d = p.buf.data().to_vec();
    assert_eq!(&d[..12], &f[..12], "B-DA/B-SA copied from the frame");
    assert_eq!(&d[12..18], &[0x88, 0xe7, 0, 0, 0, 0]);
    assert_eq!(
        &d[18..],
        f.as_slice(),
        "the whole frame is the customer frame"
    );
    assert_eq!(p.key.pbb_isid, 0);
    p.run(&Action::set_field(Field::PbbIsid, 0xabcdef)).unwrap();
    p.run(&Action::PushPbb(0x88e7)).unwrap();
    assert_eq!(
        &p.buf.data()[14..18],
        &[0, 0xab, 0xcd, 0xef],
        "I-SID of the inner I-TAG"
    );
    p.run(&Action::PopPbb).unwrap();
    assert_eq!(p.run(&Action::PopPbb).unwrap(), Applied::Modified);
    p.check("pop_pbb");
    assert_eq!(p.buf.data(), f.as_slice());
    assert!(matches!(
        p.run(&Action::PopPbb).unwrap(),
        Applied::Skipped(_)
    ));
}

#[test]
fn pop_pbb_removes_a_backbone_tag_too() {
    let inner = frame("ipv4/tcp");
    let mut f = PacketBuilder::new()
        .eth(B, A)
        .svlan(10, 0)
        .pbb(100, 0, B, A)
        .ipv4(1, 2)
        .build()
        .unwrap();
    f.truncate(14 + 4 + 18 - 2);
    f.extend_from_slice(&inner[12..]);
    let mut p = packet(&f);
    assert!(p.key.has(present::PBB));
    p.run(&Action::PopPbb).unwrap();
    assert_eq!(p.buf.data(), inner.as_slice());
}

#[test]
fn pushes_need_headroom() {
    let f = frame("ipv4/tcp");
    for a in [
        Action::PushVlan(0x8100),
        Action::PushMpls(0x8847),
        Action::PushPbb(0x88e7),
    ] {
        let mut key = FlowKey::default();
        wire::parse(&f, 1, &mut key).unwrap();
        let mut buf = VecPacket::with_headroom(&f, 3);
        let r = exec::execute(&a, &mut buf, &mut key, &mut Registers::default());
        assert_eq!(r, Err(Fault::NoHeadroom), "{a}");
        assert_eq!(buf.data(), f.as_slice(), "{a}: unchanged");
    }
}

#[test]
fn ip_ttl_actions() {
    for name in ["ipv4/tcp", "ipv6/tcp", "vlan/ipv4/udp"] {
        let f = frame(name);
        let mut p = packet(&f);
        p.run(&Action::DecNwTtl).unwrap();
        p.check("dec_ttl");
        assert_eq!(p.key.ip_ttl, 63);
        p.run(&Action::SetNwTtl(1)).unwrap();
        p.check("set_nw_ttl");
        assert_eq!(p.key.ip_ttl, 1);
        let before = p.buf.to_vec();
        assert_eq!(p.run(&Action::DecNwTtl), Err(Fault::TtlExpired), "{name}");
        assert_eq!(
            p.buf.data(),
            before.as_slice(),
            "expiry leaves the packet alone"
        );
        p.run(&Action::SetNwTtl(0)).unwrap();
        assert_eq!(p.run(&Action::DecNwTtl), Err(Fault::TtlExpired));
    }
    assert!(matches!(
        packet(&frame("arp")).run(&Action::DecNwTtl).unwrap(),
        Applied::Skipped(_)
    ));
}

#[test]
fn mpls_ttl_actions() {
    let f = frame("mpls/ipv4/tcp");
    let mut p = packet(&f);
    p.run(&Action::DecMplsTtl).unwrap();
    assert_eq!((p.key.mpls_ttl, p.buf.data()[17]), (63, 63));
    p.run(&Action::SetMplsTtl(1)).unwrap();
    assert_eq!(p.run(&Action::DecMplsTtl), Err(Fault::TtlExpired));
    p.check("mpls ttl");
    assert!(matches!(
        packet(&frame("ipv4/tcp")).run(&Action::DecMplsTtl).unwrap(),
        Applied::Skipped(_)
    ));
}

#[test]
fn copy_ttl_between_mpls_and_ip() {
    let f = PacketBuilder::new()
        .eth(B, A)
        .mpls(100, 3, 64)
        .ipv4_with(Ipv4 {
            src: 1,
            dst: 2,
            ttl: 32,
            ..Ipv4::default()
        })
        .tcp_with(tcp(1, 2))
        .build()
        .unwrap();
    let mut p = packet(&f);
    p.run(&Action::CopyTtlOut).unwrap();
    assert_eq!((p.key.mpls_ttl, p.buf.data()[17]), (32, 32));
    p.run(&Action::SetMplsTtl(77)).unwrap();
    p.run(&Action::CopyTtlIn).unwrap();
    assert_eq!(p.buf.data()[18 + 8], 77, "IPv4 TTL");
    verify_checksums(p.buf.data(), None).expect("IPv4 header checksum under MPLS");

    let mut two = packet(&frame("mpls/mpls/ipv6/tcp"));
    two.run(&Action::CopyTtlOut).unwrap();
    assert_eq!(two.key.mpls_ttl, 30, "from the second entry");
    two.run(&Action::SetMplsTtl(9)).unwrap();
    two.run(&Action::CopyTtlIn).unwrap();
    assert_eq!(two.buf.data()[21], 9, "into the second entry");
    assert!(matches!(
        packet(&frame("ipv4/tcp")).run(&Action::CopyTtlIn).unwrap(),
        Applied::Skipped(_)
    ));
}

#[test]
fn structural_rewrites_reparse() {
    let f = frame("ipv6/icmpv6 echo");
    let mut p = packet(&f);
    // An echo turned into a neighbor solicitation: its body is not valid
    // ND, so the packet no longer parses and the key keeps L2 only.
    let r = p.run(&Action::set_field(Field::Icmpv6Type, 135)).unwrap();
    assert!(matches!(r, Applied::Unparseable(_)), "{r:?}");
    assert_eq!(p.key.present, 0);
    assert_eq!(p.key.eth_type, 0x86dd);
    assert_eq!(p.key.ipv6_src, 0, "nothing stale");
    verify_checksums(p.buf.data(), None).unwrap();
    // And back: parses again.
    assert_eq!(
        p.run(&Action::set_field(Field::EthType, 0x86dd)).unwrap(),
        Applied::Modified
    );

    let mut p = packet(&frame("ipv4/tcp"));
    p.run(&Action::set_field(Field::EthType, 0x8847)).unwrap();
    assert!(p.key.has(present::MPLS) && !p.key.is_ip());
}

#[test]
fn set_queue_output_group_are_deferred() {
    let mut p = packet(&frame("ipv4/tcp"));
    for a in [
        Action::SetQueue(1),
        Action::Group(2),
        Action::Output(crate::openflow::OutPort::InPort),
    ] {
        assert_eq!(p.run(&a).unwrap(), Applied::Deferred);
    }
}

#[test]
fn dscp_remark_raises_the_drop_precedence() {
    // AF21 (18) -> AF22 (20) -> AF23 (22), saturating; non-AF unchanged.
    assert_eq!(raise_drop_precedence(18, 1), 20);
    assert_eq!(raise_drop_precedence(18, 2), 22);
    assert_eq!(raise_drop_precedence(22, 1), 22);
    assert_eq!(raise_drop_precedence(10, 255), 14);
    for d in [0, 46, 8, 56, 1, 63] {
        assert_eq!(raise_drop_precedence(d, 1), d, "{d}");
    }
    for name in ["ipv4/tcp", "ipv6/tcp"] {
        let mut p = packet(&frame(name));
        p.run(&Action::set_field(Field::IpDscp, 34)).unwrap();
        let r = remark_dscp(1, &mut p.buf, &mut p.key, &mut p.regs);
        assert_eq!(r, Applied::Modified);
        assert_eq!(p.key.ip_dscp, 36, "{name}");
        p.check(name);
    }
    let mut arp = packet(&frame("arp"));
    assert!(matches!(
        remark_dscp(1, &mut arp.buf, &mut arp.key, &mut arp.regs),
        Applied::Skipped(_)
    ));
}

/// Random action sequences on random samples: never a panic, the key
/// always in step with a parseable packet, checksums always valid.
#[test]
fn random_action_sequences_keep_the_key_and_checksums() {
    use crate::openflow::OutPort;
    let mut rng = XorShift64::new(7);
    let frames = samples();
    let writable: Vec<Field> = ALL_FIELDS
        .iter()
        .copied()
        .filter(|f| f.writable() && !structural(*f))
        .collect();
    for round in 0..1500 {
        let (name, f) = &frames[rng.below(frames.len() as u64) as usize];
        let mut p = packet(f);
        for step in 0..8 {
            let a = match rng.below(12) {
                0 => Action::PushVlan(if rng.chance(1, 2) { 0x8100 } else { 0x88a8 }),
                1 => Action::PopVlan,
                2 => Action::PushMpls(0x8847),
                3 => Action::PopMpls(if rng.chance(1, 2) { 0x0800 } else { 0x86dd }),
                4 => Action::PushPbb(0x88e7),
                5 => Action::PopPbb,
                6 => Action::DecNwTtl,
                7 => Action::CopyTtlIn,
                8 => Action::Output(OutPort::InPort),
                _ => {
                    let field = writable[rng.below(writable.len() as u64) as usize];
                    let v = (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()))
                        & field.full_mask();
                    Action::set_field(
                        field,
                        if field == Field::VlanVid {
                            v | 0x1000
                        } else {
                            v
                        },
                    )
                }
            };
            let what = format!("{name} round {round} step {step}: {a}");
            match p.run(&a) {
                Ok(Applied::Unparseable(_)) => break,
                Ok(_) => p.check(&what),
                Err(Fault::TtlExpired) => {}
                Err(e) => panic!("{what}: {e}"),
            }
        }
    }
}
