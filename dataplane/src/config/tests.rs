use super::*;

const CORES: &[usize] = &[0, 1];

fn err(text: &str) -> ConfigError {
    match Config::parse("t.toml", text, CORES) {
        Ok(_) => panic!("config accepted:\n{text}"),
        Err(e) => e,
    }
}

const GOOD: &str = r#"
[workers]
cores = [1]

[[port]]
name = "a"
device = "net_null0"
rx_queues = 2

[[port]]
name = "b"
device = "net_ring0"

[[forward]]
in = "a"
out = "b"
"#;

#[test]
fn demo_config_is_valid() {
    let c = Config::parse(DEMO_CONFIG_NAME, DEMO_CONFIG, CORES).unwrap();
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.forward, vec![Some(1), Some(0)]);
    assert_eq!(c.admin.core, 0);
    assert!(!c.admin.shares_worker_core);
}

#[test]
fn good_config_resolves_everything() {
    let c = Config::parse("t.toml", GOOD, CORES).unwrap();
    assert_eq!(c.workers, vec![1]);
    assert_eq!(c.forward, vec![Some(1), None]);
    assert_eq!(c.admin.listen.to_string(), "127.0.0.1:9091");
    assert_eq!(c.tx_queues(), 1);
    let a = c.queue_assignment();
    assert_eq!(a[0].len(), 3);
    let args = c.eal_args();
    assert!(args.contains(&"--vdev=net_null0".to_string()));
    assert!(args.contains(&"--no-huge".to_string()));
    assert!(args.contains(&"--no-pci".to_string()));
    assert!(c.summary().contains("worker 0 on core 1: rx a/0, a/1, b/0"));
}

#[test]
fn queues_are_dealt_round_robin() {
    let text = GOOD.replace("cores = [1]", "cores = [0, 1]");
    let c = Config::parse("t.toml", &text, CORES).unwrap();
    let a = c.queue_assignment();
    assert_eq!(
        a[0],
        vec![
            QueueRef { port: 0, queue: 0 },
            QueueRef { port: 1, queue: 0 }
        ]
    );
    assert_eq!(a[1], vec![QueueRef { port: 0, queue: 1 }]);
    assert_eq!(c.tx_queues(), 2);
    assert!(c.admin.shares_worker_core);
}

#[test]
fn unknown_key_is_located() {
    let e = err(&GOOD.replace("rx_queues = 2", "rx_queues = 2\nrx_queus = 3"));
    assert_eq!((e.line, e.col), (9, 1), "{e}");
    assert!(e.message.contains("rx_queus"), "{e}");
    assert!(e.to_string().starts_with("t.toml:9:1: "), "{e}");
}

#[test]
fn bad_device_points_at_the_character() {
    let e = err(&GOOD.replace("\"net_ring0\"", "\"net_ring0,size\""));
    assert_eq!((e.line, e.col), (12, 21), "{e}");
    assert!(e.message.contains("no '='"), "{e}");
    let e = err(&GOOD.replace("\"net_ring0\"", "\"eth0\""));
    assert!(e.message.contains("unknown device"), "{e}");
}

#[test]
fn missing_core_is_located() {
    let e = err(&GOOD.replace("cores = [1]", "cores = [1, 7]"));
    assert_eq!((e.line, e.col), (3, 13), "{e}");
    assert!(e.message.contains("core 7 does not exist"), "{e}");
    let e = err(&GOOD.replace("cores = [1]", "cores = [1, 1]"));
    assert!(e.message.contains("given twice"), "{e}");
    let e = err(&GOOD.replace("cores = [1]", "cores = []"));
    assert!(e.message.contains("empty"), "{e}");
}

#[test]
fn duplicate_names_and_devices() {
    let e = err(&GOOD.replace("name = \"b\"", "name = \"a\""));
    assert_eq!(e.line, 11, "{e}");
    assert!(e.message.contains("duplicate port name \"a\""), "{e}");
    let e = err(&GOOD.replace("net_ring0", "net_null0"));
    assert!(e.message.contains("already used"), "{e}");
}

#[test]
fn unknown_forward_port() {
    let e = err(&GOOD.replace("out = \"b\"", "out = \"c\""));
    assert_eq!((e.line, e.col), (16, 7), "{e}");
    assert!(
        e.message
            .contains("unknown port \"c\"; configured ports: a, b"),
        "{e}"
    );
}

#[test]
fn syntax_error_is_located() {
    let e = err("[workers]\ncores = [1 2]\n[[port]]\n");
    assert_eq!((e.line, e.col), (2, 12), "{e}");
    assert!(!e.message.contains('\n'), "{e}");
    let e = err("[workers]\ncores = \"1\"\n");
    assert!(e.message.contains("invalid type"), "{e}");
}

#[test]
fn ranges_are_checked() {
    for (from, to, what) in [
        ("rx_queues = 2", "rx_queues = 0", "rx_queues"),
        (
            "rx_queues = 2",
            "rx_queues = 2\nrx_desc = 100",
            "power of two",
        ),
        ("rx_queues = 2", "rx_queues = 2\nmtu = 9000", "data_room"),
        (
            "[workers]",
            "[mempool]\nmbufs = 100\n[workers]",
            "too small",
        ),
        (
            "[workers]",
            "[admin]\nlisten = \"localhost\"\n[workers]",
            "IP:PORT",
        ),
    ] {
        let e = err(&GOOD.replace(from, to));
        assert!(e.message.contains(what), "{what}: {e}");
    }
}

#[test]
fn vhost_queue_limit() {
    let text = GOOD.replace("net_null0", "net_vhost0,iface=/tmp/x.sock");
    let e = err(&text);
    assert!(e.message.contains("at most 1 queue"), "{e}");
    let ok = GOOD.replace("net_null0", "net_vhost0,iface=/tmp/x.sock,queues=2");
    Config::parse("t.toml", &ok, CORES).unwrap();
}

#[test]
fn no_ports() {
    let e = err("[workers]\ncores = [1]\n");
    assert!(e.message.contains("no [[port]]"), "{e}");
}

#[test]
fn example_configs_are_valid() {
    let cores: Vec<usize> = (0..8).collect();
    for (name, text) in [
        (
            "production.toml",
            include_str!("../../../config/production.toml"),
        ),
        ("pcap.toml", include_str!("../../../config/pcap.toml")),
    ] {
        let c = Config::parse(name, text, &cores).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.ports.is_empty(), "{name}");
    }
    let prod = Config::parse("p", include_str!("../../../config/production.toml"), &cores).unwrap();
    assert!(prod.eal.hugepages);
    assert!(prod
        .eal_args()
        .contains(&"--allow=0000:3b:02.0".to_string()));
    assert!(!prod.eal_args().contains(&"--no-huge".to_string()));
}
