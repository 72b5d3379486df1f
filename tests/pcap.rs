//! pcap in → pcap out through net_pcap vdevs, compared byte for byte with
//! the expected file; plus a scrape of /metrics during the run that passes
//! `promtool check metrics` and whose counters match the traffic sent.
mod common;

use common::frames::{read_pcap, traffic, write_pcap};
use common::{preamble, require_root, sample, scratch, Sluice};
use std::process::Command;

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
