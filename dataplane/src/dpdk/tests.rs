//! Tests against a real EAL (root and DPDK needed), started once per test
//! process by [`testing::eal`](super::testing::eal) with every vdev used
//! here declared up front; each test takes its own port and creates its own
//! mempool, so they run in parallel.

use super::testing::eal;
use super::*;

fn new_pool(name: &str, n: u32) -> Mempool {
    eal();
    Mempool::new(name, n, 32, DEFAULT_DATA_ROOM, SOCKET_ANY).expect("mempool")
}

fn started_port(name: &str, pool: &Mempool, cfg: &PortConfig) -> Port {
    let port = Port::by_name(name).expect("port");
    port.configure(cfg, pool).expect("configure");
    port.start().expect("start");
    port
}

fn small_cfg() -> PortConfig {
    PortConfig {
        rx_desc: 256,
        tx_desc: 256,
        ..PortConfig::default()
    }
}

#[test]
fn second_init_is_an_error() {
    eal();
    assert!(matches!(Eal::init(&[]), Err(DpdkError::AlreadyInitialized)));
    assert_eq!(usize::from(Eal::port_count()), Port::names().len());
    assert!(Eal::port_count() > 0);
    assert!(tsc_hz() > 0);
    let (a, b) = (rdtsc(), rdtsc());
    assert!(b >= a);
}

#[test]
fn bad_port_name_is_a_clear_error() {
    eal();
    let err = Port::by_name("net_nosuch7").unwrap_err();
    assert!(matches!(err, DpdkError::NoSuchPort { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("net_nosuch7") && msg.contains("net_ring0"),
        "{msg}"
    );
    assert!(Port::names().iter().any(|n| n == "net_null0"));
}

#[test]
fn mempool_arguments_are_checked() {
    eal();
    let bad = |r: Result<Mempool, DpdkError>| r.unwrap_err().to_string();
    assert!(bad(Mempool::new("", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ANY)).contains("empty"));
    assert!(bad(Mempool::new("t-zero", 0, 0, DEFAULT_DATA_ROOM, SOCKET_ANY)).contains("n_mbufs"));
    assert!(bad(Mempool::new("t-room", 63, 0, MBUF_HEADROOM, SOCKET_ANY)).contains("headroom"));
    let long = "t-".repeat(30);
    let msg = bad(Mempool::new(&long, 63, 0, DEFAULT_DATA_ROOM, SOCKET_ANY));
    assert!(
        msg.contains("rte_pktmbuf_pool_create") && msg.contains(&long),
        "{msg}"
    );
    let _p = new_pool("t-dup", 63);
    let msg = bad(Mempool::new("t-dup", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ANY));
    assert!(msg.contains("t-dup") && msg.contains("exists"), "{msg}");
}

#[test]
fn null_rx_gives_full_bursts_of_configured_size_and_pool_refills() {
    let pool = new_pool("t-null-rx", 1023);
    let port = started_port("net_null0", &pool, &small_cfg());
    let mut rxq = port.rx_queue(0).unwrap();
    let mut burst = Burst::new();
    for _ in 0..10 {
        assert_eq!(rxq.rx_burst(&mut burst), BURST_SIZE);
        assert!(burst.is_full());
        assert_eq!(rxq.rx_burst(&mut burst), 0, "a full burst takes nothing");
        for m in burst.as_slice() {
            assert_eq!((m.len(), m.pkt_len()), (100, 100));
            assert!(m.is_contiguous());
            assert_eq!(m.in_port(), port.id());
        }
        assert_eq!(pool.in_use(), BURST_SIZE as u32);
        burst.clear();
    }
    assert_eq!(pool.available(), pool.capacity());
    drop(rxq);
    port.stop().unwrap();
}

#[test]
fn registered_worker_thread_and_queue_handles() {
    let pool = new_pool("t-worker", 1023);
    let port = started_port("net_null1", &pool, &small_cfg());
    let rxq = port.rx_queue(0).unwrap();
    assert!(port.rx_queue(0).is_err(), "one handle per queue");
    let err = port.stop().unwrap_err();
    assert!(matches!(err, DpdkError::PortState { .. }), "{err:?}");

    let worker = std::thread::spawn(move || {
        let lcore = Eal::register_thread().expect("register");
        assert_eq!(lcore_id(), Some(lcore));
        assert_eq!(Eal::register_thread().unwrap(), lcore, "idempotent");
        let mut rxq = rxq;
        let mut burst = Burst::new();
        let mut got = 0;
        for _ in 0..100 {
            rxq.rx_burst(&mut burst);
            got += burst.drain().count();
        }
        got
    });
    assert_eq!(worker.join().unwrap(), 100 * BURST_SIZE);
    // Mbufs freed by a registered thread wait in its lcore cache, which the
    // count includes.
    assert_eq!(pool.available(), pool.capacity());
    port.stop().unwrap();
    assert!(port.rx_queue(0).is_err(), "stopped port hands out no queue");
    port.close().unwrap();
}

fn patterned(pool: &Mempool, i: usize) -> Mbuf {
    let bytes: Vec<u8> = (0..60 + i).map(|b| (b * 7 + i) as u8).collect();
    Mbuf::from_slice(pool, &bytes).expect("mbuf")
}

#[test]
fn ring_loops_tx_back_to_rx_with_identical_bytes() {
    let pool = new_pool("t-ring-loop", 255);
    let port = started_port("net_ring0", &pool, &small_cfg());
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let mut out = Burst::new();
    let mut expected = Vec::new();
    for i in 0..5 {
        let m = patterned(&pool, i);
        expected.push(m.data().to_vec());
        out.push(m).unwrap();
    }
    let res = txq.tx_burst_all(&mut out);
    let bytes: u64 = expected.iter().map(|e| e.len() as u64).sum();
    assert_eq!(
        res,
        TxResult {
            sent: 5,
            sent_bytes: bytes,
            dropped: 0
        }
    );
    assert!(out.is_empty());

    let mut back = Burst::new();
    assert_eq!(rxq.rx_burst(&mut back), 5);
    let got: Vec<Vec<u8>> = back.as_slice().iter().map(|m| m.data().to_vec()).collect();
    assert_eq!(got, expected);
    drop(back);
    assert_eq!(pool.in_use(), 0);

    let st = port.stats().unwrap();
    assert_eq!((st.ipackets, st.opackets), (5, 5));
}

#[test]
fn tx_buffer_counts_drops_when_the_ring_is_full() {
    const N: usize = 2000;
    let pool = new_pool("t-ring-full", 4095);
    let port = started_port("net_ring1", &pool, &small_cfg());
    let (mut rxq, mut txq) = (port.rx_queue(0).unwrap(), port.tx_queue(0).unwrap());
    let mut buf = TxBuffer::new();
    let mut total = TxResult::default();
    for _ in 0..N {
        let m = Mbuf::from_slice(&pool, &[0xab; 64]).unwrap();
        total += buf.push(m, &mut txq);
        assert!(buf.len() < TxBuffer::CAPACITY);
    }
    total += buf.flush(&mut txq);
    assert!(buf.is_empty());
    assert_eq!(total.sent as usize + total.dropped as usize, N);
    assert!(total.dropped > 0, "the ring must overflow: {total:?}");
    assert_eq!(total.sent_bytes, u64::from(total.sent) * 64);
    // Dropped mbufs went back to the pool at once; sent ones wait in the ring.
    assert_eq!(pool.in_use(), total.sent);

    let mut burst = Burst::new();
    let mut received = 0;
    while rxq.rx_burst(&mut burst) > 0 {
        received += burst.len();
        burst.clear();
    }
    assert_eq!(received, total.sent as usize);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn mbuf_edits_and_copies() {
    let pool = new_pool("t-mbuf", 63);
    let copies = new_pool("t-mbuf-copies", 63);
    let mut m = Mbuf::from_slice(&pool, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
    assert_eq!(m.headroom(), MBUF_HEADROOM);
    m.prepend(4).unwrap().copy_from_slice(&[0xaa; 4]);
    assert_eq!(
        m.data(),
        &[0xaa, 0xaa, 0xaa, 0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    assert!(m.adj(3));
    assert_eq!(m.data(), &[0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    m.append(2).unwrap().copy_from_slice(&[0xbb, 0xcc]);
    assert!(m.trim(5));
    assert_eq!(m.data(), &[0xaa, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!((m.len(), m.pkt_len()), (8, 8));
    m.data_mut()[0] = 0;

    // Refusals leave the packet unchanged.
    assert!(m.prepend(m.headroom() + 1).is_none());
    assert!(!m.adj(9));
    assert!(!m.trim(9));
    assert!(m.append(m.tailroom() + 1).is_none());
    assert_eq!(m.data(), &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert!(Mbuf::from_slice(&pool, &vec![0; 70_000]).is_none());

    let mut c = m.try_copy(&copies).unwrap();
    assert_eq!(c.data(), m.data());
    assert_ne!(c.as_ptr(), m.as_ptr());
    c.data_mut()[1] = 0xff;
    assert_eq!(m.data()[1], 1, "deep copy");
    assert_eq!((pool.in_use(), copies.in_use()), (1, 1));

    let raw = c.into_raw();
    // SAFETY: `raw` came from into_raw just above and has no other owner.
    let c = unsafe { Mbuf::from_raw(raw) };
    drop((m, c));
    assert_eq!((pool.in_use(), copies.in_use()), (0, 0));

    // Pool exhaustion is None, not a panic.
    let held: Vec<Mbuf> = std::iter::from_fn(|| Mbuf::alloc(&pool)).collect();
    assert_eq!(held.len(), 63);
    assert!(Mbuf::alloc(&pool).is_none());
    assert!(Mbuf::from_slice(&pool, b"x").is_none());
}

#[test]
fn burst_drain_retain_pop_free_everything() {
    let pool = new_pool("t-burst", 63);
    let mut b = Burst::new();
    for i in 0..BURST_SIZE {
        b.push(patterned(&pool, i)).unwrap();
    }
    assert!(
        b.push(patterned(&pool, 0)).is_err(),
        "full burst gives it back"
    );
    assert_eq!(pool.in_use(), BURST_SIZE as u32);
    b.prefetch(0);
    b.prefetch(BURST_SIZE); // out of range: no-op
    assert_eq!(b.data(3).len(), 63);
    assert!(b.get(BURST_SIZE).is_none());

    b.retain(|m| m.len() % 2 == 0); // lengths 60..92: keeps 16
    assert_eq!(b.len(), BURST_SIZE / 2);
    assert!(b.as_slice().iter().all(|m| m.len() % 2 == 0));
    assert_eq!(pool.in_use(), (BURST_SIZE / 2) as u32);

    let last = b.pop().unwrap();
    assert_eq!(last.len(), 60 + BURST_SIZE - 2);
    let mut d = b.drain();
    assert_eq!(d.len(), BURST_SIZE / 2 - 1);
    let first = d.next().unwrap();
    assert_eq!(first.len(), 60);
    drop(d); // frees the rest
    assert!(b.is_empty());
    assert_eq!(pool.in_use(), 2);
    drop((first, last));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn port_queries_work_while_a_worker_polls() {
    let pool = new_pool("t-query", 1023);
    let port = started_port("net_null2", &pool, &small_cfg());
    assert!(matches!(
        Port::by_name("net_null2"),
        Err(DpdkError::PortInUse { .. })
    ));
    let mut rxq = port.rx_queue(0).unwrap();
    let mut txq = port.tx_queue(0).unwrap();
    let worker = std::thread::spawn(move || {
        Eal::register_thread().unwrap();
        let mut burst = Burst::new();
        let mut sent = TxResult::default();
        for _ in 0..2000 {
            rxq.rx_burst(&mut burst);
            sent += txq.tx_burst_all(&mut burst);
        }
        sent
    });
    // Concurrent reads from this (admin) thread.
    for _ in 0..50 {
        port.stats().unwrap();
        port.link().unwrap();
    }
    let sent = worker.join().unwrap();
    assert_eq!(sent.sent as usize, 2000 * BURST_SIZE);

    let st = port.stats().unwrap();
    assert_eq!(st.ipackets, 2000 * BURST_SIZE as u64);
    assert_eq!(st.opackets, st.ipackets);
    let link = port.link().unwrap();
    assert!(
        link.up && link.speed_mbps > 0 && link.full_duplex,
        "{link:?}"
    );
    let xs = port.xstats().unwrap();
    let good = xs.iter().find(|(n, _)| n == "rx_good_packets").map(|x| x.1);
    assert_eq!(good, Some(st.ipackets), "{xs:?}");
    assert_eq!(port.driver_name().unwrap(), "net_null");
    assert_eq!(port.name(), "net_null2");
    port.mac_addr().unwrap();
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn rss_with_several_rx_queues() {
    let pool = new_pool("t-rss", 1023);
    let cfg = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        ..small_cfg()
    };
    let port = Port::by_name("net_null3").unwrap();
    let applied = port.configure(&cfg, &pool).unwrap();
    assert_ne!(applied.rss_hf, 0);
    port.start().unwrap();
    let mut b = Burst::new();
    for q in 0..2 {
        let mut rxq = port.rx_queue(q).unwrap();
        assert_eq!(rxq.rx_burst(&mut b), BURST_SIZE);
        b.clear();
    }
    assert!(port.rx_queue(2).is_err());
}

#[test]
fn bad_port_configurations_are_refused_clearly() {
    let pool = new_pool("t-badcfg", 255);
    let port = Port::by_name("net_ring2").unwrap();
    assert!(matches!(port.start(), Err(DpdkError::PortState { .. })));
    assert!(port.rx_queue(0).is_err());

    let msg = |cfg: PortConfig, port: &Port| port.configure(&cfg, &pool).unwrap_err().to_string();
    let e = msg(
        PortConfig {
            rx_queues: 0,
            ..small_cfg()
        },
        &port,
    );
    assert!(e.contains("at least 1"), "{e}");
    let e = msg(
        PortConfig {
            tx_queues: 5000,
            ..small_cfg()
        },
        &port,
    );
    assert!(
        e.contains("5000 tx queues") && e.contains("net_ring2"),
        "{e}"
    );
    // net_ring hashes nothing: several rx queues cannot work.
    let e = msg(
        PortConfig {
            rx_queues: 2,
            ..small_cfg()
        },
        &port,
    );
    assert!(e.contains("RSS"), "{e}");
    let e = msg(
        PortConfig {
            mtu: Some(1),
            ..small_cfg()
        },
        &port,
    );
    assert!(e.contains("MTU"), "{e}");

    // Still usable after the refusals.
    port.configure(&small_cfg(), &pool).unwrap();
    port.start().unwrap();
    assert!(port.configure(&small_cfg(), &pool).is_err(), "started");
    port.stop().unwrap();
}

#[test]
fn claims_are_released_with_the_last_handle() {
    let pool = new_pool("t-claims", 255);
    let port = started_port("net_null4", &pool, &small_cfg());
    let txq = port.tx_queue(0).unwrap();
    drop(port);
    // The queue handle still holds the port.
    assert!(matches!(
        Port::by_name("net_null4"),
        Err(DpdkError::PortInUse { .. })
    ));
    drop(txq);
    let again = Port::by_name("net_null4").unwrap();
    again.stop().unwrap();
    again.configure(&small_cfg(), &pool).unwrap();
    again.start().unwrap();
}

#[test]
fn ports_attach_at_run_time() {
    let pool = new_pool("t-attach", 255);
    let port = Port::attach("net_null_attach0,size=77").unwrap();
    assert_eq!(port.name(), "net_null_attach0");
    port.configure(&small_cfg(), &pool).unwrap();
    assert_eq!((port.rx_queue_count(), port.tx_queue_count()), (1, 1));
    port.start().unwrap();
    let mut b = Burst::new();
    port.rx_queue(0).unwrap().rx_burst(&mut b);
    assert!(b.as_slice().iter().all(|m| m.len() == 77));

    let e = Port::attach("net_null_attach0").unwrap_err().to_string();
    assert!(e.contains("exists"), "{e}");
    let e = Port::attach("net_bogus0").unwrap_err().to_string();
    assert!(e.contains("net_bogus0"), "{e}");
}

/// `Eal::cleanup` ends EAL for the whole process, so this test re-runs
/// itself in a child process with its own EAL.
#[test]
fn cleanup_refuses_while_anything_is_alive_then_shuts_down() {
    const CHILD: &str = "SLUICE_DPDK_CLEANUP_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let name = concat!(
            module_path!(),
            "::cleanup_refuses_while_anything_is_alive_then_shuts_down"
        );
        let name = name.split_once("::").map_or(name, |(_, rest)| rest);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }

    let args: Vec<String> = [
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=*:warning",
        "--vdev=net_null0",
        "--vdev=net_null1",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!(
        "--file-prefix=sluice-unit-cleanup-{}",
        std::process::id()
    )])
    .collect();
    let mut eal = Eal::init(&args).unwrap();
    if let Some(dir) = Eal::runtime_dir() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let busy = |eal: &mut Eal, what: &str| {
        let e = eal.cleanup().unwrap_err();
        assert!(matches!(e, DpdkError::Busy { .. }), "{e:?}");
        assert!(e.to_string().contains(what), "{e}");
    };

    // Port::all fails whole when one port is taken, releasing the others.
    let second = Port::by_name("net_null1").unwrap();
    assert!(matches!(Port::all(), Err(DpdkError::PortInUse { .. })));
    drop(second);
    assert_eq!(Port::all().unwrap().len(), 2);

    let pool = Mempool::new("t-cleanup", 255, 0, DEFAULT_DATA_ROOM, SOCKET_ANY).unwrap();
    let port = started_port("net_null0", &pool, &small_cfg());
    let mut rxq = port.rx_queue(0).unwrap();
    let mut burst = Burst::new();
    rxq.rx_burst(&mut burst);
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        Eal::register_thread().unwrap();
        wait.recv().unwrap();
    });
    while lifecycle_registered() == 0 {
        std::thread::yield_now();
    }
    busy(
        &mut eal,
        "1 mempool handle(s), 1 port(s), 1 registered thread(s)",
    );

    go.send(()).unwrap();
    worker.join().unwrap();
    drop(rxq);
    port.close().unwrap();
    drop(port);
    let held = burst.pop().unwrap();
    drop(burst);
    drop(pool);
    busy(&mut eal, "0 registered thread(s) and 1 mbuf(s)");

    drop(held);
    eal.cleanup().unwrap();
    assert!(matches!(eal.cleanup(), Err(DpdkError::NotInitialized)));
    assert!(matches!(
        Mempool::new("t-after", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ANY),
        Err(DpdkError::NotInitialized)
    ));
    assert!(matches!(
        Port::by_name("net_null0"),
        Err(DpdkError::NotInitialized)
    ));
    assert!(Port::names().is_empty());
    assert_eq!(Eal::port_count(), 0);
    assert!(matches!(
        Eal::register_thread(),
        Err(DpdkError::NotInitialized)
    ));
    assert!(matches!(
        Eal::init(&args),
        Err(DpdkError::AlreadyInitialized)
    ));
}

fn lifecycle_registered() -> usize {
    super::eal::lifecycle().registered_threads
}

#[test]
fn mbuf_runs_the_action_executor_like_a_vec() {
    use crate::openflow::{Action, Field};
    use crate::pipeline::{execute, PacketBuf, Registers, VecPacket};
    use crate::wire::{self, build::PacketBuilder, FlowKey};

    let pool = new_pool("t-exec", 63);
    let frame = PacketBuilder::new()
        .eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        .vlan(10, 1)
        .ipv4(0x0a00_0001, 0x0a00_0002)
        .udp(1, 2)
        .pad60()
        .build()
        .unwrap();
    let actions = [
        Action::PushVlan(0x88a8),
        Action::set_field(Field::VlanVid, 0x1000 | 77),
        Action::set_field(Field::Ipv4Dst, 0x0a01_0203),
        Action::DecNwTtl,
        Action::PushMpls(0x8847),
        Action::PopMpls(0x0800),
        Action::PopVlan,
    ];
    let mut m = Mbuf::from_slice(&pool, &frame).expect("mbuf");
    let mut v = VecPacket::new(&frame);
    let mut km = FlowKey::default();
    wire::parse(&frame, 1, &mut km).unwrap();
    let mut kv = km;
    let (mut rm, mut rv) = (Registers::default(), Registers::default());
    for a in &actions {
        let got_m = execute(a, &mut m, &mut km, &mut rm);
        let got_v = execute(a, &mut v, &mut kv, &mut rv);
        assert_eq!(format!("{got_m:?}"), format!("{got_v:?}"), "{a:?}");
        assert_eq!(PacketBuf::data(&m), PacketBuf::data(&v), "after {a:?}");
        assert_eq!(km, kv, "after {a:?}");
    }
    assert_eq!(m.pkt_len() as usize, m.len());
    // Growing past the headroom fails without changing the frame.
    let before = m.data().to_vec();
    let room = usize::from(m.headroom());
    assert!(!PacketBuf::prepend(&mut m, room + 1));
    assert_eq!(m.data(), &before[..]);
}
