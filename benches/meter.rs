//! Per-packet cost of the rate-limit engine (`sluice::meter`).
//!
//! One thread, 1 / 100 / 10,000 tenants, a random tenant and a random
//! length (64..=1500) per packet from a pre-generated table, the TSC
//! advanced by 100 ticks (40 ns at 2.5 GHz) per packet.
//!
//! * `local`: the default chunk policy with 400 Gbit/s tenants, so nearly
//!   every packet is paid from the worker's local credit (one shared
//!   access per chunk of several MB).
//! * `shared`: `ChunkPolicy::EXACT`, so every packet refills and takes
//!   from the shared bucket (atomic read-modify-writes, uncontended here).
//! * `overload`: 1 Gbit/s tenants offered ~20 GB/s in total, default
//!   chunks: almost every packet is red, answered from the worker's hold.
//!
//! Each iteration polices 1024 packets; criterion's time per iteration
//! divided by 1024 is ns per packet (its "thrpt" is packets per second).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::meter::{
    units, Algorithm, BandType, ChunkPolicy, MeterBand, MeterSpec, MeterUnit, Mode, OpenFlowMeters,
    PolicerSpec, TenantPolicers, TickScale,
};
use sluice::rng::XorShift64;
use std::time::Duration;

const HZ: u64 = 2_500_000_000;
const BATCH: usize = 1024;
const TABLE: usize = 1 << 16;
const TICKS_PER_PACKET: u64 = 100;
const RATE: u64 = 400_000_000_000;

/// (tenant, length) pairs.
fn traffic(tenants: u32, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = XorShift64::new(seed);
    (0..TABLE)
        .map(|_| {
            let t = rng.below(u64::from(tenants)) as u32;
            (t, 64 + rng.below(1500 - 64 + 1) as u32)
        })
        .collect()
}

fn police_spec() -> PolicerSpec {
    let burst = units::default_burst_bytes(RATE);
    PolicerSpec::new(Algorithm::Police { rate: RATE, burst }, Mode::Bytes)
}

fn trtcm_spec() -> PolicerSpec {
    let burst = units::default_burst_bytes(RATE);
    PolicerSpec::new(
        Algorithm::TrTcm {
            cir: RATE / 2,
            cbs: burst / 2,
            pir: RATE,
            pbs: burst,
        },
        Mode::Bytes,
    )
}

fn bench_policers(
    c: &mut Criterion,
    name: &str,
    spec: PolicerSpec,
    chunk: ChunkPolicy,
    sizes: &[u32],
) {
    let scale = TickScale::new(HZ).expect("scale");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH as u64));
    for &n in sizes {
        let specs = vec![spec; n as usize];
        let table = TenantPolicers::new(scale, chunk, &specs, 0).expect("table");
        let mut worker = table.worker();
        let pkts = traffic(n, u64::from(n));
        let mut i = 0usize;
        let mut now = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let (tenant, len) = pkts[i];
                    i = (i + 1) & (TABLE - 1);
                    now += TICKS_PER_PACKET;
                    black_box(worker.police(tenant, len, now));
                }
            })
        });
    }
    group.finish();
}

fn bench_openflow(c: &mut Criterion) {
    let scale = TickScale::new(HZ).expect("scale");
    let spec = MeterSpec {
        unit: MeterUnit::Kbps,
        burst: false,
        bands: vec![
            MeterBand {
                band_type: BandType::DscpRemark { prec_level: 1 },
                rate: RATE / 2000,
                burst_size: 0,
            },
            MeterBand {
                band_type: BandType::Drop,
                rate: RATE / 1000,
                burst_size: 0,
            },
        ],
    };
    let mut group = c.benchmark_group("openflow_2_bands/local");
    group.throughput(Throughput::Elements(BATCH as u64));
    for n in [1u32, 100, 10_000] {
        let specs = vec![spec.clone(); n as usize];
        let table = OpenFlowMeters::new(scale, ChunkPolicy::DEFAULT, &specs, 0).expect("table");
        let mut worker = table.worker();
        let pkts = traffic(n, u64::from(n) + 1);
        let mut i = 0usize;
        let mut now = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                for _ in 0..BATCH {
                    let (meter, len) = pkts[i];
                    i = (i + 1) & (TABLE - 1);
                    now += TICKS_PER_PACKET;
                    black_box(worker.meter(meter, len, now));
                }
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let sizes = [1, 100, 10_000];
    bench_policers(
        c,
        "police/local",
        police_spec(),
        ChunkPolicy::DEFAULT,
        &sizes,
    );
    bench_policers(
        c,
        "police/shared",
        police_spec(),
        ChunkPolicy::EXACT,
        &sizes,
    );
    bench_policers(c, "trtcm/local", trtcm_spec(), ChunkPolicy::DEFAULT, &sizes);
    bench_policers(c, "trtcm/shared", trtcm_spec(), ChunkPolicy::EXACT, &sizes);
    let slow = PolicerSpec::new(
        Algorithm::Police {
            rate: 1_000_000_000,
            burst: units::default_burst_bytes(1_000_000_000),
        },
        Mode::Bytes,
    );
    bench_policers(c, "police/overload", slow, ChunkPolicy::DEFAULT, &sizes);
    bench_openflow(c);
}

criterion_group! {
    name = meter;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(meter);
