//! Build script of `dpdk-sys`: finds the system DPDK with pkg-config, runs
//! bindgen over `shim/shim.h` (which includes the DPDK headers we bind) and
//! compiles the C shim with `cc`.
//!
//! `pkg-config --cflags libdpdk` is read verbatim and every token goes to both
//! clang (bindgen) and the C compiler: DPDK's flags contain
//! `-include rte_config.h` and `-march=...`, which the `pkg-config` crate
//! would drop, and without them the headers disagree with the libraries.
//!
//! A machine without DPDK, pkg-config or libclang gets one error naming the
//! packages to install instead of a page of compiler output.

use std::env;
use std::path::PathBuf;
use std::process::{self, Command};

const MIN_DPDK: &str = "22.11";
const INSTALL_HINT: &str = "install the build dependencies with \
    `apt-get install dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev` \
    (or run `scripts/deps.sh` as root)";

fn main() {
    if let Err(msg) = run() {
        eprintln!("\nerror: dpdk-sys: {msg}\n  hint: {INSTALL_HINT}\n");
        process::exit(1);
    }
}

fn run() -> Result<(), String> {
    for f in ["build.rs", "shim/shim.h", "shim/shim.c"] {
        println!("cargo:rerun-if-changed={f}");
    }
    for v in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "LIBCLANG_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={v}");
    }

    let version = pkg_config(&["--modversion"])?;
    if pkg_config(&[&format!("--atleast-version={MIN_DPDK}")]).is_err() {
        return Err(format!(
            "DPDK {} found, but Sluice needs libdpdk >= {MIN_DPDK}",
            version.trim()
        ));
    }
    let cflags = split(&pkg_config(&["--cflags"])?);
    let libs = split(&pkg_config(&["--libs"])?);

    link(&libs);
    compile_shim(&cflags)?;
    generate_bindings(&cflags)
}

/// Runs `pkg-config ARGS libdpdk` and returns its stdout.
fn pkg_config(args: &[&str]) -> Result<String, String> {
    let exe = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned());
    let out = Command::new(&exe)
        .args(args)
        .arg("libdpdk")
        .output()
        .map_err(|e| format!("cannot run `{exe}` ({e}): pkg-config is needed to find DPDK"))?;
    if !out.status.success() {
        return Err(format!(
            "`{exe} {} libdpdk` failed: DPDK development files not found ({})",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("pkg-config printed non-UTF-8: {e}"))
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Turns `pkg-config --libs` into cargo link directives. DPDK is linked
/// dynamically: EAL then loads every PMD (vdevs included) from its plugin
/// directory. `-Wl,...` tokens are not forwarded: `rustc-link-arg` from a
/// library's build script would not reach its dependents, and rustc already
/// links with `--as-needed`.
fn link(libs: &[String]) {
    for tok in libs {
        if let Some(lib) = tok.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if let Some(dir) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
    }
    // libdpdk.pc lists neither; they are needed by rte_vdev_init and
    // rte_eth_from_ring, and cost nothing when unused (--as-needed).
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");
}

fn compile_shim(cflags: &[String]) -> Result<(), String> {
    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim");
    for f in cflags {
        build.flag(f);
    }
    // DPDK's headers trip -Wextra's unused-parameter checks; -Wall stays.
    build.flag_if_supported("-Wno-unused-parameter");
    build
        .try_compile("sluice_shim")
        .map_err(|e| format!("compiling shim/shim.c against DPDK failed: {e}"))
}

fn generate_bindings(cflags: &[String]) -> Result<(), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let target = bindgen::RustTarget::stable(80, 0).map_err(|e| format!("bindgen target: {e}"))?;

    let builder = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(cflags)
        .clang_arg("-Ishim")
        .rust_target(target)
        .use_core()
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        // Only what the safe wrapper uses: the type closure follows from these.
        .allowlist_function("sluice_.*")
        .allowlist_function("rte_eal_(init|cleanup|get_runtime_dir)")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_.*")
        .allowlist_function("rte_mempool_(avail|in_use)_count")
        .allowlist_function("rte_mbuf_.*")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_lcore_.*")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_version")
        .allowlist_var("RTE_MAX_(ETHPORTS|LCORE)")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_ETH_XSTATS_NAME_SIZE")
        .allowlist_var("RTE_ETH_DEV_NO_OWNER")
        .allowlist_var("RTE_ETH_LINK_.*")
        .allowlist_var("RTE_ETH_SPEED_NUM_.*")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MBUF_DEFAULT_(BUF_SIZE|DATAROOM)")
        .allowlist_var("RTE_MEMPOOL_CACHE_MAX_SIZE")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("LCORE_ID_ANY")
        // Thread-locals cannot be bound (rte_errno, rte_lcore_id go through the shim).
        .blocklist_item("per_lcore_.*")
        // Packed struct with an aligned member: rustc rejects it (E0588).
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        // Enum values become plain constants named as in C (RTE_ETH_MQ_RX_RSS).
        .prepend_enum_name(false)
        .derive_default(true)
        .generate_comments(false)
        .layout_tests(true);

    // bindgen panics when libclang cannot be loaded: turn that into our error.
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let generated =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || builder.generate()));
    std::panic::set_hook(prev_hook);

    let bindings = match generated {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return Err(format!("bindgen failed on the DPDK headers: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            return Err(format!(
                "bindgen could not run (is libclang installed?): {what}"
            ));
        }
    };
    bindings
        .write_to_file(out.join("bindings.rs"))
        .map_err(|e| format!("writing bindings.rs: {e}"))
}
