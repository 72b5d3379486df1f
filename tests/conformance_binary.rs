//! The OpenFlow 1.3 conformance corpus (`shared/conformance/of13-corpus.json`,
//! see its README) through the real `sluice` binary on DPDK `net_pcap`
//! vdevs: at least one case of every source file of the corpus.
//!
//! What runs: for every source file its first case of each packet
//! expectation kind (egress, packet-in, table-miss drop; every match file
//! has all three, so its cases 0, 1 and 2), and for the throughput files
//! (meters, groups) their first case as a short burst. Env
//! `SLUICE_CONFORMANCE_BINARY=first` runs only the first case of every file,
//! `=all` every case of the corpus (991; about 7.5 minutes here).
//!
//! How: one `sluice run` per case (the flows of two cases conflict), with
//! three ports in config order, so their OpenFlow numbers are the corpus
//! ports 1, 2, 3: `p1` reads the ingress pcap (and writes what it sends
//! back out of port 1), `p2` and `p3` write pcaps. The test waits until
//! `p1` received every frame and the expected outputs or packet-ins showed
//! up (plus a settle time for unexpected ones), scrapes `/metrics` and
//! `/packet-ins`, stops the process with SIGTERM (which flushes the tx
//! pcaps), requires a clean exit with every mbuf back in the pool, and
//! compares byte for byte, outputs shorter than 60 bytes padded to 60:
//! * egress: exactly the expected frames on each port, nothing on the
//!   others, no packet-in;
//! * packet-in: exactly the expected data and reason, no output;
//! * drop: no output and no packet-in, `table_miss` drops equal to the
//!   dropped frames, and every miss in one of the expected tables
//!   (`sluice_pipeline_table_lookups − matches`).
//!
//! Throughput cases cannot be timed through pcap vdevs (net_pcap delivers
//! the file as fast as the worker polls), so they run as a burst:
//! * groups: `pktps × duration_s` frames (at most 2,000), random fields
//!   regenerated from a fixed seed (IPv4 and TCP/UDP checksums recomputed);
//!   every port's output is an in-order subsequence of the frames sent,
//!   unchanged; `all` sends every frame out of every expected port,
//!   `select` every frame out of exactly one; the bytes per port (through
//!   the expectation's match filter), scaled to the stream's packet rate,
//!   must be within the expectation's tolerance — the bucket split is
//!   deterministic (fixed hash salt, fixed seed), so this is not flaky.
//! * meters: 1,000 frames, far more than any band's default burst (at most
//!   128 KB or 100 packets here), arrive within milliseconds: the check is
//!   only that the meter acts — a drop band forwards some unchanged frames
//!   and drops the rest (counted as `meter` drops and as band packets), a
//!   dscp_remark band forwards all, some unchanged and some remarked (with a
//!   correct IPv4 checksum), each matching one of the expectation's filters
//!   (non-IP frames, which have no DSCP, all unchanged).
//!   The rates themselves are checked in-process with a simulated clock
//!   (tests/conformance.rs).
//!
//! The corpus is at `$CARGO_MANIFEST_DIR/../../shared/conformance/`; when it
//! is missing the test fails under `CI=true` and is skipped, with the
//! reason, elsewhere. Needs root (DPDK).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sluice::openflow::{parse_match, Match, NoPortNames};
use sluice::pipeline::fields::{self, Registers};
use sluice::rng::XorShift64;
use sluice::wire::pcap::{PcapReader, PcapWriter};
use sluice::wire::{self, checksum, present, FlowKey, Ipv4Packet, TcpPacket, UdpPacket};

use common::{preamble, require_root, sample, scratch, ScratchDir, Sluice};

/// Ryu pads frames to this length (without FCS).
const MIN_FRAME: usize = 60;
/// Frames sent for a meter case.
const METER_BURST: usize = 1000;
/// Most frames sent for a group case.
const GROUP_STREAM_MAX: usize = 2000;
/// How long `p1` may take to receive the ingress pcap.
const RX_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the expected outputs and packet-ins may take after that.
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(2);
/// Extra wait for outputs nobody expects (packet-ins reach the admin
/// listener within ~50 ms), repeated while frames still leave.
const SETTLE: Duration = Duration::from_millis(80);
/// Seed of the random fields of group streams.
const SEED: u64 = 0x0f13_b1a5_5eed_0001;

// The subset of the corpus schema this test reads.

#[derive(Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    category: String,
    source_file: String,
    kind: String,
    #[serde(default)]
    meters: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    flows: Vec<String>,
    ingress: Vec<Ingress>,
    expected: Vec<Expectation>,
}

#[derive(Deserialize)]
struct Ingress {
    in_port: u32,
    packet_hex: String,
    stream: Option<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    pktps: f64,
    duration_s: f64,
    #[serde(default)]
    random_fields: Vec<RandomField>,
}

#[derive(Deserialize)]
struct RandomField {
    offset: usize,
    length: usize,
    #[serde(default)]
    generator: String,
}

#[derive(Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum Expectation {
    Egress { egress: Vec<Frame> },
    PacketIn { packet_in: Frame },
    Drop { table_miss_tables: Vec<u32> },
    Throughput { throughput: Vec<Rate> },
}

#[derive(Deserialize)]
struct Frame {
    #[serde(default)]
    port: u32,
    packet_hex: String,
    /// A packet-in's reason (`action`, `no_match`).
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct Rate {
    port: u32,
    #[serde(rename = "match", default)]
    filter: String,
    expected_bytes_per_s: Option<f64>,
    pktps: Option<f64>,
    #[serde(default = "default_tolerance")]
    tolerance: f64,
}

fn default_tolerance() -> f64 {
    0.1
}

impl Expectation {
    fn kind(&self) -> &'static str {
        match self {
            Expectation::Egress { .. } => "egress",
            Expectation::PacketIn { .. } => "packet_in",
            Expectation::Drop { .. } => "drop",
            Expectation::Throughput { .. } => "throughput",
        }
    }
}

/// Which cases run (env `SLUICE_CONFORMANCE_BINARY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Selection {
    /// The first case of every source file.
    First,
    /// Per source file, the first case of each expectation kind (default).
    Kinds,
    /// Every case.
    All,
}

impl Selection {
    fn from_env() -> Selection {
        match std::env::var("SLUICE_CONFORMANCE_BINARY").as_deref() {
            Ok("first") => Selection::First,
            Ok("all") => Selection::All,
            Ok("kinds") | Ok("") | Err(_) => Selection::Kinds,
            Ok(other) => panic!("SLUICE_CONFORMANCE_BINARY={other}: want first, kinds or all"),
        }
    }

    fn pick(self, cases: &[Case]) -> Vec<&Case> {
        let mut seen: Vec<(&str, &str)> = Vec::new();
        let mut out = Vec::new();
        for c in cases {
            // Packet cases have one expectation kind; use the first.
            let kind = c.expected.first().map_or("none", Expectation::kind);
            let key = match self {
                Selection::All => {
                    out.push(c);
                    continue;
                }
                Selection::First => (c.source_file.as_str(), ""),
                Selection::Kinds => (c.source_file.as_str(), kind),
            };
            if !seen.contains(&key) {
                seen.push(key);
                out.push(c);
            }
        }
        out
    }
}

fn corpus() -> Option<Corpus> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/of13-corpus.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("the corpus matches its schema")),
        Err(e) => {
            let reason = format!("OpenFlow corpus not found at {}: {e}", path.display());
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{reason}");
            }
            eprintln!("skipping: {reason}");
            None
        }
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return Err(format!("bad hex string of {} characters", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("bad hex at {i}: {e}")))
        .collect()
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    if v.len() < MIN_FRAME {
        v.resize(MIN_FRAME, 0);
    }
    v
}

/// Where two frames first differ, or `None`.
fn diff(what: &str, got: &[u8], want: &[u8]) -> Option<String> {
    if got == want {
        return None;
    }
    Some(match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => format!(
            "{what}: first difference at byte {at}: got {:#04x}, want {:#04x} (lengths {}/{})",
            got[at],
            want[at],
            got.len(),
            want.len()
        ),
        None => format!(
            "{what}: length {}, want {} (equal up to the shorter)",
            got.len(),
            want.len()
        ),
    })
}

/// Compares two frame sequences (both already padded).
fn diff_frames(what: &str, got: &[Vec<u8>], want: &[Vec<u8>]) -> Result<(), String> {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if let Some(d) = diff(&format!("{what} frame {i}"), g, w) {
            return Err(d);
        }
    }
    if got.len() != want.len() {
        return Err(format!("{what}: {} frames, want {}", got.len(), want.len()));
    }
    Ok(())
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The scratch directory of one case, removed when dropped.
struct CaseDir(ScratchDir);

impl CaseDir {
    fn ingress(&self) -> PathBuf {
        self.0.join("in.pcap")
    }

    /// The tx pcap of corpus port `port` (1..=3).
    fn out(&self, port: u32) -> PathBuf {
        self.0.join(format!("out{port}.pcap"))
    }
}

fn config(dir: &CaseDir, prefix: &str, case: &Case) -> String {
    let device = |i: u32, rx: bool| {
        let rx = if rx {
            format!("rx_pcap={},", dir.ingress().display())
        } else {
            String::new()
        };
        toml_str(&format!(
            "net_pcap{},{rx}tx_pcap={}",
            i - 1,
            dir.out(i).display()
        ))
    };
    format!(
        "{}[mempool]\ndata_room = 4096\n\n\
         [[port]]\nname = \"p1\"\ndevice = {}\n\n\
         [[port]]\nname = \"p2\"\ndevice = {}\n\n\
         [[port]]\nname = \"p3\"\ndevice = {}\n\n\
         [pipeline]\nmeters = {}\ngroups = {}\nflows = {}\n",
        preamble(prefix, &[1]),
        device(1, true),
        device(2, false),
        device(3, false),
        toml_list(&case.meters),
        toml_list(&case.groups),
        toml_list(&case.flows),
    )
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut w = PcapWriter::new(std::io::BufWriter::new(file)).map_err(|e| e.to_string())?;
    for f in frames {
        w.write_packet(f).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())?;
    Ok(())
}

/// The frames in a pcap, padded to 60 bytes.
fn read_pcap(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = PcapReader::new(std::io::BufReader::new(file))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    reader
        .map(|r| {
            r.map(|rec| padded(&rec.data))
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect()
}

/// The mask in a Ryu generator such as `randint(0, 2 ** 48 - 1) &
/// 280375465082879` (decimal or 0x hex), if any.
fn generator_mask(generator: &str) -> Option<u128> {
    let rest = generator[generator.rfind('&')? + 1..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    match rest[..end].strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => rest[..end].parse().ok(),
    }
}

/// Recomputes the IPv4 header checksum and an IPv4 TCP/UDP checksum (the
/// corpus randomises only Ethernet, IPv4 and TCP fields).
fn fix_ipv4_checksums(frame: &mut [u8]) {
    let mut key = FlowKey::default();
    if wire::parse(frame, 1, &mut key).is_err() || !key.has(present::IPV4) || key.has(present::FRAG)
    {
        return;
    }
    let (l3, l4) = (usize::from(key.l3_offset), usize::from(key.l4_offset));
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[l3..]);
    ip.fill_checksum();
    let end = (l3 + usize::from(ip.total_len())).min(frame.len());
    if !key.has(present::L4) || l4 > end {
        return;
    }
    let seg = &mut frame[l4..end];
    match key.ip_proto {
        6 => TcpPacket::new_unchecked(seg).fill_checksum_v4(key.ipv4_src, key.ipv4_dst),
        17 => UdpPacket::new_unchecked(seg).fill_checksum_v4(key.ipv4_src, key.ipv4_dst),
        _ => {}
    }
}

/// True when the frame's IPv4 header checksum is right (or it has none).
fn ipv4_checksum_ok(frame: &[u8]) -> bool {
    let mut key = FlowKey::default();
    if wire::parse(frame, 2, &mut key).is_err() || !key.has(present::IPV4) {
        return true;
    }
    let l3 = usize::from(key.l3_offset);
    let ihl = frame.get(l3).map_or(0, |b| usize::from(b & 0x0f) * 4);
    ihl >= 20 && frame.get(l3..l3 + ihl).is_some_and(checksum::verify)
}

/// The frames a case sends into port 1: each ingress packet, or for a
/// throughput case its burst.
fn ingress_frames(case: &Case) -> Result<Vec<Vec<u8>>, String> {
    let mut frames = Vec::new();
    for ing in &case.ingress {
        if ing.in_port != 1 {
            return Err(format!(
                "ingress on port {}: only port 1 is wired",
                ing.in_port
            ));
        }
        let base = unhex(&ing.packet_hex)?;
        let Some(stream) = &ing.stream else {
            frames.push(base);
            continue;
        };
        let n = if case.category == "meter" {
            METER_BURST
        } else {
            ((stream.pktps * stream.duration_s) as usize).clamp(1, GROUP_STREAM_MAX)
        };
        for f in &stream.random_fields {
            if f.length > 16 || f.offset + f.length > base.len() {
                return Err(format!(
                    "random field {}+{} does not fit",
                    f.offset, f.length
                ));
            }
        }
        let mut rng = XorShift64::new(SEED);
        for _ in 0..n {
            let mut frame = base.clone();
            for f in &stream.random_fields {
                let mut v = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
                if let Some(mask) = generator_mask(&f.generator) {
                    v &= mask;
                }
                frame[f.offset..f.offset + f.length]
                    .copy_from_slice(&v.to_be_bytes()[16 - f.length..]);
            }
            if !stream.random_fields.is_empty() {
                fix_ipv4_checksums(&mut frame);
            }
            frames.push(frame);
        }
    }
    Ok(frames)
}

/// What one run of the binary did.
struct Observed {
    /// Frames sent out of corpus ports 1, 2, 3 (index port − 1), padded.
    out: [Vec<Vec<u8>>; 3],
    /// Packet-in data, padded, oldest first.
    packet_ins: Vec<(String, Vec<u8>)>,
    /// `/metrics` after the traffic settled.
    metrics: String,
}

impl Observed {
    fn port(&self, port: u32) -> &[Vec<u8>] {
        port.checked_sub(1)
            .and_then(|i| self.out.get(i as usize))
            .map_or(&[], Vec::as_slice)
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sample(&self.metrics, name, labels).unwrap_or(f64::NAN)
    }

    fn nothing_but(&self, ports: &[u32], packet_ins: bool) -> Result<(), String> {
        for p in 1..=3 {
            if !ports.contains(&p) && !self.port(p).is_empty() {
                return Err(format!(
                    "{} unexpected frame(s) out of port {p}",
                    self.port(p).len()
                ));
            }
        }
        if !packet_ins && !self.packet_ins.is_empty() {
            return Err(format!("{} unexpected packet-in(s)", self.packet_ins.len()));
        }
        Ok(())
    }
}

fn tx_total(metrics: &str) -> f64 {
    ["p1", "p2", "p3"]
        .iter()
        .map(|p| sample(metrics, "sluice_port_tx_packets_total", &[("port", p)]).unwrap_or(0.0))
        .sum()
}

/// `/packet-ins`: (reason, data padded) per packet-in.
fn packet_ins(sluice: &Sluice) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (code, body) = sluice.get("/packet-ins");
    if code != 200 {
        return Err(format!("GET /packet-ins: {code} {body}"));
    }
    body.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let field = |k: &str| {
                l.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(k))
                    .ok_or_else(|| format!("no {k} in packet-in line {l:?}"))
            };
            Ok((
                field("reason=")?.to_string(),
                padded(&unhex(field("data=")?)?),
            ))
        })
        .collect()
}

/// Polls until `cond` holds or `timeout` passes; returns whether it held.
fn poll(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the binary on one case: sends `frames`, waits for the outputs the
/// case expects, stops it and collects what it sent.
fn run_binary(case: &Case, seq: usize, frames: &[Vec<u8>]) -> Result<Observed, String> {
    let dir = CaseDir(scratch(&format!("of13-{seq}")));
    let prefix = format!("sluice-cb-{}-{seq}", std::process::id());
    write_pcap(&dir.ingress(), frames)?;
    let (mut want_tx, mut want_pi) = (0usize, 0usize);
    for e in &case.expected {
        match e {
            Expectation::Egress { egress } => want_tx += egress.len(),
            Expectation::PacketIn { .. } => want_pi += 1,
            _ => {}
        }
    }
    let sluice = Sluice::start(&dir.0, &prefix, &config(&dir, &prefix, case));
    let n = frames.len() as f64;
    let mut rx = 0.0;
    let received = poll(RX_TIMEOUT, || {
        rx = sample(
            &sluice.metrics(),
            "sluice_port_rx_packets_total",
            &[("port", "p1")],
        )
        .unwrap_or(0.0);
        rx >= n
    });
    if !received {
        let fin = sluice.stop();
        return Err(format!("p1 received {rx} of {n} frames\n{}", fin.stderr));
    }
    // Failures to produce them are reported by the comparison.
    poll(OUTPUT_TIMEOUT, || {
        tx_total(&sluice.metrics()) >= want_tx as f64
    });
    poll(OUTPUT_TIMEOUT, || {
        packet_ins(&sluice).is_ok_and(|p| p.len() >= want_pi)
    });
    // Then until no more frames leave (bursts, unexpected outputs).
    let deadline = Instant::now() + OUTPUT_TIMEOUT;
    let mut metrics = sluice.metrics();
    loop {
        std::thread::sleep(SETTLE);
        let now = sluice.metrics();
        let still = tx_total(&now) == tx_total(&metrics);
        metrics = now;
        if still || Instant::now() > deadline {
            break;
        }
    }
    let packet_ins = packet_ins(&sluice)?;
    let fin = sluice.stop();
    if !fin.status.success() || !fin.stdout.lines().any(|l| l.starts_with("mempool: 0 of ")) {
        return Err(format!(
            "unclean exit ({}), or mbufs not back in the pool:\n{}\n{}",
            fin.status, fin.stdout, fin.stderr
        ));
    }
    Ok(Observed {
        out: [
            read_pcap(&dir.out(1))?,
            read_pcap(&dir.out(2))?,
            read_pcap(&dir.out(3))?,
        ],
        packet_ins,
        metrics,
    })
}

/// A packet case: `Ok` with a note, or what differs.
fn check_packets(case: &Case, obs: &Observed) -> Result<String, String> {
    let mut egress: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    let mut pins = Vec::new();
    let mut reasons = Vec::new();
    let mut miss_tables: Vec<u32> = Vec::new();
    let mut drops = 0u32;
    for e in &case.expected {
        match e {
            Expectation::Egress { egress: frames } => {
                for f in frames {
                    egress
                        .entry(f.port)
                        .or_default()
                        .push(padded(&unhex(&f.packet_hex)?));
                }
            }
            Expectation::PacketIn { packet_in } => {
                pins.push(padded(&unhex(&packet_in.packet_hex)?));
                reasons.push(packet_in.reason.clone());
            }
            Expectation::Drop { table_miss_tables } => {
                drops += 1;
                miss_tables.extend(table_miss_tables);
            }
            Expectation::Throughput { .. } => return Err("throughput in a packet case".into()),
        }
    }
    let ports: Vec<u32> = egress.keys().copied().collect();
    obs.nothing_but(&ports, !pins.is_empty())?;
    for (port, want) in &egress {
        diff_frames(&format!("port {port}"), obs.port(*port), want)?;
    }
    let got: Vec<Vec<u8>> = obs.packet_ins.iter().map(|(_, d)| d.clone()).collect();
    diff_frames("packet-in", &got, &pins)?;
    let got: Vec<&str> = obs.packet_ins.iter().map(|(r, _)| r.as_str()).collect();
    if got != reasons {
        return Err(format!("packet-in reasons {got:?}, want {reasons:?}"));
    }
    let table_miss = obs.metric("sluice_drops_total", &[("reason", "table_miss")]);
    if table_miss != f64::from(drops) {
        return Err(format!("{table_miss} table_miss drops, want {drops}"));
    }
    if drops > 0 {
        // Misses per table: lookups that matched nothing (a table without
        // flows has no samples).
        let misses = |table: &str| {
            let get = |name| sample(&obs.metrics, name, &[("table", table)]).unwrap_or(0.0);
            get("sluice_pipeline_table_lookups_total") - get("sluice_pipeline_table_matches_total")
        };
        miss_tables.sort_unstable();
        miss_tables.dedup();
        let in_listed: f64 = miss_tables.iter().map(|t| misses(&t.to_string())).sum();
        if in_listed != f64::from(drops) {
            return Err(format!(
                "{in_listed} table misses in tables {miss_tables:?}, want {drops}"
            ));
        }
    }
    Ok(String::new())
}

fn filter(text: &str) -> Result<Match, String> {
    parse_match(text, &NoPortNames).map_err(|e| format!("filter {text:?}: {e}"))
}

fn matches(m: &Match, port: u32, frame: &[u8]) -> bool {
    let mut key = FlowKey::default();
    m.is_empty()
        || (wire::parse(frame, port, &mut key).is_ok()
            && fields::matches(m, &key, &Registers::default()))
}

/// The indices of `sent` that `got` is an in-order subsequence of
/// (greedy), or the first output frame that is not one of them.
fn subsequence(what: &str, got: &[Vec<u8>], sent: &[Vec<u8>]) -> Result<Vec<usize>, String> {
    let mut at = 0;
    let mut idx = Vec::with_capacity(got.len());
    for (i, g) in got.iter().enumerate() {
        match sent[at..].iter().position(|s| s == g) {
            Some(k) => {
                idx.push(at + k);
                at += k + 1;
            }
            None => {
                // Show how it differs from the frame it most likely is.
                let near = &sent[at.min(sent.len().saturating_sub(1))];
                let d = diff(&format!("{what} frame {i}"), g, near).unwrap_or_default();
                return Err(format!(
                    "{what} frame {i} is not a frame sent (in order); vs the next one sent: {d}"
                ));
            }
        }
    }
    Ok(idx)
}

/// A group throughput case, as a burst.
fn check_group(case: &Case, sent: &[Vec<u8>], obs: &Observed) -> Result<String, String> {
    let (Some(Expectation::Throughput { throughput }), Some(stream)) = (
        case.expected.first(),
        case.ingress.first().and_then(|i| i.stream.as_ref()),
    ) else {
        return Err("a group case wants one throughput expectation and a stream".into());
    };
    let sent: Vec<Vec<u8>> = sent.iter().map(|f| padded(f)).collect();
    let n = sent.len();
    let mut ports: Vec<u32> = throughput.iter().map(|r| r.port).collect();
    ports.sort_unstable();
    ports.dedup();
    obs.nothing_but(&ports, false)?;
    let mut used = vec![0u32; n];
    for &p in &ports {
        for i in subsequence(&format!("port {p}"), obs.port(p), &sent)? {
            used[i] += 1;
        }
    }
    let group = case.groups.first().map(String::as_str).unwrap_or("");
    if group.contains("type=all") {
        for &p in &ports {
            if obs.port(p).len() != n {
                return Err(format!(
                    "all: {} of {n} frames out of port {p}",
                    obs.port(p).len()
                ));
            }
        }
    } else if group.contains("type=select") {
        if let Some(i) = used.iter().position(|&u| u != 1) {
            return Err(format!("select: sent frame {i} left {} times", used[i]));
        }
    }
    let mut report = Vec::new();
    for r in throughput {
        let m = filter(&r.filter)?;
        let frames = obs.port(r.port).iter().filter(|f| matches(&m, r.port, f));
        let (count, bytes) = frames.fold((0u64, 0u64), |(c, b), f| (c + 1, b + f.len() as u64));
        let scale = stream.pktps / n as f64;
        let (measured, expected, unit) = match (r.expected_bytes_per_s, r.pktps) {
            (Some(e), _) => (bytes as f64 * scale, e, "B/s"),
            (None, Some(e)) => (count as f64 * scale, e, "pkt/s"),
            (None, None) => return Err("throughput without an expected rate".into()),
        };
        let line = format!(
            "port {}: {count} frames = {measured:.0} {unit}, want {expected:.0} ±{:.0}%",
            r.port,
            r.tolerance * 100.0
        );
        if (measured - expected).abs() > r.tolerance * expected {
            return Err(line);
        }
        report.push(line);
    }
    Ok(format!("{n} frames; {}", report.join("; ")))
}

/// A meter throughput case, as a burst: the meter must act (see the
/// module docs); rates are not checked.
fn check_meter(case: &Case, sent: &[Vec<u8>], obs: &Observed) -> Result<String, String> {
    let Some(Expectation::Throughput { throughput }) = case.expected.first() else {
        return Err("a meter case wants one throughput expectation".into());
    };
    let n = sent.len();
    let base = padded(&sent[0]);
    obs.nothing_but(&[2], false)?;
    let out = obs.port(2);
    let unchanged = out.iter().filter(|f| **f == base).count();
    let changed = out.len() - unchanged;
    let band = |what: &str| {
        ["drop", "dscp_remark"]
            .iter()
            .map(|t| {
                common::sum(
                    &obs.metrics,
                    &format!("sluice_meter_band_{what}_total"),
                    &[("type", t)],
                )
            })
            .sum::<f64>()
    };
    let band_packets = band("packets");
    let meter_drops = obs.metric("sluice_drops_total", &[("reason", "meter")]);
    let remark = case.meters.iter().any(|m| m.contains("dscp_remark"));
    if !remark {
        if changed > 0 {
            let d = out
                .iter()
                .find(|f| **f != base)
                .and_then(|f| diff("port 2", f, &base));
            return Err(format!(
                "{changed} frames changed by a drop band: {}",
                d.unwrap_or_default()
            ));
        }
        let dropped = n - out.len();
        if out.is_empty() || dropped == 0 {
            return Err(format!(
                "{} of {n} frames passed: the meter did not act",
                out.len()
            ));
        }
        if meter_drops != dropped as f64 || band_packets != dropped as f64 {
            return Err(format!(
                "{dropped} dropped, but {meter_drops} meter drops and {band_packets} band packets counted"
            ));
        }
        return Ok(format!("{n} sent, {} passed, {dropped} dropped", out.len()));
    }
    if out.len() != n {
        return Err(format!(
            "dscp_remark: {} of {n} frames out, want all",
            out.len()
        ));
    }
    let mut key = FlowKey::default();
    if wire::parse(&base, 1, &mut key).is_err() || !key.is_ip() {
        // No DSCP to remark (the corpus's ARP streams): all pass unchanged.
        if changed > 0 {
            return Err(format!("dscp_remark changed {changed} non-IP frames"));
        }
        return Ok(format!("{n} non-IP frames sent, all passed unchanged"));
    }
    if unchanged == 0 || changed == 0 {
        return Err(format!(
            "dscp_remark: {unchanged} unchanged, {changed} remarked: the meter did not act"
        ));
    }
    if band_packets != changed as f64 {
        return Err(format!(
            "{changed} remarked, but {band_packets} band packets counted"
        ));
    }
    if let Some(i) = out.iter().position(|f| !ipv4_checksum_ok(f)) {
        return Err(format!(
            "port 2 frame {i}: bad IPv4 header checksum after remarking"
        ));
    }
    let filters = throughput
        .iter()
        .map(|r| filter(&r.filter))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hits = vec![0usize; filters.len()];
    for (i, f) in out.iter().enumerate() {
        let which: Vec<usize> = (0..filters.len())
            .filter(|&k| matches(&filters[k], 2, f))
            .collect();
        match which.as_slice() {
            [k] => hits[*k] += 1,
            _ => {
                return Err(format!(
                    "port 2 frame {i} matches {} of the filters {:?}",
                    which.len(),
                    throughput
                        .iter()
                        .map(|r| r.filter.as_str())
                        .collect::<Vec<_>>()
                ))
            }
        }
    }
    if let Some(k) = hits.iter().position(|&h| h == 0) {
        return Err(format!("no frame matches {:?}", throughput[k].filter));
    }
    Ok(format!(
        "{n} sent, {unchanged} unchanged, {changed} remarked"
    ))
}

fn run_case(case: &Case, seq: usize) -> Result<String, String> {
    let frames = ingress_frames(case)?;
    let obs = run_binary(case, seq, &frames)?;
    match (case.kind.as_str(), case.category.as_str()) {
        ("packet", _) => check_packets(case, &obs),
        ("throughput", "group") => check_group(case, &frames, &obs),
        ("throughput", "meter") => check_meter(case, &frames, &obs),
        (kind, cat) => Err(format!("no check for a {kind} case of category {cat}")),
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast_ref::<&str>()
            .map_or_else(|| "panic".to_string(), |s| s.to_string()),
    }
}

#[derive(Default)]
struct Tally {
    files: std::collections::BTreeSet<String>,
    pass: u32,
    fail: u32,
}

#[test]
fn of13_corpus_through_the_binary() {
    if !require_root() {
        return;
    }
    let Some(corpus) = corpus() else { return };
    let selection = Selection::from_env();
    let cases = selection.pick(&corpus.cases);
    let all_files: std::collections::BTreeSet<&str> = corpus
        .cases
        .iter()
        .map(|c| c.source_file.as_str())
        .collect();
    let started = Instant::now();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for (seq, case) in cases.iter().enumerate() {
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| run_case(case, seq)))
            .unwrap_or_else(|p| Err(panic_text(p)));
        let kind = case.expected.first().map_or("none", Expectation::kind);
        let row = tally.entry(case.category.clone()).or_default();
        row.files.insert(case.source_file.clone());
        match result {
            Ok(note) => {
                row.pass += 1;
                eprintln!(
                    "ok   {} ({kind}, {:.2} s) {note}",
                    case.id,
                    t.elapsed().as_secs_f64()
                );
            }
            Err(e) => {
                row.fail += 1;
                eprintln!("FAIL {} ({kind}): {e}", case.id);
                failures.push(format!("{} ({kind}): {e}", case.id));
            }
        }
    }
    let covered: usize = tally.values().map(|t| t.files.len()).sum();
    let mut summary = format!(
        "OpenFlow 1.3 corpus through the binary ({selection:?}): {} cases from {covered} of {} files in {:.1} s\n",
        cases.len(),
        all_files.len(),
        started.elapsed().as_secs_f64()
    );
    for (cat, t) in &tally {
        let _ = writeln!(
            summary,
            "  {cat:<7} {:>4} pass {:>4} fail  ({} files)",
            t.pass,
            t.fail,
            t.files.len()
        );
    }
    eprintln!("{summary}");
    assert_eq!(
        covered,
        all_files.len(),
        "every source file runs at least one case"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed through the binary:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
