//! `sluice run`: bring up EAL, the mempool and the ports, start the
//! workers and the admin thread, wait for a signal, and tear it all down in
//! order so that every mbuf is back in its pool.

use crate::admin::{Admin, Shared};
use crate::config::Config;
use crate::dpdk::{self, Eal, Mempool, Port};
use crate::forward::Forwarding;
use crate::meter::TickScale;
use crate::openflow::{parse_flow, NoPortNames};
use crate::pipeline::{CompiledPipeline, PipelineCounters, DEFAULT_SALT};
use crate::stats::{self, WorkerStats};
use crate::tenant::{MeterTable, TenantTable};
use crate::worker::{PipelineContext, RxSource, Worker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Dpdk(#[from] dpdk::DpdkError),
    #[error("port {port:?} ({device}): {source}")]
    Port {
        port: String,
        device: String,
        source: dpdk::DpdkError,
    },
    #[error("admin listener {addr}: {source}")]
    Admin {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
    #[error("worker thread: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Setup(String),
}

pub fn run(config: Config) -> Result<(), RunError> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(RunError::Signal)?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&hup)).map_err(RunError::Signal)?;

    let args = config.eal_args();
    let mut eal = Eal::init(&args)?;
    let pool = Mempool::new(
        "sluice_pool",
        config.mempool.mbufs,
        config.mempool.cache,
        config.mempool.data_room,
        dpdk::socket_id(),
    )?;

    let nworkers = config.workers.len();
    let mut ports = Vec::new();
    for p in &config.ports {
        let err = |source| RunError::Port {
            port: p.name.clone(),
            device: p.device.spec.clone(),
            source,
        };
        let port = Port::by_name(&p.device.name).map_err(err)?;
        port.configure(
            &dpdk::PortConfig {
                rx_queues: p.rx_queues,
                tx_queues: config.tx_queues(),
                rx_desc: p.rx_desc,
                tx_desc: p.tx_desc,
                mtu: p.mtu,
                promiscuous: p.promiscuous,
            },
            &pool,
        )
        .map_err(err)?;
        ports.push(port);
    }
    for (port, p) in ports.iter().zip(&config.ports) {
        port.start().map_err(|source| RunError::Port {
            port: p.name.clone(),
            device: p.device.spec.clone(),
            source,
        })?;
    }

    let now = dpdk::rdtsc();
    let scale = TickScale::new(dpdk::tsc_hz()).map_err(|e| RunError::Setup(format!("TSC: {e}")))?;
    let forwarding = Arc::new(build_forwarding(&config)?);
    let meters = match &*forwarding {
        Forwarding::Pipeline(p) if !p.meters().is_empty() => Some(Arc::new(
            MeterTable::new(p.meters(), scale, now)
                .map_err(|e| RunError::Setup(format!("meters: {e}")))?,
        )),
        _ => None,
    };
    let tenants = if config.tenants.is_empty() {
        None
    } else {
        Some(Arc::new(
            TenantTable::new(config.tenants.clone(), config.ports.len(), scale, now)
                .map_err(|e| RunError::Setup(format!("tenants: {e}")))?,
        ))
    };
    let links = Arc::new(AtomicU64::new(link_bits(&ports)));
    let (punt_tx, punt_rx) = crossbeam_channel::bounded::<dpdk::Mbuf>(1024);
    let pipeline_counters: Vec<Arc<PipelineCounters>> = match &*forwarding {
        Forwarding::Pipeline(p) => (0..nworkers).map(|_| Arc::new(p.new_counters())).collect(),
        Forwarding::Static(_) => Vec::new(),
    };
    let worker_stats: Vec<Arc<WorkerStats>> = (0..nworkers)
        .map(|_| Arc::new(WorkerStats::new(ports.len())))
        .collect();
    let shared = Arc::new(Shared::new(
        config.clone(),
        ports.clone(),
        worker_stats.clone(),
        Arc::clone(&forwarding),
        pipeline_counters.clone(),
        tenants.clone(),
        meters.clone(),
    ));
    let admin = Admin::start(Arc::clone(&shared)).map_err(|source| RunError::Admin {
        addr: config.admin.listen,
        source,
    })?;
    eprintln!(
        "sluice: admin listening on http://{}/metrics",
        admin.local_addr()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (w, queues) in config.queue_assignment().into_iter().enumerate() {
        let rx = queues
            .iter()
            .map(|q| {
                Ok(RxSource {
                    port: q.port as u16,
                    queue: ports[q.port].rx_queue(q.queue)?,
                })
            })
            .collect::<Result<Vec<_>, dpdk::DpdkError>>()?;
        let tx = ports
            .iter()
            .map(|p| p.tx_queue(w as u16))
            .collect::<Result<Vec<_>, _>>()?;
        let worker = Worker::new(
            w,
            config.workers[w],
            rx,
            tx,
            Arc::clone(&forwarding),
            Arc::clone(&worker_stats[w]),
            PipelineContext {
                pool: pool.clone(),
                counters: pipeline_counters.get(w).cloned(),
                links: Arc::clone(&links),
                punt: punt_tx.clone(),
                meters: meters.as_deref().map(MeterTable::hook),
                tenants: tenants.as_deref().map(TenantTable::worker),
                cache: match &*forwarding {
                    Forwarding::Pipeline(p) if p.cacheable() => {
                        Some(p.new_flow_cache(FLOW_CACHE_SLOTS))
                    }
                    _ => None,
                },
            },
        );
        let stop = Arc::clone(&stop);
        let t = std::thread::Builder::new()
            .name(format!("sluice-w{w}"))
            .spawn(move || worker.run(&stop))
            .map_err(RunError::Thread)?;
        threads.push(t);
    }
    eprintln!(
        "sluice: {} port(s), {} worker(s) on core(s) {:?}; Ctrl-C to stop",
        ports.len(),
        nworkers,
        config.workers
    );

    let started = Instant::now();
    while !term.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        links.store(link_bits(&ports), Ordering::Relaxed);
        // Packet-ins: no controller connection yet; logged for
        // /packet-ins (the workers counted them) and freed.
        while let Ok(m) = punt_rx.try_recv() {
            shared.log_packet_in(m.data());
        }
        if hup.swap(false, Ordering::Relaxed) {
            eprintln!("sluice: SIGHUP received; live reload is not implemented yet, configuration unchanged");
        }
    }
    eprintln!(
        "sluice: stopping after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    while punt_rx.try_recv().is_ok() {}
    admin.shutdown();
    for (port, p) in ports.iter().zip(&config.ports) {
        if let Err(e) = port.stop() {
            eprintln!("sluice: stopping port {}: {e}", p.name);
        }
    }
    print_final(&config, &worker_stats, &ports);
    for (port, p) in ports.iter().zip(&config.ports) {
        if let Err(e) = port.close() {
            eprintln!("sluice: closing port {}: {e}", p.name);
        }
    }
    let in_use = pool.in_use();
    println!(
        "mempool: {} of {} mbufs in use",
        in_use, config.mempool.mbufs
    );
    drop(shared);
    drop(ports);
    drop(pool);
    eal.cleanup()?;
    Ok(())
}

fn print_final(config: &Config, workers: &[Arc<WorkerStats>], ports: &[Port]) {
    println!(
        "{:<12} {:>14} {:>16} {:>14} {:>16} {:>10} {:>10} {:>10}",
        "port",
        "rx_packets",
        "rx_bytes",
        "tx_packets",
        "tx_bytes",
        "tx_dropped",
        "rx_missed",
        "rx_errors"
    );
    for (i, p) in config.ports.iter().enumerate() {
        let t = stats::port_totals(workers, i);
        let hw = ports[i].stats().unwrap_or_default();
        println!(
            "{:<12} {:>14} {:>16} {:>14} {:>16} {:>10} {:>10} {:>10}",
            p.name,
            t.rx_packets,
            t.rx_bytes,
            t.tx_packets,
            t.tx_bytes,
            t.tx_dropped,
            hw.imissed,
            hw.ierrors
        );
    }
    let drops = stats::drop_totals(workers);
    let list: Vec<String> = drops
        .iter()
        .map(|(r, n)| format!("{}={n}", r.as_str()))
        .collect();
    println!("drops: {}", list.join(" "));
}

/// Link-up bits by port index (ports beyond 64 read as up).
fn link_bits(ports: &[Port]) -> u64 {
    ports.iter().enumerate().take(64).fold(0, |bits, (i, p)| {
        let up = p.link().is_ok_and(|l| l.up);
        bits | (up as u64) << i
    })
}

/// Slots of each worker's flow cache (two-way; 64 KiB-ish of keys).
const FLOW_CACHE_SLOTS: usize = 8192;

/// The static map alone needs no parsing; with tenants (which classify on
/// headers and police per packet) it runs as the equivalent one-table
/// OpenFlow pipeline, `in_port=A,actions=output:B` per `[[forward]]`.
fn build_forwarding(config: &Config) -> Result<Forwarding, RunError> {
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
            parse_flow(&text, &NoPortNames).map_err(|e| RunError::Setup(format!("{text}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = CompiledPipeline::build(&flows, &[], &[], &ofports, DEFAULT_SALT)
        .map_err(|e| RunError::Setup(format!("static map as a pipeline: {e}")))?;
    Ok(Forwarding::Pipeline(Arc::new(p)))
}
