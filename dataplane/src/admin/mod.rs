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

use crate::config::Config;
use crate::dpdk::Port;
use crate::forward::Forwarding;
use crate::pipeline::{DropCause, PipelineCounters};
use crate::stats::{self, WorkerStats};
use crate::tenant::{MeterTable, TenantTable};
use http::{HttpServer, Request, Response, Router};
use metrics::{BuildInfo, DropSample, MetricsSnapshot, PortSample, TableSample, WorkerSample};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What the admin thread reads while the data path runs.
pub struct Shared {
    pub config: Config,
    pub ports: Vec<Port>,
    pub workers: Vec<Arc<WorkerStats>>,
    pub forwarding: Arc<Forwarding>,
    /// Each worker's counters of the compiled pipeline (empty for the
    /// static map).
    pub pipeline_counters: Vec<Arc<PipelineCounters>>,
    pub tenants: Option<Arc<TenantTable>>,
    pub meters: Option<Arc<MeterTable>>,
    /// The latest packet-ins (no controller connection yet): newest last.
    pub packet_ins: std::sync::Mutex<std::collections::VecDeque<Vec<u8>>>,
    pub started: Instant,
    pub start_time_seconds: f64,
    pub tsc_hz: u64,
}

impl Shared {
    pub fn new(
        config: Config,
        ports: Vec<Port>,
        workers: Vec<Arc<WorkerStats>>,
        forwarding: Arc<Forwarding>,
        pipeline_counters: Vec<Arc<PipelineCounters>>,
        tenants: Option<Arc<TenantTable>>,
        meters: Option<Arc<MeterTable>>,
    ) -> Self {
        let start_time_seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Self {
            config,
            ports,
            workers,
            forwarding,
            pipeline_counters,
            tenants,
            meters,
            packet_ins: Default::default(),
            started: Instant::now(),
            start_time_seconds,
            tsc_hz: crate::dpdk::tsc_hz(),
        }
    }

    /// Sums the workers' counters and reads the ports' ethdev stats.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let assignment = self.config.queue_assignment();
        let ports = self
            .config
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
                core: self.config.workers[w],
                busy_polls: s.busy_polls.get(),
                idle_polls: s.idle_polls.get(),
                busy_cycles: s.busy_cycles.get(),
                idle_cycles: s.idle_cycles.get(),
                rx_packets: s.ports.iter().map(|p| p.rx_packets.get()).sum(),
                tx_packets: s.ports.iter().map(|p| p.tx_packets.get()).sum(),
                rx_queues: assignment[w]
                    .iter()
                    .map(|q| (self.config.ports[q.port].name.clone(), q.queue))
                    .collect(),
                rx_burst_sizes: s.rx_bursts.iter().map(|c| c.get()).collect(),
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
            if let Some(pc) = self.pipeline_counters.get(w) {
                for (i, name) in DropCause::NAMES.iter().enumerate() {
                    add(name, pc.drops[i].get());
                }
            }
        }
        let tables = match &*self.forwarding {
            Forwarding::Pipeline(p) => p
                .table_info(self.pipeline_counters.iter().map(|c| &**c))
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
            tenants: self
                .tenants
                .as_ref()
                .map(|t| t.samples())
                .unwrap_or_default(),
            meters: self
                .meters
                .as_ref()
                .map(|m| m.samples())
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    /// Keeps a packet-in for `/packet-ins` (the latest [`PACKET_IN_LOG`]).
    pub fn log_packet_in(&self, data: &[u8]) {
        let mut log = self.packet_ins.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == PACKET_IN_LOG {
            log.pop_front();
        }
        log.push_back(data.to_vec());
    }

    fn packet_ins_text(&self) -> String {
        let log = self.packet_ins.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for p in log.iter() {
            for b in p {
                out.push_str(&format!("{b:02x}"));
            }
            out.push('\n');
        }
        out
    }

    fn dump_meters(&self) -> Response {
        let (Some(m), Forwarding::Pipeline(p)) = (&self.meters, &*self.forwarding) else {
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
        for (i, p) in self.config.ports.iter().enumerate() {
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

impl Admin {
    /// Binds the listener from the config and starts serving.
    pub fn start(shared: Arc<Shared>) -> std::io::Result<Admin> {
        let addr = shared.config.admin.listen;
        let m = Arc::clone(&shared);
        let x = Arc::clone(&shared);
        let d = Arc::clone(&shared);
        let dm = Arc::clone(&shared);
        let pi = Arc::clone(&shared);
        let router = Router::new()
            .get("/metrics", move |req: &Request| {
                let snap = m.snapshot();
                metrics::response(&snap, req.header("accept"))
            })
            .get("/xstats", move |_: &Request| {
                Response::text(200, x.xstats())
            })
            .get("/dump-flows", move |_: &Request| match &*d.forwarding {
                Forwarding::Pipeline(p) => {
                    Response::text(200, p.dump_flows(d.pipeline_counters.iter().map(|c| &**c)))
                }
                Forwarding::Static(_) => Response::text(
                    404,
                    "no OpenFlow pipeline: this instance forwards by its static [[forward]] map\n",
                ),
            })
            .get("/dump-meters", move |_: &Request| dm.dump_meters())
            .get("/packet-ins", move |_: &Request| {
                Response::text(200, pi.packet_ins_text())
            })
            .get("/", |_: &Request| {
                Response::text(
                    200,
                    "sluice admin: /metrics /xstats /dump-flows /dump-meters /packet-ins\n",
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
