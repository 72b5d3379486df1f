//! Hitless reload under load, through the real binary.
//!
//! `net_pcap` replays numbered frames from memory at full speed into one
//! worker; two configs alternate 100 times, one routing to port `b`, the
//! other to `c` (and changing a tenant's rate, so the tenant table is
//! rebuilt every time). Both outputs are pcap files. Every frame carries
//! its position in the replayed sequence, so from the two files we can
//! rebuild the order in which the worker handled them: each generation
//! must be exactly one unbroken run of the sequence on its port, the runs
//! must alternate b, c, b, ... and join up with nothing missing or
//! repeated, and the count must match the input port's counter with zero
//! drops.

mod common;

use common::{preamble, require_root, scratch, Sluice};
use sluice::wire::build::PacketBuilder;
use sluice::wire::pcap::{PcapReader, PcapWriter};
use std::path::Path;

/// Distinct frames replayed in a loop (more than one generation carries,
/// so a run's end and the next run's start are never ambiguous).
const SEQ_SPACE: u32 = 32768;
const RELOADS: u64 = 100;
/// Where each frame carries its sequence number (the UDP payload).
const SEQ_OFFSET: usize = 14 + 20 + 8;

fn frame(seq: u32) -> Vec<u8> {
    PacketBuilder::new()
        .eth([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(0x0a00_0001, 0x0a00_0002)
        .udp(1000, 2000)
        .payload(&seq.to_be_bytes())
        .build()
        .expect("a valid frame")
}

fn config(prefix: &str, dir: &Path, out: &str, rate: &str) -> String {
    let pre = preamble(prefix, &[1])
        .replace("memory_mb = 512", "memory_mb = 1024")
        .replace("[admin]\n", "[admin]\nwatch = false\n");
    let (input, b, c) = (dir.join("in.pcap"), dir.join("b.pcap"), dir.join("c.pcap"));
    format!(
        "{pre}[mempool]\nmbufs = 40000\n\n\
         [[port]]\nname = \"in\"\ndevice = \"net_pcap0,rx_pcap={},infinite_rx=1\"\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_pcap1,tx_pcap={}\"\n\n\
         [[port]]\nname = \"c\"\ndevice = \"net_pcap2,tx_pcap={}\"\n\n\
         [[tenant]]\nname = \"t\"\nmatch = {{ ports = [\"in\"] }}\nrate = \"{rate}\"\n\n\
         [pipeline]\nflows = [\"table=0,priority=10,in_port=in,actions=output:{out}\"]\n",
        input.display(),
        b.display(),
        c.display(),
    )
}

fn seqs(path: &Path) -> Vec<u32> {
    PcapReader::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .unwrap()
        .map(|r| {
            let d = r.unwrap().data;
            u32::from_be_bytes(d[SEQ_OFFSET..SEQ_OFFSET + 4].try_into().unwrap())
        })
        .collect()
}

/// Splits a file's sequence numbers into maximal runs of consecutive
/// numbers (modulo the replay length): `(first, last, len)`.
fn runs(s: &[u32]) -> Vec<(u32, u32, u64)> {
    let mut out: Vec<(u32, u32, u64)> = Vec::new();
    for &x in s {
        match out.last_mut() {
            Some(r) if (r.1 + 1) % SEQ_SPACE == x => {
                r.1 = x;
                r.2 += 1;
            }
            _ => out.push((x, x, 1)),
        }
    }
    out
}

fn post_reload(s: &Sluice) -> (u16, serde_json::Value) {
    let (code, body) = s.reload();
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (code, v)
}

#[test]
fn reloads_under_load_switch_exactly_between_bursts() {
    if !require_root() {
        return;
    }
    let dir = scratch("reload");
    {
        let mut w = PcapWriter::new(std::fs::File::create(dir.join("in.pcap")).unwrap()).unwrap();
        for seq in 0..SEQ_SPACE {
            w.write_packet(&frame(seq)).unwrap();
        }
        w.into_inner().unwrap();
    }
    let prefix = "sl-reload";
    let a = config(prefix, &dir, "b", "100Gbit");
    let b = config(prefix, &dir, "c", "90Gbit");
    let s = Sluice::start(&dir, prefix, &a);
    let path = dir.join("sluice.toml");
    s.wait_metrics("traffic on b", 20, |m| {
        common::sample(m, "sluice_port_tx_packets_total", &[("port", "b")]).unwrap_or(0.0) > 0.0
    });
    for i in 1..=RELOADS {
        let text = if i % 2 == 1 { &b } else { &a };
        // Written as config management does: a new file renamed over the old.
        let tmp = dir.join("sluice.toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let (code, v) = post_reload(&s);
        assert_eq!(code, 200, "reload {i}: {v}");
        assert_eq!(v["result"], "success", "reload {i}: {v}");
        assert_eq!(v["generation"], 1 + i, "reload {i}: {v}");
        assert!(v.get("warnings").is_none(), "reload {i}: {v}");
    }
    let m = s.metrics();
    assert_eq!(
        common::sample(&m, "sluice_config_generation", &[]),
        Some((1 + RELOADS) as f64)
    );
    assert_eq!(
        common::sample(&m, "sluice_config_reloads_total", &[("result", "success")]),
        Some(RELOADS as f64)
    );
    assert_eq!(
        common::sample(&m, "sluice_config_reloads_total", &[("result", "failure")]),
        Some(0.0)
    );
    // Flow counters continued over 100 reloads: the one flow (same table,
    // priority and match each time) has counted every packet so far. (The
    // worker counts a match before it counts the burst received, so a
    // later scrape's matches cover an earlier scrape's rx.)
    let rx = common::sample(&m, "sluice_port_rx_packets_total", &[("port", "in")]).unwrap();
    let m2 = s.metrics();
    let flow = common::sample(
        &m2,
        "sluice_pipeline_table_matches_total",
        &[("table", "0")],
    )
    .expect("table 0 matches");
    assert!(
        flow >= rx,
        "matches {flow} < rx {rx}: flow counters were not carried"
    );
    let f = s.stop();
    f.assert_clean();

    let rx = f.port_row("in")[0];
    let tx_b = f.port_row("b")[2];
    let tx_c = f.port_row("c")[2];
    for reason in [
        "malformed",
        "no_route",
        "tx_full",
        "no_mbuf",
        "policed",
        "port_down",
    ] {
        assert_eq!(f.drop_count(reason), 0, "{reason}:\n{}", f.stdout);
    }
    if let Some(l) = f.stdout.lines().find(|l| l.starts_with("pipeline drops:")) {
        assert!(
            l.split_whitespace().skip(2).all(|kv| kv.ends_with("=0")),
            "{l}"
        );
    }
    assert_eq!(
        rx,
        tx_b + tx_c,
        "every packet received was sent:\n{}",
        f.stdout
    );

    let sb = seqs(&dir.join("b.pcap"));
    let sc = seqs(&dir.join("c.pcap"));
    assert_eq!(sb.len() as u64, tx_b);
    assert_eq!(sc.len() as u64, tx_c);
    let (rb, rc) = (runs(&sb), runs(&sc));
    // Generation 1 and every odd one route to b, the even ones to c: one
    // unbroken run each.
    assert_eq!(rb.len() as u64, RELOADS / 2 + 1, "runs on b: {rb:?}");
    assert_eq!(rc.len() as u64, RELOADS / 2, "runs on c: {rc:?}");
    assert_eq!(rb[0].0, 0, "the replay starts at frame 0");
    let mut order = Vec::new();
    for (i, r) in rb.iter().enumerate() {
        order.push(*r);
        order.extend(rc.get(i));
    }
    for (g, w) in order.windows(2).enumerate() {
        assert_eq!(
            (w[0].1 + 1) % SEQ_SPACE,
            w[1].0,
            "generation {} ends at frame {} but generation {} starts at {}",
            g + 1,
            w[0].1,
            g + 2,
            w[1].0
        );
    }
    let total: u64 = order.iter().map(|r| r.2).sum();
    assert_eq!(total, rx);
    eprintln!(
        "{} packets over {} generations, {} to b and {} to c; shortest generation {} packets",
        rx,
        order.len(),
        tx_b,
        tx_c,
        order.iter().map(|r| r.2).min().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A port's admin state changes live: down, nothing is sent to it (counted
/// as `port_down`) and `/status` says so; up again, traffic resumes. The
/// static `[[forward]]` map reloads like a pipeline.
#[test]
fn port_admin_state_changes_live() {
    if !require_root() {
        return;
    }
    let dir = scratch("admin-state");
    let prefix = "sl-admin-state";
    let cfg = |state: &str| {
        preamble(prefix, &[1]).replace("[admin]\n", "[admin]\nwatch = false\n")
            + &format!(
                "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n\n\
                 [[port]]\nname = \"b\"\ndevice = \"net_null1,no-rx=1\"\nadmin = \"{state}\"\n\n\
                 [[forward]]\nin = \"a\"\nout = \"b\"\n"
            )
    };
    let s = Sluice::start(&dir, prefix, &cfg("up"));
    let tx_b = |m: &str| common::sample(m, "sluice_port_tx_packets_total", &[("port", "b")]);
    let down = |m: &str| common::sample(m, "sluice_drops_total", &[("reason", "port_down")]);
    s.wait_metrics("traffic on b", 20, |m| tx_b(m).unwrap_or(0.0) > 0.0);
    let path = dir.join("sluice.toml");
    for (i, state) in ["down", "up"].into_iter().enumerate() {
        std::fs::write(&path, cfg(state)).unwrap();
        let (code, v) = post_reload(&s);
        assert_eq!((code, &v["result"]), (200, &"success".into()), "{v}");
        assert_eq!(v["generation"], 2 + i as u64);
        let (_, status) = s.get("/status");
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(status["ports"][1]["admin_state"], state, "{status}");
        assert_eq!(status["workers"][0]["generation"], 2 + i as u64, "{status}");
        let m = s.metrics();
        let (t0, d0) = (tx_b(&m).unwrap(), down(&m).unwrap());
        // Traffic keeps arriving on a; where it goes depends on b's state.
        let m = s.wait_metrics("more traffic", 20, |m| {
            let d = down(m).unwrap() - d0;
            let t = tx_b(m).unwrap() - t0;
            d + t > 1_000_000.0
        });
        let (t1, d1) = (tx_b(&m).unwrap(), down(&m).unwrap());
        if state == "down" {
            assert_eq!(t1, t0, "nothing sent to a port that is down");
            assert!(d1 > d0);
        } else {
            assert_eq!(d1, d0, "no port_down drops once it is up");
            assert!(t1 > t0);
        }
    }
    let f = s.stop();
    f.assert_clean();
    let rx = f.port_row("a")[0];
    let tx = f.port_row("b")[2];
    assert_eq!(rx, tx + f.drop_count("port_down") + f.drop_count("tx_full"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGHUP reloads; a second SIGHUP with the same file changes nothing;
/// `/status` reports the signal as the trigger and each worker's recent
/// load.
#[test]
fn sighup_reloads_the_config_file() {
    if !require_root() {
        return;
    }
    let dir = scratch("sighup");
    let prefix = "sl-sighup";
    let cfg = |out: &str| {
        preamble(prefix, &[1]).replace("[admin]\n", "[admin]\nwatch = false\n")
            + &format!(
                "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n\n\
                 [[port]]\nname = \"b\"\ndevice = \"net_null1,no-rx=1\"\n\n\
                 [[port]]\nname = \"c\"\ndevice = \"net_null2,no-rx=1\"\n\n\
                 [pipeline]\nflows = [\"in_port=a,actions=output:{out}\"]\n"
            )
    };
    let s = Sluice::start(&dir, prefix, &cfg("b"));
    let status = |s: &Sluice| -> serde_json::Value {
        let (code, body) = s.get("/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    std::fs::write(dir.join("sluice.toml"), cfg("c")).unwrap();
    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &s.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    hup();
    s.wait_metrics("generation 2", 20, |m| {
        common::sample(m, "sluice_config_generation", &[]) == Some(2.0)
    });
    let st = status(&s);
    assert_eq!(st["config"]["last_reload"]["trigger"], "signal", "{st}");
    assert_eq!(st["config"]["last_reload"]["result"], "success", "{st}");
    let m = s.wait_metrics("traffic on c", 20, |m| {
        common::sample(m, "sluice_port_tx_packets_total", &[("port", "c")]).unwrap_or(0.0) > 0.0
    });
    let b = common::sample(&m, "sluice_port_tx_packets_total", &[("port", "b")]).unwrap();
    hup();
    s.wait_metrics("a second reload", 20, |m| {
        common::sample(m, "sluice_config_reloads_total", &[("result", "success")]) == Some(2.0)
    });
    let st = status(&s);
    assert_eq!(st["config"]["last_reload"]["result"], "unchanged", "{st}");
    assert_eq!(st["config"]["generation"], 2);
    let load = st["workers"][0]["load"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&load), "{st}");
    let m = s.metrics();
    assert_eq!(
        common::sample(&m, "sluice_port_tx_packets_total", &[("port", "b")]),
        Some(b),
        "nothing goes to b after the switch"
    );
    s.stop().assert_clean();
    let _ = std::fs::remove_dir_all(&dir);
}
