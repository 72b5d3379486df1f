//! pcap in → pcap out through net_pcap vdevs, compared byte for byte with
//! the expected file; plus a scrape of /metrics during the run that passes
//! `promtool check metrics` and whose counters match the traffic sent.
mod common;

use common::{preamble, require_root, sample, scratch, Sluice};
use sluice::wire::build::{Arp, PacketBuilder};
use sluice::wire::pcap::{PcapReader, PcapWriter};
use std::path::Path;
use std::process::Command;

const A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// Test traffic: (frame, forwarded?) — every kind of frame the parser
/// knows, jumbo frames, inconsistent headers and runts.
fn traffic() -> Vec<(Vec<u8>, bool)> {
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

fn write_pcap(path: &Path, frames: &[&[u8]]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for f in frames {
        w.write_packet(f).unwrap();
    }
    w.into_inner().unwrap();
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    PcapReader::new(std::fs::File::open(path).unwrap())
        .unwrap()
        .map(|r| r.unwrap().data)
        .collect()
}

fn promtool_check(metrics: &str) {
    let Ok(promtool) = which("promtool") else {
        assert!(
            std::env::var("CI").is_err(),
            "promtool missing under CI (apt-get install prometheus)"
        );
        eprintln!("skipped promtool check: promtool not installed");
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "promtool check metrics:\n{text}\n---\n{metrics}"
    );
}

fn which(cmd: &str) -> Result<String, ()> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .map_err(|_| ())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(())
    }
}

#[test]
fn pcap_in_pcap_out_byte_for_byte_and_metrics() {
    if !require_root() {
        return;
    }
    let dir = scratch("pcap");
    let traffic = traffic();
    let input = dir.join("in.pcap");
    let output = dir.join("out.pcap");
    write_pcap(
        &input,
        &traffic
            .iter()
            .map(|(f, _)| f.as_slice())
            .collect::<Vec<_>>(),
    );
    let expected: Vec<&[u8]> = traffic
        .iter()
        .filter(|(_, fwd)| *fwd)
        .map(|(f, _)| f.as_slice())
        .collect();
    let sent = traffic.len() as f64;
    let malformed = (traffic.len() - expected.len()) as f64;
    let in_bytes: usize = traffic.iter().map(|(f, _)| f.len()).sum();
    let out_bytes: usize = expected.iter().map(|f| f.len()).sum();

    let prefix = "sluice-t-pcap";
    let config = format!(
        "{}[mempool]\ndata_room = 10240\n\n\
         [[port]]\nname = \"in\"\ndevice = \"net_pcap0,rx_pcap={}\"\n\n\
         [[port]]\nname = \"out\"\ndevice = \"net_pcap1,tx_pcap={}\"\nmtu = 9100\n\n\
         [[forward]]\nin = \"in\"\nout = \"out\"\n",
        preamble(prefix, &[1]),
        input.display(),
        output.display()
    );
    let sluice = Sluice::start(&dir, prefix, &config);
    let m = sluice.wait_metrics("all frames received", 30, |m| {
        sample(m, "sluice_port_rx_packets_total", &[("port", "in")]) == Some(sent)
            && sample(m, "sluice_port_tx_packets_total", &[("port", "out")])
                == Some(expected.len() as f64)
    });
    promtool_check(&m);
    assert_eq!(
        sample(&m, "sluice_port_rx_bytes_total", &[("port", "in")]),
        Some(in_bytes as f64),
        "{m}"
    );
    assert_eq!(
        sample(&m, "sluice_port_tx_bytes_total", &[("port", "out")]),
        Some(out_bytes as f64),
        "{m}"
    );
    assert_eq!(
        sample(&m, "sluice_drops_total", &[("reason", "malformed")]),
        Some(malformed),
        "{m}"
    );
    assert_eq!(
        sample(&m, "sluice_drops_total", &[("reason", "no_route")]),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "sluice_port_tx_packets_total", &[("port", "in")]),
        Some(0.0),
        "{m}"
    );
    assert!(m.contains("sluice_build_info{"), "{m}");
    let (code, _) = sluice.get("/nope");
    assert_eq!(code, 404);

    let fin = sluice.stop();
    fin.assert_clean();
    let got = read_pcap(&output);
    assert_eq!(got.len(), expected.len(), "frames out");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g.as_slice(), *e, "frame {i} differs");
    }
    assert_eq!(fin.drop_count("malformed"), malformed as u64);
}
