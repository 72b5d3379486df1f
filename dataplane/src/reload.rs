//! Config generations and hitless reload.
//!
//! # What
//!
//! A [`Generation`] is everything one version of the config makes the
//! workers run: the forwarding (static map or compiled pipeline), each
//! worker's pipeline counters, the tenant and meter tables, and which
//! ports are administratively down. The [`Reloader`] (admin thread) turns
//! a trigger (SIGHUP, a change of the config file or a file it names,
//! `POST /-/reload`) into a new generation: read → parse → validate →
//! compile → publish → wait until every worker has moved → carry counters
//! → make it the one `/metrics` shows → free the old one.
//!
//! # How
//!
//! Nothing is applied until the whole new config has loaded: any error
//! (syntax, semantics, a file that cannot be read, a change only a restart
//! can make) leaves the running generation untouched and is reported with
//! its `FILE:LINE:COL`. Publishing sends each worker its [`Program`] over
//! its own channel, then stores the generation number the workers poll
//! (see [`crate::worker`]); a worker switches between two bursts, so a
//! packet is handled entirely by one generation. The reloader waits until
//! every worker has stored the new number (its acknowledgement); only then
//! do the old generation's counters stop moving, so that is when they are
//! carried: flows keep their packets and bytes when table, priority and
//! match are unchanged, tables and drop causes keep theirs, tenants and
//! meters keep counters and bucket fill by name and id (their tables are
//! reused outright when unchanged). Programs the workers leave come back
//! over a channel and are dropped here, so the data path never frees.
//!
//! # Threads
//!
//! Only the admin thread (the main thread's control loop in
//! [`crate::runtime`]) builds and publishes generations; HTTP threads read
//! the current one through [`Shared`] and ask for reloads over a channel.

use crate::admin::Shared;
use crate::config::Config;
use crate::dpdk::Port;
use crate::forward::Forwarding;
use crate::meter::TickScale;
use crate::openflow::{parse_flow, MeterEntry, NoPortNames};
use crate::pipeline::{CompiledPipeline, PipelineCounters, DEFAULT_SALT};
use crate::stats::WorkerStats;
use crate::tenant::{MeterTable, TenantTable};
use crate::worker::{Handle, Program};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a reload waits for every worker to take the new generation.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// One version of the running configuration (see the module docs).
pub struct Generation {
    pub id: u64,
    /// [`Config::hash`] of what it was loaded from.
    pub hash: String,
    pub config: Config,
    pub forwarding: Arc<Forwarding>,
    /// Each worker's counters of the compiled pipeline (empty for the
    /// static map).
    pub pipeline_counters: Vec<Arc<PipelineCounters>>,
    pub tenants: Option<Arc<TenantTable>>,
    pub meters: Option<Arc<MeterTable>>,
    /// Time to read, validate and compile it.
    pub load_seconds: f64,
    /// Unix time it was loaded.
    pub loaded_unix: f64,
}

impl Generation {
    /// Builds generation `id` of `config` for `nworkers` workers, reusing
    /// or carrying `prev`'s tenant and meter tables.
    pub fn build(
        id: u64,
        config: Config,
        prev: Option<&Generation>,
        nworkers: usize,
        scale: TickScale,
        now: u64,
    ) -> Result<Generation, String> {
        let forwarding = Arc::new(build_forwarding(&config)?);
        check_cache_memory(&config, &forwarding, nworkers, mem_available())?;
        let meter_entries: &[MeterEntry] = match &*forwarding {
            Forwarding::Pipeline(p) => p.meters(),
            Forwarding::Static(_) => &[],
        };
        let meters = match prev.and_then(|g| g.meters.as_ref().map(|m| (g, m))) {
            _ if meter_entries.is_empty() => None,
            Some((g, m)) if same_meters(g.meter_entries(), meter_entries) => Some(Arc::clone(m)),
            Some((_, m)) => Some(Arc::new(
                MeterTable::rebuild_from(m, meter_entries, now)
                    .map_err(|e| format!("meters: {e}"))?,
            )),
            None => Some(Arc::new(
                MeterTable::new(meter_entries, scale, now).map_err(|e| format!("meters: {e}"))?,
            )),
        };
        let nports = config.ports.len();
        let tenants = match prev.and_then(|g| g.tenants.as_ref().map(|t| (g, t))) {
            _ if config.tenants.is_empty() => None,
            Some((g, t)) if g.config.tenants == config.tenants => Some(Arc::clone(t)),
            Some((_, t)) => Some(Arc::new(
                TenantTable::rebuild_from(t, config.tenants.clone(), nports, now)
                    .map_err(|e| format!("tenants: {e}"))?,
            )),
            None => Some(Arc::new(
                TenantTable::new(config.tenants.clone(), nports, scale, now)
                    .map_err(|e| format!("tenants: {e}"))?,
            )),
        };
        let pipeline_counters = match &*forwarding {
            Forwarding::Pipeline(p) => (0..nworkers).map(|_| Arc::new(p.new_counters())).collect(),
            Forwarding::Static(_) => Vec::new(),
        };
        Ok(Generation {
            id,
            hash: config.hash(),
            load_seconds: config.load_seconds,
            config,
            forwarding,
            pipeline_counters,
            tenants,
            meters,
            loaded_unix: unix_now(),
        })
    }

    pub fn pipeline(&self) -> Option<&CompiledPipeline> {
        match &*self.forwarding {
            Forwarding::Pipeline(p) => Some(p),
            Forwarding::Static(_) => None,
        }
    }

    fn meter_entries(&self) -> &[MeterEntry] {
        self.pipeline().map_or(&[], |p| p.meters())
    }

    /// Ports that are administratively down, a bit per port index.
    pub fn down_ports(&self) -> u64 {
        self.config
            .ports
            .iter()
            .enumerate()
            .take(64)
            .filter(|(_, p)| p.admin_down)
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    /// Worker `w`'s program; handles on tables shared with `prev` are
    /// kept by the worker.
    pub fn program(&self, w: usize, prev: Option<&Generation>) -> Program {
        let meters = handle(
            &self.meters,
            prev.and_then(|g| g.meters.as_ref()),
            MeterTable::hook,
        );
        let tenants = handle(
            &self.tenants,
            prev.and_then(|g| g.tenants.as_ref()),
            TenantTable::worker,
        );
        Program {
            generation: self.id,
            forwarding: Arc::clone(&self.forwarding),
            counters: self.pipeline_counters.get(w).cloned(),
            meters,
            tenants,
            cache: flow_cache(&self.config, &self.forwarding)
                .map(|(p, slots)| p.new_flow_cache(slots)),
            down: self.down_ports(),
        }
    }
}

/// A worker's handle on `table`: kept when the previous generation had
/// the very same table, else a new one (none without a table).
fn handle<T, H>(table: &Option<Arc<T>>, prev: Option<&Arc<T>>, new: impl Fn(&T) -> H) -> Handle<H> {
    match (table, prev) {
        (Some(a), Some(b)) if Arc::ptr_eq(a, b) => Handle::Keep,
        (t, _) => Handle::Set(t.as_deref().map(new)),
    }
}

/// Meter tables are equal when their entries are (source lines aside).
fn same_meters(a: &[MeterEntry], b: &[MeterEntry]) -> bool {
    let key = |e: &MeterEntry| {
        let mut e = e.clone();
        e.source = Default::default();
        format!("{e:?}")
    };
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

/// The static map alone needs no parsing; with tenants (which classify on
/// headers and police per packet) it runs as the equivalent one-table
/// OpenFlow pipeline, `in_port=A,actions=output:B` per `[[forward]]`.
fn build_forwarding(config: &Config) -> Result<Forwarding, String> {
    if let Some(p) = &config.pipeline {
        return Ok(Forwarding::Pipeline(Arc::clone(&p.compiled)));
    }
    if config.tenants.is_empty() {
        return Ok(Forwarding::static_map(config));
    }
    let ofports: Vec<u32> = config.ports.iter().map(|p| p.ofport).collect();
    let flows = config
        .forward
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.map(|o| (i, o)))
        .map(|(i, o)| {
            let text = format!(
                "table=0,priority=100,in_port={},actions=output:{}",
                i + 1,
                o + 1
            );
            parse_flow(&text, &NoPortNames).map_err(|e| format!("{text}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = CompiledPipeline::build(&flows, &[], &[], &ofports, DEFAULT_SALT)
        .map_err(|e| format!("static map as a pipeline: {e}"))?;
    Ok(Forwarding::Pipeline(Arc::new(p)))
}

/// The pipeline whose lookups each worker caches, and the cache's slots
/// (`None`: no cache: no pipeline, one whose flows cannot be cached, or
/// `flow_cache_slots = 0`).
fn flow_cache<'a>(
    config: &Config,
    forwarding: &'a Forwarding,
) -> Option<(&'a CompiledPipeline, usize)> {
    match (forwarding, &config.pipeline) {
        (Forwarding::Pipeline(p), Some(c)) if p.cacheable() && c.flow_cache_slots > 0 => {
            Some((p, c.flow_cache_slots))
        }
        _ => None,
    }
}

/// The workers' flow caches must fit in the memory the kernel says is
/// available (`available`, bytes; `None`: unknown, not checked), or the
/// allocation would take the host down instead of failing the load.
fn check_cache_memory(
    config: &Config,
    forwarding: &Forwarding,
    nworkers: usize,
    available: Option<u64>,
) -> Result<(), String> {
    let Some((p, slots)) = flow_cache(config, forwarding) else {
        return Ok(());
    };
    let need = (p.flow_cache_bytes(slots) * nworkers) as u64;
    match available {
        Some(a) if need > a => Err(format!(
            "flow_cache_slots = {slots} needs {} MiB for {nworkers} workers, more than the {} \
             MiB available",
            need >> 20,
            a >> 20
        )),
        _ => Ok(()),
    }
}

/// `MemAvailable` of /proc/meminfo, in bytes.
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What asked for a reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Signal,
    File,
    Http,
}

/// How a reload attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new generation runs.
    Success,
    /// The config is the running one (same hash); nothing changed.
    Unchanged,
    /// Rejected; the running generation keeps forwarding.
    Failure,
}

/// The answer to a reload (`POST /-/reload`, `sluice reload`, logs).
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    pub result: Outcome,
    pub trigger: Trigger,
    /// The generation running after the attempt.
    pub generation: u64,
    pub hash: String,
    /// Why it failed: `FILE:LINE:COL: message` lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Compiler warnings of the new config, and workers that were slow to
    /// switch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub duration_seconds: f64,
    /// Unix time of the attempt.
    pub time_unix: f64,
}

/// A reload asked for over HTTP: the answer goes back on `reply`.
pub struct ReloadRequest {
    pub trigger: Trigger,
    pub reply: crossbeam_channel::Sender<ReloadReport>,
}

/// The admin thread's reload machinery (see the module docs).
pub struct Reloader {
    /// The config file; `None` for the embedded demo (nothing to reload).
    path: Option<PathBuf>,
    shared: Arc<Shared>,
    ports: Vec<Port>,
    updates: Vec<crossbeam_channel::Sender<Program>>,
    retired: crossbeam_channel::Receiver<Program>,
    published: Arc<AtomicU64>,
    workers: Vec<Arc<WorkerStats>>,
    scale: TickScale,
    /// The cores the process could use at start (its threads are pinned
    /// since).
    cores: Vec<usize>,
}

impl Reloader {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: Option<PathBuf>,
        shared: Arc<Shared>,
        ports: Vec<Port>,
        updates: Vec<crossbeam_channel::Sender<Program>>,
        retired: crossbeam_channel::Receiver<Program>,
        published: Arc<AtomicU64>,
        workers: Vec<Arc<WorkerStats>>,
        scale: TickScale,
        cores: Vec<usize>,
    ) -> Self {
        Self {
            cores,
            path,
            shared,
            ports,
            updates,
            retired,
            published,
            workers,
            scale,
        }
    }

    /// The files whose change triggers a reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = self.shared.current().config.watched_files();
        if let Some(p) = &self.path {
            if !files.contains(p) {
                files.insert(0, p.clone());
            }
        }
        files
    }

    /// Whether the files on disk differ from the running config's (a
    /// file-change event that changed nothing is ignored).
    pub fn files_changed(&self) -> bool {
        let current = self.shared.current();
        current
            .config
            .inputs
            .iter()
            .any(|f| std::fs::read(&f.path).map_or(true, |b| crate::config::fnv1a(&b) != f.hash))
    }

    /// Frees programs the workers have left.
    pub fn collect_retired(&self) {
        while self.retired.try_recv().is_ok() {}
    }

    /// Reloads the config file (see the module docs) and records the result
    /// for `/metrics` and `/status`.
    pub fn reload(&mut self, trigger: Trigger) -> ReloadReport {
        let started = Instant::now();
        let current = self.shared.current();
        let mut report = ReloadReport {
            result: Outcome::Failure,
            trigger,
            generation: current.id,
            hash: current.hash.clone(),
            error: None,
            warnings: Vec::new(),
            duration_seconds: 0.0,
            time_unix: unix_now(),
        };
        match self.try_reload(&current, &mut report) {
            Ok(outcome) => report.result = outcome,
            Err(e) => {
                report.result = Outcome::Failure;
                report.error = Some(e);
            }
        }
        report.duration_seconds = started.elapsed().as_secs_f64();
        self.shared.record_reload(&report);
        report
    }

    fn try_reload(
        &mut self,
        current: &Arc<Generation>,
        report: &mut ReloadReport,
    ) -> Result<Outcome, String> {
        let Some(path) = self.path.clone() else {
            return Err(
                "the embedded demo config is running; start with --config FILE to reload".into(),
            );
        };
        let config = Config::load_for(&path, &self.cores).map_err(|e| e.to_string())?;
        let restart = current.config.restart_changes(&config);
        if !restart.is_empty() {
            return Err(format!(
                "{}: not applied, these changes need a restart:\n{}",
                path.display(),
                restart.join("\n")
            ));
        }
        if config.hash() == current.hash {
            return Ok(Outcome::Unchanged);
        }
        // A worker that has not taken the running generation yet (it was
        // late to acknowledge the last reload) must not be handed another.
        if let Some(w) = (0..self.workers.len())
            .find(|&w| self.workers[w].generation.load(Ordering::Acquire) != current.id)
        {
            return Err(format!(
                "worker {w} has not switched to generation {} yet; nothing applied, try again",
                current.id
            ));
        }
        if let Some(p) = &config.pipeline {
            report.warnings = p.warnings.iter().map(|w| format!("warning: {w}")).collect();
        }
        let now = crate::dpdk::rdtsc();
        let new = Arc::new(Generation::build(
            current.id + 1,
            config,
            Some(current),
            self.workers.len(),
            self.scale,
            now,
        )?);

        // Publish: programs first, then the number the workers poll.
        for (w, tx) in self.updates.iter().enumerate() {
            // Every worker runs `current` (checked above), so its channel
            // is empty and this never blocks the admin thread.
            if tx.try_send(new.program(w, Some(current))).is_err() {
                report
                    .warnings
                    .push(format!("worker {w}: its update channel is closed"));
            }
        }
        self.published.store(new.id, Ordering::Release);
        let deadline = Instant::now() + ACK_TIMEOUT;
        let late: Vec<usize> = loop {
            self.collect_retired();
            let late: Vec<usize> = (0..self.workers.len())
                .filter(|&w| self.workers[w].generation.load(Ordering::Acquire) != new.id)
                .collect();
            if late.is_empty() || Instant::now() >= deadline {
                break late;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        for w in &late {
            report.warnings.push(format!(
                "worker {w} had not switched to generation {} after {:?}",
                new.id, ACK_TIMEOUT
            ));
        }

        // The old counters are still now: carry them.
        if let (Some(old_p), Some(new_p)) = (current.pipeline(), new.pipeline()) {
            let totals = old_p.totals(current.pipeline_counters.iter().map(|c| &**c));
            new_p.carry_counters_from(old_p, &totals);
        }
        self.shared.retire_pipeline_drops(current);

        // Ports whose admin state changed.
        for (i, (a, b)) in current
            .config
            .ports
            .iter()
            .zip(&new.config.ports)
            .enumerate()
        {
            if a.admin_down != b.admin_down {
                if let Some(port) = self.ports.get(i) {
                    if let Err(e) = port.set_link(!b.admin_down) {
                        report.warnings.push(format!("port {}: {e}", b.name));
                    }
                }
            }
        }

        self.shared.publish(Arc::clone(&new));
        report.generation = new.id;
        report.hash = new.hash.clone();
        Ok(Outcome::Success)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse("<test>", text, &[0, 1]).expect("valid config")
    }

    const BASE: &str = r#"
workers = { cores = [1] }
[admin]
core = 0
[[port]]
name = "a"
device = "net_null0"
[[port]]
name = "b"
device = "net_null1"
"#;

    fn scale() -> TickScale {
        TickScale::new(1_000_000_000).unwrap()
    }

    #[test]
    fn programs_keep_unchanged_tables_and_carry_flow_counters() {
        let tenants = "[[tenant]]\nname = \"t\"\nmatch = { ports = [\"a\"] }\nrate = \"1Mbit\"\n";
        let pipe = |out: &str| {
            format!("[pipeline]\nflows = [\"priority=5,in_port=a,actions=output:{out}\", \"priority=1,actions=drop\"]\n")
        };
        let g1 = Generation::build(
            1,
            config(&format!("{BASE}{tenants}{}", pipe("b"))),
            None,
            1,
            scale(),
            0,
        )
        .unwrap();
        // Count 7 packets on the first flow, 2 on the second.
        let c = &g1.pipeline_counters[0];
        c.entries[0].packets.add(7);
        c.entries[0].bytes.add(700);
        c.entries[1].packets.add(2);
        // Ages must differ visibly in dump-flows (milliseconds).
        std::thread::sleep(std::time::Duration::from_millis(30));
        let g2 = Generation::build(
            2,
            config(&format!("{BASE}{tenants}{}", pipe("a"))),
            Some(&g1),
            1,
            scale(),
            0,
        )
        .unwrap();
        assert!(Arc::ptr_eq(
            g1.tenants.as_ref().unwrap(),
            g2.tenants.as_ref().unwrap()
        ));
        let prog = g2.program(0, Some(&g1));
        assert!(matches!(prog.tenants, Handle::Keep));
        assert_eq!(prog.generation, 2);
        let (p1, p2) = (g1.pipeline().unwrap(), g2.pipeline().unwrap());
        let totals = p1.totals(g1.pipeline_counters.iter().map(|c| &**c));
        assert!(p2.carry_counters_from(p1, &totals));
        assert!(!p2.carry_counters_from(p1, &totals), "carried once only");
        let t2 = p2.totals(g2.pipeline_counters.iter().map(|c| &**c));
        // Same table, priority and match: counters continue although the
        // actions changed.
        assert_eq!(t2.entries, vec![(7, 700), (2, 0)]);
        assert_eq!(t2.tables[0].1, 9);
        // And so does the flows' age, in dump-flows.
        let durations = |p: &CompiledPipeline| -> Vec<f64> {
            p.dump_flows([])
                .lines()
                .map(|l| {
                    let d = l.split("duration=").nth(1).unwrap_or_default();
                    d.split('s').next().unwrap_or_default().parse().unwrap()
                })
                .collect()
        };
        let (d1, d2) = (durations(p1), durations(p2));
        assert!(
            d1.len() == 2 && d2.iter().zip(&d1).all(|(n, o)| n >= o),
            "{d1:?} -> {d2:?}"
        );
    }

    #[test]
    fn new_flows_start_at_zero_and_changed_tenants_rebuild() {
        let g1 = Generation::build(
            1,
            config(&format!(
                "{BASE}[[tenant]]\nname = \"t\"\nmatch = {{ ports = [\"a\"] }}\nrate = \"1Mbit\"\n\
                 [pipeline]\nflows = [\"priority=5,in_port=a,actions=output:b\"]\n"
            )),
            None,
            2,
            scale(),
            0,
        )
        .unwrap();
        g1.pipeline_counters[1].entries[0].packets.add(3);
        std::thread::sleep(std::time::Duration::from_millis(30));
        let g2 = Generation::build(
            2,
            config(&format!(
                "{BASE}[[tenant]]\nname = \"t\"\nmatch = {{ ports = [\"a\"] }}\nrate = \"2Mbit\"\n\
                 [pipeline]\nflows = [\"priority=6,in_port=a,actions=output:b\"]\n"
            )),
            Some(&g1),
            2,
            scale(),
            0,
        )
        .unwrap();
        assert!(!Arc::ptr_eq(
            g1.tenants.as_ref().unwrap(),
            g2.tenants.as_ref().unwrap()
        ));
        assert!(matches!(
            g2.program(1, Some(&g1)).tenants,
            Handle::Set(Some(_))
        ));
        let (p1, p2) = (g1.pipeline().unwrap(), g2.pipeline().unwrap());
        let totals = p1.totals(g1.pipeline_counters.iter().map(|c| &**c));
        p2.carry_counters_from(p1, &totals);
        let t2 = p2.totals(g2.pipeline_counters.iter().map(|c| &**c));
        assert_eq!(t2.entries, vec![(0, 0)], "priority changed: a new flow");
        let age = |p: &CompiledPipeline| -> f64 {
            let l = p.dump_flows([]);
            let d = l.split("duration=").nth(1).unwrap_or_default();
            d.split('s').next().unwrap_or_default().parse().unwrap()
        };
        assert!(
            age(p2) + 0.02 < age(p1),
            "a new flow's age starts at its generation"
        );
        // The table keeps its lookups.
        assert_eq!(t2.tables[0].0, 3);
    }

    #[test]
    fn down_ports_are_bits() {
        let text = BASE.replace(
            "device = \"net_null1\"",
            "device = \"net_null1\"\nadmin = \"down\"",
        );
        let g = Generation::build(1, config(&text), None, 1, scale(), 0).unwrap();
        assert_eq!(g.down_ports(), 0b10);
        assert_eq!(g.program(0, None).down, 0b10);
    }
    #[test]
    fn flow_caches_are_sized_by_the_config_and_must_fit_in_memory() {
        let text = |slots: &str| {
            format!("{BASE}[pipeline]\nflows = [\"in_port=a,ip,actions=output:b\"]\n{slots}")
        };
        let g = Generation::build(1, config(&text("")), None, 1, scale(), 0).unwrap();
        assert_eq!(g.program(0, None).cache.map(|c| c.capacity()), Some(8192));
        let c = config(&text("flow_cache_slots = 65536\n"));
        let g = Generation::build(1, c.clone(), None, 1, scale(), 0).unwrap();
        assert_eq!(g.program(0, None).cache.map(|c| c.capacity()), Some(65536));
        let g = Generation::build(
            1,
            config(&text("flow_cache_slots = 0\n")),
            None,
            1,
            scale(),
            0,
        )
        .unwrap();
        assert!(g.program(0, None).cache.is_none());
        // 65536 slots of 64 bytes for 2 workers: 8 MiB.
        let forwarding = build_forwarding(&c).unwrap();
        assert_eq!(flow_cache(&c, &forwarding).map(|(_, n)| n), Some(65536));
        assert!(check_cache_memory(&c, &forwarding, 2, Some(8 << 20)).is_ok());
        let e = check_cache_memory(&c, &forwarding, 2, Some((8 << 20) - 1)).unwrap_err();
        assert!(e.contains("needs 8 MiB for 2 workers"), "{e}");
        assert!(check_cache_memory(&c, &forwarding, 2, None).is_ok());
        // Keys wider than a slot holds (IPv6 addresses) keep their other
        // words in a second line: 16 MiB.
        let v6 = config(&format!(
            "{BASE}[pipeline]\nflows = [\"dl_type=0x86dd,ipv6_src=::1,ipv6_dst=::2,actions=output:b\"]\n\
             flow_cache_slots = 65536\n"
        ));
        let f6 = build_forwarding(&v6).unwrap();
        assert!(check_cache_memory(&v6, &f6, 2, Some(16 << 20)).is_ok());
        assert!(check_cache_memory(&v6, &f6, 2, Some((16 << 20) - 1)).is_err());
        // Flows that match too many bits for a cache key: no cache, and
        // nothing to fit in memory.
        let wide = config(&format!(
            "{BASE}[pipeline]\nflows = [\"in_port=a,dl_src=00:00:00:00:00:01,\
             dl_dst=00:00:00:00:00:02,icmp6,icmpv6_type=135,ipv6_src=::1,ipv6_dst=::2,\
             nd_target=::3,actions=output:b\"]\nflow_cache_slots = 65536\n"
        ));
        let fw = build_forwarding(&wide).unwrap();
        assert!(flow_cache(&wide, &fw).is_none());
        assert!(check_cache_memory(&wide, &fw, 2, Some(0)).is_ok());
    }
}
