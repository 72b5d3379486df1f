//! Test traffic and pcap files.

use sluice::wire::build::{Arp, PacketBuilder};
use sluice::wire::pcap::{PcapReader, PcapWriter};
use std::path::Path;

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// Test traffic: (frame, forwarded?) — every kind of frame the parser
/// knows, jumbo frames, inconsistent headers and runts.
pub fn traffic() -> Vec<(Vec<u8>, bool)> {
    let ip = |a: [u8; 4]| u32::from_be_bytes(a);
    let v6 = |last: u16| 0x2001_0db8_0000_0000_0000_0000_0000_0000u128 | last as u128;
    let mut out = Vec::new();
    let mut add = |b: PacketBuilder, fwd: bool| out.push((b.build().expect("build frame"), fwd));
    for i in 0..20u16 {
        add(
            PacketBuilder::new()
                .eth(B, A)
                .ipv4(ip([10, 0, 0, 1]), ip([10, 0, 1, i as u8]))
                .udp(1000 + i, 53)
                .payload(&[i as u8; 18])
                .pad60(),
            true,
        );
        add(
            PacketBuilder::new()
                .eth(B, A)
                .ipv4(ip([10, 0, 0, 1]), ip([10, 0, 2, 1]))
                .tcp(40000 + i, 80)
                .pad60(),
            true,
        );
    }
    add(
        PacketBuilder::new()
            .eth(B, A)
            .vlan(100, 3)
            .ipv4(ip([10, 1, 0, 1]), ip([10, 1, 0, 2]))
            .udp(1, 2)
            .pad60(),
        true,
    );
    add(
        PacketBuilder::new()
            .eth(B, A)
            .svlan(200, 0)
            .vlan(100, 5)
            .ipv6(v6(1), v6(2))
            .tcp(5, 6),
        true,
    );
    add(
        PacketBuilder::new()
            .eth(B, A)
            .ipv6(v6(1), v6(2))
            .hop_by_hop(&[])
            .dest_opts(&[])
            .udp(7, 8),
        true,
    );
    add(
        PacketBuilder::new()
            .eth(B, A)
            .ipv6(v6(1), v6(2))
            .nd_solicit(v6(9), Some(A)),
        true,
    );
    add(
        PacketBuilder::new()
            .eth(B, A)
            .ipv4(ip([10, 0, 0, 1]), ip([10, 0, 0, 2]))
            .icmpv4_echo(false, 7, 1)
            .pad60(),
        true,
    );
    add(
        PacketBuilder::new()
            .eth([0xff; 6], A)
            .arp(Arp {
                op: 1,
                sha: A,
                spa: ip([10, 0, 0, 1]),
                tha: [0; 6],
                tpa: ip([10, 0, 0, 2]),
            })
            .pad60(),
        true,
    );
    add(
        PacketBuilder::new()
            .eth(B, A)
            .mpls(16, 0, 64)
            .ipv4(ip([1, 1, 1, 1]), ip([2, 2, 2, 2]))
            .udp(1, 1),
        true,
    );
    // An ethertype no parser layer knows (LLDP): L2 only.
    add(
        PacketBuilder::new()
            .eth([0x01, 0x80, 0xc2, 0, 0, 0x0e], A)
            .ethertype(0x88cc)
            .payload(&[2, 7, 4])
            .pad60(),
        true,
    );
    // Jumbo frames.
    add(
        PacketBuilder::new()
            .eth(B, A)
            .ipv4(ip([10, 0, 0, 1]), ip([10, 0, 0, 9]))
            .udp(9, 9)
            .payload(&vec![0x5a; 8972]),
        true,
    );
    add(
        PacketBuilder::new()
            .eth(B, A)
            .ipv6(v6(1), v6(3))
            .tcp(9, 9)
            .payload(&vec![0xa5; 8900]),
        true,
    );
    // Inconsistent L3/L4 headers: the static port map reads no header
    // beyond Ethernet, so it forwards them untouched (an L2 patch); the
    // OpenFlow pipeline parses them and drops them as malformed.
    let good = PacketBuilder::new()
        .eth(B, A)
        .ipv4(ip([10, 0, 0, 1]), ip([10, 0, 0, 2]))
        .tcp(1, 2)
        .build()
        .unwrap();
    out.push((good[..14 + 12].to_vec(), true));
    let mut long = good.clone();
    long[16] = 0x05; // total length 0x05xx > frame
    out.push((long, true));
    out.push((good[..14 + 20 + 10].to_vec(), true));
    // Runts shorter than an Ethernet header are malformed for everyone.
    out.push((good[..10].to_vec(), false));
    out.push((good[..13].to_vec(), false));
    out.push((Vec::new(), false));
    out
}

pub fn write_pcap(path: &Path, frames: &[&[u8]]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for f in frames {
        w.write_packet(f).unwrap();
    }
    w.into_inner().unwrap();
}

pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    PcapReader::new(std::fs::File::open(path).unwrap())
        .unwrap()
        .map(|r| r.unwrap().data)
        .collect()
}
