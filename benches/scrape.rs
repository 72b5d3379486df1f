//! Cost of one `/metrics` scrape's Sluice-side work with 10,000 tenants
//! and 10,000 OpenFlow meters (the bound: well under 100 ms; the
//! workers never wait on it: they only store counters).
//!
//! * `samples/tenants`: summing 10,000 tenants' per-worker counters (two
//!   workers' handles registered) into `/metrics` samples.
//! * `samples/meters`: the same for 10,000 one-band meters.
//! * `render/{prometheus,openmetrics}`: writing the text of a snapshot with
//!   those samples, 64 ports and 16 workers.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use sluice::admin::metrics::{render, Format, MetricsSnapshot, PortSample, WorkerSample};
use sluice::config::{TenantConfig, TenantMatch};
use sluice::meter::{TenantLimits, TickScale};
use sluice::openflow::parse_meter;
use sluice::tenant::{MeterTable, TenantTable};
use std::time::Duration;

const N: usize = 10_000;

fn tenants() -> TenantTable {
    let limits = TenantLimits {
        rate: Some(1_000_000_000),
        ..TenantLimits::default()
    };
    let configs: Vec<TenantConfig> = (0..N)
        .map(|i| TenantConfig {
            name: format!("tenant-{i}"),
            selector: TenantMatch::Metadata {
                value: i as u64,
                mask: 0xffff,
            },
            limits,
            policer: limits.spec().expect("spec"),
        })
        .collect();
    TenantTable::new(configs, 1, TickScale::new(2_500_000_000).unwrap(), 0).unwrap()
}

fn bench(c: &mut Criterion) {
    let t = tenants();
    let _workers = (t.worker(), t.worker());
    let entries: Vec<_> = (1..=N)
        .map(|i| parse_meter(&format!("meter={i},kbps,bands=type=drop,rate=10000")).unwrap())
        .collect();
    let m = MeterTable::new(&entries, TickScale::new(2_500_000_000).unwrap(), 0).unwrap();
    let _hooks = (m.hook(), m.hook());
    let mut g = c.benchmark_group("samples");
    g.bench_function("tenants", |b| b.iter(|| black_box(t.samples())));
    g.bench_function("meters", |b| b.iter(|| black_box(m.samples())));
    g.finish();

    let snap = MetricsSnapshot {
        ports: (0..64)
            .map(|i| PortSample {
                name: format!("vf{i}"),
                rx_packets: 1 << 40,
                ..Default::default()
            })
            .collect(),
        workers: (0..16)
            .map(|w| WorkerSample {
                id: w,
                core: w + 1,
                rx_queues: vec![(format!("vf{w}"), 0)],
                rx_burst_sizes: vec![1000; 33],
                ..Default::default()
            })
            .collect(),
        tenants: t.samples(),
        meters: m.samples(),
        ..Default::default()
    };
    let mut g = c.benchmark_group("render");
    g.bench_function("prometheus", |b| {
        b.iter(|| black_box(render(&snap, Format::Prometheus)))
    });
    g.bench_function("openmetrics", |b| {
        b.iter(|| black_box(render(&snap, Format::OpenMetrics)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
