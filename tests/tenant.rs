//! A tenant's rate limit through the real binary on DPDK vdevs: net_null
//! offers far more than the tenant's rate (tens of Gbit/s), and the rate
//! forwarded, measured with counters over a measured interval, is the
//! configured rate within ±2%.
mod common;

use common::{preamble, require_root, sample, scratch, Finished, Sluice};
use std::time::{Duration, Instant};

/// The forwarded rate is the limit within ±2%.
fn assert_at_limit(forwarded_bps: f64, limit_bps: f64) {
    let err = (forwarded_bps - limit_bps) / limit_bps;
    assert!(
        err.abs() < 0.02,
        "forwarded {forwarded_bps} bit/s vs limit {limit_bps}: {:.2}%",
        err * 100.0
    );
}

fn forwarded_rate(workers: &[usize], rx_queues: u16, prefix: &str) {
    let dir = scratch(prefix);
    let rate_bps = 200e6;
    let config = format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_null0,size=64\"\nrx_queues = {rx_queues}\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_null1,size=64,no-rx=1\"\n\n\
         [[forward]]\nin = \"a\"\nout = \"b\"\n\n\
         [[tenant]]\nname = \"acme\"\nmatch = {{ ports = [\"a\"] }}\nrate = \"200Mbit\"\nburst = \"256KiB\"\n\
         color = \"police\"\nexceed = \"drop\"\n",
        preamble(prefix, workers)
    );
    let sluice = Sluice::start(&dir, prefix, &config);
    let tx = |m: &str| sample(m, "sluice_port_tx_bytes_total", &[("port", "b")]).unwrap_or(0.0);
    // Past the initial burst.
    sluice.wait_metrics("traffic", 30, |m| tx(m) > 1e6);
    std::thread::sleep(Duration::from_millis(500));
    let (t0, b0) = (Instant::now(), tx(&sluice.metrics()));
    std::thread::sleep(Duration::from_secs(3));
    let m = sluice.metrics();
    let (elapsed, b1) = (t0.elapsed().as_secs_f64(), tx(&m));
    let got_bps = (b1 - b0) * 8.0 / elapsed;
    let offered = sample(&m, "sluice_port_rx_bytes_total", &[("port", "a")]).unwrap() * 8.0
        / sample(&m, "sluice_uptime_seconds", &[]).unwrap();
    eprintln!(
        "offered ~{:.0} Mbit/s, forwarded {:.2} Mbit/s (limit 200)",
        offered / 1e6,
        got_bps / 1e6
    );
    assert!(
        offered > 3.0 * rate_bps,
        "generator too slow to test the limit: {offered}"
    );
    assert_at_limit(got_bps, rate_bps);
    let policed = sample(&m, "sluice_drops_total", &[("reason", "policed")]).unwrap();
    assert!(policed > 0.0, "{m}");
    // Per-tenant metrics agree with the port counters.
    let t = |v: &str| {
        sample(
            &m,
            "sluice_tenant_packets_total",
            &[("tenant", "acme"), ("verdict", v)],
        )
        .unwrap_or_else(|| panic!("no tenant series:\n{m}"))
    };
    let tx_packets = sample(&m, "sluice_port_tx_packets_total", &[("port", "b")]).unwrap();
    assert!((t("passed") - tx_packets).abs() <= 0.01 * tx_packets, "{m}");
    assert!((t("dropped") - policed).abs() <= 0.01 * policed, "{m}");
    assert_eq!(
        sample(
            &m,
            "sluice_tenant_rate_bytes_per_second",
            &[("tenant", "acme"), ("bucket", "committed")]
        ),
        Some(rate_bps / 8.0),
        "{m}"
    );
    let fin = sluice.stop();
    assert_conserved(&fin);
}

#[test]
fn one_worker_holds_the_rate() {
    if require_root() {
        forwarded_rate(&[1], 1, "sluice-t-ten1");
    }
}

#[test]
fn two_workers_hold_the_aggregate_rate() {
    if require_root() {
        forwarded_rate(&[0, 1], 2, "sluice-t-ten2");
    }
}

/// The generator at 3x the tenant's rate: the offered rate of the
/// null device is measured first (the tenant's limit far above it), then
/// a hitless reload sets the limit to a third of it, and the forwarded
/// rate is the new limit within ±2% while ~3x is offered.
#[test]
fn three_times_the_rate_is_cut_to_the_rate() {
    if !require_root() {
        return;
    }
    let prefix = "sluice-t-ten3x";
    let dir = scratch(prefix);
    let config = |rate: &str| {
        format!(
            "{}[[port]]\nname = \"a\"\ndevice = \"net_null0,size=64\"\n\n\
             [[port]]\nname = \"b\"\ndevice = \"net_null1,size=64,no-rx=1\"\n\n\
             [[forward]]\nin = \"a\"\nout = \"b\"\n\n\
             [[tenant]]\nname = \"acme\"\nmatch = {{ ports = [\"a\"] }}\nrate = \"{rate}\"\n\
             color = \"police\"\nexceed = \"drop\"\n",
            preamble(prefix, &[1]).replace("[admin]\n", "[admin]\nwatch = false\n")
        )
    };
    let sluice = Sluice::start(&dir, prefix, &config("400Gbit"));
    let bytes = |m: &str, port: &str, dir: &str| {
        sample(
            m,
            &format!("sluice_port_{dir}_bytes_total"),
            &[("port", port)],
        )
        .unwrap_or(0.0)
    };
    sluice.wait_metrics("traffic", 30, |m| bytes(m, "b", "tx") > 1e6);
    let window = |secs: f64| {
        let m0 = sluice.metrics();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(secs));
        let m1 = sluice.metrics();
        let dt = t0.elapsed().as_secs_f64();
        (
            (bytes(&m1, "a", "rx") - bytes(&m0, "a", "rx")) * 8.0 / dt,
            (bytes(&m1, "b", "tx") - bytes(&m0, "b", "tx")) * 8.0 / dt,
        )
    };
    let (offered, _) = window(1.0);
    let limit_kbit = (offered / 3.0 / 1e3).round();
    std::fs::write(
        dir.join("sluice.toml"),
        config(&format!("{limit_kbit}kbit")),
    )
    .unwrap();
    let (code, body) = sluice.reload();
    assert_eq!(code, 200, "{body}");
    // Past the burst of the new limit.
    std::thread::sleep(Duration::from_millis(500));
    let (offered_now, forwarded) = window(3.0);
    let limit = limit_kbit * 1e3;
    eprintln!(
        "offered {:.0} Mbit/s (at the start {:.0}), limit {:.0} Mbit/s, forwarded {:.2} Mbit/s",
        offered_now / 1e6,
        offered / 1e6,
        limit / 1e6,
        forwarded / 1e6
    );
    assert!(
        offered_now > 1.5 * limit,
        "the generator slowed down too much to test the limit: {offered_now} bit/s"
    );
    assert_at_limit(forwarded, limit);
    let fin = sluice.stop();
    assert_conserved(&fin);
}

/// A clean exit, and conservation: everything received on `a` was sent on
/// `b` (tx column), dropped there (tx_dropped) or policed.
fn assert_conserved(fin: &Finished) {
    fin.assert_clean();
    let (a, b) = (fin.port_row("a"), fin.port_row("b"));
    assert_eq!(
        a[0],
        b[2] + b[4] + fin.drop_count("policed"),
        "{}",
        fin.stdout
    );
}
