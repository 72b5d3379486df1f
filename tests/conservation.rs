//! Conservation under load through net_null: every packet received is sent
//! or counted as dropped, after millions of packets, with 1 and 2 workers;
//! and at exit every mbuf is back in the mempool.
mod common;

use common::{preamble, require_root, sample, scratch, sum, Sluice};

fn run(workers: &[usize], rx_queues: u16, prefix: &str) {
    let dir = scratch(prefix);
    // Port "c" has no route: everything it receives is a counted no_route drop.
    let config = format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_null0,size=64\"\nrx_queues = {rx_queues}\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_null1,size=64,no-rx=1\"\n\n\
         [[port]]\nname = \"c\"\ndevice = \"net_null2,size=128\"\n\n\
         [[forward]]\nin = \"a\"\nout = \"b\"\n",
        preamble(prefix, workers)
    );
    let sluice = Sluice::start(&dir, prefix, &config);
    let m = sluice.wait_metrics("5M packets", 60, |m| {
        sample(m, "sluice_port_rx_packets_total", &[("port", "a")]).unwrap_or(0.0) > 5e6
    });
    // While running, every worker has polled.
    for w in 0..workers.len() {
        let w = w.to_string();
        assert!(
            sum(&m, "sluice_worker_polls_total", &[("worker", &w)]) > 0.0,
            "worker {w} idle:\n{m}"
        );
    }
    let fin = sluice.stop();
    fin.assert_clean();
    let a = fin.port_row("a");
    let b = fin.port_row("b");
    let c = fin.port_row("c");
    let (rx_a, tx_b, tx_dropped_b) = (a[0], b[2], b[4]);
    let no_route = fin.drop_count("no_route");
    let malformed = fin.drop_count("malformed");
    let tx_full = fin.drop_count("tx_full");
    assert!(rx_a > 5_000_000, "{}", fin.stdout);
    assert_eq!(tx_full, tx_dropped_b, "{}", fin.stdout);
    assert_eq!(malformed, 0, "{}", fin.stdout);
    // a -> b: in = out + counted drops.
    assert_eq!(rx_a, tx_b + tx_dropped_b, "{}", fin.stdout);
    // c: all of it no_route.
    assert!(c[0] > 0, "{}", fin.stdout);
    assert_eq!(c[0], no_route, "{}", fin.stdout);
    assert_eq!(a[1], rx_a * 64, "{}", fin.stdout);
    assert_eq!(b[3], tx_b * 64, "{}", fin.stdout);
}

#[test]
fn one_worker() {
    if require_root() {
        run(&[1], 1, "sluice-t-cons1");
    }
}

#[test]
fn two_workers() {
    if require_root() {
        run(&[0, 1], 2, "sluice-t-cons2");
    }
}
