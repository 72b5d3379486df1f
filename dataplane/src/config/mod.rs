//! The TOML configuration: schema, validation and located errors.
//!
//! What: turns a config file into a [`Config`] whose every name is resolved
//! and every limit checked, or into a [`ConfigError`] that says
//! `FILE:LINE:COL: message`. Nothing downstream (EAL, ports, workers)
//! re-validates.
//!
//! How: serde with `deny_unknown_fields` over `toml`, keeping the spans of
//! the values we check semantically (`toml::Spanned`), so that a duplicate
//! port name or a core that does not exist points at the exact character.
//!
//! Threads: parsed on the admin thread (and by the CLI); the result is
//! plain data, shared read-only.

mod device;
pub mod pipeline;
pub mod tenant;

pub use device::{Device, DeviceKind};
pub use pipeline::{Origin, PipelineConfig, Sources};
pub use tenant::{IpPrefix, MatchKind, TenantConfig, TenantMatch};

use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The config `sluice run` uses when given no `--config`: the demo of
/// `scripts/demo.sh` (two tap ports forwarding to each other).
pub const DEMO_CONFIG: &str = include_str!("../../../config/demo.toml");
pub const DEMO_CONFIG_NAME: &str = "<embedded config/demo.toml>";

/// Most ports one instance drives; sizes the workers' per-port arrays.
pub const MAX_PORTS: usize = 64;
/// Most rx/tx queues per port.
pub const MAX_QUEUES: u16 = 64;

/// A file a config was read from, with a hash of its bytes as read (the
/// config's identity for reloads and `sluice_config_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub hash: u64,
}

impl InputFile {
    pub fn new(path: PathBuf, bytes: &[u8]) -> Self {
        InputFile {
            path,
            hash: fnv1a(bytes),
        }
    }
}

/// 64-bit FNV-1a: a stable digest (not a security hash) of config text.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A config error located in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Maps byte offsets of one source text to 1-based line:column (in characters).
pub struct SourceMap<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> SourceMap<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        ConfigError {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
        }
    }

    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        self.error_at(span.start, message)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

// ---------------------------------------------------------------------------
// Raw schema (what serde reads)
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    eal: RawEal,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    mempool: RawMempool,
    workers: Spanned<RawWorkers>,
    #[serde(default, rename = "port")]
    ports: Vec<RawPort>,
    #[serde(default, rename = "forward")]
    forwards: Vec<RawForward>,
    // -- [[tenant]] (config/tenant.rs) --
    #[serde(default, rename = "tenant")]
    tenants: Vec<tenant::RawTenant>,
    // -- [pipeline] (config/pipeline.rs) --
    pipeline: Option<Spanned<pipeline::RawPipeline>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEal {
    #[serde(default)]
    args: Vec<String>,
    file_prefix: Option<String>,
    #[serde(default)]
    hugepages: Option<bool>,
    memory_mb: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<Spanned<String>>,
    core: Option<Spanned<usize>>,
    token: Option<Spanned<String>>,
    watch: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMempool {
    mbufs: Option<Spanned<u32>>,
    cache: Option<Spanned<u32>>,
    data_room: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkers {
    cores: Spanned<Vec<Spanned<usize>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    device: Spanned<String>,
    rx_queues: Option<Spanned<u16>>,
    rx_desc: Option<Spanned<u16>>,
    tx_desc: Option<Spanned<u16>>,
    mtu: Option<Spanned<u16>>,
    #[serde(default = "default_true")]
    promiscuous: bool,
    // -- [pipeline] (config/pipeline.rs): OpenFlow port number --
    ofport: Option<Spanned<u32>>,
    admin: Option<Spanned<String>>,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForward {
    #[serde(rename = "in")]
    input: Spanned<String>,
    out: Spanned<String>,
}

// ---------------------------------------------------------------------------
// Validated config
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (a path, or [`DEMO_CONFIG_NAME`]).
    pub source: String,
    pub eal: EalConfig,
    pub admin: AdminConfig,
    pub mempool: MempoolConfig,
    /// Worker cores, in order; worker `i` runs on `workers[i]`.
    pub workers: Vec<usize>,
    pub ports: Vec<PortConfig>,
    /// `forward[in_port_index] = Some(out_port_index)`.
    pub forward: Vec<Option<usize>>,
    /// `[[tenant]]` rate limits, in config order (see [`tenant`]).
    pub tenants: Vec<TenantConfig>,
    /// `[pipeline]`: the OpenFlow rules, compiled (see [`pipeline`]);
    /// `None`: the static `forward` map is in force.
    pub pipeline: Option<PipelineConfig>,
    /// The config file, then the files its `[pipeline]` names.
    pub inputs: Vec<InputFile>,
    /// Time [`Config::load`] took to read, validate and compile it (0 for
    /// text given to [`Config::parse`]).
    pub load_seconds: f64,
}

#[derive(Debug, Clone)]
pub struct EalConfig {
    /// Extra EAL arguments, passed through after ours.
    pub args: Vec<String>,
    pub file_prefix: String,
    /// false: `--no-huge` (tests, this kind of VM); true: hugepages (production).
    pub hugepages: bool,
    /// `-m`, MiB of memory when running without hugepages.
    pub memory_mb: u32,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// The core the admin (and EAL main) thread runs on.
    pub core: usize,
    /// Set when the admin core is also a worker's (2 workers on 2 cores).
    pub shares_worker_core: bool,
    /// Bearer token that `POST` requests (`/-/reload`) must carry:
    /// `[admin] token`, else the `SLUICE_ADMIN_TOKEN` environment
    /// variable. Without one, `POST` is allowed only on a loopback listener.
    pub token: Option<String>,
    /// `[admin] watch` (default true): reload when the config file or a
    /// file it names changes.
    pub watch: bool,
}

#[derive(Debug, Clone)]
pub struct MempoolConfig {
    pub mbufs: u32,
    pub cache: u32,
    pub data_room: u16,
}

#[derive(Debug, Clone)]
pub struct PortConfig {
    pub name: String,
    pub device: Device,
    pub rx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    pub mtu: Option<u16>,
    pub promiscuous: bool,
    /// OpenFlow port number: `ofport`, or the port's index + 1.
    pub ofport: u32,
    /// `admin = "down"`: the port is administratively down (OpenFlow's
    /// OFPPC_PORT_DOWN): nothing received on it is forwarded, nothing is
    /// sent on it (both counted as `port_down` drops), the link is set
    /// down where the driver can, and fast-failover groups skip it.
    /// Changes live on reload.
    pub admin_down: bool,
}

/// One (port, rx queue) a worker polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRef {
    pub port: usize,
    pub queue: u16,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_for(path, &available_cores())
    }

    /// [`Config::load`] checking cores against `cores` (a reload inside a
    /// running instance, whose threads are pinned, passes the cores the
    /// process had at start).
    pub fn load_for(path: &Path, cores: &[usize]) -> Result<Config, ConfigError> {
        let started = std::time::Instant::now();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: name.clone(),
            line: 0,
            col: 0,
            message: format!("cannot read config: {e}"),
        })?;
        let mut config = Self::parse(&name, &text, cores)?;
        config.load_seconds = started.elapsed().as_secs_f64();
        Ok(config)
    }

    /// The embedded demo config.
    pub fn demo() -> Result<Config, ConfigError> {
        Self::parse(DEMO_CONFIG_NAME, DEMO_CONFIG, &available_cores())
    }

    /// Parses `text` (named `file` in errors); `cores` are the cores that exist.
    pub fn parse(file: &str, text: &str, cores: &[usize]) -> Result<Config, ConfigError> {
        let map = SourceMap::new(file, text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = e.message().trim_end().replace('\n', "; ");
            match e.span() {
                Some(span) => map.error(span, msg),
                None => map.error_at(0, msg),
            }
        })?;
        validate(raw, &map, cores)
    }

    /// Number of tx queues per port: one per worker, so that no two workers
    /// ever share one (a worker sends to every port without a lock).
    pub fn tx_queues(&self) -> u16 {
        self.workers.len() as u16
    }

    /// The fixed worker → (port, rx queue) assignment: every (port, queue)
    /// pair in config order, dealt round-robin to the workers.
    pub fn queue_assignment(&self) -> Vec<Vec<QueueRef>> {
        let mut out = vec![Vec::new(); self.workers.len()];
        let mut i = 0;
        for (p, port) in self.ports.iter().enumerate() {
            for q in 0..port.rx_queues {
                out[i % self.workers.len()].push(QueueRef { port: p, queue: q });
                i += 1;
            }
        }
        out
    }

    /// Digest of everything the config was read from (the config file and
    /// the files it names), as hex.
    pub fn hash(&self) -> String {
        let mut h = 0u64;
        for f in &self.inputs {
            h = fnv1a(&[h.to_le_bytes(), f.hash.to_le_bytes()].concat());
        }
        format!("{h:016x}")
    }

    /// What differs between `self` (running) and `new` that a reload
    /// cannot apply: one line per change. Flows, groups, meters, tenants,
    /// the static forward map and ports' admin state change live; the EAL,
    /// the mempool, the workers, the admin listener and the ports' devices
    /// and queues are set up once and need a restart.
    pub fn restart_changes(&self, new: &Config) -> Vec<String> {
        let mut out = Vec::new();
        let mut diff = |what: &str, old: String, new: String| {
            if old != new {
                out.push(format!("{what}: {old} -> {new} (needs a restart)"));
            }
        };
        diff(
            "eal",
            format!("{:?}", self.eal_args()),
            format!("{:?}", new.eal_args()),
        );
        diff(
            "mempool",
            format!(
                "{} mbufs, cache {}, data room {}",
                self.mempool.mbufs, self.mempool.cache, self.mempool.data_room
            ),
            format!(
                "{} mbufs, cache {}, data room {}",
                new.mempool.mbufs, new.mempool.cache, new.mempool.data_room
            ),
        );
        diff(
            "workers.cores",
            format!("{:?}", self.workers),
            format!("{:?}", new.workers),
        );
        diff(
            "admin.listen",
            self.admin.listen.to_string(),
            new.admin.listen.to_string(),
        );
        diff(
            "admin.core",
            self.admin.core.to_string(),
            new.admin.core.to_string(),
        );
        let names = |c: &Config| c.ports.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
        if names(self) != names(new) {
            diff("ports", names(self).join(", "), names(new).join(", "));
        } else {
            for (a, b) in self.ports.iter().zip(&new.ports) {
                let shape = |p: &PortConfig| {
                    format!(
                        "device {}, rx_queues {}, rx_desc {}, tx_desc {}, mtu {}, promiscuous {}, ofport {}",
                        p.device.spec,
                        p.rx_queues,
                        p.rx_desc,
                        p.tx_desc,
                        p.mtu.map_or("default".into(), |m| m.to_string()),
                        p.promiscuous,
                        p.ofport
                    )
                };
                diff(&format!("port {}", a.name), shape(a), shape(b));
            }
        }
        out
    }

    /// The files to watch for changes (not the embedded demo).
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.inputs
            .iter()
            .map(|f| f.path.clone())
            .filter(|p| !p.to_string_lossy().starts_with('<'))
            .collect()
    }

    pub fn port_index(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name == name)
    }

    /// The EAL arguments (without argv\[0\]).
    pub fn eal_args(&self) -> Vec<String> {
        let mut a = vec!["-l".to_string()];
        a.push(self.admin.core.to_string());
        a.push(format!("--file-prefix={}", self.eal.file_prefix));
        if !self.eal.hugepages {
            a.push("--no-huge".into());
            a.push("-m".into());
            a.push(self.eal.memory_mb.to_string());
        }
        let has_pci = self.ports.iter().any(|p| p.device.kind == DeviceKind::Pci);
        if !has_pci {
            a.push("--no-pci".into());
        }
        for p in &self.ports {
            match p.device.kind {
                DeviceKind::Pci => a.push(format!("--allow={}", p.device.spec)),
                DeviceKind::Vdev => a.push(format!("--vdev={}", p.device.spec)),
            }
        }
        a.extend(self.eal.args.iter().cloned());
        a
    }

    /// A human summary for `sluice check`.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "config {}: OK", self.source);
        let _ = writeln!(
            s,
            "  admin: listen {} on core {}{}",
            self.admin.listen,
            self.admin.core,
            if self.admin.shares_worker_core {
                " (shared with a worker)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "  eal: file-prefix {}, {}",
            self.eal.file_prefix,
            if self.eal.hugepages {
                "hugepages".to_string()
            } else {
                format!("no hugepages, {} MiB", self.eal.memory_mb)
            }
        );
        let _ = writeln!(
            s,
            "  mempool: {} mbufs, cache {}, data room {} B",
            self.mempool.mbufs, self.mempool.cache, self.mempool.data_room
        );
        let _ = writeln!(s, "  ports ({}):", self.ports.len());
        for (i, p) in self.ports.iter().enumerate() {
            let _ = writeln!(
                s,
                "    {i}: {} = {} ({}), rxq {}, txq {}, mtu {}, promiscuous {}",
                p.name,
                p.device.spec,
                p.device.driver,
                p.rx_queues,
                self.tx_queues(),
                p.mtu.map_or("default".to_string(), |m| m.to_string()),
                p.promiscuous
            );
        }
        let _ = writeln!(s, "  workers ({}):", self.workers.len());
        for (w, qs) in self.queue_assignment().iter().enumerate() {
            let list: Vec<String> = qs
                .iter()
                .map(|q| format!("{}/{}", self.ports[q.port].name, q.queue))
                .collect();
            let _ = writeln!(
                s,
                "    worker {w} on core {}: rx {}",
                self.workers[w],
                list.join(", ")
            );
        }
        // -- [pipeline] (config/pipeline.rs) --
        if let Some(p) = &self.pipeline {
            s.push_str(&p.summary());
        }
        if self.pipeline.is_none() {
            let _ = writeln!(s, "  forwarding:");
            for (i, o) in self.forward.iter().enumerate() {
                if let Some(o) = o {
                    let _ = writeln!(s, "    {} -> {}", self.ports[i].name, self.ports[*o].name);
                }
            }
        }
        if !self.tenants.is_empty() {
            let names: Vec<&str> = self
                .tenants
                .iter()
                .take(8)
                .map(|t| t.name.as_str())
                .collect();
            let more = if self.tenants.len() > 8 { ", ..." } else { "" };
            let _ = writeln!(
                s,
                "  tenants ({}): {}{more}",
                self.tenants.len(),
                names.join(", ")
            );
        }
        s
    }
}

/// The cores this process may run on (its affinity mask).
pub fn available_cores() -> Vec<usize> {
    match core_affinity::get_core_ids() {
        Some(ids) if !ids.is_empty() => ids.into_iter().map(|c| c.id).collect(),
        _ => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

fn validate(raw: RawConfig, map: &SourceMap<'_>, cores: &[usize]) -> Result<Config, ConfigError> {
    // Workers.
    let cores_span = raw.workers.span();
    let worker_cores = raw.workers.into_inner().cores;
    if worker_cores.get_ref().is_empty() {
        return Err(map.error(
            worker_cores.span(),
            "workers.cores is empty; give at least one core",
        ));
    }
    let mut workers = Vec::new();
    for c in worker_cores.get_ref() {
        let core = *c.get_ref();
        if !cores.contains(&core) {
            return Err(map.error(
                c.span(),
                format!(
                    "core {core} does not exist or is not available; available cores: {}",
                    list(cores)
                ),
            ));
        }
        if workers.contains(&core) {
            return Err(map.error(c.span(), format!("core {core} is given twice")));
        }
        workers.push(core);
    }
    let _ = cores_span;

    // Admin.
    let listen = match &raw.admin.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 9091)),
        Some(s) => s.get_ref().parse().map_err(|_| {
            map.error(
                s.span(),
                format!(
                    "bad listen address {:?}; expected IP:PORT such as \"127.0.0.1:9091\"",
                    s.get_ref()
                ),
            )
        })?,
    };
    let token = match &raw.admin.token {
        Some(t) if t.get_ref().len() < 16 || t.get_ref().chars().any(|c| !c.is_ascii_graphic()) => {
            return Err(map.error(
                t.span(),
                "admin.token must be at least 16 printable ASCII characters without spaces",
            ));
        }
        Some(t) => Some(t.get_ref().clone()),
        None => std::env::var("SLUICE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let (admin_core, shares) = match &raw.admin.core {
        Some(c) => {
            let core = *c.get_ref();
            if !cores.contains(&core) {
                return Err(map.error(
                    c.span(),
                    format!(
                        "core {core} does not exist or is not available; available cores: {}",
                        list(cores)
                    ),
                ));
            }
            (core, workers.contains(&core))
        }
        None => match cores.iter().find(|c| !workers.contains(c)) {
            Some(&c) => (c, false),
            None => (cores[0], true),
        },
    };

    // EAL.
    let file_prefix = raw
        .eal
        .file_prefix
        .clone()
        .unwrap_or_else(|| "sluice".to_string());
    let memory_mb = match &raw.eal.memory_mb {
        Some(m) if *m.get_ref() < 64 => {
            return Err(map.error(m.span(), "eal.memory_mb must be at least 64"));
        }
        Some(m) => *m.get_ref(),
        None => 512,
    };

    // Mempool.
    let data_room = match &raw.mempool.data_room {
        Some(d) if !(256..=65535).contains(d.get_ref()) => {
            return Err(map.error(
                d.span(),
                "mempool.data_room must be within 256..=65535 bytes",
            ));
        }
        Some(d) => *d.get_ref() as u16,
        None => 2048 + 128,
    };
    let cache = match &raw.mempool.cache {
        Some(c) if *c.get_ref() > 512 => {
            return Err(map.error(
                c.span(),
                "mempool.cache must be at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)",
            ));
        }
        Some(c) => *c.get_ref(),
        None => 256,
    };

    // Ports.
    if raw.ports.is_empty() {
        return Err(map.error_at(0, "no [[port]] given; at least one port is needed"));
    }
    if raw.ports.len() > MAX_PORTS {
        return Err(map.error(
            raw.ports[MAX_PORTS].name.span(),
            format!("at most {MAX_PORTS} ports"),
        ));
    }
    let mut ports: Vec<PortConfig> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut devnames: HashMap<String, usize> = HashMap::new();
    for p in &raw.ports {
        let name = p.name.get_ref();
        if !valid_name(name) {
            return Err(map.error(
                p.name.span(),
                format!("bad port name {name:?}; use letters, digits, '_', '-' and '.', starting with a letter"),
            ));
        }
        if let Some(prev) = names.insert(name.clone(), ports.len()) {
            return Err(map.error(
                p.name.span(),
                format!("duplicate port name {name:?} (first used by port {prev})"),
            ));
        }
        // +1: the span covers the opening quote.
        let device = Device::parse(p.device.get_ref())
            .map_err(|(off, msg)| map.error_at(p.device.span().start + 1 + off, msg))?;
        if let Some(prev) = devnames.insert(device.name.clone(), ports.len()) {
            return Err(map.error(
                p.device.span(),
                format!(
                    "device {:?} is already used by port {:?}",
                    device.name,
                    raw.ports[prev].name.get_ref()
                ),
            ));
        }
        let rx_queues = match &p.rx_queues {
            Some(q) if *q.get_ref() == 0 || *q.get_ref() > MAX_QUEUES => {
                return Err(map.error(
                    q.span(),
                    format!("rx_queues must be within 1..={MAX_QUEUES}"),
                ));
            }
            Some(q) => *q.get_ref(),
            None => 1,
        };
        if let Some(limit) = device.max_queues() {
            if rx_queues > limit || (workers.len() as u16) > limit {
                let span = p.rx_queues.as_ref().map_or(p.device.span(), |q| q.span());
                return Err(map.error(
                    span,
                    format!(
                        "{} supports at most {limit} queue(s) as configured here ({rx_queues} rx, {} tx = one per worker); \
                         raise its queue count in the device string or use fewer workers",
                        device.driver,
                        workers.len()
                    ),
                ));
            }
        }
        let desc = |v: &Option<Spanned<u16>>, what: &str| -> Result<u16, ConfigError> {
            match v {
                Some(d) if !(32..=8192).contains(d.get_ref()) || !d.get_ref().is_power_of_two() => {
                    Err(map.error(
                        d.span(),
                        format!("{what} must be a power of two within 32..=8192"),
                    ))
                }
                Some(d) => Ok(*d.get_ref()),
                None => Ok(1024),
            }
        };
        let mtu = match &p.mtu {
            Some(m) if !(68..=16000).contains(m.get_ref()) => {
                return Err(map.error(m.span(), "mtu must be within 68..=16000"));
            }
            Some(m) => {
                let need = *m.get_ref() as u32 + 14 + 8 + 128;
                if need > data_room as u32 {
                    return Err(map.error(
                        m.span(),
                        format!(
                            "mtu {} needs mempool.data_room >= {need} (frame + VLAN tags + headroom); data_room is {data_room}",
                            m.get_ref()
                        ),
                    ));
                }
                Some(*m.get_ref())
            }
            None => None,
        };
        let admin_down = match &p.admin {
            None => false,
            Some(a) => match a.get_ref().as_str() {
                "up" => false,
                "down" => true,
                other => {
                    return Err(map.error(
                        a.span(),
                        format!("port admin state {other:?}; expected \"up\" or \"down\""),
                    ))
                }
            },
        };
        ports.push(PortConfig {
            admin_down,
            name: name.clone(),
            device,
            rx_queues,
            rx_desc: desc(&p.rx_desc, "rx_desc")?,
            tx_desc: desc(&p.tx_desc, "tx_desc")?,
            mtu,
            promiscuous: p.promiscuous,
            ofport: 0, // set with [pipeline] below
        });
    }

    // Mempool size: every rx descriptor can hold an mbuf, every tx ring and
    // tx buffer too, plus the per-core caches and one burst per worker.
    let nworkers = workers.len() as u32;
    let need: u32 = ports
        .iter()
        .map(|p| p.rx_queues as u32 * p.rx_desc as u32 + nworkers * (p.tx_desc as u32 + 64))
        .sum::<u32>()
        + (nworkers + 1) * (cache + 32);
    let mbufs = match &raw.mempool.mbufs {
        Some(m) if *m.get_ref() < need => {
            return Err(map.error(
                m.span(),
                format!("mempool.mbufs = {} is too small for the configured queues: at least {need} needed", m.get_ref()),
            ));
        }
        Some(m) => *m.get_ref(),
        None => need.max(8191),
    };

    // Forwarding.
    let mut forward = vec![None; ports.len()];
    for f in &raw.forwards {
        let resolve = |s: &Spanned<String>| {
            names.get(s.get_ref()).copied().ok_or_else(|| {
                map.error(
                    s.span(),
                    format!(
                        "unknown port {:?}; configured ports: {}",
                        s.get_ref(),
                        port_list(&ports)
                    ),
                )
            })
        };
        let i = resolve(&f.input)?;
        let o = resolve(&f.out)?;
        if forward[i].is_some() {
            return Err(map.error(
                f.input.span(),
                format!("port {:?} already has a [[forward]]", f.input.get_ref()),
            ));
        }
        forward[i] = Some(o);
    }

    // -- [[tenant]] (config/tenant.rs) --
    let tenants =
        tenant::validate_tenants(&raw.tenants, map, &|n| names.get(n).copied(), ports.len())?;

    // -- [pipeline] (config/pipeline.rs) --
    let ofports = pipeline::ofports(&raw.ports, map)?;
    for (p, &n) in ports.iter_mut().zip(&ofports) {
        p.ofport = n;
    }
    let pipeline = match &raw.pipeline {
        None => None,
        Some(rp) => {
            if let Some(f) = raw.forwards.first() {
                return Err(map.error(
                    f.input.span(),
                    "[[forward]] and [pipeline] cannot both be given: with a [pipeline] the flows \
                     decide where packets go (write the forward as a flow, e.g. \
                     \"in_port=a,actions=output:b\")",
                ));
            }
            let names = pipeline::port_names(&ports);
            Some(pipeline::load(rp.get_ref(), map, &names, &ofports)?)
        }
    };

    Ok(Config {
        source: map.file.to_string(),
        eal: EalConfig {
            args: raw.eal.args,
            file_prefix,
            hugepages: raw.eal.hugepages.unwrap_or(false),
            memory_mb,
        },
        admin: AdminConfig {
            listen,
            core: admin_core,
            shares_worker_core: shares,
            token,
            watch: raw.admin.watch.unwrap_or(true),
        },
        mempool: MempoolConfig {
            mbufs,
            cache,
            data_room,
        },
        workers,
        ports,
        forward,
        tenants,
        inputs: std::iter::once(InputFile::new(PathBuf::from(map.file), map.text.as_bytes()))
            .chain(pipeline.iter().flat_map(|p| p.inputs.iter().cloned()))
            .collect(),
        pipeline,
        load_seconds: 0.0,
    })
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && s.len() <= 32
}

fn list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn port_list(ports: &[PortConfig]) -> String {
    ports
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
