//! Test harness: starts the real `sluice` binary with a config, scrapes its
//! admin listener, stops it with SIGTERM and returns what it printed.
#![allow(dead_code)]

pub mod frames;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory for one test: removed when dropped, unless
/// the test is failing (then it stays, with the config and the binary's
/// output, for a look).
pub fn scratch(tag: &str) -> ScratchDir {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sluice-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ScratchDir(dir)
}

/// See [`scratch`].
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl std::ops::Deref for ScratchDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for a look", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// True when running as root (DPDK, taps and namespaces need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Skips (or, under CI, fails) a test that needs root.
pub fn require_root() -> bool {
    if is_root() {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "CI runs these tests as root");
    eprintln!("skipped: needs root");
    false
}

/// The EAL/admin preamble every test config starts with: no hugepages,
/// a unique file prefix, and an admin listener on an ephemeral port.
pub fn preamble(prefix: &str, cores: &[usize]) -> String {
    let cores: Vec<String> = cores.iter().map(|c| c.to_string()).collect();
    format!(
        "[eal]\nfile_prefix = \"{prefix}\"\nhugepages = false\nmemory_mb = 512\n\
         args = [\"--no-shconf\", \"--no-telemetry\", \"--log-level=*:warning\"]\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n[workers]\ncores = [{}]\n\n",
        cores.join(", ")
    )
}

pub struct Sluice {
    child: Option<Child>,
    pub dir: PathBuf,
    pub admin: SocketAddr,
    prefix: String,
}

pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Sluice {
    /// Writes `config` to `dir/sluice.toml`, starts `sluice run`, and waits
    /// until its admin listener answers.
    pub fn start(dir: &Path, prefix: &str, config: &str) -> Sluice {
        let path = dir.join("sluice.toml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&path)
            .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .stdin(Stdio::null())
            .spawn()
            .expect("start sluice");
        let mut s = Sluice {
            child: Some(child),
            dir: dir.to_path_buf(),
            admin: "0.0.0.0:0".parse().unwrap(),
            prefix: prefix.into(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let err = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
            if let Some(addr) = err
                .lines()
                .find_map(|l| l.split("admin listening on http://").nth(1))
                // Only a complete line: the binary may be mid-write.
                .and_then(|r| r.split_once("/metrics").map(|(addr, _)| addr))
            {
                s.admin = addr.parse().unwrap();
                break;
            }
            if let Some(st) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sluice exited early ({st}):\n{err}");
            }
            assert!(Instant::now() < deadline, "sluice did not start:\n{err}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// GET `path` from the admin listener; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http(
            self.admin,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    }

    /// `POST /-/reload` (no token); returns (status, body).
    pub fn reload(&self) -> (u16, String) {
        http(
            self.admin,
            "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    }

    pub fn metrics(&self) -> String {
        let (code, body) = self.get("/metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Waits until `cond(metrics)` holds.
    pub fn wait_metrics(&self, what: &str, secs: u64, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.metrics();
            if cond(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last /metrics:\n{m}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> Finished {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default();
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.prefix));
    }
}

impl Finished {
    /// The final counter table: port name → the columns printed at exit.
    pub fn port_row(&self, port: &str) -> Vec<u64> {
        let line = self
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(port))
            .unwrap_or_else(|| panic!("no final counters for {port}:\n{}", self.stdout));
        line.split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect()
    }

    pub fn drop_count(&self, reason: &str) -> u64 {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("drops:"))
            .expect("drops line");
        line.split_whitespace()
            .find_map(|kv| {
                kv.strip_prefix(&format!("{reason}="))
                    .map(|v| v.parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no drop reason {reason} in {line}"))
    }

    pub fn assert_clean(&self) {
        assert!(
            self.status.success(),
            "sluice failed ({}):\n{}\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        assert!(
            self.stdout.lines().any(|l| l.starts_with("mempool: 0 of ")),
            "mbufs leaked:\n{}",
            self.stdout
        );
    }
}

/// One raw HTTP/1.1 exchange.
pub fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The value of one sample in Prometheus text, e.g.
/// `sample(m, "sluice_port_rx_packets_total", &[("port", "a")])`.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = match series.find('{') {
                Some(i) => (&series[..i], &series[i..]),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let ok = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            if ok {
                value.parse().ok()
            } else {
                None
            }
        })
}

/// Sum of all samples of `name` matching `labels`.
pub fn sum(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let n = series.split('{').next()?;
            (n == name
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

/// Runs a command, panicking with its output on failure.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
