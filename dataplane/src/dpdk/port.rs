//! [`Port`] (an ethdev port, control side) and its queue handles
//! [`RxQueue`] / [`TxQueue`] (data side).
//!
//! # Design
//! A `Port` is a cheap, clonable handle on an exclusive claim of one port
//! id: the claim is recorded in the EAL lifecycle record, so a second
//! `Port::by_name` on the same port fails, while clones of one `Port` share
//! it (the admin thread keeps a clone for stats). The port walks a small
//! state machine: unconfigured → [`configure`](Port::configure) →
//! [`start`](Port::start) ⇄ [`stop`](Port::stop) → [`close`](Port::close).
//! Queue handles exist only while the port is started; each (port, queue)
//! has at most one, and `configure`, `stop` and `close` refuse while any is
//! alive, so no worker can poll a queue that is being torn down. The claim
//! ends when the last clone and queue handle drop.
//!
//! # Threads
//! DPDK's ethdev control path (configure, queue setup, start, stop,
//! promiscuous mode, stats and link reads) is not thread-safe for one port
//! (DPDK Programmer's Guide, "Thread Safety of DPDK Functions": PMD setup
//! and configuration must be serialised by the application). Every `Port`
//! method therefore runs under the port's own mutex, which also guards the
//! state machine and the queue claims; `Port` is `Send + Sync`. The mutex is
//! never taken by rx/tx bursts, only when a queue handle is created or
//! dropped.
//!
//! The queries ([`stats`](Port::stats), [`xstats`](Port::xstats),
//! [`link`](Port::link)) may run while workers poll the port's queues: PMDs
//! count per queue in the datapath and `stats_get` only reads and sums those
//! counters, and `rte_eth_link_get_nowait` reads a link word that drivers
//! write atomically (it is 8-byte aligned for that). This is how DPDK's own
//! applications work (testpmd prints port stats from its main lcore while
//! the forwarding lcores run). Counters read that way can be a burst stale.
//!
//! Rx/tx bursts on one queue must come from one thread at a time:
//! [`RxQueue`] and [`TxQueue`] are `Send` (moved to their worker) and not
//! `Sync`, and each burst call takes `&mut self`.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dpdk_sys as sys;

use super::burst::{transmit, transmit_counted, Burst, TxResult, BURST_SIZE};
use super::eal::lifecycle;
use super::error::{c_chars_to_string, DpdkError};
use super::mempool::Mempool;

/// How to set a port up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Rx queues (≥ 1). More than one turns on RSS over IP/TCP/UDP.
    pub rx_queues: u16,
    /// Tx queues (≥ 1), typically one per worker.
    pub tx_queues: u16,
    /// Descriptors per rx queue; 0 takes the driver's default. Rounded to
    /// the device's limits.
    pub rx_desc: u16,
    /// Descriptors per tx queue; 0 takes the driver's default.
    pub tx_desc: u16,
    /// MTU; `None` keeps DPDK's default (1500).
    pub mtu: Option<u16>,
    /// Receive all unicast frames (a switch port wants this). Devices
    /// without MAC filtering (most vdevs) do not support the setting and
    /// receive everything anyway: "not supported" is not an error.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            promiscuous: true,
        }
    }
}

/// What [`Port::configure`] actually set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedConfig {
    /// Descriptors per rx queue after rounding to the device's limits.
    pub rx_desc: u16,
    /// Descriptors per tx queue after rounding.
    pub tx_desc: u16,
    /// RSS hash functions in use (0 with a single rx queue).
    pub rss_hf: u64,
}

/// Basic port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped because rx queues were full.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// Rx mbuf allocation failures (pool empty).
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Link up.
    pub up: bool,
    /// Speed in Mb/s; 0 when down or unknown.
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortState {
    /// Not (fully) configured through this claim: the device may still be
    /// running if an earlier claim left it so, or half-configured after a
    /// failed `configure`. `stop` and `configure` work, `start` refuses.
    Unconfigured,
    Configured {
        rxq: u16,
        txq: u16,
    },
    Started {
        rxq: u16,
        txq: u16,
    },
    /// `rte_eth_dev_close` ran: nothing works any more.
    Closed,
}

/// What the port mutex guards.
struct Control {
    state: PortState,
    /// Which rx / tx queues have a live handle.
    rx_claims: Vec<bool>,
    tx_claims: Vec<bool>,
}

impl Control {
    fn live_handles(&self) -> usize {
        self.rx_claims
            .iter()
            .chain(&self.tx_claims)
            .filter(|&&c| c)
            .count()
    }
}

/// State shared by a port's handles and queues. The last one to drop
/// releases the port id.
struct PortShared {
    id: u16,
    name: String,
    ctl: Mutex<Control>,
}

impl PortShared {
    fn ctl(&self) -> MutexGuard<'_, Control> {
        self.ctl.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PortShared {
    fn drop(&mut self) {
        lifecycle().claimed_ports.retain(|&p| p != self.id);
    }
}

/// One ethdev port (see the module docs for the threading rules).
#[derive(Clone)]
pub struct Port {
    shared: Arc<PortShared>,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.shared.id)
            .field("name", &self.shared.name)
            .field("state", &self.shared.ctl().state)
            .finish()
    }
}

impl Port {
    /// Claims the port named `name`: a vdev name (`net_null0`) or a PCI
    /// address (`0000:3b:02.0`).
    pub fn by_name(name: &str) -> Result<Port, DpdkError> {
        let mut lc = lifecycle();
        lc.ensure_running()?;
        let id = id_by_name(name).ok_or_else(|| DpdkError::NoSuchPort {
            name: name.to_owned(),
            known: names().join(", "),
        })?;
        claim(&mut lc, id)
    }

    /// Claims the port with id `id`.
    pub fn by_id(id: u16) -> Result<Port, DpdkError> {
        let mut lc = lifecycle();
        lc.ensure_running()?;
        claim(&mut lc, id)
    }

    /// Claims every usable port, in id order.
    pub fn all() -> Result<Vec<Port>, DpdkError> {
        let claims: Vec<Result<Port, DpdkError>> = {
            let mut lc = lifecycle();
            lc.ensure_running()?;
            port_ids()
                .into_iter()
                .map(|id| claim(&mut lc, id))
                .collect()
        };
        // Outside the lock: on error the ports claimed so far drop here, and
        // dropping a port takes the lifecycle lock.
        claims.into_iter().collect()
    }

    /// Names of every usable port, in id order (empty when EAL is not
    /// running).
    pub fn names() -> Vec<String> {
        let lc = lifecycle();
        if lc.ensure_running().is_err() {
            return Vec::new();
        }
        names()
    }

    /// Creates a device at run time (`rte_dev_probe`, EAL hot-plug) and
    /// claims the port it brings: `devargs` as for `--vdev`, such as
    /// `net_null7,size=128` or `net_ring3`. A port of that name (the part
    /// before the first comma) must not exist yet.
    pub fn attach(devargs: &str) -> Result<Port, DpdkError> {
        let name = devargs.split(',').next().unwrap_or("").trim();
        let c = CString::new(devargs).map_err(|_| DpdkError::InvalidArgument {
            what: "device arguments",
            detail: format!("{devargs:?} contains a NUL byte"),
        })?;
        let mut lc = lifecycle();
        lc.ensure_running()?;
        if id_by_name(name).is_some() {
            return Err(DpdkError::InvalidArgument {
                what: "device arguments",
                detail: format!("a port named {name:?} exists already"),
            });
        }
        // SAFETY: EAL is running (checked under the lock, so no cleanup runs
        // concurrently); c is NUL-terminated and copied by DPDK.
        let ret = unsafe { sys::rte_dev_probe(c.as_ptr()) };
        if ret != 0 {
            return Err(DpdkError::call(format!("rte_dev_probe({devargs:?})"), -ret));
        }
        let id = id_by_name(name).ok_or_else(|| DpdkError::VdevNotProbed {
            device: name.to_owned(),
            known: names().join(", "),
        })?;
        claim(&mut lc, id)
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.shared.id
    }

    /// Port name (vdev name or PCI address).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether [`start`](Self::start) succeeded and no `stop` followed.
    pub fn is_started(&self) -> bool {
        matches!(self.shared.ctl().state, PortState::Started { .. })
    }

    /// Rx queues set by [`configure`](Self::configure) (0 before).
    pub fn rx_queue_count(&self) -> u16 {
        match self.shared.ctl().state {
            PortState::Configured { rxq, .. } | PortState::Started { rxq, .. } => rxq,
            PortState::Unconfigured | PortState::Closed => 0,
        }
    }

    /// Tx queues set by [`configure`](Self::configure) (0 before).
    pub fn tx_queue_count(&self) -> u16 {
        match self.shared.ctl().state {
            PortState::Configured { txq, .. } | PortState::Started { txq, .. } => txq,
            PortState::Unconfigured | PortState::Closed => 0,
        }
    }

    fn call_err(&self, what: &str, ret: i32) -> DpdkError {
        DpdkError::call(format!("port {:?}: {what}", self.shared.name), -ret)
    }

    fn state_err(&self, op: &'static str, detail: impl Into<String>) -> DpdkError {
        DpdkError::PortState {
            port: self.shared.name.clone(),
            op,
            detail: detail.into(),
        }
    }

    fn config_err(&self, detail: impl Into<String>) -> DpdkError {
        DpdkError::Config {
            port: self.shared.name.clone(),
            detail: detail.into(),
        }
    }

    /// Locks the port for a control call; refuses once it is closed.
    fn control(&self, op: &'static str) -> Result<MutexGuard<'_, Control>, DpdkError> {
        let ctl = self.shared.ctl();
        if ctl.state == PortState::Closed {
            return Err(self.state_err(op, "the port is closed"));
        }
        Ok(ctl)
    }

    /// Refuses `op` while a queue handle is alive. The port mutex orders
    /// this after the last burst of a worker that dropped its handle.
    fn ensure_no_queue_handles(&self, ctl: &Control, op: &'static str) -> Result<(), DpdkError> {
        match ctl.live_handles() {
            0 => Ok(()),
            live => Err(self.state_err(
                op,
                format!("{live} rx/tx queue handle(s) are still alive (stop the workers first)"),
            )),
        }
    }

    /// # Safety
    /// The caller holds the port mutex and the port is not closed.
    unsafe fn dev_info(&self) -> Result<sys::rte_eth_dev_info, DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: valid port (claimed, not closed: caller), serialised by
        // the port mutex (caller); info is a valid zeroed out-pointer.
        let ret = unsafe { sys::rte_eth_dev_info_get(self.shared.id, &mut info) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_dev_info_get", ret));
        }
        Ok(info)
    }

    /// NUMA socket of the device; [`SOCKET_ANY`](super::SOCKET_ANY) if
    /// unknown.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: reads the port's static data; -1 for any bad id.
        let s = unsafe { sys::rte_eth_dev_socket_id(self.shared.id) };
        if s < 0 {
            sys::SOCKET_ID_ANY
        } else {
            s
        }
    }

    /// Configures the port (stopped, no queue handles alive): queue counts
    /// checked against the device, RSS over IP/TCP/UDP (as far as the
    /// device hashes them) when `rx_queues > 1`, MTU, rx queues filled from
    /// `pool`, promiscuous mode.
    pub fn configure(&self, cfg: &PortConfig, pool: &Mempool) -> Result<AppliedConfig, DpdkError> {
        let mut ctl = self.control("configure")?;
        self.ensure_no_queue_handles(&ctl, "configure")?;
        if matches!(ctl.state, PortState::Started { .. }) {
            return Err(self.state_err("configure", "the port is started (stop it first)"));
        }
        if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
            return Err(self.config_err(format!(
                "rx_queues = {} and tx_queues = {}: both must be at least 1",
                cfg.rx_queues, cfg.tx_queues
            )));
        }
        // SAFETY: we hold the port mutex and the port is not closed.
        let info = unsafe { self.dev_info() }?;
        for (kind, requested, max) in [
            ("rx", cfg.rx_queues, info.max_rx_queues),
            ("tx", cfg.tx_queues, info.max_tx_queues),
        ] {
            if requested > max {
                return Err(DpdkError::TooManyQueues {
                    port: self.shared.name.clone(),
                    kind,
                    requested,
                    max,
                });
            }
        }

        let mut conf = sys::rte_eth_conf::default();
        let mut rss_hf = 0;
        if cfg.rx_queues > 1 {
            // SAFETY: returns a constant.
            let wanted = unsafe { sys::sluice_eth_rss_ip_tcp_udp() };
            rss_hf = wanted & info.flow_type_rss_offloads;
            if rss_hf == 0 {
                return Err(self.config_err(format!(
                    "{} rx queues need RSS, but the device hashes none of IP/TCP/UDP \
                     (flow_type_rss_offloads = {:#x}); use 1 rx queue",
                    cfg.rx_queues, info.flow_type_rss_offloads
                )));
            }
            conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        if let Some(mtu) = cfg.mtu {
            if mtu < info.min_mtu || mtu > info.max_mtu {
                return Err(self.config_err(format!(
                    "MTU {mtu} outside the device's range {}..={}",
                    info.min_mtu, info.max_mtu
                )));
            }
            conf.rxmode.mtu = u32::from(mtu);
        }

        // From here the device's configuration changes; until every step
        // succeeded the port counts as unconfigured.
        ctl.state = PortState::Unconfigured;
        let id = self.shared.id;
        // SAFETY: valid, stopped port under its mutex; conf is a fully
        // initialised rte_eth_conf that DPDK copies.
        let ret = unsafe { sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf) };
        if ret != 0 {
            return Err(self.call_err(
                &format!(
                    "rte_eth_dev_configure(rx_queues={}, tx_queues={}, rss_hf={rss_hf:#x}, mtu={:?})",
                    cfg.rx_queues, cfg.tx_queues, cfg.mtu
                ),
                ret,
            ));
        }

        let or_default = |n: u16, dflt: u16| match (n, dflt) {
            (0, 0) => 512, // RTE_ETH_DEV_FALLBACK_{RX,TX}_RINGSIZE
            (0, d) => d,
            (n, _) => n,
        };
        let mut rx_desc = or_default(cfg.rx_desc, info.default_rxportconf.ring_size);
        let mut tx_desc = or_default(cfg.tx_desc, info.default_txportconf.ring_size);
        // SAFETY: valid, configured port under its mutex; valid out-pointers.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }

        // SOCKET_ID_ANY is -1, passed as unsigned as in C.
        let socket = self.socket_id() as u32;
        for q in 0..cfg.rx_queues {
            // SAFETY: valid, configured port under its mutex, q < rx_queues;
            // NULL rx_conf means the driver's defaults; the pool is never
            // freed.
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            };
            if ret != 0 {
                return Err(self.call_err(
                    &format!(
                        "rte_eth_rx_queue_setup(queue={q}, desc={rx_desc}, pool={:?})",
                        pool.name()
                    ),
                    ret,
                ));
            }
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: valid, configured port under its mutex, q < tx_queues;
            // NULL tx_conf means the driver's defaults.
            let ret =
                unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
            if ret != 0 {
                return Err(self.call_err(
                    &format!("rte_eth_tx_queue_setup(queue={q}, desc={tx_desc})"),
                    ret,
                ));
            }
        }

        let (ret, what) = if cfg.promiscuous {
            // SAFETY: valid port under its mutex.
            (
                unsafe { sys::rte_eth_promiscuous_enable(id) },
                "rte_eth_promiscuous_enable",
            )
        } else {
            // SAFETY: valid port under its mutex.
            (
                unsafe { sys::rte_eth_promiscuous_disable(id) },
                "rte_eth_promiscuous_disable",
            )
        };
        if ret != 0 && ret != -libc::ENOTSUP {
            return Err(self.call_err(what, ret));
        }

        ctl.rx_claims = vec![false; usize::from(cfg.rx_queues)];
        ctl.tx_claims = vec![false; usize::from(cfg.tx_queues)];
        ctl.state = PortState::Configured {
            rxq: cfg.rx_queues,
            txq: cfg.tx_queues,
        };
        Ok(AppliedConfig {
            rx_desc,
            tx_desc,
            rss_hf,
        })
    }

    /// Starts the configured port (`rte_eth_dev_start`); nothing to do if
    /// it is started.
    pub fn start(&self) -> Result<(), DpdkError> {
        let mut ctl = self.control("start")?;
        let (rxq, txq) = match ctl.state {
            PortState::Started { .. } => return Ok(()),
            PortState::Configured { rxq, txq } => (rxq, txq),
            PortState::Unconfigured | PortState::Closed => {
                return Err(self.state_err("start", "the port is not configured"))
            }
        };
        // SAFETY: valid, fully configured port under its mutex.
        let ret = unsafe { sys::rte_eth_dev_start(self.shared.id) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_dev_start", ret));
        }
        ctl.state = PortState::Started { rxq, txq };
        Ok(())
    }

    /// Stops the port (`rte_eth_dev_stop`); refused while queue handles are
    /// alive.
    pub fn stop(&self) -> Result<(), DpdkError> {
        let mut ctl = self.control("stop")?;
        self.stop_locked(&mut ctl)
    }

    fn stop_locked(&self, ctl: &mut Control) -> Result<(), DpdkError> {
        self.ensure_no_queue_handles(ctl, "stop")?;
        // SAFETY: valid port under its mutex; no queue handle exists, so no
        // thread is in a burst call on it (ordered by the mutex).
        let ret = unsafe { sys::rte_eth_dev_stop(self.shared.id) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_dev_stop", ret));
        }
        if let PortState::Started { rxq, txq } = ctl.state {
            ctl.state = PortState::Configured { rxq, txq };
        }
        Ok(())
    }

    /// Stops and closes the port (`rte_eth_dev_close`), releasing its
    /// queues and the mbufs in their rings; refused while queue handles are
    /// alive. Every handle of the port fails afterwards; the claim on the
    /// port id ends when the last one drops.
    pub fn close(&self) -> Result<(), DpdkError> {
        let mut ctl = self.control("close")?;
        // A port this claim configured and did not start (or stopped) is
        // known to be stopped; anything else may be running.
        if !matches!(ctl.state, PortState::Configured { .. }) {
            self.stop_locked(&mut ctl)?;
        } else {
            self.ensure_no_queue_handles(&ctl, "close")?;
        }
        // SAFETY: valid, stopped port with no queue handles, under its
        // mutex; the Closed state keeps every later call away from the id.
        let ret = unsafe { sys::rte_eth_dev_close(self.shared.id) };
        ctl.state = PortState::Closed;
        if ret != 0 {
            return Err(self.call_err("rte_eth_dev_close", ret));
        }
        Ok(())
    }

    fn take_queue(&self, rx: bool, q: u16) -> Result<(), DpdkError> {
        let (op, kind) = if rx {
            ("take rx queue", "rx")
        } else {
            ("take tx queue", "tx")
        };
        let mut ctl = self.control(op)?;
        if !matches!(ctl.state, PortState::Started { .. }) {
            return Err(self.state_err(op, "the port is not started"));
        }
        let claims = if rx {
            &mut ctl.rx_claims
        } else {
            &mut ctl.tx_claims
        };
        let count = claims.len();
        match claims.get_mut(usize::from(q)) {
            Some(taken) if !*taken => {
                *taken = true;
                Ok(())
            }
            Some(_) => Err(self.state_err(op, format!("{kind} queue {q} already has a handle"))),
            None => Err(self.state_err(
                op,
                format!("queue {q} does not exist ({count} {kind} queues configured)"),
            )),
        }
    }

    /// The handle of rx queue `q` (port started; one handle per queue).
    pub fn rx_queue(&self, q: u16) -> Result<RxQueue, DpdkError> {
        self.take_queue(true, q)?;
        Ok(RxQueue {
            port: self.shared.id,
            queue: q,
            shared: Arc::clone(&self.shared),
            _not_sync: PhantomData,
        })
    }

    /// The handle of tx queue `q` (port started; one handle per queue).
    pub fn tx_queue(&self, q: u16) -> Result<TxQueue, DpdkError> {
        self.take_queue(false, q)?;
        Ok(TxQueue {
            port: self.shared.id,
            queue: q,
            shared: Arc::clone(&self.shared),
            _not_sync: PhantomData,
        })
    }

    /// Basic counters (`rte_eth_stats_get`); may run while workers poll.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let _ctl = self.control("read stats")?;
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid port under its mutex; s is a valid out-pointer;
        // concurrent bursts are fine (module docs).
        let ret = unsafe { sys::rte_eth_stats_get(self.shared.id, &mut s) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_stats_get", ret));
        }
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Driver-specific counters by name (`rte_eth_xstats_get`); may run
    /// while workers poll. Allocates: admin path only.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        let _ctl = self.control("read xstats")?;
        let id = self.shared.id;
        // SAFETY: valid port under its mutex; NULL/0 asks for the count.
        let n = unsafe { sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        let n = u32::try_from(n).map_err(|_| self.call_err("rte_eth_xstats_get_names", n))?;
        let mut names = vec![sys::rte_eth_xstat_name::default(); n as usize];
        // SAFETY: as above; names has room for n entries.
        let got = unsafe { sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n) };
        let got = u32::try_from(got).map_err(|_| self.call_err("rte_eth_xstats_get_names", got))?;
        names.truncate(got.min(n) as usize);
        let mut values = vec![sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: as above; values has room for n entries.
        let got = unsafe { sys::rte_eth_xstats_get(id, values.as_mut_ptr(), n) };
        let got = u32::try_from(got).map_err(|_| self.call_err("rte_eth_xstats_get", got))?;
        values.truncate(got.min(n) as usize);
        Ok(values
            .iter()
            .filter_map(|x| {
                let name = names.get(usize::try_from(x.id).ok()?)?;
                Some((c_chars_to_string(&name.name), x.value))
            })
            .collect())
    }

    /// Link state without waiting for negotiation
    /// (`rte_eth_link_get_nowait`); may run while workers poll.
    pub fn link(&self) -> Result<Link, DpdkError> {
        let _ctl = self.control("read link")?;
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid port under its mutex; l is a valid out-pointer.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.shared.id, &mut l) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_link_get_nowait", ret));
        }
        Ok(Link {
            up: u32::from(l.link_status()) == sys::RTE_ETH_LINK_UP,
            speed_mbps: if l.link_speed == sys::RTE_ETH_SPEED_NUM_UNKNOWN {
                0
            } else {
                l.link_speed
            },
            full_duplex: u32::from(l.link_duplex()) == sys::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// Sets the link administratively up or down
    /// (`rte_eth_dev_set_link_up` / `_down`); may run while workers poll.
    /// Returns false when the driver cannot (`ENOTSUP`: e.g. `net_null`).
    pub fn set_link(&self, up: bool) -> Result<bool, DpdkError> {
        let _ctl = self.control("set link")?;
        let id = self.shared.id;
        let (ret, what) = if up {
            // SAFETY: valid port under its mutex.
            (
                unsafe { sys::rte_eth_dev_set_link_up(id) },
                "rte_eth_dev_set_link_up",
            )
        } else {
            // SAFETY: valid port under its mutex.
            (
                unsafe { sys::rte_eth_dev_set_link_down(id) },
                "rte_eth_dev_set_link_down",
            )
        };
        match ret {
            0 => Ok(true),
            r if r == -libc::ENOTSUP || r == -libc::EOPNOTSUPP => Ok(false),
            r => Err(self.call_err(what, r)),
        }
    }

    /// The port's MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6], DpdkError> {
        let _ctl = self.control("read MAC address")?;
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid port under its mutex; a is a valid out-pointer.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.shared.id, &mut a) };
        if ret != 0 {
            return Err(self.call_err("rte_eth_macaddr_get", ret));
        }
        Ok(a.addr_bytes)
    }

    /// The PMD's name (`net_null`, `net_ring`, `net_ice`, ...).
    pub fn driver_name(&self) -> Result<String, DpdkError> {
        let _ctl = self.control("read device info")?;
        // SAFETY: we hold the port mutex and the port is not closed.
        let info = unsafe { self.dev_info() }?;
        if info.driver_name.is_null() {
            return Ok(String::new());
        }
        // SAFETY: non-null driver_name points to the driver's static
        // NUL-terminated name.
        Ok(unsafe { CStr::from_ptr(info.driver_name) }
            .to_string_lossy()
            .into_owned())
    }
}

/// Records the claim of port `id` (EAL running, lifecycle lock held).
fn claim(lc: &mut super::eal::Lifecycle, id: u16) -> Result<Port, DpdkError> {
    let name = port_name(id).ok_or_else(|| DpdkError::NoSuchPort {
        name: format!("#{id}"),
        known: names().join(", "),
    })?;
    if lc.claimed_ports.contains(&id) {
        return Err(DpdkError::PortInUse { port: name });
    }
    lc.claimed_ports.push(id);
    Ok(Port {
        shared: Arc::new(PortShared {
            id,
            name,
            ctl: Mutex::new(Control {
                state: PortState::Unconfigured,
                rx_claims: Vec::new(),
                tx_claims: Vec::new(),
            }),
        }),
    })
}

/// The id of the port named `name` (EAL running: the caller holds the
/// lifecycle lock and checked).
pub(super) fn id_by_name(name: &str) -> Option<u16> {
    let c = CString::new(name).ok()?;
    let mut id = 0u16;
    // SAFETY: EAL is running (caller); c is NUL-terminated and id a valid
    // out-pointer; the call only searches ethdev's port table.
    let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
    (ret == 0).then_some(id)
}

/// Names of the usable ports (EAL running, see `id_by_name`).
pub(super) fn names() -> Vec<String> {
    port_ids().into_iter().filter_map(port_name).collect()
}

/// Ids of the usable ports (`RTE_ETH_FOREACH_DEV`; EAL running).
fn port_ids() -> Vec<u16> {
    let mut ids = Vec::new();
    let mut next = 0u64;
    loop {
        // SAFETY: searches ethdev's static port table; any start id is valid.
        next = unsafe {
            sys::rte_eth_find_next_owned_by(next as u16, u64::from(sys::RTE_ETH_DEV_NO_OWNER))
        };
        if next >= u64::from(sys::RTE_MAX_ETHPORTS) {
            return ids;
        }
        ids.push(next as u16);
        next += 1;
    }
}

/// Name of port `id`, if it is a valid port (EAL running).
fn port_name(id: u16) -> Option<String> {
    // SAFETY: read-only check of the port table.
    if unsafe { sys::rte_eth_dev_is_valid_port(id) } != 1 {
        return None;
    }
    let mut buf = [0 as std::ffi::c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: buf has the RTE_ETH_NAME_MAX_LEN bytes the call may write.
    let ret = unsafe { sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    (ret == 0).then(|| c_chars_to_string(&buf))
}

/// The handle of one rx queue: owned by exactly one worker.
pub struct RxQueue {
    port: u16,
    queue: u16,
    shared: Arc<PortShared>,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RxQueue({}:{})", self.shared.name, self.queue)
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        if let Some(c) = self.shared.ctl().rx_claims.get_mut(usize::from(self.queue)) {
            *c = false;
        }
    }
}

impl RxQueue {
    /// Receives into the free slots of `burst` (up to [`BURST_SIZE`] in
    /// all) and returns how many packets arrived.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst) -> usize {
        let room = BURST_SIZE - burst.len;
        if room == 0 {
            return 0;
        }
        // SAFETY: the port is started and stays so while this handle lives;
        // `&mut self` makes this thread the queue's only user; the driver
        // writes at most `room` owned mbuf pointers into the free slots.
        let n = unsafe {
            sys::sluice_eth_rx_burst(
                self.port,
                self.queue,
                burst.pkts.as_mut_ptr().add(burst.len),
                room as u16,
            )
        };
        let n = usize::from(n).min(room);
        burst.len += n;
        n
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Port name.
    pub fn port_name(&self) -> &str {
        &self.shared.name
    }
}

/// The handle of one tx queue: owned by exactly one worker.
pub struct TxQueue {
    pub(super) port: u16,
    pub(super) queue: u16,
    shared: Arc<PortShared>,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TxQueue({}:{})", self.shared.name, self.queue)
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        if let Some(c) = self.shared.ctl().tx_claims.get_mut(usize::from(self.queue)) {
            *c = false;
        }
    }
}

impl TxQueue {
    /// Sends every packet of `burst` straight from its array (the fast
    /// path when a whole rx burst goes to one port); what the device
    /// refuses is freed and counted as dropped. `burst` is empty afterwards.
    ///
    /// [`TxResult::sent_bytes`] costs one `pkt_len` load per packet before
    /// the send (the device owns the packets after it): nothing when the
    /// caller ignores it (the compiler drops the loop), about 10% of a bare
    /// net_null rx→tx loop otherwise, the same as in C.
    #[inline]
    pub fn tx_burst_all(&mut self, burst: &mut Burst) -> TxResult {
        let n = burst.len;
        burst.len = 0;
        // SAFETY: pkts[0..n] were owned by the burst and are all given up;
        // n ≤ 32; `&mut self` makes this thread the queue's only user, and
        // the port stays started while the handle lives.
        unsafe { transmit(self.port, self.queue, burst.pkts.as_mut_ptr(), n) }
    }

    /// [`tx_burst_all`](Self::tx_burst_all) for a caller that already
    /// summed the burst's `pkt_len`s into `bytes` (the worker does, while
    /// counting rx bytes): no second pass over the mbufs before the send;
    /// only packets the device refuses are read (they are still ours).
    #[inline]
    pub fn tx_burst_all_counted(&mut self, burst: &mut Burst, bytes: u64) -> TxResult {
        let n = burst.len;
        burst.len = 0;
        // SAFETY: as in `tx_burst_all`.
        unsafe { transmit_counted(self.port, self.queue, burst.pkts.as_mut_ptr(), n, bytes) }
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port
    }

    /// Queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Port name.
    pub fn port_name(&self) -> &str {
        &self.shared.name
    }
}
