//! The test process's one EAL, for every unit test in the crate that needs
//! DPDK (EAL starts once per process, so modules must share it).
//!
//! In memory (`--no-huge -m 512 --no-shconf`), no PCI, no telemetry, with
//! the vdevs of this module's tests declared up front. Tests elsewhere make
//! their own ports at run time with [`Port::attach`](super::Port::attach)
//! (a unique name each, e.g. `net_ring_worker0`) and their own mempools.
//! EAL is never cleaned up: it could not start again in the process.

use std::sync::OnceLock;

use super::Eal;

/// Vdevs declared at init, one per test of `dpdk::tests` that needs a port.
const VDEVS: &[&str] = &[
    "net_null0,size=100",
    "net_null1",
    "net_null2",
    "net_null3",
    "net_null4",
    "net_ring0",
    "net_ring1",
    "net_ring2",
];

/// Starts EAL on first use; panics with the reason if it cannot (these
/// tests need root and DPDK).
/// The `Eal` token itself is forgotten (it stays on the thread that made
/// it, and dropping it does nothing anyway).
pub(crate) fn eal() {
    static EAL: OnceLock<Result<(), String>> = OnceLock::new();
    let r = EAL.get_or_init(|| {
        let mut args: Vec<String> = [
            "--no-huge",
            "-m",
            "512",
            "--no-pci",
            "--no-shconf",
            "--no-telemetry",
            "--log-level=*:warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--file-prefix=sluice-unit-{}", std::process::id()));
        args.extend(VDEVS.iter().map(|v| format!("--vdev={v}")));
        let r = Eal::init(&args)
            .map(std::mem::forget)
            .map_err(|e| e.to_string());
        // With --no-shconf and --no-telemetry nothing in the runtime
        // directory is used after init; remove it now (tests have no
        // teardown hook).
        if let Some(dir) = Eal::runtime_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
        r
    });
    if let Err(e) = r {
        panic!("EAL init failed (these tests need root and DPDK): {e}");
    }
}
