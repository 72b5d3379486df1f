//! `sluice run`: bring up EAL, the mempool and the ports, start the
//! workers and the admin thread, wait for a signal, and tear it all down in
//! order so that every mbuf is back in its pool.

use crate::admin::{Admin, Shared};
use crate::config::Config;
use crate::dpdk::{self, Eal, Mempool, Port};
use crate::meter::TickScale;
use crate::pipeline::PacketInInfo;
use crate::reload::{Generation, Outcome, ReloadReport, ReloadRequest, Reloader, Trigger};
use crate::stats::{self, WorkerStats};
use crate::watch::ConfigWatch;
use crate::worker::{PipelineContext, Program, RxSource, Updates, Worker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::path::PathBuf;
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

/// Runs `config`, loaded from `config_path` (`None`: the embedded demo,
/// which cannot be reloaded).
pub fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), RunError> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(RunError::Signal)?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGHUP, Arc::clone(&hup)).map_err(RunError::Signal)?;

    // Before EAL pins this thread: the cores a reload may name.
    let cores = crate::config::available_cores();
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

    let scale = TickScale::new(dpdk::tsc_hz()).map_err(|e| RunError::Setup(format!("TSC: {e}")))?;
    let first = Arc::new(
        Generation::build(1, config.clone(), None, nworkers, scale, dpdk::rdtsc())
            .map_err(RunError::Setup)?,
    );
    for (port, p) in ports.iter().zip(&config.ports) {
        if p.admin_down {
            if let Err(e) = port.set_link(false) {
                eprintln!("sluice: port {}: {e}", p.name);
            }
        }
    }
    let links = Arc::new(AtomicU64::new(link_bits(&ports)));
    let (punt_tx, punt_rx) = crossbeam_channel::bounded::<(dpdk::Mbuf, PacketInInfo)>(1024);
    let worker_stats: Vec<Arc<WorkerStats>> = (0..nworkers)
        .map(|_| Arc::new(WorkerStats::new(ports.len())))
        .collect();
    let shared = Arc::new(Shared::new(
        Arc::clone(&first),
        ports.clone(),
        worker_stats.clone(),
    ));
    let (reload_tx, reload_rx) = crossbeam_channel::bounded::<ReloadRequest>(16);
    let admin = Admin::start(Arc::clone(&shared), reload_tx).map_err(|source| RunError::Admin {
        addr: config.admin.listen,
        source,
    })?;
    eprintln!(
        "sluice: admin listening on http://{}/metrics",
        admin.local_addr()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(first.id));
    let (retired_tx, retired_rx) = crossbeam_channel::bounded::<Program>(4 * nworkers.max(1));
    let mut update_txs = Vec::new();
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
        let (update_tx, update_rx) = crossbeam_channel::bounded::<Program>(2);
        update_txs.push(update_tx);
        let worker = Worker::new(
            w,
            config.workers[w],
            rx,
            tx,
            first.program(w, None),
            Arc::clone(&worker_stats[w]),
            PipelineContext {
                pool: pool.clone(),
                links: Arc::clone(&links),
                punt: punt_tx.clone(),
            },
            Updates {
                published: Arc::clone(&published),
                rx: update_rx,
                retired: retired_tx.clone(),
            },
        );
        let stop = Arc::clone(&stop);
        let t = std::thread::Builder::new()
            .name(format!("sluice-w{w}"))
            .spawn(move || worker.run(&stop))
            .map_err(RunError::Thread)?;
        threads.push(t);
    }
    drop(first);
    eprintln!(
        "sluice: {} port(s), {} worker(s) on core(s) {:?}; Ctrl-C to stop",
        ports.len(),
        nworkers,
        config.workers
    );

    let mut reloader = Reloader::new(
        config_path,
        Arc::clone(&shared),
        ports.clone(),
        update_txs,
        retired_rx,
        published,
        worker_stats.clone(),
        scale,
        cores,
    );
    let mut watch = if config.admin.watch {
        ConfigWatch::start(&reloader.watched_files())
    } else {
        None
    };
    let started = Instant::now();
    let mut load_sampled = Instant::now();
    while !term.load(Ordering::Relaxed) {
        if load_sampled.elapsed() >= Duration::from_secs(1) {
            shared.sample_load();
            load_sampled = Instant::now();
        }
        let request = reload_rx.recv_timeout(Duration::from_millis(50)).ok();
        links.store(link_bits(&ports), Ordering::Relaxed);
        // Packet-ins: no controller connection yet; logged for
        // /packet-ins (the workers counted them) and freed.
        while let Ok((m, info)) = punt_rx.try_recv() {
            shared.log_packet_in(&info, m.data());
        }
        reloader.collect_retired();
        let mut reloaded = false;
        if let Some(req) = request {
            let report = reloader.reload(req.trigger);
            log_reload(&report);
            let _ = req.reply.send(report);
            reloaded = true;
        }
        if hup.swap(false, Ordering::Relaxed) {
            log_reload(&reloader.reload(Trigger::Signal));
            reloaded = true;
        }
        if let Some(w) = watch.as_mut() {
            if w.settled() && reloader.files_changed() {
                log_reload(&reloader.reload(Trigger::File));
                reloaded = true;
            }
            if reloaded {
                w.rewatch(&reloader.watched_files());
            }
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
    drop(watch);
    drop(reloader);
    for (port, p) in ports.iter().zip(&config.ports) {
        if let Err(e) = port.stop() {
            eprintln!("sluice: stopping port {}: {e}", p.name);
        }
    }
    print_final(&config, &shared, &worker_stats, &ports);
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

fn print_final(config: &Config, shared: &Shared, workers: &[Arc<WorkerStats>], ports: &[Port]) {
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
    // The pipeline's own drop causes (table miss, TTL, ...), all
    // generations, where any.
    let mut causes: std::collections::BTreeMap<&str, u64> = Default::default();
    for d in shared.snapshot().drops {
        if !stats::DropReason::ALL
            .iter()
            .any(|r| r.as_str() == d.reason)
        {
            *causes.entry(d.reason).or_default() += d.packets;
        }
    }
    if !causes.is_empty() {
        let list: Vec<String> = causes.iter().map(|(r, n)| format!("{r}={n}")).collect();
        println!("pipeline drops: {}", list.join(" "));
    }
}

/// Link-up bits by port index (ports beyond 64 read as up).
fn link_bits(ports: &[Port]) -> u64 {
    ports.iter().enumerate().take(64).fold(0, |bits, (i, p)| {
        let up = p.link().is_ok_and(|l| l.up);
        bits | (up as u64) << i
    })
}

fn log_reload(r: &ReloadReport) {
    match r.result {
        Outcome::Success => eprintln!(
            "sluice: reload ({:?}): generation {} ({}) running, {:.1} ms",
            r.trigger,
            r.generation,
            r.hash,
            r.duration_seconds * 1e3
        ),
        Outcome::Unchanged => eprintln!(
            "sluice: reload ({:?}): config unchanged, generation {} keeps running",
            r.trigger, r.generation
        ),
        Outcome::Failure => eprintln!(
            "sluice: reload ({:?}) rejected, generation {} keeps running:\n{}",
            r.trigger,
            r.generation,
            r.error.as_deref().unwrap_or("")
        ),
    }
    for w in &r.warnings {
        eprintln!("sluice:   {w}");
    }
}
