//! Real kernel traffic: two tap ports, each moved into its own network
//! namespace, ping both ways and a short iperf3 run through the appliance.
mod common;

use common::{preamble, require_root, sample, scratch, sh, Sluice};
use std::process::Command;

struct Netns(&'static str);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", self.0]).output();
    }
}

fn wait_iface(name: &str) {
    for _ in 0..100 {
        if Command::new("ip")
            .args(["link", "show", name])
            .output()
            .unwrap()
            .status
            .success()
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("tap interface {name} did not appear");
}

#[test]
fn ping_and_iperf3_across_two_namespaces() {
    if !require_root() {
        return;
    }
    let (ia, ib, na, nb) = ("sl-ta", "sl-tb", "sl-tns-a", "sl-tns-b");
    for ns in [na, nb] {
        let _ = Command::new("ip").args(["netns", "del", ns]).output();
    }
    let dir = scratch("tap");
    let config = format!(
        "{}[[port]]\nname = \"a\"\ndevice = \"net_tap0,iface={ia}\"\n\n\
         [[port]]\nname = \"b\"\ndevice = \"net_tap1,iface={ib}\"\n\n\
         [[forward]]\nin = \"a\"\nout = \"b\"\n\n[[forward]]\nin = \"b\"\nout = \"a\"\n",
        preamble("sluice-t-tap", &[1])
    );
    let sluice = Sluice::start(&dir, "sluice-t-tap", &config);
    wait_iface(ia);
    wait_iface(ib);
    let _ga = Netns(na);
    let _gb = Netns(nb);
    sh(&format!("ip netns add {na} && ip netns add {nb}"));
    sh(&format!(
        "ip link set {ia} netns {na} && ip link set {ib} netns {nb}"
    ));
    sh(&format!("ip -n {na} addr add 10.77.0.1/24 dev {ia} && ip -n {na} link set {ia} up && ip -n {na} link set lo up"));
    sh(&format!("ip -n {nb} addr add 10.77.0.2/24 dev {ib} && ip -n {nb} link set {ib} up && ip -n {nb} link set lo up"));

    let ping_ab = sh(&format!(
        "ip netns exec {na} ping -c 5 -i 0.2 -W 2 10.77.0.2"
    ));
    assert!(ping_ab.contains(" 0% packet loss"), "{ping_ab}");
    let ping_ba = sh(&format!(
        "ip netns exec {nb} ping -c 5 -i 0.2 -W 2 10.77.0.1"
    ));
    assert!(ping_ba.contains(" 0% packet loss"), "{ping_ba}");

    // iperf3: server in b, a 3-second TCP run from a.
    let mut server = Command::new("ip")
        .args(["netns", "exec", nb, "iperf3", "-s", "-1", "-B", "10.77.0.2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = sh(&format!("ip netns exec {na} iperf3 -c 10.77.0.2 -t 3 -J"));
    let _ = server.wait();
    let received: f64 = out
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bytes\":").nth(1))
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no iperf3 result:\n{out}"));
    assert!(received > 1e6, "iperf3 moved only {received} bytes");
    let gbit = out
        .split("\"sum_received\"")
        .nth(1)
        .and_then(|s| s.split("\"bits_per_second\":").nth(1))
        .and_then(|s| s.split(&[',', '}'][..]).next())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9;
    eprintln!("iperf3 through sluice: {received} bytes, {gbit:.2} Gbit/s");

    let m = sluice.metrics();
    let rx_a = sample(&m, "sluice_port_rx_packets_total", &[("port", "a")]).unwrap();
    let tx_b = sample(&m, "sluice_port_tx_packets_total", &[("port", "b")]).unwrap();
    assert!(rx_a >= 10.0 && tx_b >= 10.0, "a rx {rx_a}, b tx {tx_b}");
    let fin = sluice.stop();
    fin.assert_clean();
}
