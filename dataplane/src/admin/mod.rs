//! The admin thread: owns the running configuration and serves metrics.
//!
//! What: an HTTP listener (`/metrics`, `/xstats`) over the state the
//! workers publish — their counters and the ports' ethdev statistics.
//!
//! How: a scrape builds a plain [`MetricsSnapshot`] by summing the
//! per-worker counters (relaxed loads, no lock the workers could wait on)
//! and reading ethdev stats, then renders it. The listener runs on its own
//! threads, pinned (through EAL's main-thread affinity) to the admin core.
//!
//! Threads: HTTP threads read [`Shared`]; workers never block on them.

pub mod http;
pub mod metrics;

use crate::dpdk::Port;
use crate::forward::Forwarding;
use crate::pipeline::{DropCause, PacketInInfo};
use crate::reload::{Generation, Outcome, ReloadReport, ReloadRequest, Trigger};
use crate::stats::{self, WorkerStats};
use arc_swap::ArcSwap;
use http::{HttpServer, Request, Response, Router};
use metrics::{
    BuildInfo, ConfigSample, DropSample, MetricsSnapshot, PortSample, TableSample, WorkerSample,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the admin thread reads while the data path runs.
pub struct Shared {
    /// The running generation: swapped by the reloader once every worker
    /// runs it (see [`crate::reload`]).
    current: ArcSwap<Generation>,
    pub ports: Vec<Port>,
    pub workers: Vec<Arc<WorkerStats>>,
    /// The latest packet-ins (no controller connection yet): newest last.
    pub packet_ins: Mutex<std::collections::VecDeque<(PacketInInfo, Vec<u8>)>>,
    /// Reload history for `/metrics` and `/status`.
    reloads: Mutex<ReloadHistory>,
    /// Per worker, the pipeline drops counted by generations that have
    /// been replaced (they keep counting in `/metrics`).
    retired_drops: Mutex<Vec<[u64; DropCause::COUNT]>>,
    pub started: Instant,
    pub start_time_seconds: f64,
    pub tsc_hz: u64,
    /// Per worker: busy share of its cycles over the last
    /// [`Shared::sample_load`] interval, and the cycle counts it was
    /// computed from.
    load: Mutex<Vec<Load>>,
}

#[derive(Clone, Copy, Default)]
struct Load {
    busy: u64,
    idle: u64,
    ratio: f64,
}

#[derive(Default)]
struct ReloadHistory {
    successes: u64,
    failures: u64,
    last: Option<ReloadReport>,
    last_success_unix: f64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(current: Arc<Generation>, ports: Vec<Port>, workers: Vec<Arc<WorkerStats>>) -> Self {
        let start_time_seconds = crate::reload::unix_now();
        let nworkers = workers.len();
        Self {
            reloads: Mutex::new(ReloadHistory {
                last_success_unix: current.loaded_unix,
                ..Default::default()
            }),
            current: ArcSwap::new(current),
            ports,
            workers,
            packet_ins: Default::default(),
            retired_drops: Mutex::new(vec![[0; DropCause::COUNT]; nworkers]),
            started: Instant::now(),
            start_time_seconds,
            tsc_hz: crate::dpdk::tsc_hz(),
            load: Mutex::new(vec![Load::default(); nworkers]),
        }
    }

    /// Updates each worker's recent load from its busy and idle cycles
    /// since the previous call (the admin loop calls it once a second).
    pub fn sample_load(&self) {
        let mut load = lock(&self.load);
        for (l, s) in load.iter_mut().zip(&self.workers) {
            let (busy, idle) = (s.busy_cycles.get(), s.idle_cycles.get());
            let (db, di) = (busy.wrapping_sub(l.busy), idle.wrapping_sub(l.idle));
            l.ratio = if db + di == 0 {
                0.0
            } else {
                db as f64 / (db + di) as f64
            };
            (l.busy, l.idle) = (busy, idle);
        }
    }

    /// The running generation.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// Makes `g` the generation `/metrics` and the tools show.
    pub fn publish(&self, g: Arc<Generation>) {
        self.current.store(g);
    }

    /// Adds `old`'s per-worker pipeline drops to the retired totals (call
    /// once, when every worker has left it).
    pub fn retire_pipeline_drops(&self, old: &Generation) {
        let mut r = lock(&self.retired_drops);
        for (acc, c) in r.iter_mut().zip(&old.pipeline_counters) {
            for (a, d) in acc.iter_mut().zip(c.drops.iter()) {
                *a += d.get();
            }
        }
    }

    pub fn record_reload(&self, report: &ReloadReport) {
        let mut h = lock(&self.reloads);
        match report.result {
            Outcome::Failure => h.failures += 1,
            Outcome::Success | Outcome::Unchanged => {
                h.successes += 1;
                h.last_success_unix = report.time_unix;
            }
        }
        h.last = Some(report.clone());
    }

    fn config_sample(&self, g: &Generation) -> ConfigSample {
        let h = lock(&self.reloads);
        ConfigSample {
            generation: g.id,
            hash: g.hash.clone(),
            reload_successes: h.successes,
            reload_failures: h.failures,
            last_reload_success: !h
                .last
                .as_ref()
                .is_some_and(|r| r.result == Outcome::Failure),
            last_success_time_seconds: h.last_success_unix,
            compile_seconds: g.load_seconds,
        }
    }

    /// Sums the workers' counters and reads the ports' ethdev stats.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = self.current();
        let config = &g.config;
        let assignment = config.queue_assignment();
        let ports = config
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let t = stats::port_totals(&self.workers, i);
                let hw = self.ports[i].stats().unwrap_or_default();
                let (link_up, link_speed_mbps) = self.ports[i]
                    .link()
                    .map_or((false, 0), |l| (l.up, l.speed_mbps));
                PortSample {
                    name: p.name.clone(),
                    rx_packets: t.rx_packets,
                    rx_bytes: t.rx_bytes,
                    tx_packets: t.tx_packets,
                    tx_bytes: t.tx_bytes,
                    rx_errors: hw.ierrors,
                    tx_errors: hw.oerrors,
                    rx_missed: hw.imissed,
                    rx_nombuf: hw.rx_nombuf,
                    tx_dropped: t.tx_dropped,
                    link_up,
                    link_speed_mbps,
                }
            })
            .collect();
        let workers = self
            .workers
            .iter()
            .enumerate()
            .map(|(w, s)| WorkerSample {
                id: w,
                core: config.workers[w],
                busy_polls: s.busy_polls.get(),
                idle_polls: s.idle_polls.get(),
                busy_cycles: s.busy_cycles.get(),
                idle_cycles: s.idle_cycles.get(),
                rx_packets: s.ports.iter().map(|p| p.rx_packets.get()).sum(),
                tx_packets: s.ports.iter().map(|p| p.tx_packets.get()).sum(),
                rx_queues: assignment[w]
                    .iter()
                    .map(|q| (config.ports[q.port].name.clone(), q.queue))
                    .collect(),
                rx_burst_sizes: s.rx_bursts.iter().map(|c| c.get()).collect(),
                flow_cache: std::array::from_fn(|i| s.flow_cache[i].get()),
                flow_cache_paths: s
                    .flow_cache_paths
                    .load(std::sync::atomic::Ordering::Relaxed),
                flow_cache_slots: s
                    .flow_cache_slots
                    .load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect();
        // Worker drop reasons and pipeline drop causes, merged by name (both
        // have "malformed") per worker.
        let mut drops: Vec<DropSample> = Vec::new();
        for (w, s) in self.workers.iter().enumerate() {
            let mut add = |reason: &'static str, packets: u64| match drops
                .iter_mut()
                .find(|d| d.worker == w && d.reason == reason)
            {
                Some(d) => d.packets += packets,
                None => drops.push(DropSample {
                    worker: w,
                    reason,
                    packets,
                }),
            };
            for r in stats::DropReason::ALL {
                add(r.as_str(), s.drops[r as usize].get());
            }
            let retired = lock(&self.retired_drops)
                .get(w)
                .copied()
                .unwrap_or_default();
            let live = g.pipeline_counters.get(w);
            for (i, name) in DropCause::NAMES.iter().enumerate() {
                // Shown with a pipeline running, and, counted by replaced
                // generations, after a reload to the static map.
                let n = retired[i] + live.map_or(0, |pc| pc.drops[i].get());
                if n != 0 || live.is_some() {
                    add(name, n);
                }
            }
        }
        let tables = match &*g.forwarding {
            Forwarding::Pipeline(p) => p
                .table_info(g.pipeline_counters.iter().map(|c| &**c))
                .into_iter()
                .map(|t| TableSample {
                    table_id: t.id,
                    lookups: t.lookups,
                    matches: t.matches,
                    flows: t.entries as u64,
                })
                .collect(),
            Forwarding::Static(_) => Vec::new(),
        };
        MetricsSnapshot {
            build: BuildInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                git_commit: option_env!("SLUICE_GIT_COMMIT")
                    .unwrap_or("unknown")
                    .to_string(),
                dpdk_version: crate::dpdk::version(),
            },
            start_time_seconds: self.start_time_seconds,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            tsc_hz: self.tsc_hz,
            ports,
            workers,
            drops,
            tables,
            config: Some(self.config_sample(&g)),
            tenants: g.tenants.as_ref().map(|t| t.samples()).unwrap_or_default(),
            meters: g.meters.as_ref().map(|m| m.samples()).unwrap_or_default(),
        }
    }

    /// Keeps a packet-in for `/packet-ins` (the latest [`PACKET_IN_LOG`]).
    pub fn log_packet_in(&self, info: &PacketInInfo, data: &[u8]) {
        let mut log = lock(&self.packet_ins);
        if log.len() == PACKET_IN_LOG {
            log.pop_front();
        }
        log.push_back((*info, data.to_vec()));
    }

    /// One line per packet-in, oldest first, in the fields of an OpenFlow
    /// `OFPT_PACKET_IN` (as `ovs-ofctl monitor` shows them):
    /// `reason=action table_id=0 cookie=0x0 in_port=1 metadata=0x0
    /// total_len=60 data=HEX` (the data cut to the output's `max_len`).
    fn packet_ins_text(&self) -> String {
        use std::fmt::Write;
        let log = lock(&self.packet_ins);
        let mut out = String::new();
        for (i, p) in log.iter() {
            let _ = write!(
                out,
                "reason={} table_id={} cookie={:#x} in_port={} metadata={:#x} tunnel_id={:#x} total_len={} data=",
                i.reason.as_str(),
                i.table_id,
                i.cookie,
                i.in_port,
                i.metadata,
                i.tunnel_id,
                i.total_len
            );
            for b in p {
                let _ = write!(out, "{b:02x}");
            }
            out.push('\n');
        }
        out
    }

    fn dump_meters(&self) -> Response {
        let g = self.current();
        let (Some(m), Forwarding::Pipeline(p)) = (&g.meters, &*g.forwarding) else {
            return Response::text(404, "no OpenFlow meters configured\n");
        };
        let flows = p.flows();
        let flow_count = |id: u32| {
            flows
                .iter()
                .filter(|f| f.instructions.meter() == Some(id))
                .count() as u64
        };
        Response::text(200, m.dump_meters(crate::dpdk::rdtsc(), &flow_count))
    }

    fn xstats(&self) -> String {
        let mut out = String::new();
        for (i, p) in self.current().config.ports.iter().enumerate() {
            for (name, value) in self.ports[i].xstats().unwrap_or_default() {
                out.push_str(&format!("{} {} {}\n", p.name, name, value));
            }
        }
        out
    }
}

/// How many packet-ins `/packet-ins` keeps.
pub const PACKET_IN_LOG: usize = 256;

pub struct Admin {
    server: HttpServer,
}

/// How long `POST /-/reload` waits for the admin thread's answer.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

impl Shared {
    /// `/status`: what runs, in JSON.
    pub fn status(&self) -> serde_json::Value {
        let g = self.current();
        let config = &g.config;
        let assignment = config.queue_assignment();
        let ports: Vec<serde_json::Value> = config
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let link = self.ports[i].link().ok();
                serde_json::json!({
                    "name": p.name,
                    "device": p.device.spec,
                    "driver": p.device.driver,
                    "ofport": p.ofport,
                    "admin_state": if p.admin_down { "down" } else { "up" },
                    "link_up": link.as_ref().is_some_and(|l| l.up),
                    "speed_mbps": link.as_ref().map_or(0, |l| l.speed_mbps),
                    "rx_queues": p.rx_queues,
                    "tx_queues": config.tx_queues(),
                })
            })
            .collect();
        let load = lock(&self.load).clone();
        let workers: Vec<serde_json::Value> = self
            .workers
            .iter()
            .enumerate()
            .map(|(w, s)| {
                let (busy, idle) = (s.busy_cycles.get(), s.idle_cycles.get());
                let recent = load.get(w).map_or(0.0, |l| l.ratio);
                serde_json::json!({
                    "id": w,
                    "core": config.workers[w],
                    "generation": s.generation.load(std::sync::atomic::Ordering::Relaxed),
                    "rx_queues": assignment[w].iter().map(|q| serde_json::json!({
                        "port": config.ports[q.port].name,
                        "queue": q.queue,
                    })).collect::<Vec<_>>(),
                    // Busy share of the cycles: over the last second, and
                    // since start.
                    "load": recent,
                    "load_since_start": if busy + idle == 0 { 0.0 } else { busy as f64 / (busy + idle) as f64 },
                    "rx_packets": s.ports.iter().map(|p| p.rx_packets.get()).sum::<u64>(),
                    "tx_packets": s.ports.iter().map(|p| p.tx_packets.get()).sum::<u64>(),
                })
            })
            .collect();
        let h = lock(&self.reloads);
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "dpdk_version": crate::dpdk::version(),
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "config": {
                "file": config.source,
                "generation": g.id,
                "hash": g.hash,
                "loaded_unix": g.loaded_unix,
                "load_seconds": g.load_seconds,
                "forwarding": match &*g.forwarding {
                    Forwarding::Pipeline(p) => format!("pipeline ({} flows)", p.len()),
                    Forwarding::Static(_) => "static map".to_string(),
                },
                "tenants": config.tenants.len(),
                "reloads": { "success": h.successes, "failure": h.failures },
                "last_reload": h.last,
            },
            "ports": ports,
            "workers": workers,
        })
    }
}

/// Whether a `POST` may change state: with a token configured, the request
/// must carry `Authorization: Bearer TOKEN`; without one, only a loopback
/// listener accepts `POST`.
fn authorize(req: &Request, token: Option<&str>, listen: SocketAddr) -> Result<(), Response> {
    match token {
        Some(t) => {
            // The scheme is case-insensitive (RFC 9110 §11.1).
            let given = req
                .header("authorization")
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map_or("", |(_, t)| t.trim());
            // Compare in time independent of where they differ.
            let same = given.len() == t.len()
                && given
                    .bytes()
                    .zip(t.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if same {
                Ok(())
            } else {
                Err(Response::text(401, "missing or wrong bearer token\n")
                    .with_header("WWW-Authenticate", "Bearer"))
            }
        }
        None if listen.ip().is_loopback() => Ok(()),
        None => Err(Response::text(
            403,
            "POST is refused: the admin listener is not on loopback and no admin.token \
             (or SLUICE_ADMIN_TOKEN) is set\n",
        )),
    }
}

fn json(status: u16, v: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    Response::new(status).with_body("application/json", body)
}

impl Admin {
    /// Binds the listener from the config and starts serving; reloads are
    /// asked of the admin thread over `reloads`.
    pub fn start(
        shared: Arc<Shared>,
        reloads: crossbeam_channel::Sender<ReloadRequest>,
    ) -> std::io::Result<Admin> {
        let admin = shared.current().config.admin.clone();
        let addr = admin.listen;
        let m = Arc::clone(&shared);
        let x = Arc::clone(&shared);
        let d = Arc::clone(&shared);
        let dm = Arc::clone(&shared);
        let pi = Arc::clone(&shared);
        let st = Arc::clone(&shared);
        let router = Router::new()
            .get("/metrics", move |req: &Request| {
                let snap = m.snapshot();
                metrics::response(&snap, req.header("accept"))
            })
            .get("/xstats", move |_: &Request| {
                Response::text(200, x.xstats())
            })
            .get("/dump-flows", move |_: &Request| {
                let g = d.current();
                match &*g.forwarding {
                    Forwarding::Pipeline(p) => Response::text(
                        200,
                        p.dump_flows(g.pipeline_counters.iter().map(|c| &**c)),
                    ),
                    Forwarding::Static(_) => Response::text(
                        404,
                        "no OpenFlow pipeline: this instance forwards by its static [[forward]] map\n",
                    ),
                }
            })
            .get("/dump-meters", move |_: &Request| dm.dump_meters())
            .get("/packet-ins", move |_: &Request| {
                Response::text(200, pi.packet_ins_text())
            })
            .get("/status", move |_: &Request| json(200, &st.status()))
            .post("/-/reload", move |req: &Request| {
                if let Err(r) = authorize(req, admin.token.as_deref(), addr) {
                    return r;
                }
                let (tx, rx) = crossbeam_channel::bounded(1);
                let asked = reloads.send(ReloadRequest {
                    trigger: Trigger::Http,
                    reply: tx,
                });
                match asked.ok().and_then(|_| rx.recv_timeout(RELOAD_WAIT).ok()) {
                    Some(report) => {
                        let status = if report.result == Outcome::Failure { 422 } else { 200 };
                        json(status, &report)
                    }
                    None => Response::text(503, "the admin thread did not answer the reload\n"),
                }
            })
            .get("/", |_: &Request| {
                Response::text(
                    200,
                    "sluice admin: GET /metrics /status /xstats /dump-flows /dump-meters /packet-ins; POST /-/reload\n",
                )
            });
        let server = HttpServer::bind(addr, router.into_handler())?;
        Ok(Admin { server })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub fn shutdown(mut self) {
        self.server.shutdown();
    }
}
