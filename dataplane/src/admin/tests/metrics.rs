//! Tests of the Prometheus / OpenMetrics rendering.

use super::*;
use std::collections::HashSet;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

fn port(name: &str, base: u64, up: bool) -> PortSample {
    PortSample {
        name: name.to_string(),
        rx_packets: base + 1,
        rx_bytes: base + 2,
        tx_packets: base + 3,
        tx_bytes: base + 4,
        rx_errors: base + 5,
        tx_errors: base + 6,
        rx_missed: base + 7,
        rx_nombuf: base + 8,
        tx_dropped: base + 9,
        link_up: up,
        link_speed_mbps: if up { 10_000 } else { 0 },
    }
}

fn two_by_two() -> MetricsSnapshot {
    MetricsSnapshot {
        build: BuildInfo {
            version: "0.1.0".into(),
            git_commit: "abc123".into(),
            dpdk_version: "DPDK 22.11.4".into(),
        },
        start_time_seconds: 1_700_000_000.5,
        uptime_seconds: 12.25,
        tsc_hz: 2_000_000_000,
        ports: vec![port("wan", 100, true), port("lan0", 200, false)],
        workers: vec![
            WorkerSample {
                id: 0,
                core: 2,
                busy_polls: 10,
                idle_polls: 90,
                busy_cycles: 3_000_000_000,
                idle_cycles: 1_000_000_000,
                rx_packets: 320,
                tx_packets: 310,
                rx_queues: vec![("wan".into(), 0), ("lan0".into(), 1)],
                rx_burst_sizes: vec![90, 1, 2, 0, 3],
                flow_cache: [5, 4, 3, 2],
                flow_cache_paths: 3,
                flow_cache_slots: 8192,
            },
            WorkerSample {
                id: 1,
                core: 3,
                busy_polls: 5,
                idle_polls: 95,
                busy_cycles: 500_000_000,
                idle_cycles: 3_500_000_000,
                rx_packets: 160,
                tx_packets: 150,
                rx_queues: vec![("wan".into(), 1)],
                rx_burst_sizes: Vec::new(),
                flow_cache: [0; 4],
                flow_cache_paths: 0,
                flow_cache_slots: 0,
            },
        ],
        drops: vec![
            DropSample {
                worker: 0,
                reason: "no_route",
                packets: 7,
            },
            DropSample {
                worker: 1,
                reason: "no_route",
                packets: 3,
            },
            DropSample {
                worker: 1,
                reason: "malformed",
                packets: 2,
            },
            DropSample {
                worker: 1,
                reason: "malformed",
                packets: 1,
            },
        ],
        ..MetricsSnapshot::default()
    }
}

/// Everything a later issue adds, with `tenants` tenants.
fn full(tenants: usize) -> MetricsSnapshot {
    let mut s = two_by_two();
    s.config = Some(ConfigSample {
        generation: 42,
        hash: "sha256:0f1e".into(),
        reload_successes: 41,
        reload_failures: 2,
        last_reload_success: false,
        last_success_time_seconds: 1_700_000_100.0,
        compile_seconds: 0.003_5,
    });
    s.tables = (0..4)
        .map(|t| TableSample {
            table_id: t,
            lookups: 1000 * u64::from(t),
            matches: 900 * u64::from(t),
            flows: 10 + u64::from(t),
        })
        .collect();
    s.tenants = (0..tenants)
        .map(|i| {
            let i = i as u64;
            TenantSample {
                name: format!("tenant-{i:05}"),
                passed: Traffic {
                    packets: i * 1000,
                    bytes: i * 1_500_000,
                },
                remarked: Traffic {
                    packets: i * 10,
                    bytes: i * 15_000,
                },
                dropped: Traffic {
                    packets: i,
                    bytes: i * 1500,
                },
                committed_rate_bytes_per_second: 12_500_000,
                committed_burst_bytes: 1_500_000,
                peak_rate_bytes_per_second: if i % 2 == 0 { 25_000_000 } else { 0 },
                peak_burst_bytes: if i % 2 == 0 { 3_000_000 } else { 0 },
            }
        })
        .collect();
    s.meters = (1..=3)
        .map(|m| MeterSample {
            meter_id: m,
            input: Traffic {
                packets: 100 * u64::from(m),
                bytes: 150_000 * u64::from(m),
            },
            bands: vec![
                MeterBandSample {
                    kind: "dscp_remark",
                    traffic: Traffic {
                        packets: 5,
                        bytes: 7500,
                    },
                },
                MeterBandSample {
                    kind: "drop",
                    traffic: Traffic {
                        packets: 1,
                        bytes: 1500,
                    },
                },
            ],
        })
        .collect();
    s
}

/// Checks the grammar both formats share and the rules that bind HELP,
/// TYPE and samples together: every family declared once with HELP then
/// TYPE, its samples contiguous right after, sample names matching the
/// type, no duplicate series, and (OpenMetrics) `# EOF` last.
fn check_structure(text: &str, format: Format) {
    let om = format == Format::OpenMetrics;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert!(text.ends_with('\n'));
    if om {
        assert_eq!(lines.pop(), Some("# EOF\n"));
    }
    let mut families = HashSet::new();
    let mut series = HashSet::new();
    let mut current: Option<(String, String)> = None;
    let mut pending_help: Option<String> = None;
    for line in lines {
        let line = line.strip_suffix('\n').unwrap();
        assert!(!line.is_empty() && !line.contains('\r'), "{line:?}");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(
                families.insert(name.to_string()),
                "family {name} declared twice"
            );
            pending_help = Some(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(
                pending_help.take().as_deref(),
                Some(name),
                "TYPE without HELP: {line}"
            );
            let kinds: &[&str] = if om {
                &["counter", "gauge", "info", "histogram"]
            } else {
                &["counter", "gauge", "histogram"]
            };
            assert!(kinds.contains(&kind), "{line}");
            current = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        let (family, kind) = current.as_ref().expect("sample before any TYPE");
        let (name_labels, value) = line.rsplit_once(' ').unwrap();
        let name = name_labels.split('{').next().unwrap();
        let expected: Vec<String> = match (kind.as_str(), om) {
            ("counter", true) => vec![format!("{family}_total")],
            ("info", true) => vec![format!("{family}_info")],
            ("histogram", _) => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{family}{s}"))
                .collect(),
            _ => vec![family.clone()],
        };
        assert!(
            expected.iter().any(|e| e == name),
            "sample {name} in family {family} ({kind})"
        );
        if kind == "counter" && !om {
            assert!(name.ends_with("_total"), "{name}");
        }
        assert!(
            ["NaN", "+Inf", "-Inf"].contains(&value) || value.parse::<f64>().is_ok(),
            "bad value in {line}"
        );
        assert!(
            series.insert(name_labels.to_string()),
            "duplicate series {name_labels}"
        );
        if let Some(labels) = name_labels.strip_prefix(name) {
            if !labels.is_empty() {
                check_labels(labels);
            }
        }
    }
}

/// `{a="x",b="y"}` with valid names and escapes only.
fn check_labels(labels: &str) {
    let inner = labels
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap();
    let mut chars = inner.chars().peekable();
    let mut names = HashSet::new();
    loop {
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_'))
                .collect();
        assert!(
            !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
            "{labels}"
        );
        assert!(names.insert(name), "repeated label in {labels}");
        assert_eq!(
            (chars.next(), chars.next()),
            (Some('='), Some('"')),
            "{labels}"
        );
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => assert!(matches!(chars.next(), Some('\\' | '"' | 'n')), "{labels}"),
                Some('\n') | None => panic!("unterminated value in {labels}"),
                Some(_) => {}
            }
        }
        match chars.next() {
            None => break,
            Some(',') => {}
            other => panic!("{other:?} in {labels}"),
        }
    }
}

fn text_series(text: &str) -> usize {
    text.lines().filter(|l| !l.starts_with('#')).count()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn two_ports_two_workers_exact_lines() {
    let text = render(&two_by_two(), Format::Prometheus);
    check_structure(&text, Format::Prometheus);
    let expected = [
        "# HELP sluice_build_info Build information of the running binary.",
        "# TYPE sluice_build_info gauge",
        r#"sluice_build_info{version="0.1.0",git_commit="abc123",dpdk_version="DPDK 22.11.4"} 1"#,
        "sluice_start_time_seconds 1700000000.5",
        "# TYPE sluice_uptime_seconds gauge",
        "sluice_uptime_seconds 12.25",
        "sluice_tsc_frequency_hertz 2000000000",
        "# HELP sluice_port_rx_packets_total Packets received on the port.",
        "# TYPE sluice_port_rx_packets_total counter",
        r#"sluice_port_rx_packets_total{port="wan"} 101"#,
        r#"sluice_port_rx_packets_total{port="lan0"} 201"#,
        r#"sluice_port_rx_bytes_total{port="wan"} 102"#,
        r#"sluice_port_tx_packets_total{port="lan0"} 203"#,
        r#"sluice_port_tx_bytes_total{port="wan"} 104"#,
        r#"sluice_port_rx_errors_total{port="wan"} 105"#,
        r#"sluice_port_tx_errors_total{port="lan0"} 206"#,
        r#"sluice_port_rx_dropped_total{port="wan",reason="missed"} 107"#,
        r#"sluice_port_rx_dropped_total{port="wan",reason="nombuf"} 108"#,
        r#"sluice_port_rx_dropped_total{port="lan0",reason="missed"} 207"#,
        r#"sluice_port_tx_dropped_total{port="lan0"} 209"#,
        "# TYPE sluice_port_link_up gauge",
        r#"sluice_port_link_up{port="wan"} 1"#,
        r#"sluice_port_link_up{port="lan0"} 0"#,
        r#"sluice_port_link_speed_bytes_per_second{port="wan"} 1250000000"#,
        r#"sluice_port_link_speed_bytes_per_second{port="lan0"} 0"#,
        "# TYPE sluice_worker_polls_total counter",
        r#"sluice_worker_polls_total{worker="0",core="2",result="busy"} 10"#,
        r#"sluice_worker_polls_total{worker="1",core="3",result="idle"} 95"#,
        r#"sluice_worker_cycles_total{worker="0",core="2",state="busy"} 3000000000"#,
        r#"sluice_worker_cycles_total{worker="1",core="3",state="idle"} 3500000000"#,
        r#"sluice_worker_seconds_total{worker="0",core="2",state="busy"} 1.5"#,
        r#"sluice_worker_seconds_total{worker="1",core="3",state="busy"} 0.25"#,
        "# TYPE sluice_flow_cache_packets_total counter",
        r#"sluice_flow_cache_packets_total{worker="0",result="fast_hit"} 5"#,
        r#"sluice_flow_cache_packets_total{worker="0",result="bypassed"} 2"#,
        r#"sluice_flow_cache_packets_total{worker="1",result="miss"} 0"#,
        "# TYPE sluice_flow_cache_paths gauge",
        r#"sluice_flow_cache_paths{worker="0"} 3"#,
        r#"sluice_flow_cache_slots{worker="0"} 8192"#,
        r#"sluice_flow_cache_slots{worker="1"} 0"#,
        r#"sluice_worker_packets_total{worker="0",direction="rx"} 320"#,
        r#"sluice_worker_packets_total{worker="1",direction="tx"} 150"#,
        "# TYPE sluice_worker_rx_queue_info gauge",
        r#"sluice_worker_rx_queue_info{worker="0",core="2",port="wan",queue="0"} 1"#,
        r#"sluice_worker_rx_queue_info{worker="0",core="2",port="lan0",queue="1"} 1"#,
        r#"sluice_worker_rx_queue_info{worker="1",core="3",port="wan",queue="1"} 1"#,
        "# TYPE sluice_worker_rx_burst_packets histogram",
        r#"sluice_worker_rx_burst_packets_bucket{worker="0",core="2",le="1"} 1"#,
        r#"sluice_worker_rx_burst_packets_bucket{worker="0",core="2",le="2"} 3"#,
        r#"sluice_worker_rx_burst_packets_bucket{worker="0",core="2",le="4"} 6"#,
        r#"sluice_worker_rx_burst_packets_bucket{worker="0",core="2",le="+Inf"} 6"#,
        r#"sluice_worker_rx_burst_packets_sum{worker="0",core="2"} 17"#,
        r#"sluice_worker_rx_burst_packets_count{worker="0",core="2"} 6"#,
        "# TYPE sluice_drops_total counter",
        r#"sluice_drops_total{reason="malformed"} 3"#,
        r#"sluice_drops_total{reason="no_route"} 10"#,
        r#"sluice_worker_drops_total{worker="0",reason="no_route"} 7"#,
        r#"sluice_worker_drops_total{worker="1",reason="malformed"} 3"#,
        r#"sluice_worker_drops_total{worker="1",reason="no_route"} 3"#,
    ];
    for line in expected {
        assert!(has_line(&text, line), "missing line {line:?} in:\n{text}");
    }
    // Worker 1 has no burst histogram; families without samples vanish.
    assert!(!text.contains(r#"sluice_worker_rx_burst_packets_count{worker="1""#));
    for absent in [
        "sluice_config",
        "sluice_tenant",
        "sluice_meter",
        "sluice_pipeline",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("sluice_drops_total"))
            .count(),
        2
    );
    assert_eq!(text.lines().filter(|l| l.starts_with("# TYPE")).count(), 25);
    // Deterministic.
    assert_eq!(text, render(&two_by_two(), Format::Prometheus));
}

#[test]
fn openmetrics_variant() {
    let text = render(&full(3), Format::OpenMetrics);
    check_structure(&text, Format::OpenMetrics);
    for line in [
        "# TYPE sluice_build info",
        r#"sluice_build_info{version="0.1.0",git_commit="abc123",dpdk_version="DPDK 22.11.4"} 1"#,
        "# HELP sluice_port_rx_packets Packets received on the port.",
        "# TYPE sluice_port_rx_packets counter",
        r#"sluice_port_rx_packets_total{port="wan"} 101"#,
        "# TYPE sluice_worker_rx_queue info",
        "# TYPE sluice_config_reloads counter",
        r#"sluice_config_reloads_total{result="failure"} 2"#,
        r#"sluice_config_info{hash="sha256:0f1e"} 1"#,
        "sluice_config_last_reload_success 0",
        "sluice_pipeline_compile_seconds 0.0035",
        r#"sluice_tenant_packets_total{tenant="tenant-00002",verdict="remarked"} 20"#,
        r#"sluice_tenant_rate_bytes_per_second{tenant="tenant-00000",bucket="peak"} 25000000"#,
        r#"sluice_meter_band_bytes_total{meter_id="3",band="1",type="drop"} 1500"#,
        r#"sluice_pipeline_table_flows{table="3"} 13"#,
    ] {
        assert!(has_line(&text, line), "missing line {line:?} in:\n{text}");
    }
    // Single-rate tenants show no peak.
    assert!(!text.contains(r#"tenant="tenant-00001",bucket="peak""#));
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut s = MetricsSnapshot::default();
    s.ports.push(port("a\"b\\c\nd", 0, true));
    s.build.version = "1.0 \"quoted\" \\ \u{e9}".into();
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let text = render(&s, format);
        check_structure(&text, format);
        assert!(
            has_line(&text, r#"sluice_port_link_up{port="a\"b\\c\nd"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"version="1.0 \"quoted\" \\ é""#), "{text}");
    }
    let help = "Back\\slash\nnew \"line\".";
    let mut e = Exposition::new(Format::Prometheus);
    e.family("x_a", Kind::Gauge, help).sample(&[], 1u64);
    assert!(e
        .finish()
        .starts_with("# HELP x_a Back\\\\slash\\nnew \"line\".\n"));
    let mut e = Exposition::new(Format::OpenMetrics);
    e.family("x_a", Kind::Gauge, help).sample(&[], 1u64);
    assert!(e
        .finish()
        .starts_with("# HELP x_a Back\\\\slash\\nnew \\\"line\\\".\n"));
}

#[test]
fn values_are_formatted_for_both_parsers() {
    let cases: [(Value, &str); 12] = [
        (Value::Int(0), "0"),
        (Value::Int(u64::MAX), "18446744073709551615"),
        (Value::Float(3.0), "3"),
        (Value::Float(-0.0), "0"),
        (Value::Float(-2.0), "-2"),
        (Value::Float(0.1), "0.1"),
        (Value::Float(1.5e-7), "1.5e-7"),
        (Value::Float(2.5e20), "2.5e20"),
        (Value::Float(1e15), "1e15"),
        (Value::Float(f64::NAN), "NaN"),
        (Value::Float(f64::INFINITY), "+Inf"),
        (Value::Float(f64::NEG_INFINITY), "-Inf"),
    ];
    for (v, want) in cases {
        let mut out = String::new();
        push_value(&mut out, v);
        assert_eq!(out, want, "{v:?}");
        if let Value::Float(f) = v {
            if f.is_finite() {
                assert_eq!(out.parse::<f64>().unwrap(), f, "round trip of {out}");
            }
        }
    }
}

#[test]
fn burst_histogram_buckets() {
    let mut b = Vec::new();
    assert!(!burst_buckets(&[], &mut b));
    assert!(!burst_buckets(&[9], &mut b));
    assert!(burst_buckets(&[9, 4], &mut b));
    assert_eq!(b, vec![(1.0, 4)]);
    let mut sizes = vec![0u64; 33];
    sizes[1] = 1;
    sizes[3] = 2;
    sizes[32] = 5;
    assert!(burst_buckets(&sizes, &mut b));
    assert_eq!(
        b,
        vec![(1.0, 1), (2.0, 1), (4.0, 3), (8.0, 3), (16.0, 3), (32.0, 8)]
    );
    assert_eq!(burst_totals(&sizes), (8, 1 + 6 + 160));
}

#[test]
fn accept_negotiation() {
    use Format::*;
    let prometheus_2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let cases: [(Option<&str>, Format); 8] = [
        (None, Prometheus),
        (Some(""), Prometheus),
        (Some("*/*"), Prometheus),
        (Some("text/plain"), Prometheus),
        (Some(prometheus_2), OpenMetrics),
        (
            Some("Application/OpenMetrics-Text; version=1.0.0"),
            OpenMetrics,
        ),
        (Some("application/openmetrics-text;q=0"), Prometheus),
        (
            Some("application/openmetrics-text;q=0.4, text/plain;q=0.9"),
            Prometheus,
        ),
    ];
    for (accept, want) in cases {
        assert_eq!(Format::from_accept(accept), want, "{accept:?}");
    }
    assert_eq!(
        Prometheus.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(OpenMetrics
        .content_type()
        .starts_with("application/openmetrics-text; version=1.0.0"));
}

#[test]
fn scrape_response_follows_accept() {
    let s = two_by_two();
    let r = response(&s, None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some(Format::Prometheus.content_type())
    );
    assert_eq!(r.body, render(&s, Format::Prometheus).into_bytes());
    let r = response(&s, Some("application/openmetrics-text; version=1.0.0"));
    assert_eq!(
        r.header("content-type"),
        Some(Format::OpenMetrics.content_type())
    );
    assert!(r.body.ends_with(b"# EOF\n"));
}

/// Runs `promtool check metrics` on `text`: `Ok(None)` when it passes,
/// `Ok(Some(output))` when it complains, `Err` when promtool is missing.
fn promtool(text: &str) -> Result<Option<String>, String> {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return Err(format!(
                "cannot run promtool ({e}); install the Debian package `prometheus`"
            ))
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_string();
    // Feed stdin from a thread so a large input cannot deadlock the pipes.
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(if out.status.success() && said.trim().is_empty() {
        None
    } else {
        Some(format!("{}: {said}", out.status))
    })
}

#[test]
fn promtool_accepts_the_output() {
    let small = render(&two_by_two(), Format::Prometheus);
    match promtool(&small) {
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => panic!("{why}"),
        Err(why) => {
            eprintln!("skipping promtool check: {why}");
            return;
        }
        Ok(verdict) => assert_eq!(verdict, None, "promtool rejects:\n{small}"),
    }
    // Everything, with 10,000 tenants (about 83,000 series).
    let mut big = full(10_000);
    big.ports[0].name = "odd \"name\" \\ with\nnewline".into();
    let text = render(&big, Format::Prometheus);
    check_structure(&text, Format::Prometheus);
    assert_eq!(promtool(&text).unwrap(), None);
    // promtool really checks: a broken exposition is refused.
    let broken = small.replace(
        "sluice_uptime_seconds 12.25",
        "sluice_uptime_seconds{ 12.25",
    );
    assert!(promtool(&broken).unwrap().is_some());
}

#[test]
fn render_time_for_10k_tenants() {
    // Reports the time; `cargo test --release -- --nocapture render_time`
    // gives the figure that matters. Not asserted: wall-clock is noisy.
    let snapshot = full(10_000);
    let names: Vec<String> = (0..10_000).map(|i| format!("tenant-{i:05}")).collect();
    let mut best = [f64::MAX; 2];
    let mut sizes = [0usize; 2];
    for _ in 0..5 {
        let t = Instant::now();
        let text = render(&snapshot, Format::Prometheus);
        best[0] = best[0].min(t.elapsed().as_secs_f64() * 1e3);
        sizes[0] = text.len();
        // 10,000 series of one tenant family.
        let t = Instant::now();
        let mut e = Exposition::new(Format::Prometheus);
        let mut f = e.family(
            "sluice_tenant_packets",
            Kind::Counter,
            "Packets per tenant.",
        );
        for (i, name) in names.iter().enumerate() {
            f.sample(
                &[
                    ("tenant", name.as_str().into()),
                    ("verdict", "passed".into()),
                ],
                i as u64 * 1000,
            );
        }
        let text = e.finish();
        best[1] = best[1].min(t.elapsed().as_secs_f64() * 1e3);
        sizes[1] = text.len();
    }
    let series = text_series(&render(&snapshot, Format::Prometheus));
    eprintln!(
        "render: full snapshot with 10,000 tenants, {series} series, {} bytes: {:.2} ms; 10,000 tenant series, {} bytes: {:.2} ms",
        sizes[0], best[0], sizes[1], best[1]
    );
    assert!(sizes[0] > 10_000 * 8 * 40);
}
