//! EAL start-up and shutdown, thread registration, TSC and lcore helpers.
//!
//! # Lifecycle record
//! DPDK's EAL can be initialised once per process, and after
//! `rte_eal_cleanup` every pointer into DPDK memory dangles. [`LIFECYCLE`]
//! is the single record of where the process stands (not started / running
//! / failed / cleaned up) and of everything that could still touch DPDK
//! memory: live [`Mempool`](super::Mempool) handles, every pool ever created
//! (to check that all mbufs are home), claimed [`Port`](super::Port)s and
//! registered threads. Every setup call (pool creation, port claim, thread
//! registration, queries that read DPDK memory, cleanup) holds its mutex, so
//! [`Eal::cleanup`] cannot race with them. The fast path never touches it.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

use dpdk_sys as sys;

use super::error::{rte_errno, DpdkError};
use super::port;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EalState {
    NotStarted,
    Running,
    /// `rte_eal_init` failed: DPDK cannot be initialised again.
    Failed,
    CleanedUp,
}

/// A pool created by `Mempool::new`; pools are never freed (see Mempool).
pub(super) struct PoolRecord(pub(super) NonNull<sys::rte_mempool>);

// SAFETY: only used to read the pool's counters, which is thread-safe; the
// pool is never freed while EAL runs.
unsafe impl Send for PoolRecord {}

pub(super) struct Lifecycle {
    pub(super) state: EalState,
    /// Live `Mempool` handles (clones share one count).
    pub(super) pool_handles: usize,
    /// Every pool created in this process.
    pub(super) pools: Vec<PoolRecord>,
    /// Port ids that a `Port` (or one of its queues) currently owns.
    pub(super) claimed_ports: Vec<u16>,
    /// `std::thread`s registered by `register_thread` and not yet exited.
    pub(super) registered_threads: usize,
}

static LIFECYCLE: Mutex<Lifecycle> = Mutex::new(Lifecycle {
    state: EalState::NotStarted,
    pool_handles: 0,
    pools: Vec::new(),
    claimed_ports: Vec::new(),
    registered_threads: 0,
});

/// Locks the lifecycle record (setup paths only). Every update under it is
/// a single assignment or push, so a poisoned lock is used as is.
pub(super) fn lifecycle() -> MutexGuard<'static, Lifecycle> {
    LIFECYCLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lifecycle {
    pub(super) fn ensure_running(&self) -> Result<(), DpdkError> {
        match self.state {
            EalState::Running => Ok(()),
            _ => Err(DpdkError::NotInitialized),
        }
    }
}

/// Proof that this process initialised DPDK's EAL, held by the thread that
/// did it (EAL's main lcore): not `Send`.
///
/// Dropping it does nothing: EAL stays up until the process exits, or until
/// [`Eal::cleanup`] is called for a clean exit.
#[derive(Debug)]
pub struct Eal {
    _main_lcore_only: PhantomData<*const ()>,
}

impl Eal {
    /// Initialises EAL with `args`: EAL options only (`-l 0,1`, `--vdev=...`,
    /// `--file-prefix ...`); argv\[0\] is supplied as `sluice`.
    ///
    /// Works once per process: a second call (even after a failed first one,
    /// or after cleanup) returns [`DpdkError::AlreadyInitialized`].
    ///
    /// The argument strings and the argv array are leaked on purpose: EAL
    /// keeps pointers into argv for the life of the process (and getopt
    /// permutes the array).
    ///
    /// EAL pins the calling thread to the first lcore, and threads spawned
    /// from it afterwards inherit that affinity: start threads that must not
    /// run there (admin, HTTP) before calling this, or reset their affinity.
    ///
    /// After init, every ethdev vdev (`--vdev=net_...`) must have become a
    /// port: EAL itself does not fail when a vdev does not probe, so this
    /// returns [`DpdkError::VdevNotProbed`] (EAL then stays initialised).
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let mut lc = lifecycle();
        if lc.state != EalState::NotStarted {
            return Err(DpdkError::AlreadyInitialized);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::from(c"sluice"));
        for a in args {
            owned.push(
                CString::new(a.as_str()).map_err(|_| DpdkError::InvalidArgument {
                    what: "EAL argument",
                    detail: format!("{a:?} contains a NUL byte"),
                })?,
            );
        }
        let argc = c_int::try_from(owned.len()).map_err(|_| DpdkError::InvalidArgument {
            what: "EAL argument list",
            detail: format!("{} arguments", owned.len()),
        })?;
        // Deliberate leaks, see above: both live until the process exits.
        let strings: &'static [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] = Box::leak(
            strings
                .iter()
                .map(|s| s.as_ptr().cast_mut())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );

        lc.state = EalState::Failed;
        // SAFETY: argv holds argc pointers to NUL-terminated strings followed
        // by NULL, all valid for the rest of the process (leaked above); the
        // lifecycle lock guarantees this is the only rte_eal_init call.
        let parsed = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if parsed < 0 {
            return Err(DpdkError::from_rte_errno(format!(
                "rte_eal_init({})",
                args.join(" ")
            )));
        }
        lc.state = EalState::Running;

        // getopt moved anything it did not parse behind the parsed options.
        let parsed = usize::try_from(parsed).unwrap_or(0);
        if parsed < args.len() {
            let rest: Vec<String> = argv[1 + parsed..=args.len()]
                .iter()
                .filter(|p| !p.is_null())
                // SAFETY: every entry points into `strings` (permuted only).
                .map(|&p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
                .collect();
            return Err(DpdkError::InvalidArgument {
                what: "EAL argument",
                detail: format!("not EAL options: {}", rest.join(" ")),
            });
        }
        for device in ethdev_vdevs(args) {
            if port::id_by_name(&device).is_none() {
                return Err(DpdkError::VdevNotProbed {
                    device,
                    known: port::names().join(", "),
                });
            }
        }
        Ok(Eal {
            _main_lcore_only: PhantomData,
        })
    }

    /// Shuts EAL down (`rte_eal_cleanup`) for a clean exit. Afterwards every
    /// DPDK call of this module fails with [`DpdkError::NotInitialized`] (or
    /// does nothing), and EAL cannot start again in this process.
    ///
    /// Refuses with [`DpdkError::Busy`] unless nothing can touch DPDK memory
    /// any more: no [`Mempool`](super::Mempool) handle, no
    /// [`Port`](super::Port) or queue handle, no registered thread still
    /// running (join the workers), and every mbuf back in its pool (so no
    /// [`Mbuf`](super::Mbuf), [`Burst`](super::Burst) or
    /// [`TxBuffer`](super::TxBuffer) holds one). Threads that are not
    /// registered return mbufs straight to the pool's ring, whose counter
    /// moves with the last write, and the main lcore's own cache is only
    /// used by this thread (`Eal` is not `Send`): so a count of zero means
    /// no thread is still inside a free.
    pub fn cleanup(&mut self) -> Result<(), DpdkError> {
        let mut lc = lifecycle();
        lc.ensure_running()?;
        let mbufs_out: u64 = lc
            .pools
            .iter()
            // SAFETY: pools are never freed; reading the counters is safe
            // from any thread.
            .map(|p| u64::from(unsafe { sys::rte_mempool_in_use_count(p.0.as_ptr()) }))
            .sum();
        if lc.pool_handles > 0
            || !lc.claimed_ports.is_empty()
            || lc.registered_threads > 0
            || mbufs_out > 0
        {
            return Err(DpdkError::Busy {
                detail: format!(
                    "{} mempool handle(s), {} port(s), {} registered thread(s) and {} mbuf(s) \
                     still alive; drop them and join the workers first",
                    lc.pool_handles,
                    lc.claimed_ports.len(),
                    lc.registered_threads,
                    mbufs_out
                ),
            });
        }
        // SAFETY: EAL is running and, as checked above under the lock that
        // every other use of DPDK memory in this module needs, nothing can
        // reach DPDK memory any more.
        let ret = unsafe { sys::rte_eal_cleanup() };
        lc.state = EalState::CleanedUp;
        if ret < 0 {
            return Err(DpdkError::call("rte_eal_cleanup", -ret));
        }
        Ok(())
    }

    /// Registers the calling `std::thread` with EAL (`rte_thread_register`)
    /// so that it gets an lcore id and a per-lcore mempool cache, and
    /// returns the lcore id. Without it every mbuf alloc/free goes to the
    /// shared ring (forwarding measured 18% slower). The thread is
    /// unregistered automatically when it exits. On a thread that already
    /// has an lcore id (EAL lcores, threads registered before) this only
    /// returns the id.
    pub fn register_thread() -> Result<u32, DpdkError> {
        let mut lc = lifecycle();
        lc.ensure_running()?;
        if let Some(lcore) = lcore_id() {
            return Ok(lcore);
        }
        // SAFETY: EAL is running (checked under the lock, so no concurrent
        // cleanup); registers the calling thread only.
        if unsafe { sys::rte_thread_register() } != 0 {
            return Err(DpdkError::from_rte_errno(
                "rte_thread_register (every lcore id may be taken: RTE_MAX_LCORE is 128)",
            ));
        }
        let unregister = || {
            // SAFETY: this thread registered itself just above.
            unsafe { sys::rte_thread_unregister() }
        };
        let Some(lcore) = lcore_id() else {
            unregister();
            return Err(DpdkError::Call {
                context: "rte_thread_register".to_owned(),
                errno: rte_errno(),
                reason: "returned success but the thread has no lcore id".to_owned(),
            });
        };
        // Only ever None -> Some here (a Some means the thread already has
        // an lcore id), so no Registration drops under the lock.
        let stored = REGISTRATION.try_with(|r| {
            r.borrow_mut().get_or_insert(Registration);
        });
        if stored.is_err() {
            unregister();
            return Err(DpdkError::Call {
                context: "rte_thread_register".to_owned(),
                errno: 0,
                reason: "the thread is exiting".to_owned(),
            });
        }
        lc.registered_threads += 1;
        Ok(lcore)
    }

    /// Number of usable ethdev ports (`rte_eth_dev_count_avail`); 0 when
    /// EAL is not running.
    pub fn port_count() -> u16 {
        let lc = lifecycle();
        if lc.ensure_running().is_err() {
            return 0;
        }
        // SAFETY: EAL is running (under the lock); reads ethdev's port table.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    /// EAL's runtime directory (`/var/run/dpdk/<file-prefix>` for root), if
    /// EAL created one. With `--no-shconf --no-telemetry` nothing in it is
    /// used after init, and callers may remove it.
    pub fn runtime_dir() -> Option<PathBuf> {
        // SAFETY: returns a pointer to a static NUL-terminated buffer in
        // EAL's own data (empty before init), valid in any state.
        let p = unsafe { sys::rte_eal_get_runtime_dir() };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-null, static, NUL-terminated.
        let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        (!s.is_empty()).then(|| PathBuf::from(s))
    }
}

/// Unregisters the thread when its thread-locals are destroyed (thread
/// exit; `join` returns after that).
struct Registration;

impl Drop for Registration {
    fn drop(&mut self) {
        let mut lc = lifecycle();
        if lc.state == EalState::Running {
            // SAFETY: this thread registered itself (the value lives in its
            // own thread-local) and EAL is still running.
            unsafe { sys::rte_thread_unregister() };
        }
        lc.registered_threads = lc.registered_threads.saturating_sub(1);
    }
}

thread_local! {
    static REGISTRATION: RefCell<Option<Registration>> = const { RefCell::new(None) };
}

/// The calling thread's lcore id; `None` for threads that are neither EAL
/// lcores nor registered.
#[inline]
pub fn lcore_id() -> Option<u32> {
    // SAFETY: reads a thread-local; no preconditions.
    let id = unsafe { sys::sluice_lcore_id() };
    (id != sys::LCORE_ID_ANY).then_some(id)
}

/// NUMA socket of the calling thread's lcore (`rte_socket_id`), or
/// [`SOCKET_ANY`](super::SOCKET_ANY) for threads without an lcore.
pub fn socket_id() -> i32 {
    // SAFETY: reads thread-local and static EAL data; no preconditions.
    let s = unsafe { sys::rte_socket_id() };
    i32::try_from(s).unwrap_or(sys::SOCKET_ID_ANY)
}

/// TSC ticks per second as measured by EAL (0 before `Eal::init`).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a static value EAL computed at init; no preconditions.
    unsafe { sys::rte_get_tsc_hz() }
}

/// The time-stamp counter, for deadlines on the fast path (`rte_rdtsc`).
#[inline]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC exists on every x86_64 CPU and has no memory effects.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: reads the cycle counter; no preconditions.
        unsafe { sys::sluice_rdtsc() }
    }
}

/// The DPDK version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let p = unsafe { sys::rte_version() };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null, static, NUL-terminated.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Device names of the ethdev vdevs (`net_*`) among EAL arguments, in both
/// the `--vdev=NAME,args` and the `--vdev NAME,args` spelling.
fn ethdev_vdevs(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        let spec = if a == "--vdev" {
            iter.next().map(String::as_str)
        } else {
            a.strip_prefix("--vdev=")
        };
        if let Some(spec) = spec {
            let name = spec.split(',').next().unwrap_or("").trim();
            if name.starts_with("net_") {
                out.push(name.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod unit {
    use super::ethdev_vdevs;

    #[test]
    fn vdev_names_from_both_spellings() {
        let args: Vec<String> = [
            "--no-pci",
            "--vdev=net_null0,size=64",
            "--vdev",
            "net_ring0",
            "--vdev=crypto_null0",
            "--vdev",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(ethdev_vdevs(&args), ["net_null0", "net_ring0"]);
    }
}
