//! [`DpdkError`]: every failure of the wrapper, with our own context.
//!
//! DPDK reports failures as `-errno` return values or through `rte_errno`,
//! and some paths leave `rte_errno` at 0 ("Success"). Each variant therefore
//! carries what we were doing (port, call, arguments) next to DPDK's own
//! `rte_strerror` text.

use std::ffi::CStr;

use dpdk_sys as sys;

/// An error of the DPDK wrapper.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `Eal::init` ran before in this process (DPDK cannot initialise twice,
    /// not even after a failed attempt or a cleanup).
    #[error("EAL was already initialised in this process (rte_eal_init runs once per process)")]
    AlreadyInitialized,

    /// A call that needs a running EAL came before `Eal::init` or after
    /// `Eal::cleanup`.
    #[error("EAL is not running (call Eal::init first; nothing works after Eal::cleanup)")]
    NotInitialized,

    /// An argument we can reject before calling DPDK.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What the argument is ("EAL argument", "mempool name", ...).
        what: &'static str,
        /// Why it was rejected.
        detail: String,
    },

    /// A DPDK call failed.
    #[error("{context}: {reason} (errno {errno})")]
    Call {
        /// What we were doing, with the port and the arguments.
        context: String,
        /// The error code (positive errno or an `E_RTE_*` code).
        errno: i32,
        /// `rte_strerror(errno)`, or a note that DPDK gave no code.
        reason: String,
    },

    /// An ethdev `--vdev` given to EAL did not become a port.
    #[error("EAL did not create a port for --vdev {device:?} (ports present: {known}); check the driver name and its arguments")]
    VdevNotProbed {
        /// The device name from the `--vdev` argument.
        device: String,
        /// The names of the ports that do exist.
        known: String,
    },

    /// No ethdev port has that name (or id).
    #[error("no DPDK port {name:?} (ports present: {known}); ports come from --vdev/-a EAL arguments, PCI ports are named like 0000:3b:02.0")]
    NoSuchPort {
        /// The name (or id) asked for.
        name: String,
        /// The names of the ports that do exist.
        known: String,
    },

    /// Another `Port` handle already owns this port.
    #[error("port {port:?} is already owned by another Port handle")]
    PortInUse {
        /// Port name.
        port: String,
    },

    /// More queues were asked for than the device has.
    #[error(
        "port {port:?}: {requested} {kind} queues requested, the device supports at most {max}"
    )]
    TooManyQueues {
        /// Port name.
        port: String,
        /// "rx" or "tx".
        kind: &'static str,
        /// What the configuration asked for.
        requested: u16,
        /// `max_rx_queues` / `max_tx_queues` of the device.
        max: u16,
    },

    /// A port configuration the device cannot take (checked before DPDK).
    #[error("port {port:?}: {detail}")]
    Config {
        /// Port name.
        port: String,
        /// What is wrong.
        detail: String,
    },

    /// An operation that the port's current state does not allow.
    #[error("port {port:?}: cannot {op}: {detail}")]
    PortState {
        /// Port name.
        port: String,
        /// The operation refused.
        op: &'static str,
        /// Why.
        detail: String,
    },

    /// `Eal::cleanup` while DPDK objects still exist.
    #[error("cannot clean up EAL: {detail}")]
    Busy {
        /// What is still alive.
        detail: String,
    },
}

impl DpdkError {
    /// A failed call whose code is `errno` (positive).
    pub(crate) fn call(context: impl Into<String>, errno: i32) -> DpdkError {
        DpdkError::Call {
            context: context.into(),
            errno,
            reason: strerror(errno),
        }
    }

    /// A failed call that reported its code through `rte_errno`.
    pub(crate) fn from_rte_errno(context: impl Into<String>) -> DpdkError {
        DpdkError::call(context, rte_errno())
    }
}

/// `rte_errno` of the calling thread.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local integer; no preconditions.
    unsafe { sys::sluice_errno() }
}

/// DPDK's text for an error code; a note of our own when the code is 0.
pub(crate) fn strerror(errno: i32) -> String {
    if errno == 0 {
        return "DPDK reported no error code (rte_errno = 0)".to_owned();
    }
    // SAFETY: rte_strerror accepts any code and returns a NUL-terminated
    // string, static or in a per-thread buffer valid until this thread's
    // next call; it is copied below before anything else runs here.
    let text = unsafe { sys::rte_strerror(errno) };
    if text.is_null() {
        return format!("unknown error {errno}");
    }
    // SAFETY: non-null, NUL-terminated (see above), read once right away.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// Turns a C `char` array (NUL-terminated or full) into a `String`.
pub(crate) fn c_chars_to_string(chars: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
