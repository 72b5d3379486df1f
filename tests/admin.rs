//! The admin listener through the real binary (issue #5):
//!
//! 1. a real Prometheus server scrapes Sluice and its query API returns the
//!    port counters Sluice shows (finite pcap traffic, so they settle);
//! 2. HTTP abuse (malformed and oversized requests, binary garbage,
//!    slowloris, half-closed sockets, pipelining) while traffic flows: every
//!    bad request gets its 4xx at once, slow ones get 408 at the deadline,
//!    `/metrics` keeps answering and the worker keeps forwarding;
//! 3. the bad-config matrix: each kind of broken config rejected by
//!    `POST /-/reload` with its FILE:LINE:COL, nothing changes, traffic
//!    keeps flowing; then a good change applies;
//! 4. the reload token, `sluice reload`, `/status` JSON, and both metrics
//!    formats;
//! 5. reload on file change (rename over, touch, truncate-then-write).
//!
//! Run as root: `cargo test --release --locked --test admin -- --test-threads=1`.
mod common;

use common::{preamble, require_root, sample, scratch, sum, ScratchDir, Sluice, BIN};
use serde_json::Value;
use sluice::admin::http::Limits;
use sluice::rng::XorShift64;
use sluice::wire::build::PacketBuilder;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// A small HTTP/1.1 client that tolerates whatever the server does
// ---------------------------------------------------------------------------

/// One HTTP response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: HTTP {} {}", self.status, self.text()))
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads one response (skipping `100 Continue`); `None` on EOF before a
/// status line. Bodies are framed by Content-Length, chunked coding, or the
/// end of the connection.
fn read_reply(r: &mut impl BufRead, head_only: bool) -> io::Result<Option<Reply>> {
    loop {
        let mut raw = Vec::new();
        if r.read_until(b'\n', &mut raw)? == 0 {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(&raw).trim_end().to_string();
        let status: u16 = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            raw.clear();
            if r.read_until(b'\n', &mut raw)? == 0 {
                return Err(invalid("EOF in response head".into()));
            }
            let h = String::from_utf8_lossy(&raw).trim_end().to_string();
            if h.is_empty() {
                break;
            }
            let (n, v) = h
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header {h:?}")))?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        if status == 100 {
            continue;
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || matches!(status, 204 | 304) {
            return Ok(Some(reply));
        }
        if reply
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                raw.clear();
                r.read_until(b'\n', &mut raw)?;
                let size = String::from_utf8_lossy(&raw);
                let size = size.trim().split(';').next().unwrap_or("");
                let n = usize::from_str_radix(size, 16)
                    .map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                reply.body.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(len) = reply.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| invalid(format!("bad Content-Length {len:?}")))?;
            reply.body = vec![0; len];
            r.read_exact(&mut reply.body)?;
        } else {
            r.read_to_end(&mut reply.body)?;
        }
        return Ok(Some(reply));
    }
}

/// One client connection.
struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_write_timeout(Some(Duration::from_secs(20)))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Client { stream, reader })
    }

    /// Writes `bytes`; errors are ignored because a server may answer and
    /// close before it has read everything (the answer is what counts).
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    fn reply(&mut self, head_only: bool) -> io::Result<Option<Reply>> {
        read_reply(&mut self.reader, head_only)
    }

    /// True when the server has closed the connection (EOF or reset)
    /// within `within`, with no further bytes.
    fn closed_within(&mut self, within: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(within));
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    }
}

/// A request with `Connection: close` on a fresh connection.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut c = Client::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    c.send(req.as_bytes());
    c.reply(method == "HEAD")
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
        .unwrap_or_else(|| panic!("{method} {path}: connection closed without an answer"))
}

fn post_reload(s: &Sluice, token: Option<&str>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    request(s.admin, "POST", "/-/reload", &headers)
}

fn status_json(s: &Sluice) -> Value {
    let r = request(s.admin, "GET", "/status", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Percent-encodes a query parameter value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `cond` every 50 ms until it holds (returning its value) or the
/// deadline passes (panicking with `what` and the last `explain`).
fn poll<T>(what: &str, within: Duration, mut cond: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + within;
    loop {
        match cond() {
            Ok(v) => return v,
            Err(why) if Instant::now() >= deadline => {
                panic!("timed out after {within:?} waiting for {what}: {why}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Finds `tool` on PATH; `None` (and a printed reason) when missing,
/// except under CI where it must exist.
fn tool(tool: &str) -> Option<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .ok()?;
    if out.status.success() {
        return Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    assert!(
        std::env::var("CI").is_err(),
        "{tool} missing under CI (scripts/deps.sh installs the Debian package prometheus)"
    );
    eprintln!("skipped: {tool} is not installed (Debian package prometheus)");
    None
}

/// The value of `name{labels}` (0 when absent).
fn value(m: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(m, name, labels).unwrap_or(0.0)
}

fn port_counter(m: &str, counter: &str, port: &str) -> f64 {
    value(
        m,
        &format!("sluice_port_{counter}_total"),
        &[("port", port)],
    )
}

/// The hash label of the one `sluice_config_info` sample.
fn config_hash(m: &str) -> String {
    let hashes: Vec<&str> = m
        .lines()
        .filter_map(|l| l.strip_prefix("sluice_config_info{hash=\""))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(hashes.len(), 1, "one sluice_config_info sample:\n{m}");
    hashes[0].to_string()
}

/// Whether the process `pid` exists and has not exited (a zombie has).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next())
        })
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// 1-based (line, column in characters) of the first `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    let i = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"));
    let before = &text[..i];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |j| j + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Writes `text` to `path` the way config management does: a temporary
/// file in the same directory renamed over the original.
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ---------------------------------------------------------------------------
// Configs
// ---------------------------------------------------------------------------

/// `preamble` with extra `[admin]` keys.
fn preamble_with(prefix: &str, admin: &str) -> String {
    preamble(prefix, &[1]).replace("[admin]\n", &format!("[admin]\n{admin}"))
}

/// Three `net_null` ports (`a` receives without end, `b` and `c` only
/// send), a tenant on `a` far above what `net_null` can do, and the
/// OpenFlow rules in `flows.txt` next to the config.
fn null_ports_config(prefix: &str, admin: &str) -> String {
    format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_null0,size=64\"\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_null1,no-rx=1\"\n\n\
         [[port]]\nname = \"c\"\ndevice = \"net_null2,no-rx=1\"\n\n\
         [[tenant]]\nname = \"t1\"\nmatch = {{ ports = [\"a\"] }}\nrate = \"100Gbit\"\n\n\
         [pipeline]\nflows_file = \"flows.txt\"\n",
        preamble_with(prefix, admin)
    )
}

fn flows_to(port: &str) -> String {
    format!("table=0,priority=10,in_port=a,actions=output:{port}\n")
}

/// Starts the [`null_ports_config`] instance with its flows file routing
/// to `out`, and waits for traffic there.
fn start_null_ports(
    tag: &str,
    prefix: &str,
    admin: &str,
    out: &str,
) -> (Sluice, ScratchDir, String) {
    let dir = scratch(tag);
    let config = null_ports_config(prefix, admin);
    std::fs::write(dir.join("flows.txt"), flows_to(out)).unwrap();
    let s = Sluice::start(&dir, prefix, &config);
    s.wait_metrics("traffic", 20, |m| port_counter(m, "tx_packets", out) > 0.0);
    (s, dir, config)
}

/// Waits until port `port` has sent more than `than` packets.
fn wait_tx(s: &Sluice, port: &str, than: f64) -> String {
    s.wait_metrics(&format!("tx on {port} above {than}"), 10, |m| {
        port_counter(m, "tx_packets", port) > than
    })
}

// ---------------------------------------------------------------------------
// 1. A real Prometheus server
// ---------------------------------------------------------------------------

/// Kills its child on drop (also when the test panics).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An instant query against Prometheus: the `data.result` array, or why not.
fn prom_query(prom: SocketAddr, query: &str) -> Result<Vec<Value>, String> {
    let path = format!("/api/v1/query?query={}", urlencode(query));
    let mut c = Client::connect(prom).map_err(|e| format!("connect: {e}"))?;
    c.send(format!("GET {path} HTTP/1.1\r\nHost: prom\r\nConnection: close\r\n\r\n").as_bytes());
    let r = c
        .reply(false)
        .map_err(|e| format!("read: {e}"))?
        .ok_or("closed without an answer")?;
    if r.status != 200 {
        return Err(format!("HTTP {}: {}", r.status, r.text()));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("{e}: {}", r.text()))?;
    if v["status"] != "success" {
        return Err(format!("{v}"));
    }
    v["data"]["result"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("no result array: {v}"))
}

/// The value of an instant-vector element.
fn prom_value(series: &Value) -> f64 {
    series["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {series}"))
}

#[test]
fn prometheus_server_scrapes_port_counters() {
    if !require_root() {
        return;
    }
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    const N: usize = 1000;
    let dir = scratch("prom");
    let frames: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            PacketBuilder::new()
                .eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
                .ipv4(0x0a00_0001, 0x0a00_0002)
                .udp(1000 + (i % 500) as u16, 53)
                .payload(&(i as u32).to_be_bytes())
                .pad60()
                .build()
                .expect("a valid frame")
        })
        .collect();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    common::frames::write_pcap(
        &dir.join("in.pcap"),
        &frames.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    );
    let prefix = "sl-admin-prom";
    let config = format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_pcap0,rx_pcap={}\"\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_pcap1,tx_pcap={}\"\n\n\
         [[forward]]\nin = \"a\"\nout = \"b\"\n",
        preamble_with(prefix, "watch = false\n"),
        dir.join("in.pcap").display(),
        dir.join("out.pcap").display(),
    );
    let s = Sluice::start(&dir, prefix, &config);
    let ours = s.wait_metrics("the pcap forwarded", 30, |m| {
        port_counter(m, "rx_packets", "a") == N as f64
            && port_counter(m, "tx_packets", "b") == N as f64
    });

    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(prom_dir.join("data")).unwrap();
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: sluice\n    static_configs:\n      - targets: ['{}']\n",
            s.admin
        ),
    )
    .unwrap();
    let log = prom_dir.join("log");
    let _prom = ChildGuard(
        Command::new(&prometheus)
            .arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(prom_dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus"),
    );
    let prom_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // A few scrapes, every one of them seeing the settled counters.
    let scrapes = r#"count_over_time(sluice_port_rx_packets_total{job="sluice",port="a"}[1m])"#;
    poll(
        "three scrapes in Prometheus",
        Duration::from_secs(60),
        || {
            let r = prom_query(prom_addr, scrapes)?;
            match r.first().map(prom_value) {
                Some(n) if n >= 3.0 => Ok(()),
                n => Err(format!("{n:?} scrapes; prometheus log:\n{}", prom_log())),
            }
        },
    );
    let up = prom_query(prom_addr, r#"up{job="sluice"}"#).unwrap();
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(prom_value(&up[0]), 1.0, "{up:?}");
    assert_eq!(up[0]["metric"]["instance"], s.admin.to_string(), "{up:?}");
    for q in ["min_over_time", "max_over_time"] {
        let r = prom_query(
            prom_addr,
            &format!(r#"{q}(sluice_port_rx_packets_total{{job="sluice",port="a"}}[1m])"#),
        )
        .unwrap();
        assert_eq!(r.len(), 1, "{q}: {r:?}");
        assert_eq!(prom_value(&r[0]), N as f64, "{q}: {r:?}");
    }
    // Every port counter Prometheus holds equals Sluice's own /metrics.
    for counter in [
        "rx_packets",
        "rx_bytes",
        "tx_packets",
        "tx_bytes",
        "tx_dropped",
    ] {
        let name = format!("sluice_port_{counter}_total");
        let series = prom_query(prom_addr, &name).unwrap();
        assert_eq!(series.len(), 2, "{name}: {series:?}");
        for port in ["a", "b"] {
            let got = series
                .iter()
                .find(|v| v["metric"]["port"] == port)
                .map(prom_value)
                .unwrap_or_else(|| panic!("{name}{{port={port}}} missing: {series:?}"));
            assert_eq!(
                Some(got),
                sample(&ours, &name, &[("port", port)]),
                "{name}{{port={port}}}"
            );
        }
    }
    let value_of = |name: &str, port: &str| {
        let r = prom_query(prom_addr, &format!("{name}{{port=\"{port}\"}}")).unwrap();
        assert_eq!(r.len(), 1, "{name}: {r:?}");
        prom_value(&r[0])
    };
    assert_eq!(value_of("sluice_port_rx_packets_total", "a"), N as f64);
    assert_eq!(value_of("sluice_port_tx_packets_total", "b"), N as f64);
    assert_eq!(value_of("sluice_port_rx_bytes_total", "a"), bytes as f64);
    assert_eq!(value_of("sluice_port_tx_bytes_total", "b"), bytes as f64);
    assert_eq!(value_of("sluice_port_tx_packets_total", "a"), 0.0);
    // Prometheus parsed every scrape (it asks for OpenMetrics first).
    let r = prom_query(prom_addr, r#"scrape_samples_scraped{job="sluice"}"#).unwrap();
    assert!(
        r.first().map(prom_value).unwrap_or(0.0) > 50.0,
        "{r:?}\n{}",
        prom_log()
    );

    drop(_prom);
    let fin = s.stop();
    fin.assert_clean();
    assert_eq!(fin.port_row("b")[2], N as u64, "{}", fin.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 2. HTTP abuse while traffic flows
// ---------------------------------------------------------------------------

/// A complete request and the exact answer it must get.
struct Case {
    name: String,
    bytes: Vec<u8>,
    want: u16,
}

fn case(name: &str, bytes: impl Into<Vec<u8>>, want: u16) -> Case {
    Case {
        name: name.to_string(),
        bytes: bytes.into(),
        want,
    }
}

/// Every complete request that the server must refuse, with its status.
/// All 4xx, except a well-formed request in a protocol it does not speak:
/// HTTP/2.0 gets 505 and an unknown transfer coding 501, as RFC 9110
/// and RFC 9112 (6.1) prescribe.
fn bad_requests() -> Vec<Case> {
    let limits = Limits::default();
    let big = "a".repeat(limits.max_head_bytes + 4096);
    let many: String = (0..limits.max_headers + 50)
        .map(|i| format!("X-H{i}: v\r\n"))
        .collect();
    // A GET of /metrics and a POST of /-/reload with `extra` header lines
    // (each ending in CRLF) and a body.
    let get = |extra: &str| format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    let post = |extra: &str, body: &str| {
        format!("POST /-/reload HTTP/1.1\r\nHost: x\r\n{extra}\r\n{body}")
    };
    let close = "Connection: close\r\n";
    let mut cases = vec![
        case("garbage request line", "GARBAGE\r\n\r\n", 400),
        case("HTTP/0.9 request", "GET /metrics\r\n\r\n", 400),
        case(
            "four-part request line",
            "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        case(
            "lower-case version",
            "GET /metrics http/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        case(
            "target not a path",
            "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        case(
            "control byte in target",
            "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        case(
            "non-token method",
            "G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        case(
            "HTTP/1.1 without Host",
            "GET /metrics HTTP/1.1\r\n\r\n",
            400,
        ),
        case("two Host headers", get("Host: b\r\n"), 400),
        case("header without colon", get("NoColon\r\n"), 400),
        case("space in header name", get("Bad Name: v\r\n"), 400),
        case("obsolete line folding", get("X-A: 1\r\n  folded\r\n"), 400),
        case("NUL in header value", get("X-A: a\0b\r\n"), 400),
        case("stray CR", "GET /metrics HTTP/1.1\rHost: x\r\n\r\n", 400),
        case(
            "Content-Length not a number",
            post("Content-Length: abc\r\n", ""),
            400,
        ),
        case(
            "negative Content-Length",
            post("Content-Length: -1\r\n", ""),
            400,
        ),
        case(
            "conflicting Content-Length list",
            post("Content-Length: 5, 6\r\n", "hello"),
            400,
        ),
        case(
            "two different Content-Lengths",
            post("Content-Length: 1\r\nContent-Length: 2\r\n", "ab"),
            400,
        ),
        case(
            "20-digit Content-Length",
            post("Content-Length: 99999999999999999999\r\n", ""),
            400,
        ),
        case(
            "Transfer-Encoding and Content-Length",
            post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "abc"),
            400,
        ),
        case(
            "chunked garbage",
            post(
                "Transfer-Encoding: chunked\r\n",
                "zz\r\n\x00\x01garbage\r\n",
            ),
            411,
        ),
        case(
            "chunked body",
            post("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
            411,
        ),
        case(
            "unknown transfer coding",
            post("Transfer-Encoding: gzip\r\n", ""),
            501,
        ),
        case(
            "HTTP/2.0 request line",
            "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n",
            505,
        ),
        case(
            "unsupported Expect",
            post("Expect: magic\r\nContent-Length: 0\r\n", ""),
            417,
        ),
        case(
            "body too large",
            post(
                &format!("Content-Length: {}\r\n", limits.max_body_bytes + 1),
                &"x".repeat(1000),
            ),
            413,
        ),
        case(
            "19-digit Content-Length",
            post("Content-Length: 9999999999999999999\r\n", ""),
            413,
        ),
        case("huge header", get(&format!("X-Big: {big}\r\n")), 431),
        case("too many headers", get(&many), 431),
        case(
            "huge request line",
            format!("GET /{big} HTTP/1.1\r\nHost: x\r\n\r\n"),
            414,
        ),
        case(
            "huge line without newline",
            "A".repeat(8 * limits.max_head_bytes),
            414,
        ),
        case(
            "unknown path",
            format!("GET /nope HTTP/1.1\r\nHost: x\r\n{close}\r\n"),
            404,
        ),
        case(
            "unknown method",
            format!("BREW /metrics HTTP/1.1\r\nHost: x\r\n{close}\r\n"),
            405,
        ),
        case(
            "GET on a POST route",
            format!("GET /-/reload HTTP/1.1\r\nHost: x\r\n{close}\r\n"),
            405,
        ),
    ];
    // Binary garbage that ends like a head. A leading CR or LF would be
    // skipped as a blank line; the first byte is not one of those.
    let mut rng = XorShift64::new(0x5eed_ad01);
    for i in 0..8 {
        let mut g = vec![0u8; 16 + rng.below(3000) as usize];
        rng.fill(&mut g);
        g[0] |= 0x80;
        g.extend_from_slice(b"\r\n\r\n");
        cases.push(case(&format!("binary garbage {i}"), g, 400));
    }
    cases
}

/// Runs `attempt` again while the server turns the connection away with
/// 503 (its connection cap, reached when a loaded machine is slow to close
/// the fuzzers' earlier connections: the server protecting itself, not a
/// wrong answer to the request), at most for 2 s.
fn retry_busy(mut attempt: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match attempt() {
            Err(e)
                if (e.contains("HTTP 503") || e.contains("status: 503"))
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            r => return r,
        }
    }
}

/// Sends one complete bad request and checks its answer: the expected
/// status, at once (well before the head deadline), then the connection
/// closed. Returns a description of what went wrong.
fn check_bad(addr: SocketAddr, c: &Case) -> Result<(), String> {
    let start = Instant::now();
    let mut client = Client::connect(addr).map_err(|e| format!("{}: connect: {e}", c.name))?;
    client.send(&c.bytes);
    let reply = client
        .reply(false)
        .map_err(|e| format!("{}: {e}", c.name))?
        .ok_or_else(|| format!("{}: closed without an answer", c.name))?;
    let took = start.elapsed();
    if reply.status != c.want {
        return Err(format!(
            "{}: HTTP {} (want {}): {}",
            c.name,
            reply.status,
            c.want,
            reply.text()
        ));
    }
    if took >= Limits::default().head_timeout {
        return Err(format!("{}: answered after {took:?}", c.name));
    }
    if !client.closed_within(Duration::from_secs(3)) {
        return Err(format!(
            "{}: connection still open after the answer",
            c.name
        ));
    }
    Ok(())
}

/// Requests that are fine, sent in awkward ways; each returns an error
/// text or `Ok`.
fn check_awkward(addr: SocketAddr, which: usize) -> Result<(), String> {
    let mut c = Client::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let statuses = |c: &mut Client, heads: &[bool]| -> Result<Vec<u16>, String> {
        heads
            .iter()
            .map(|&h| {
                c.reply(h)
                    .map_err(|e| e.to_string())?
                    .map(|r| r.status)
                    .ok_or_else(|| "closed early".to_string())
            })
            .collect()
    };
    match which % 5 {
        0 => {
            // Three pipelined requests in one write, answered in order.
            c.send(
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n\
                  HEAD /status HTTP/1.1\r\nHost: x\r\n\r\n\
                  GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let got = statuses(&mut c, &[false, true, false])?;
            if got != [200, 200, 404] || !c.closed_within(Duration::from_secs(3)) {
                return Err(format!("pipelined: {got:?}"));
            }
        }
        1 => {
            // A good request pipelined with garbage: 200, then 400.
            c.send(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n");
            let got = statuses(&mut c, &[false, false])?;
            if got != [200, 400] || !c.closed_within(Duration::from_secs(3)) {
                return Err(format!("pipelined garbage: {got:?}"));
            }
        }
        2 => {
            // Half-closed after a complete request: still answered.
            c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            let _ = c.stream.shutdown(Shutdown::Write);
            let got = statuses(&mut c, &[false])?;
            if got != [200] || !c.closed_within(Duration::from_secs(3)) {
                return Err(format!("half-closed after request: {got:?}"));
            }
        }
        3 => {
            // Half-closed mid-head: closed without an answer, at once.
            c.send(b"GET /metrics HTTP/1.1\r\nHo");
            let _ = c.stream.shutdown(Shutdown::Write);
            let t = Instant::now();
            match c.reply(false) {
                Ok(None) | Err(_) if t.elapsed() < Duration::from_secs(3) => {}
                other => return Err(format!("half-closed mid-head: {other:?}")),
            }
        }
        _ => {
            // Half-closed mid-body of a reload: no answer, no reload.
            c.send(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
            let _ = c.stream.shutdown(Shutdown::Write);
            let t = Instant::now();
            match c.reply(false) {
                Ok(None) | Err(_) if t.elapsed() < Duration::from_secs(3) => {}
                other => return Err(format!("half-closed mid-body: {other:?}")),
            }
        }
    }
    Ok(())
}

/// How a slow client behaves.
#[derive(Clone, Copy, Debug)]
enum Slow {
    /// A head, one byte per 100 ms, never finished.
    Head,
    /// Connects and sends nothing.
    Silent,
    /// A complete head, then its body one byte per 100 ms.
    Body,
    /// One good keep-alive request, then nothing.
    Idle,
}

/// Runs one slow client; the server must cut it at its deadline: `408`
/// for a head or body that does not arrive in time, a quiet close for an
/// idle keep-alive connection. Returns how long that took.
fn slow_client(addr: SocketAddr, how: Slow) -> Result<Duration, String> {
    let limits = Limits::default();
    let mut c = Client::connect(addr).map_err(|e| format!("{how:?}: connect: {e}"))?;
    // The server's deadline runs from the accept (head), the end of the
    // head (body), or the end of the last response (idle).
    let mut start = Instant::now();
    let (deadline, want) = match how {
        Slow::Head => {
            c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            (limits.head_timeout, Some(408))
        }
        Slow::Silent => (limits.head_timeout, Some(408)),
        Slow::Body => {
            c.send(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
            start = Instant::now();
            (limits.body_timeout, Some(408))
        }
        Slow::Idle => {
            c.send(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
            let r = c.reply(false).map_err(|e| format!("{how:?}: {e}"))?;
            start = Instant::now();
            if r.as_ref().map(|r| r.status) != Some(200) {
                return Err(format!("{how:?}: first request: {r:?}"));
            }
            (limits.idle_timeout, None)
        }
    };
    let trickle = matches!(how, Slow::Head | Slow::Body);
    let _ = c.stream.set_read_timeout(Some(Duration::from_millis(100)));
    // Some(()) once the server sent something, None when it closed.
    let outcome = loop {
        if start.elapsed() > deadline + Duration::from_secs(5) {
            return Err(format!("{how:?}: still open after {:?}", start.elapsed()));
        }
        match c.reader.fill_buf() {
            Ok([]) => break None,
            Ok(_) => break Some(()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if trickle {
                    let _ = c.stream.write_all(b"a");
                }
            }
            Err(e) => return Err(format!("{how:?}: {e} after {:?}", start.elapsed())),
        }
    };
    let took = start.elapsed();
    match (want, outcome) {
        (Some(want), Some(())) => {
            let _ = c.stream.set_read_timeout(Some(Duration::from_secs(5)));
            let r = c.reply(false).map_err(|e| format!("{how:?}: {e}"))?;
            if r.as_ref().map(|r| r.status) != Some(want) {
                return Err(format!("{how:?}: {r:?} after {took:?}, want {want}"));
            }
        }
        (None, None) => {}
        (want, _) => {
            return Err(format!(
                "{how:?}: want {want:?}, got {outcome:?} after {took:?}"
            ));
        }
    }
    // Cut at the deadline: not before it, and not long after.
    if took + Duration::from_millis(200) < deadline || took > deadline + Duration::from_secs(2) {
        return Err(format!(
            "{how:?}: cut after {took:?}, deadline {deadline:?}"
        ));
    }
    Ok(took)
}

/// One scrape during the abuse.
struct Scrape {
    at: Instant,
    took: Duration,
    worker_rx: f64,
}

#[test]
fn http_fuzz_keeps_listener_and_workers_alive() {
    if !require_root() {
        return;
    }
    let dir = scratch("fuzz");
    let prefix = "sl-admin-fuzz";
    let config = format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_null0,size=64\"\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_null1,no-rx=1\"\n\n\
         [[forward]]\nin = \"a\"\nout = \"b\"\n",
        preamble_with(prefix, "watch = false\n")
    );
    let s = Sluice::start(&dir, prefix, &config);
    let addr = s.admin;
    let pid = s.pid();
    s.wait_metrics("traffic", 20, |m| port_counter(m, "tx_packets", "b") > 0.0);
    let rx = |m: &str| {
        value(
            m,
            "sluice_worker_packets_total",
            &[("worker", "0"), ("direction", "rx")],
        )
    };

    let stop = Arc::new(AtomicBool::new(false));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let cases = Arc::new(bad_requests());
    let fail = |errors: &Mutex<Vec<String>>, e: String| {
        let mut v = errors.lock().unwrap();
        if v.len() < 50 {
            v.push(e);
        }
    };

    // Slow clients; the abuse lasts until the last of them is cut.
    let mut slow = Vec::new();
    for how in [
        Slow::Head,
        Slow::Head,
        Slow::Head,
        Slow::Head,
        Slow::Silent,
        Slow::Silent,
        Slow::Body,
        Slow::Idle,
    ] {
        slow.push(std::thread::spawn(move || slow_client(addr, how)));
    }
    // Fuzzers: bad requests in a shuffled order, and awkward good ones.
    let mut fuzzers = Vec::new();
    for t in 0..3u64 {
        let (stop, errors, cases) = (Arc::clone(&stop), Arc::clone(&errors), Arc::clone(&cases));
        fuzzers.push(std::thread::spawn(move || {
            let mut rng = XorShift64::new(0xf022 + t);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let i = rng.below(cases.len() as u64 + 5) as usize;
                let r = retry_busy(|| match cases.get(i) {
                    Some(c) => check_bad(addr, c),
                    None => check_awkward(addr, i),
                });
                if let Err(e) = r {
                    fail(&errors, e);
                }
                sent += 1;
            }
            sent
        }));
    }
    // The operator's scrapes, every 100 ms.
    let poller = {
        let (stop, errors) = (Arc::clone(&stop), Arc::clone(&errors));
        std::thread::spawn(move || {
            let mut scrapes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                let mut c = match Client::connect(addr) {
                    Ok(c) => c,
                    Err(e) => {
                        fail(&errors, format!("scrape: connect: {e}"));
                        continue;
                    }
                };
                c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                match c.reply(false) {
                    Ok(Some(r)) if r.status == 200 => scrapes.push(Scrape {
                        at,
                        took: at.elapsed(),
                        worker_rx: rx(&r.text()),
                    }),
                    // Turned away at the connection cap: try again (the gap
                    // check below still catches a listener that stops
                    // serving).
                    Ok(Some(r)) if r.status == 503 => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    other => fail(&errors, format!("scrape: {other:?}")),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            scrapes
        })
    };

    let fuzz_start = Instant::now();
    let slow_results: Vec<_> = slow.into_iter().map(|t| t.join().unwrap()).collect();
    let fuzz_period = fuzz_start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let sent: u64 = fuzzers.into_iter().map(|t| t.join().unwrap()).sum();
    let scrapes = poller.join().unwrap();
    let errors = errors.lock().unwrap().clone();
    eprintln!(
        "abuse: {sent} requests in {fuzz_period:?}, {} scrapes, slow clients cut after {:?}",
        scrapes.len(),
        slow_results
            .iter()
            .map(|r| r.as_ref().map(|d| format!("{:.2}s", d.as_secs_f64())))
            .collect::<Vec<_>>()
    );
    for r in &slow_results {
        if let Err(e) = r {
            panic!("slow client: {e}\nother errors: {errors:#?}");
        }
    }
    assert!(errors.is_empty(), "{} errors:\n{errors:#?}", errors.len());
    assert!(sent > 100, "only {sent} requests sent");

    // The listener answered throughout: a scrape at least every second,
    // none slow.
    let min_scrapes = (fuzz_period.as_millis() / 400) as usize;
    assert!(
        scrapes.len() >= min_scrapes,
        "{} scrapes in {fuzz_period:?}",
        scrapes.len()
    );
    for w in scrapes.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap < Duration::from_secs(1), "no scrape for {gap:?}");
    }
    let slowest = scrapes.iter().map(|s| s.took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(1),
        "a scrape took {slowest:?}"
    );
    // The worker forwarded throughout: its rx counter grew over every
    // second of the abuse.
    for (i, a) in scrapes.iter().enumerate() {
        if let Some(b) = scrapes[i..]
            .iter()
            .find(|b| b.at >= a.at + Duration::from_secs(1))
        {
            assert!(
                b.worker_rx > a.worker_rx,
                "worker rx stalled: {} at {:?}, {} at {:?}",
                a.worker_rx,
                a.at - fuzz_start,
                b.worker_rx,
                b.at - fuzz_start
            );
        }
    }

    // Afterwards: alive, answering, forwarding, and nothing reloaded.
    assert!(running(pid), "sluice is gone");
    let m1 = s.metrics();
    let m2 = s.wait_metrics("rx after the abuse", 5, |m| rx(m) > rx(&m1));
    assert_eq!(
        value(&m2, "sluice_config_reloads_total", &[("result", "success")]),
        0.0
    );
    assert_eq!(
        value(&m2, "sluice_config_reloads_total", &[("result", "failure")]),
        0.0
    );
    assert_eq!(sum(&m2, "sluice_drops_total", &[]), 0.0, "{m2}");
    assert_eq!(status_json(&s)["config"]["generation"], 1);
    let fin = s.stop();
    fin.assert_clean();
    assert!(
        !fin.stderr.contains("panicked"),
        "a thread panicked:\n{}",
        fin.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 3. The bad-config matrix
// ---------------------------------------------------------------------------

/// Where a rejection must point.
enum Where {
    /// `FILE:LINE:COL`.
    At(PathBuf, (usize, usize)),
    /// The file only (a change that needs a restart has no one place).
    File(PathBuf),
}

/// One broken variant of the running config.
struct Broken {
    name: &'static str,
    config: String,
    flows: String,
    at: Where,
    /// Substrings of the error text.
    says: Vec<String>,
}

fn broken_variants(good: &str, cfg: &Path, flows_path: &Path) -> Vec<Broken> {
    let flows = flows_to("b");
    let in_config = |text: &str, needle: &str, skip: usize| {
        let (line, col) = pos(text, needle);
        Where::At(cfg.to_path_buf(), (line, col + skip))
    };
    let in_flows = |text: &str, needle: &str, skip: usize| {
        let (line, col) = pos(text, needle);
        Where::At(flows_path.to_path_buf(), (line, col + skip))
    };
    let says = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut out = Vec::new();

    let c = good.replace("rate = \"100Gbit\"", "rate = \"100Gbit");
    // The basic string runs into the end of its line.
    let at = in_config(&c, "rate = \"100Gbit\n", "rate = \"100Gbit".len());
    out.push(Broken {
        name: "TOML syntax: unterminated string",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["invalid basic string"]),
    });

    let c = good.replace("[workers]\n", "[workers]]\n");
    let at = in_config(&c, "[workers]]", "[workers]".len());
    out.push(Broken {
        name: "TOML syntax: bad table header",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["invalid table header"]),
    });

    let c = good.replace("name = \"a\"\n", "name = \"a\"\ncolour = \"red\"\n");
    let at = in_config(&c, "colour", 0);
    out.push(Broken {
        name: "unknown key",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["unknown field `colour`"]),
    });

    let c = good.replace(
        "flows_file = ",
        "flows = [\"table=0,priority=5,in_port=zz,actions=output:b\"]\nflows_file = ",
    );
    let at = in_config(&c, "zz,", 0);
    out.push(Broken {
        name: "unknown port in an inline flow",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["unknown port \"zz\""]),
    });

    let f = format!("{flows}table=0,priority=5,in_port=b,actions=output:q\n");
    out.push(Broken {
        name: "unknown port in the flows file",
        at: in_flows(&f, "output:q", "output:".len()),
        config: good.to_string(),
        flows: f,
        says: says(&["unknown port \"q\""]),
    });

    let f = format!("{flows}table=0,priority=5,in_port=b,actions=outptu:a\n");
    out.push(Broken {
        name: "bad flow syntax in the flows file",
        at: in_flows(&f, "outptu", 0),
        config: good.to_string(),
        flows: f,
        says: says(&["unknown action \"outptu\""]),
    });

    let c = good.replace("\"flows.txt\"", "\"nope.flows\"");
    let at = in_config(&c, "\"nope.flows\"", 0);
    out.push(Broken {
        name: "missing flows file",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["cannot read flows file", "nope.flows"]),
    });

    // Half-written: cut in the middle of the last line (inside a string).
    let cut = good.find("flows.txt\"").unwrap() + 3;
    let c = good[..cut].to_string();
    let last = c.rsplit('\n').next().unwrap();
    let at = Where::At(
        cfg.to_path_buf(),
        (c.matches('\n').count() + 1, last.chars().count() + 1),
    );
    out.push(Broken {
        name: "half-written config (truncated mid-line)",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["invalid basic string"]),
    });

    out.push(Broken {
        name: "half-written config (empty)",
        config: String::new(),
        flows: flows.clone(),
        at: Where::At(cfg.to_path_buf(), (1, 1)),
        says: says(&["missing field `workers`"]),
    });

    let f = "table=0,priority=10,in_port=a,actions=outp".to_string();
    out.push(Broken {
        name: "half-written flows file (truncated mid-line)",
        at: in_flows(&f, "outp", 0),
        config: good.to_string(),
        flows: f,
        says: says(&["unknown action \"outp\""]),
    });

    out.push(Broken {
        name: "restart-only change: rx_queues",
        config: good.replace(
            "device = \"net_null0,size=64\"\n",
            "device = \"net_null0,size=64\"\nrx_queues = 2\n",
        ),
        flows: flows.clone(),
        at: Where::File(cfg.to_path_buf()),
        says: says(&[
            "need a restart",
            "port a: device net_null0,size=64, rx_queues 1,",
            "-> device net_null0,size=64, rx_queues 2,",
        ]),
    });

    out.push(Broken {
        name: "restart-only change: a new port",
        config: good.replace(
            "[[tenant]]",
            "[[port]]\nname = \"d\"\ndevice = \"net_null3\"\n\n[[tenant]]",
        ),
        flows: flows.clone(),
        at: Where::File(cfg.to_path_buf()),
        says: says(&["ports: a, b, c -> a, b, c, d (needs a restart)"]),
    });

    let t2 = "[[tenant]]\nname = \"t2\"\nmatch = { ports = [\"c\", \"a\"] }\nrate = \"1Gbit\"\n";
    let c = format!("{good}\n{t2}");
    let at = in_config(&c, "[\"c\", \"a\"]", "[\"c\", ".len());
    out.push(Broken {
        name: "overlapping tenants",
        config: c,
        flows: flows.clone(),
        at,
        says: says(&["port \"a\" is already claimed by tenant \"t1\""]),
    });

    let c = good.replace("\"100Gbit\"", "\"100Gbitz\"");
    let at = in_config(&c, "\"100Gbitz\"", 0);
    out.push(Broken {
        name: "bad rate unit",
        config: c,
        flows,
        at,
        says: says(&["unknown unit \"Gbitz\""]),
    });
    out
}

#[test]
fn reload_rejects_bad_configs_and_keeps_forwarding() {
    if !require_root() {
        return;
    }
    let (s, dir, good) = start_null_ports("badcfg", "sl-admin-badcfg", "watch = false\n", "b");
    let cfg = dir.join("sluice.toml");
    let flows_path = dir.join("flows.txt");
    let m0 = s.metrics();
    let hash = config_hash(&m0);
    assert_eq!(value(&m0, "sluice_config_generation", &[]), 1.0);
    assert_eq!(value(&m0, "sluice_config_last_reload_success", &[]), 1.0);

    let variants = broken_variants(&good, &cfg, &flows_path);
    for (k, v) in variants.iter().enumerate() {
        let name = v.name;
        let before = s.metrics();
        std::fs::write(&flows_path, &v.flows).unwrap();
        std::fs::write(&cfg, &v.config).unwrap();
        let r = post_reload(&s, None);
        assert_eq!(r.status, 422, "{name}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        let j = r.json();
        assert_eq!(j["result"], "failure", "{name}: {j}");
        assert_eq!(j["generation"], 1, "{name}: {j}");
        assert_eq!(j["hash"], hash.as_str(), "{name}: {j}");
        let err = j["error"].as_str().unwrap_or_else(|| panic!("{name}: {j}"));
        let want = match &v.at {
            Where::At(file, (line, col)) => format!("{}:{line}:{col}: ", file.display()),
            Where::File(file) => format!("{}: ", file.display()),
        };
        assert!(
            err.starts_with(&want),
            "{name}: want {want:?}..., got:\n{err}"
        );
        for text in &v.says {
            assert!(
                err.contains(text.as_str()),
                "{name}: no {text:?} in:\n{err}"
            );
        }

        // Nothing changed, and traffic kept going to b without drops.
        let m = wait_tx(&s, "b", port_counter(&before, "tx_packets", "b"));
        assert_eq!(
            value(&m, "sluice_config_last_reload_success", &[]),
            0.0,
            "{name}"
        );
        assert_eq!(
            value(&m, "sluice_config_reloads_total", &[("result", "failure")]),
            (k + 1) as f64,
            "{name}"
        );
        assert_eq!(
            value(&m, "sluice_config_reloads_total", &[("result", "success")]),
            0.0,
            "{name}"
        );
        assert_eq!(value(&m, "sluice_config_generation", &[]), 1.0, "{name}");
        assert_eq!(config_hash(&m), hash, "{name}");
        assert_eq!(sum(&m, "sluice_drops_total", &[]), 0.0, "{name}:\n{m}");
        assert_eq!(sum(&m, "sluice_port_tx_dropped_total", &[]), 0.0, "{name}");
        assert_eq!(port_counter(&m, "tx_packets", "c"), 0.0, "{name}");
        let st = status_json(&s);
        assert_eq!(st["config"]["generation"], 1, "{name}");
        assert_eq!(st["config"]["hash"], hash.as_str(), "{name}");
        assert_eq!(st["config"]["last_reload"]["result"], "failure", "{name}");
        assert_eq!(st["config"]["last_reload"]["error"], err, "{name}");
        assert_eq!(st["config"]["reloads"]["failure"], k + 1, "{name}");
    }

    // A good change applies: flows to c.
    std::fs::write(&cfg, &good).unwrap();
    std::fs::write(&flows_path, flows_to("c")).unwrap();
    let r = post_reload(&s, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["result"], "success", "{j}");
    assert_eq!(j["generation"], 2, "{j}");
    assert!(j.get("error").is_none(), "{j}");
    let m1 = s.metrics();
    let m2 = wait_tx(&s, "c", port_counter(&m1, "tx_packets", "c"));
    assert_eq!(
        port_counter(&m1, "tx_packets", "b"),
        port_counter(&m2, "tx_packets", "b"),
        "b still receives after the switch to c"
    );
    assert_eq!(value(&m2, "sluice_config_generation", &[]), 2.0);
    assert_eq!(value(&m2, "sluice_config_last_reload_success", &[]), 1.0);
    assert_eq!(
        value(&m2, "sluice_config_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        value(&m2, "sluice_config_reloads_total", &[("result", "failure")]),
        variants.len() as f64
    );
    let new_hash = config_hash(&m2);
    assert_ne!(new_hash, hash);
    assert_eq!(j["hash"], new_hash.as_str());
    let st = status_json(&s);
    assert_eq!(st["config"]["last_reload"]["result"], "success");
    assert!(st["config"]["last_reload"].get("error").is_none(), "{st}");

    let fin = s.stop();
    fin.assert_clean();
    // Every packet received went out on b or c; none dropped.
    let (a, b, c) = (fin.port_row("a"), fin.port_row("b"), fin.port_row("c"));
    assert_eq!(a[0], b[2] + c[2], "{}", fin.stdout);
    assert!(b[2] > 0 && c[2] > 0, "{}", fin.stdout);
    for reason in ["malformed", "no_route", "tx_full", "no_mbuf", "policed"] {
        assert_eq!(fin.drop_count(reason), 0, "{reason}: {}", fin.stdout);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 4. Token, `sluice reload`, /status, metrics formats
// ---------------------------------------------------------------------------

const TOKEN: &str = "0123456789abcdef0123";

fn sluice_reload(
    admin: SocketAddr,
    token: Option<&str>,
    env: Option<&str>,
) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["reload", "--admin", &admin.to_string()]);
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    cmd.env_remove("SLUICE_ADMIN_TOKEN");
    if let Some(t) = env {
        cmd.env("SLUICE_ADMIN_TOKEN", t);
    }
    cmd.output().expect("run sluice reload")
}

fn out_json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Checks OpenMetrics text structurally: every sample belongs to the
/// family of the `# TYPE` before it with a suffix its type allows, no
/// family twice, numeric values, and `# EOF` once, as the last line.
fn check_openmetrics(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no final # EOF");
    assert_eq!(text.matches("# EOF").count(), 1);
    let mut seen = std::collections::HashSet::new();
    let mut family: Option<(String, String)> = None;
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("{line}"));
            assert!(seen.insert(name.to_string()), "family {name} twice");
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (fam, kind) = family
            .as_ref()
            .unwrap_or_else(|| panic!("no TYPE before {line}"));
        let (series, v) = line.rsplit_once(' ').unwrap();
        v.parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let name = series.split('{').next().unwrap();
        let suffix = name
            .strip_prefix(fam.as_str())
            .unwrap_or_else(|| panic!("{name} outside family {fam}"));
        let allowed: &[&str] = match kind.as_str() {
            "counter" => &["_total", "_created"],
            "info" => &["_info"],
            "histogram" => &["_bucket", "_count", "_sum", "_created"],
            "summary" => &["", "_count", "_sum", "_created"],
            _ => &[""],
        };
        assert!(allowed.contains(&suffix), "{name} in {kind} family {fam}");
    }
}

fn promtool_check(promtool: &str, text: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

#[test]
fn reload_token_and_cli() {
    if !require_root() {
        return;
    }
    let admin = format!("watch = false\ntoken = \"{TOKEN}\"\n");
    let (s, dir, _) = start_null_ports("token", "sl-admin-token", &admin, "b");
    let flows_path = dir.join("flows.txt");
    let reloads = |s: &Sluice| {
        let m = s.metrics();
        (
            value(&m, "sluice_config_reloads_total", &[("result", "success")]),
            value(&m, "sluice_config_reloads_total", &[("result", "failure")]),
        )
    };

    // GETs need no token.
    for path in ["/metrics", "/status", "/", "/dump-flows", "/xstats"] {
        let r = request(s.admin, "GET", path, &[]);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    }
    // POST without the right token: 401, and the reloader never asked.
    let auths = [
        None,
        Some(format!("Bearer {}4", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Bearer {}", &TOKEN[..10])),
        Some(format!("Bearer {TOKEN}x")),
        Some("Bearer ".to_string()),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_string()),
    ];
    for auth in &auths {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let r = request(s.admin, "POST", "/-/reload", &headers);
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text());
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{headers:?}");
    }
    assert_eq!(
        reloads(&s),
        (0.0, 0.0),
        "a refused POST reached the reloader"
    );
    // The right token: the config is unchanged.
    let r = post_reload(&s, Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["result"], "unchanged", "{j}");
    assert_eq!(j["trigger"], "http", "{j}");
    assert_eq!(j["generation"], 1, "{j}");
    assert_eq!(reloads(&s), (1.0, 0.0));

    // `sluice reload --token`: a change to c.
    std::fs::write(&flows_path, flows_to("c")).unwrap();
    let o = sluice_reload(s.admin, Some(TOKEN), None);
    assert!(o.status.success(), "{o:?}");
    let j = out_json(&o);
    assert_eq!(j["result"], "success", "{j}");
    assert_eq!(j["generation"], 2, "{j}");
    wait_tx(&s, "c", 0.0);
    // Without a token: refused, exit 1, nothing reloaded.
    std::fs::write(&flows_path, flows_to("b")).unwrap();
    let o = sluice_reload(s.admin, None, None);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("HTTP 401"), "{err}");
    assert_eq!(status_json(&s)["config"]["generation"], 2);
    // The token from the environment.
    let o = sluice_reload(s.admin, None, Some(TOKEN));
    assert!(o.status.success(), "{o:?}");
    assert_eq!(out_json(&o)["generation"], 3);
    // A rejected config: exit 1, the report with the error on stdout.
    let bad = "table=0,priority=10,in_port=a,actions=output:b,bogus\n";
    std::fs::write(&flows_path, bad).unwrap();
    let o = sluice_reload(s.admin, Some(TOKEN), None);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let j = out_json(&o);
    assert_eq!(j["result"], "failure", "{j}");
    assert_eq!(j["generation"], 3, "{j}");
    let (line, col) = pos(bad, "bogus");
    let want = format!("{}:{line}:{col}: ", flows_path.display());
    assert!(
        j["error"].as_str().is_some_and(|e| e.starts_with(&want)),
        "want {want}: {j}"
    );
    assert_eq!(reloads(&s), (3.0, 1.0));
    // Nobody listening: exit 1 with a reason.
    let dead: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let o = sluice_reload(dead, Some(TOKEN), None);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the admin listener"),
        "{o:?}"
    );
    std::fs::write(&flows_path, flows_to("b")).unwrap();

    // /status.
    let st = status_json(&s);
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"), "{st}");
    let up1 = st["uptime_seconds"].as_f64().expect("uptime_seconds");
    assert!(up1 > 0.0, "{st}");
    assert_eq!(st["config"]["generation"], 3, "{st}");
    assert_eq!(
        st["config"]["file"],
        dir.join("sluice.toml").display().to_string()
    );
    assert_eq!(st["config"]["last_reload"]["result"], "failure", "{st}");
    let ports = st["ports"].as_array().expect("ports");
    let names: Vec<&str> = ports.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["a", "b", "c"], "{st}");
    for p in ports {
        assert_eq!(p["link_up"], true, "net_null links are up: {p}");
    }
    let workers = st["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 1, "{st}");
    assert_eq!(workers[0]["core"], 1, "{st}");
    let queues: Vec<(String, u64)> = workers[0]["rx_queues"]
        .as_array()
        .expect("rx_queues")
        .iter()
        .map(|q| {
            (
                q["port"].as_str().unwrap().to_string(),
                q["queue"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = ["a", "b", "c"].iter().map(|p| (p.to_string(), 0)).collect();
    assert_eq!(queues, want, "{st}");
    let up2 = poll("uptime to advance", Duration::from_secs(5), || {
        let up = status_json(&s)["uptime_seconds"].as_f64().unwrap_or(0.0);
        if up > up1 {
            Ok(up)
        } else {
            Err(format!("{up} <= {up1}"))
        }
    });
    assert!(up2 > up1);

    // Both metrics formats.
    let text = request(s.admin, "GET", "/metrics", &[]);
    assert_eq!(text.status, 200);
    let ct = text.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = text.text();
    assert!(!text.contains("# EOF"), "EOF in the Prometheus text format");
    let om = request(
        s.admin,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    );
    assert_eq!(om.status, 200);
    let ct = om.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let om = om.text();
    check_openmetrics(&om);
    for name in [
        "sluice_port_rx_packets_total",
        "sluice_config_generation",
        "sluice_config_info",
        "sluice_config_last_reload_success",
    ] {
        assert!(
            sample(&om, name, &[]).is_some(),
            "{name} missing in OpenMetrics"
        );
        assert!(sample(&text, name, &[]).is_some(), "{name} missing in text");
    }
    // An Accept that prefers text/plain gets text.
    let r = request(
        s.admin,
        "GET",
        "/metrics",
        &[("Accept", "application/openmetrics-text;q=0.5,text/plain")],
    );
    assert!(r
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/plain"));
    if let Some(promtool) = tool("promtool") {
        let (ok, said) = promtool_check(&promtool, &text);
        assert!(ok, "promtool check metrics (text format):\n{said}");
        // promtool's `check metrics` parses only the Prometheus text
        // format (it rejects OpenMetrics' `info` type); the real
        // Prometheus server parses OpenMetrics scrapes in
        // prometheus_server_scrapes_port_counters.
        let (ok, said) = promtool_check(&promtool, &om);
        if !ok {
            assert!(
                said.contains("unknown metric type \"info\""),
                "promtool on OpenMetrics:\n{said}"
            );
        }
    }
    s.stop().assert_clean();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// 5. Reload on file change
// ---------------------------------------------------------------------------

/// (generation, successful reloads, failed reloads).
fn reload_state(m: &str) -> (f64, f64, f64) {
    (
        value(m, "sluice_config_generation", &[]),
        value(m, "sluice_config_reloads_total", &[("result", "success")]),
        value(m, "sluice_config_reloads_total", &[("result", "failure")]),
    )
}

/// Checks that the reload state stays `want` for `window` (the watcher's
/// debounce is 300 ms; a reload it started would show well within this).
fn stays(s: &Sluice, want: (f64, f64, f64), window: Duration, what: &str) {
    let until = Instant::now() + window;
    while Instant::now() < until {
        let got = reload_state(&s.metrics());
        assert_eq!(got, want, "{what}: (generation, successes, failures)");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn file_watch_reloads_on_change() {
    if !require_root() {
        return;
    }
    // `watch` is on by default.
    let (s, dir, good) = start_null_ports("watch", "sl-admin-watch", "", "b");
    let cfg = dir.join("sluice.toml");
    let flows_path = dir.join("flows.txt");
    let quiet = sluice::watch::DEBOUNCE * 5;
    assert_eq!(reload_state(&s.metrics()), (1.0, 0.0, 0.0));

    // The flows file replaced atomically: routed to c.
    write_atomic(&flows_path, &flows_to("c"));
    let m = s.wait_metrics("generation 2", 5, |m| reload_state(m).0 >= 2.0);
    assert_eq!(reload_state(&m), (2.0, 1.0, 0.0));
    let m1 = wait_tx(&s, "c", port_counter(&m, "tx_packets", "c"));
    let m2 = wait_tx(&s, "c", port_counter(&m1, "tx_packets", "c"));
    assert_eq!(
        port_counter(&m1, "tx_packets", "b"),
        port_counter(&m2, "tx_packets", "b"),
        "b still receives"
    );
    let st = status_json(&s);
    assert_eq!(st["config"]["last_reload"]["trigger"], "file", "{st}");
    assert_eq!(st["config"]["last_reload"]["result"], "success", "{st}");
    stays(&s, (2.0, 1.0, 0.0), quiet, "after one change");

    // Same content: rewritten in place, renamed over, and touched.
    std::fs::write(&flows_path, flows_to("c")).unwrap();
    write_atomic(&flows_path, &flows_to("c"));
    std::fs::File::options()
        .append(true)
        .open(&cfg)
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    stays(
        &s,
        (2.0, 1.0, 0.0),
        quiet,
        "files touched, content unchanged",
    );

    // An editor's save of the main config: truncate, write part, pause
    // (shorter than the debounce), write the rest. One reload, of the
    // whole file.
    let edited = good.replace("\"100Gbit\"", "\"90Gbit\"");
    {
        let mut f = std::fs::File::create(&cfg).unwrap();
        let half = edited.len() / 2;
        f.write_all(&edited.as_bytes()[..half]).unwrap();
        f.sync_all().unwrap();
        std::thread::sleep(sluice::watch::DEBOUNCE / 6);
        f.write_all(&edited.as_bytes()[half..]).unwrap();
        f.sync_all().unwrap();
    }
    let m = s.wait_metrics("generation 3", 5, |m| reload_state(m).0 >= 3.0);
    assert_eq!(
        reload_state(&m),
        (3.0, 2.0, 0.0),
        "one reload, no half file"
    );
    assert_eq!(
        value(
            &m,
            "sluice_tenant_rate_bytes_per_second",
            &[("tenant", "t1"), ("bucket", "committed")]
        ),
        90e9 / 8.0,
        "the new rate runs"
    );
    stays(&s, (3.0, 2.0, 0.0), quiet, "after the editor's save");
    let m = s.metrics();
    wait_tx(&s, "c", port_counter(&m, "tx_packets", "c"));

    let fin = s.stop();
    fin.assert_clean();
    let (a, b, c) = (fin.port_row("a"), fin.port_row("b"), fin.port_row("c"));
    assert_eq!(a[0], b[2] + c[2], "{}", fin.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}
