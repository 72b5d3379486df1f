//! Differential check against Open vSwitch (issue #3): the same flows and
//! groups in Sluice and in a private `ovs-vswitchd`, the same random
//! packets through both, the results compared.
//!
//! # Design
//!
//! What: for `config/openflow.toml` (all ports up, then with the uplink
//! down: fast failover) and for the R2 benchmark rules
//! (`sluice::pipeline::workload::r2`, what `scripts/gen-r2.sh` writes),
//! a few thousand seeded random packets go through
//! * `sluice trace --pcap` (one run per ingress port) and, for the bytes of
//!   every output, the same config's tracer in-process
//!   (`PipelineConfig::tracer`: the binary prints the ports of every
//!   output but only the final packet, and the copies of an ALL group
//!   differ from it). `sluice trace` has no port state, so with the
//!   uplink down only the reference interpreter runs, told which port is
//!   down;
//! * Open vSwitch: `ofproto/trace` of every packet, and the packet itself
//!   received on a dummy port (`netdev-dummy/receive`), run by the dummy
//!   datapath and written by each output port to its `tx_pcap`.
//!
//! The packets walk the pipeline: for each table along a goto chain the
//! match of one entry (mostly one whose metadata fits what the earlier
//! tables wrote), unmasked bits random, sometimes a field at the edge of
//! its range (first, last, just below, just above); on a random base with
//! IPv4/IPv6/ARP/other ethertypes, TTLs 0/1/2/64/255, fragments, 802.1ad
//! and double tags, IPv4 options, wrong IPv4 checksums, UDP without a
//! checksum. The example test asserts that every flow and every bucket
//! (but the fast-failover backup while the uplink is up) was used.
//!
//! Per packet, the output ports with the bytes sent on each (compared
//! as multisets: the order of outputs is not observable on a switch) must
//! be the same in Sluice and in the OVS datapath, the ports must be those
//! of OVS's `Datapath actions`, and neither may send a packet-in. A packet
//! that goes nowhere is a drop on both sides. Any disagreement prints the
//! packet, Sluice's trace, OVS's trace and both sets of outputs, and fails.
//!
//! How OVS runs: `ovsdb-server` and `ovs-vswitchd --enable-dummy
//! --disable-system` as children of the test, everything (database,
//! sockets, logs, pcaps; `OVS_RUNDIR`, `OVS_DBDIR`, `OVS_LOGDIR`,
//! `OVS_SYSCONFDIR`, `OVS_PKGDATADIR`) in a scratch directory, stopped
//! with `exit` and then by their PIDs; the system service is never used.
//! One bridge per rule set, `datapath_type=dummy`, `fail_mode=secure`
//! (no implicit NORMAL flow), one dummy interface per Sluice port with the
//! same name and `ofport_request` = the port's OpenFlow number, so the
//! flow and group text of the config is loaded verbatim with `ovs-ofctl -O
//! OpenFlow13 add-groups / add-flows` (ports by name). Unixctl commands go
//! over one JSON-RPC connection to the daemon's control socket (what
//! `ovs-appctl` speaks), pipelined in batches; the dummy port's receive
//! queue holds 100 packets, so after each batch the test waits until the
//! datapath's port counters show every packet received. Each packet
//! carries a tag (magic + index) in its payload, so every frame in a
//! `tx_pcap` is attributed to the packet it came from.
//!
//! Where OVS differs, and what the test does about it:
//! * Select groups: the bucket is implementation-defined (a hash);
//!   Sluice's and OVS's hashes differ. Ports that are outputs of select
//!   buckets compare as "one of the group's ports" (the example's buckets
//!   rewrite alike and differ only in their port); when the packet came
//!   in on one of those ports, one switch may have picked the ingress
//!   port's bucket (which sends nothing) and the other not, so the
//!   group's output may be missing on one side. OVS 3.1 picks the bucket
//!   after a recirculation (`hash(...),recirc(...)`), which `ofproto/trace`
//!   does not follow: for those packets the ports come from the datapath
//!   only.
//! * TTL expiry: OVS's datapath action is a controller action with
//!   reason 2 (invalid TTL) that no controller receives, i.e. a drop,
//!   which is Sluice's (and OF1.3.5's) behaviour.
//! * Fragments: OVS's default fragment handling ("normal", after figure 3
//!   of OpenFlow 1.0) matches every fragment, even the first, as if its
//!   L4 ports (ICMP type/code) were 0; Sluice reads a first fragment's L4
//!   header (OF1.3.5 says nothing special is done with fragments). The
//!   bridges run with `ovs-ofctl set-frags nx-match`, OVS's name for
//!   Sluice's behaviour.
//! * Two VLAN tags: OVS parses one tag unless `other_config:vlan-limit` is
//!   raised (eth_type of a double-tagged frame is then 0x8100); Sluice's
//!   eth_type is the one after the tags (OF1.3.5). The test sets
//!   `vlan-limit=2`.
//! * A port going down: the dummy port still writes what is sent to it,
//!   so outputs to a down port are not compared; and OVS's datapath keeps
//!   using megaflows installed before the change until they are
//!   revalidated, so the test purges them (`revalidator/purge`).
//!
//! Runs as any user. Without the OVS programs it is skipped with the
//! reason, except under CI, where that is a failure. `SLUICE_OVS_SEED`
//! repeats a run; `SLUICE_OVS_PACKETS` changes the packet count.
//!
//! Threads: the test thread only; OVS runs as two child processes.
mod common;

use common::{scratch, BIN};
use serde_json::{json, Value};
use sluice::config::Config;
use sluice::openflow::{
    ethertype, ipproto, Action, Field, FlowEntry, GroupType, MatchField, OutPort, ALL_FIELDS,
    OFPVID_PRESENT,
};
use sluice::pipeline::outcome::{Outcome, TraceStep};
use sluice::pipeline::{
    fields, workload, Env, PassThroughMeters, ReferencePipeline, Registers, DEFAULT_SALT,
};
use sluice::rng::XorShift64;
use sluice::wire::build::{self as build, PacketBuilder};
use sluice::wire::pcap::{PcapReader, PcapWriter};
use sluice::wire::{self, FlowKey};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Open vSwitch: programs, daemons, control connection
// ---------------------------------------------------------------------------

/// The OVS programs and the database schema.
struct OvsTools {
    vswitchd: PathBuf,
    ovsdb_server: PathBuf,
    ovsdb_tool: PathBuf,
    vsctl: PathBuf,
    ofctl: PathBuf,
    schema: PathBuf,
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

impl OvsTools {
    fn locate() -> Result<OvsTools, String> {
        let find = |n: &str| find_program(n).ok_or_else(|| format!("{n} not found"));
        let schema = ["/usr/share/openvswitch", "/usr/local/share/openvswitch"]
            .iter()
            .map(|d| Path::new(d).join("vswitch.ovsschema"))
            .find(|p| p.is_file())
            .ok_or("vswitch.ovsschema not found")?;
        Ok(OvsTools {
            vswitchd: find("ovs-vswitchd")?,
            ovsdb_server: find("ovsdb-server")?,
            ovsdb_tool: find("ovsdb-tool")?,
            vsctl: find("ovs-vsctl")?,
            ofctl: find("ovs-ofctl")?,
            schema,
        })
    }
}

/// The OVS programs, or `None` (skipped with the reason; a failure under
/// CI, where scripts/deps.sh has installed openvswitch-switch).
fn require_ovs() -> Option<OvsTools> {
    match OvsTools::locate() {
        Ok(t) => Some(t),
        Err(why) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the OVS differential test, but {why} (scripts/deps.sh installs openvswitch-switch)"
            );
            eprintln!(
                "skipped: Open vSwitch is not installed ({why}; scripts/deps.sh installs it)"
            );
            None
        }
    }
}

/// A JSON-RPC connection to a unixctl socket (the protocol of
/// `ovs-appctl`): requests may be pipelined; replies come in order.
struct Unixctl {
    stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Unixctl {
    fn connect(path: &Path) -> std::io::Result<Unixctl> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Unixctl {
            stream,
            buf: Vec::new(),
            next_id: 0,
        })
    }

    fn read_reply(&mut self) -> std::io::Result<Value> {
        loop {
            let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let used = it.byte_offset();
                    self.buf.drain(..used);
                    return Ok(v);
                }
                Some(Err(e)) if !e.is_eof() => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                }
                _ => {}
            }
            let mut chunk = [0u8; 1 << 16];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends every request, then reads every reply: per request its result
    /// text or its error text.
    fn call_many(&mut self, reqs: &[(&str, Vec<String>)]) -> Vec<Result<String, String>> {
        let first = self.next_id;
        let mut out = String::new();
        for (method, params) in reqs {
            let r = json!({"method": method, "params": params, "id": self.next_id});
            self.next_id += 1;
            out.push_str(&r.to_string());
        }
        self.stream
            .write_all(out.as_bytes())
            .expect("write to the unixctl socket");
        (0..reqs.len() as u64)
            .map(|i| {
                let v = self.read_reply().expect("read a unixctl reply");
                assert_eq!(v["id"], json!(first + i), "unixctl replies out of order");
                match (&v["result"], &v["error"]) {
                    (Value::String(s), Value::Null) => Ok(s.clone()),
                    (_, Value::String(e)) => Err(e.clone()),
                    (r, e) => Err(format!("unexpected reply: result {r}, error {e}")),
                }
            })
            .collect()
    }

    fn call(&mut self, method: &str, params: &[&str]) -> Result<String, String> {
        let params = params.iter().map(|s| s.to_string()).collect();
        self.call_many(&[(method, params)]).remove(0)
    }
}

/// A port of an OVS bridge.
#[derive(Clone, Debug)]
struct OvsPort {
    name: String,
    ofport: u32,
    /// The dummy datapath's port number (what `Datapath actions` print).
    odp: u32,
    tx_pcap: PathBuf,
}

struct Bridge {
    name: String,
    ports: Vec<OvsPort>,
}

impl Bridge {
    fn by_ofport(&self, n: u32) -> Option<&OvsPort> {
        self.ports.iter().find(|p| p.ofport == n)
    }
}

/// A private ovsdb-server + ovs-vswitchd on the dummy datapath.
struct Ovs {
    tools: OvsTools,
    dir: PathBuf,
    db: Option<Child>,
    vswitchd: Option<Child>,
    ctl: Option<Unixctl>,
}

fn wait_for_socket(path: &Path, child: &mut Child, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(path).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "{what} exited ({st}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{what} did not open {path:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Ovs {
    fn start(tools: OvsTools, dir: &Path) -> Ovs {
        std::fs::create_dir_all(dir).unwrap();
        let mut ovs = Ovs {
            tools,
            dir: dir.to_path_buf(),
            db: None,
            vswitchd: None,
            ctl: None,
        };
        let db_file = dir.join("conf.db");
        ovs.run(
            Command::new(&ovs.tools.ovsdb_tool)
                .arg("create")
                .arg(&db_file)
                .arg(&ovs.tools.schema),
        );
        let db_sock = dir.join("db.sock");
        let db_log = dir.join("ovsdb-server.log");
        let mut db = ovs
            .env(&mut Command::new(&ovs.tools.ovsdb_server))
            .arg(&db_file)
            .arg(format!("--remote=punix:{}", db_sock.display()))
            .arg(format!(
                "--unixctl={}",
                dir.join("ovsdb-server.ctl").display()
            ))
            .arg(format!("--log-file={}", db_log.display()))
            .args(["--no-chdir", "-vconsole:off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovsdb-server");
        wait_for_socket(&db_sock, &mut db, "ovsdb-server", &db_log);
        ovs.db = Some(db);
        // OVS parses one VLAN tag unless told otherwise (then a frame
        // with two tags has eth_type 0x8100); Sluice, like OF1.3.5's
        // eth_type "after VLAN tags", looks behind both.
        ovs.vsctl(&["--no-wait", "init"]);
        ovs.vsctl(&[
            "--no-wait",
            "set",
            "Open_vSwitch",
            ".",
            "other_config:vlan-limit=2",
        ]);
        let log = dir.join("ovs-vswitchd.log");
        let ctl_path = dir.join("ovs-vswitchd.ctl");
        let mut vswitchd = ovs
            .env(&mut Command::new(&ovs.tools.vswitchd))
            .arg(format!("unix:{}", db_sock.display()))
            .args([
                "--enable-dummy",
                "--disable-system",
                "--disable-system-route",
            ])
            .arg(format!("--unixctl={}", ctl_path.display()))
            .arg(format!("--log-file={}", log.display()))
            .args(["--no-chdir", "-vconsole:off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ovs-vswitchd");
        wait_for_socket(&ctl_path, &mut vswitchd, "ovs-vswitchd", &log);
        ovs.vswitchd = Some(vswitchd);
        ovs.ctl = Some(Unixctl::connect(&ctl_path).expect("connect to ovs-vswitchd"));
        ovs
    }

    /// `cmd` with the OVS directories pointed at the scratch directory.
    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        for var in [
            "OVS_RUNDIR",
            "OVS_DBDIR",
            "OVS_LOGDIR",
            "OVS_SYSCONFDIR",
            "OVS_PKGDATADIR",
        ] {
            cmd.env(var, &self.dir);
        }
        cmd.stdin(Stdio::null())
    }

    fn run(&self, cmd: &mut Command) -> String {
        let out = self
            .env(cmd)
            .output()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.dir.join("db.sock").display());
        self.run(
            Command::new(&self.tools.vsctl)
                .arg(db)
                .arg("--timeout=30")
                .args(args),
        )
    }

    fn ofctl(&self, args: &[&str]) -> String {
        self.run(
            Command::new(&self.tools.ofctl)
                .args(["-O", "OpenFlow13"])
                .args(args),
        )
    }

    fn ctl(&mut self) -> &mut Unixctl {
        self.ctl.as_mut().expect("connected")
    }

    /// A dummy-datapath bridge with these ports (name, OpenFlow number).
    fn add_bridge(&mut self, name: &str, ports: &[(String, u32)]) -> Bridge {
        let mut args: Vec<String> = [
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=dummy",
            "fail_mode=secure",
            "protocols=OpenFlow13",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (p, n) in ports {
            let pcap = self.dir.join(format!("{name}-{p}.pcap"));
            args.extend([
                "--".into(),
                "add-port".into(),
                name.into(),
                p.clone(),
                "--".into(),
                "set".into(),
                "interface".into(),
                p.clone(),
                "type=dummy".into(),
                format!("ofport_request={n}"),
                format!("options:tx_pcap={}", pcap.display()),
            ]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.vsctl(&refs);
        let show = self.ctl().call("dpif/show", &[]).expect("dpif/show");
        let mut out = Vec::new();
        for (p, n) in ports {
            let got: u32 = self
                .vsctl(&["get", "interface", p, "ofport"])
                .trim()
                .parse()
                .expect("ofport");
            assert_eq!(got, *n, "OVS gave port {p} OpenFlow number {got}, not {n}");
            // "    NAME OFPORT/ODP: (dummy)"
            let odp = show
                .lines()
                .filter_map(|l| {
                    let mut w = l.split_whitespace();
                    (w.next()? == p).then_some(w.next()?)
                })
                .find_map(|nums| {
                    let (of, odp) = nums.trim_end_matches(':').split_once('/')?;
                    (of == n.to_string()).then(|| odp.parse().ok())?
                })
                .unwrap_or_else(|| panic!("port {p} not in dpif/show:\n{show}"));
            out.push(OvsPort {
                name: p.clone(),
                ofport: *n,
                odp,
                tx_pcap: self.dir.join(format!("{name}-{p}.pcap")),
            });
        }
        Bridge {
            name: name.into(),
            ports: out,
        }
    }

    /// Loads groups and flows (add-groups / add-flows text) into a bridge
    /// and checks that OVS holds them all.
    fn load(&self, br: &Bridge, groups: &str, flows: &str, n_flows: usize) {
        let mgmt = format!(
            "unix:{}",
            self.dir.join(format!("{}.mgmt", br.name)).display()
        );
        let gfile = self.dir.join(format!("{}.groups", br.name));
        let ffile = self.dir.join(format!("{}.flows", br.name));
        std::fs::write(&gfile, groups).unwrap();
        std::fs::write(&ffile, flows).unwrap();
        if !groups.trim().is_empty() {
            self.ofctl(&["add-groups", &mgmt, &gfile.display().to_string()]);
        }
        self.ofctl(&["add-flows", &mgmt, &ffile.display().to_string()]);
        // Sluice reads a first fragment's L4 header; OVS's default
        // ("normal", after OpenFlow 1.0's figure 3) matches every fragment
        // as if its ports were 0. "nx-match" is Sluice's behaviour.
        self.ofctl(&["set-frags", &mgmt, "nx-match"]);
        let agg = self.ofctl(&["dump-aggregate", &mgmt]);
        assert!(
            agg.contains(&format!("flow_count={n_flows}")),
            "OVS does not hold the {n_flows} flows loaded: {agg}"
        );
    }

    /// RX and TX packet counters of every datapath port, by name.
    fn port_counters(&mut self) -> BTreeMap<String, (u64, u64)> {
        let text = self.ctl().call("dpctl/show", &["-s"]).expect("dpctl/show");
        let mut out = BTreeMap::new();
        let mut cur: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("port ") {
                cur = rest
                    .split_whitespace()
                    .nth(1)
                    .map(|s| s.trim_end_matches(':').to_string());
                continue;
            }
            let num =
                |key: &str| -> Option<u64> { t.strip_prefix(key)?.split(' ').next()?.parse().ok() };
            if let Some(name) = &cur {
                if let Some(n) = num("RX packets:") {
                    out.entry(name.clone()).or_insert((0, 0)).0 = n;
                }
                if let Some(n) = num("TX packets:") {
                    out.entry(name.clone()).or_insert((0, 0)).1 = n;
                }
            }
        }
        out
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        if let Some(ctl) = self.ctl.as_mut() {
            let _ = ctl.call("exit", &[]);
        }
        if let Ok(mut c) = Unixctl::connect(&self.dir.join("ovsdb-server.ctl")) {
            let _ = c.call("exit", &[]);
        }
        for child in [self.vswitchd.take(), self.db.take()].into_iter().flatten() {
            let mut child = child;
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("OVS files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Packets: random, guided by the rules, tagged
// ---------------------------------------------------------------------------

/// Payload tag: magic, then the packet's index (big endian).
const MAGIC: [u8; 4] = [0x51, 0xce, 0x7a, 0x9e];

fn tag(i: usize) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&MAGIC);
    t[4..].copy_from_slice(&(i as u32).to_be_bytes());
    t
}

fn find_tag(data: &[u8]) -> Option<usize> {
    data.windows(8)
        .rev()
        .find(|w| w[..4] == MAGIC)
        .map(|w| u32::from_be_bytes([w[4], w[5], w[6], w[7]]) as usize)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Tcp(u16, u16),
    Udp(u16, u16),
    Icmp(u8, u8),
    Other(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frag {
    No,
    First,
    Later,
}

#[derive(Clone, Debug)]
enum L3 {
    V4 {
        src: u32,
        dst: u32,
        ttl: u8,
        dscp: u8,
        ecn: u8,
        frag: Frag,
        l4: L4,
    },
    V6 {
        src: u128,
        dst: u128,
        hlim: u8,
        dscp: u8,
        ecn: u8,
        flabel: u32,
        l4: L4,
    },
    Arp(build::Arp),
    Other(u16),
}

/// A packet to build (see [`Desc::build`]).
#[derive(Clone, Debug)]
struct Desc {
    in_port: u32,
    dst: u64,
    src: u64,
    vlan: Option<(u16, u8)>,
    l3: L3,
    odd: Odd,
}

/// Less common shapes of a packet.
#[derive(Clone, Copy, Debug, Default)]
struct Odd {
    /// The VLAN tag is an 802.1ad (0x88a8) tag.
    s_tag: bool,
    /// A second (inner, 0x8100) tag with this VID after the VLAN tag.
    inner_vid: Option<u16>,
    /// IPv4 options (NOPs): a 24-byte header.
    ip_options: bool,
    /// A wrong IPv4 header checksum.
    bad_ip_checksum: bool,
    /// UDP over IPv4 without a checksum (0).
    no_udp_checksum: bool,
}

impl Odd {
    fn random(rng: &mut XorShift64) -> Odd {
        Odd {
            s_tag: rng.chance(1, 12),
            inner_vid: rng.chance(1, 12).then(|| 1 + rng.below(4094) as u16),
            ip_options: rng.chance(1, 15),
            bad_ip_checksum: rng.chance(1, 30),
            no_udp_checksum: rng.chance(1, 6),
        }
    }
}

/// Values that occur in the rules (match values and set-field values),
/// so that random packets hit them and their edges.
#[derive(Default)]
struct Pools {
    v4: Vec<u32>,
    v6: Vec<u128>,
    macs: Vec<u64>,
    l4: Vec<u16>,
}

impl Pools {
    fn add(&mut self, field: Field, value: u128, mask: u128) {
        let full = field.full_mask();
        let last = value | (!mask & full);
        match field {
            Field::Ipv4Src | Field::Ipv4Dst | Field::ArpSpa | Field::ArpTpa => {
                for v in [value, last, value.wrapping_sub(1), last + 1] {
                    self.v4.push((v & full) as u32);
                }
            }
            Field::Ipv6Src | Field::Ipv6Dst => {
                for v in [value, last, value.wrapping_sub(1), last.wrapping_add(1)] {
                    self.v6.push(v);
                }
            }
            Field::EthDst | Field::EthSrc | Field::ArpSha | Field::ArpTha => {
                self.macs.push(value as u64)
            }
            Field::TcpSrc | Field::TcpDst | Field::UdpSrc | Field::UdpDst => {
                for v in [value, last, value.wrapping_sub(1), last + 1] {
                    self.l4.push((v & full) as u16);
                }
            }
            _ => {}
        }
    }

    fn of(flows: &[FlowEntry], groups: &[sluice::openflow::GroupEntry]) -> Pools {
        let mut p = Pools::default();
        let mut actions: Vec<&Action> = Vec::new();
        for f in flows {
            for m in f.r#match.fields() {
                p.add(m.field, m.value, m.mask);
            }
            actions.extend(f.instructions.apply_actions());
            actions.extend(f.instructions.write_actions().unwrap_or(&[]));
        }
        for g in groups {
            for b in &g.buckets {
                actions.extend(&b.actions);
            }
        }
        for a in actions {
            if let Action::SetField { field, value, mask } = a {
                p.add(*field, *value, *mask);
            }
        }
        p.macs.push(0xffff_ffff_ffff);
        p
    }
}

fn pick<T: Copy>(rng: &mut XorShift64, v: &[T], or: T) -> T {
    if v.is_empty() {
        or
    } else {
        v[rng.below(v.len() as u64) as usize]
    }
}

fn rand128(rng: &mut XorShift64) -> u128 {
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}

/// Random packets that walk the pipeline: a random base, then the match
/// fields of one entry per table along a goto chain (entries whose
/// metadata fits what the earlier ones wrote, mostly), unmasked bits
/// random, then sometimes a field moved to an edge of its range.
struct Generator<'a> {
    tables: BTreeMap<u8, Vec<&'a FlowEntry>>,
    ports: Vec<u32>,
    pools: Pools,
}

impl<'a> Generator<'a> {
    fn new(
        flows: &'a [FlowEntry],
        groups: &[sluice::openflow::GroupEntry],
        ports: Vec<u32>,
    ) -> Self {
        let mut tables: BTreeMap<u8, Vec<&FlowEntry>> = BTreeMap::new();
        for f in flows {
            tables.entry(f.table).or_default().push(f);
        }
        Generator {
            tables,
            ports,
            pools: Pools::of(flows, groups),
        }
    }

    fn l4(&self, rng: &mut XorShift64, v6: bool) -> L4 {
        let port = |rng: &mut XorShift64| {
            if rng.chance(1, 2) {
                pick(rng, &self.pools.l4, 80)
            } else {
                rng.next_u32() as u16
            }
        };
        match rng.below(10) {
            0..=3 => L4::Tcp(port(rng), port(rng)),
            4..=6 => L4::Udp(port(rng), port(rng)),
            7 | 8 => {
                let t = if v6 {
                    pick(rng, &[128, 129, 1, 3], 128)
                } else {
                    pick(rng, &[8, 0, 3, 11], 8)
                };
                L4::Icmp(t, rng.below(2) as u8)
            }
            _ => L4::Other(pick(rng, &[47, 89, 253], 253)),
        }
    }

    fn ttl(rng: &mut XorShift64) -> u8 {
        match rng.below(20) {
            0 => 1,
            1 => 0,
            2 => 2,
            3 => 255,
            _ => 64,
        }
    }

    fn v4(&self, rng: &mut XorShift64) -> L3 {
        let a = |rng: &mut XorShift64| {
            if rng.chance(2, 3) {
                pick(rng, &self.pools.v4, 0x0a00_0001)
            } else {
                rng.next_u32()
            }
        };
        L3::V4 {
            src: a(rng),
            dst: a(rng),
            ttl: Self::ttl(rng),
            dscp: if rng.chance(1, 4) {
                rng.below(64) as u8
            } else {
                0
            },
            ecn: if rng.chance(1, 8) {
                rng.below(4) as u8
            } else {
                0
            },
            frag: match rng.below(40) {
                0 => Frag::First,
                1 => Frag::Later,
                _ => Frag::No,
            },
            l4: self.l4(rng, false),
        }
    }

    fn v6(&self, rng: &mut XorShift64) -> L3 {
        let a = |rng: &mut XorShift64| {
            if rng.chance(2, 3) {
                pick(rng, &self.pools.v6, 1)
            } else {
                rand128(rng)
            }
        };
        L3::V6 {
            src: a(rng),
            dst: a(rng),
            hlim: Self::ttl(rng),
            dscp: if rng.chance(1, 4) {
                rng.below(64) as u8
            } else {
                0
            },
            ecn: 0,
            flabel: if rng.chance(1, 4) {
                rng.next_u32() & 0xf_ffff
            } else {
                0
            },
            l4: self.l4(rng, true),
        }
    }

    fn arp(&self, rng: &mut XorShift64) -> L3 {
        let mac = |rng: &mut XorShift64| wire::mac_from_u64(pick(rng, &self.pools.macs, 2));
        L3::Arp(build::Arp {
            op: pick(rng, &[1, 2], 1),
            sha: mac(rng),
            spa: pick(rng, &self.pools.v4, 1),
            tha: mac(rng),
            tpa: pick(rng, &self.pools.v4, 1),
        })
    }

    fn base(&self, rng: &mut XorShift64) -> Desc {
        let mac = |rng: &mut XorShift64| {
            if rng.chance(2, 3) {
                pick(rng, &self.pools.macs, 2)
            } else {
                rng.next_u64() & 0xfeff_ffff_ffff // unicast
            }
        };
        let l3 = match rng.below(10) {
            0..=4 => self.v4(rng),
            5 | 6 => self.v6(rng),
            7 | 8 => self.arp(rng),
            _ => L3::Other(pick(rng, &[0x88cc, 0x9000, 0x88b5, 0x0100], 0x88b5)),
        };
        Desc {
            in_port: pick(rng, &self.ports, 1),
            dst: mac(rng),
            src: mac(rng),
            vlan: rng
                .chance(1, 3)
                .then(|| (rng.below(4096) as u16, rng.below(8) as u8)),
            l3,
            odd: Odd::random(rng),
        }
    }

    /// Makes `d` carry `field = value` (where the packet has the field).
    fn set(&self, d: &mut Desc, field: Field, v: u128, rng: &mut XorShift64) {
        match field {
            Field::InPort if self.ports.contains(&(v as u32)) => d.in_port = v as u32,
            Field::EthDst => d.dst = v as u64,
            Field::EthSrc => d.src = v as u64,
            Field::EthType => {
                let same = matches!(
                    (&d.l3, v as u16),
                    (L3::V4 { .. }, ethertype::IPV4)
                        | (L3::V6 { .. }, ethertype::IPV6)
                        | (L3::Arp(_), ethertype::ARP)
                );
                if !same {
                    d.l3 = match v as u16 {
                        ethertype::IPV4 => self.v4(rng),
                        ethertype::IPV6 => self.v6(rng),
                        ethertype::ARP => self.arp(rng),
                        t => L3::Other(t),
                    };
                }
            }
            Field::VlanVid => {
                d.vlan = (v as u16 & OFPVID_PRESENT != 0)
                    .then(|| (v as u16 & 0x0fff, d.vlan.map_or(0, |t| t.1)))
            }
            Field::VlanPcp => {
                if let Some(t) = &mut d.vlan {
                    t.1 = v as u8
                }
            }
            _ => {}
        }
        match &mut d.l3 {
            L3::V4 {
                src,
                dst,
                dscp,
                ecn,
                l4,
                ..
            } => match field {
                Field::Ipv4Src => *src = v as u32,
                Field::Ipv4Dst => *dst = v as u32,
                Field::IpDscp => *dscp = v as u8,
                Field::IpEcn => *ecn = v as u8,
                _ => set_l4(l4, field, v, rng),
            },
            L3::V6 {
                src,
                dst,
                dscp,
                ecn,
                flabel,
                l4,
                ..
            } => match field {
                Field::Ipv6Src => *src = v,
                Field::Ipv6Dst => *dst = v,
                Field::IpDscp => *dscp = v as u8,
                Field::IpEcn => *ecn = v as u8,
                Field::Ipv6Flabel => *flabel = v as u32,
                _ => set_l4(l4, field, v, rng),
            },
            L3::Arp(a) => match field {
                Field::ArpOp => a.op = v as u16,
                Field::ArpSpa => a.spa = v as u32,
                Field::ArpTpa => a.tpa = v as u32,
                Field::ArpSha => a.sha = wire::mac_from_u64(v as u64),
                Field::ArpTha => a.tha = wire::mac_from_u64(v as u64),
                _ => {}
            },
            L3::Other(_) => {}
        }
    }

    /// A random value within `m`.
    fn within(m: &MatchField, rng: &mut XorShift64) -> u128 {
        m.value | (rand128(rng) & !m.mask & m.field.full_mask())
    }

    fn packet(&self, rng: &mut XorShift64) -> Desc {
        let mut d = self.base(rng);
        let mut matched: Vec<MatchField> = Vec::new();
        let mut table = 0u8;
        let mut metadata = 0u64;
        while let Some(entries) = self.tables.get(&table) {
            if rng.chance(1, 10) {
                break;
            }
            let fits: Vec<&&FlowEntry> = entries
                .iter()
                .filter(|e| {
                    e.r#match
                        .get(Field::Metadata)
                        .map_or(true, |m| m.matches(u128::from(metadata)))
                })
                .collect();
            let e = if !fits.is_empty() && rng.chance(7, 8) {
                *fits[rng.below(fits.len() as u64) as usize]
            } else {
                entries[rng.below(entries.len() as u64) as usize]
            };
            for m in e.r#match.fields() {
                if m.field != Field::Metadata {
                    let v = Self::within(m, rng);
                    self.set(&mut d, m.field, v, rng);
                    matched.push(*m);
                }
            }
            if let Some((v, mask)) = e.instructions.write_metadata() {
                metadata = (metadata & !mask) | (v & mask);
            }
            match e.instructions.goto_table() {
                Some(t) => table = t,
                None => break,
            }
        }
        // Edges: a matched field at the first, last, just-below or
        // just-above value of its range.
        if !matched.is_empty() && rng.chance(1, 3) {
            let m = matched[rng.below(matched.len() as u64) as usize];
            let full = m.field.full_mask();
            let last = m.value | (!m.mask & full);
            let v = match rng.below(4) {
                0 => m.value,
                1 => last,
                2 => m.value.wrapping_sub(1) & full,
                _ => last.wrapping_add(1) & full,
            };
            self.set(&mut d, m.field, v, rng);
        }
        d
    }
}

fn set_l4(l4: &mut L4, field: Field, v: u128, rng: &mut XorShift64) {
    let p = v as u16;
    match field {
        Field::IpProto => {
            *l4 = match (v as u8, *l4) {
                (ipproto::TCP, L4::Tcp(..)) | (ipproto::UDP, L4::Udp(..)) => *l4,
                (ipproto::ICMP | ipproto::ICMPV6, L4::Icmp(..)) => *l4,
                (ipproto::TCP, _) => L4::Tcp(rng.next_u32() as u16, rng.next_u32() as u16),
                (ipproto::UDP, _) => L4::Udp(rng.next_u32() as u16, rng.next_u32() as u16),
                (ipproto::ICMP | ipproto::ICMPV6, _) => L4::Icmp(8, 0),
                // Extension-header and SCTP numbers would turn the payload
                // into headers: keep those packets out.
                (0 | 43 | 44 | 50 | 51 | 60 | 132 | 135 | 139 | 140, _) => L4::Other(253),
                (n, _) => L4::Other(n),
            }
        }
        Field::TcpSrc | Field::UdpSrc => match l4 {
            L4::Tcp(s, _) | L4::Udp(s, _) => *s = p,
            _ => {}
        },
        Field::TcpDst | Field::UdpDst => match l4 {
            L4::Tcp(_, d) | L4::Udp(_, d) => *d = p,
            _ => {}
        },
        Field::Icmpv4Type | Field::Icmpv6Type => {
            if let L4::Icmp(t, _) = l4 {
                *t = v as u8
            }
        }
        Field::Icmpv4Code | Field::Icmpv6Code => {
            if let L4::Icmp(_, c) = l4 {
                *c = v as u8
            }
        }
        _ => {}
    }
}

impl Desc {
    /// The frame, with `tag` as its payload, padded to 60 bytes.
    fn build(&self, tag: &[u8]) -> Vec<u8> {
        let mut b = PacketBuilder::new().eth(
            wire::mac_from_u64(self.dst & 0xffff_ffff_ffff),
            wire::mac_from_u64(self.src & 0xffff_ffff_ffff),
        );
        let mut l3_at = 14;
        if let Some((vid, pcp)) = self.vlan {
            b = if self.odd.s_tag {
                b.svlan(vid, pcp)
            } else {
                b.vlan(vid, pcp)
            };
            l3_at += 4;
            if let Some(inner) = self.odd.inner_vid {
                b = b.vlan(inner, 0);
                l3_at += 4;
            }
        }
        let l4 = |b: PacketBuilder, l4: L4, v6: bool| match l4 {
            L4::Tcp(s, d) => b.tcp(s, d),
            L4::Udp(s, d) => b.udp(s, d),
            L4::Icmp(t, c) if v6 => b.icmpv6(t, c, &[0; 4]),
            L4::Icmp(t, c) => b.icmpv4(t, c),
            L4::Other(p) => b.announce(p),
        };
        b = match &self.l3 {
            L3::V4 {
                src,
                dst,
                ttl,
                dscp,
                ecn,
                frag,
                l4: proto,
            } => {
                let ip = build::Ipv4 {
                    src: *src,
                    dst: *dst,
                    ttl: *ttl,
                    dscp: *dscp,
                    ecn: *ecn,
                    ident: 0x1234,
                    options: if self.odd.ip_options {
                        vec![1, 1, 1, 0]
                    } else {
                        Vec::new()
                    },
                    more_frags: *frag == Frag::First,
                    frag_offset: if *frag == Frag::Later { 1480 } else { 0 },
                    ..build::Ipv4::default()
                };
                let b = b.ipv4_with(ip);
                if *frag == Frag::Later {
                    let n = match proto {
                        L4::Tcp(..) => ipproto::TCP,
                        L4::Udp(..) => ipproto::UDP,
                        L4::Icmp(..) => ipproto::ICMP,
                        L4::Other(n) => *n,
                    };
                    b.announce(n)
                } else {
                    l4(b, *proto, false)
                }
            }
            L3::V6 {
                src,
                dst,
                hlim,
                dscp,
                ecn,
                flabel,
                l4: proto,
            } => {
                let ip = build::Ipv6 {
                    src: *src,
                    dst: *dst,
                    hop_limit: *hlim,
                    traffic_class: (dscp << 2) | (ecn & 3),
                    flow_label: *flabel,
                    ..build::Ipv6::default()
                };
                l4(b.ipv6_with(ip), *proto, true)
            }
            L3::Arp(a) => b.arp(a.clone()),
            L3::Other(t) => b.ethertype(*t),
        };
        let mut f = b.payload(tag).pad60().build().expect("frame builds");
        if let L3::V4 { l4, frag, .. } = &self.l3 {
            let ihl = usize::from(f[l3_at] & 0x0f) * 4;
            if self.odd.no_udp_checksum && matches!(l4, L4::Udp(..)) && *frag != Frag::Later {
                f[l3_at + ihl + 6..l3_at + ihl + 8].fill(0);
            }
            if self.odd.bad_ip_checksum {
                f[l3_at + 10] ^= 0x5a;
            }
        }
        f
    }

    /// The description of a frame (its OXM fields), for frames made
    /// elsewhere (R2 traffic) that need a tag.
    fn of_frame(g: &Generator<'_>, frame: &[u8], in_port: u32, rng: &mut XorShift64) -> Desc {
        let mut key = FlowKey::default();
        wire::parse(frame, in_port, &mut key).expect("R2 traffic parses");
        let regs = Registers::default();
        let mut d = g.base(rng);
        d.vlan = None;
        d.odd = Odd::default();
        for &f in ALL_FIELDS.iter() {
            if let Some(v) = fields::value(&key, &regs, f) {
                g.set(&mut d, f, v, rng);
            }
        }
        if let L3::V4 { ttl, frag, .. } = &mut d.l3 {
            (*ttl, *frag) = (64, Frag::No);
        }
        d
    }
}

// ---------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------

/// One packet: where it arrives and its bytes.
struct Case {
    in_port: u32,
    frame: Vec<u8>,
}

/// An output of one packet: the port (select-group ports as the group)
/// and the frame.
type Out = (String, Vec<u8>);

/// The rule set under test, as both switches get it.
struct RuleSet<'a> {
    /// For messages.
    name: &'a str,
    config_path: &'a Path,
    config: &'a Config,
    /// `add-groups` / `add-flows` text for OVS (port names as in Sluice).
    groups_text: String,
    flows_text: String,
}

/// What Sluice did with every packet.
struct SluiceResults {
    /// `sluice trace` output per packet.
    text: Vec<String>,
    outcome: Vec<Outcome>,
}

fn write_pcap(path: &Path, frames: &[&[u8]]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for f in frames {
        w.write_packet(f).unwrap();
    }
    drop(w);
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut r = PcapReader::new(std::io::BufReader::new(file)).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record() {
        out.push(rec.unwrap().data);
    }
    out
}

/// The output ports of the `Result:` line of one `sluice trace` packet.
fn cli_ports(text: &str) -> Result<Vec<String>, String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("Result:"))
        .ok_or("no Result: line")?;
    Ok(line
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("output:"))
        .map(str::to_string)
        .collect())
}

/// `down`: ports whose link is down. `sluice trace` has no port state
/// (every port is up), so with ports down only the reference interpreter
/// runs, with that liveness.
fn run_sluice(rs: &RuleSet<'_>, cases: &[Case], dir: &Path, down: &BTreeSet<u32>) -> SluiceResults {
    let pipeline = rs.config.pipeline.as_ref().expect("a [pipeline]");
    if !down.is_empty() {
        let ports: Vec<u32> = rs.config.ports.iter().map(|p| p.ofport).collect();
        let mut reference = ReferencePipeline::new(ports, DEFAULT_SALT);
        for g in &pipeline.groups {
            reference.add_group(g.clone());
        }
        for f in &pipeline.flows {
            reference.add_flow(f.clone());
        }
        let live = |p: u32| !down.contains(&p);
        let outcome = cases
            .iter()
            .map(|c| {
                let mut m = PassThroughMeters;
                let mut env = Env::with_liveness(&mut m, &live);
                reference.process_with(&c.frame, c.in_port, Registers::default(), &mut env)
            })
            .collect();
        let text =
            vec![format!("(not traced by the binary: ports {down:?} are down)"); cases.len()];
        return SluiceResults { text, outcome };
    }
    let tracer = pipeline.tracer();
    let outcome = cases
        .iter()
        .map(|c| tracer.outcome(&c.frame, c.in_port, Registers::default()))
        .collect();
    let mut text = vec![String::new(); cases.len()];
    let in_ports: BTreeSet<u32> = cases.iter().map(|c| c.in_port).collect();
    for p in in_ports {
        let idx: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].in_port == p)
            .collect();
        let pcap = dir.join(format!("sluice-in-{p}.pcap"));
        let frames: Vec<&[u8]> = idx.iter().map(|&i| cases[i].frame.as_slice()).collect();
        write_pcap(&pcap, &frames);
        let out = Command::new(BIN)
            .args(["trace", "--config"])
            .arg(rs.config_path)
            .arg("--pcap")
            .arg(&pcap)
            .args(["--in-port", &p.to_string()])
            .output()
            .expect("run sluice trace");
        assert!(
            out.status.success(),
            "sluice trace failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8 trace");
        let sections: Vec<&str> = stdout.split("=== packet ").skip(1).collect();
        assert_eq!(
            sections.len(),
            idx.len(),
            "sluice trace printed {} packets of {}",
            sections.len(),
            idx.len()
        );
        for (&i, s) in idx.iter().zip(sections) {
            text[i] = format!("=== packet {s}");
        }
    }
    SluiceResults { text, outcome }
}

/// What `Datapath actions` of an `ofproto/trace` say.
#[derive(Debug, Default)]
struct OvsActions {
    /// Output datapath ports, in order.
    outputs: Vec<u32>,
    /// The packet goes on after a recirculation (select groups).
    recirc: bool,
    /// Controller actions that would send a packet-in.
    packet_ins: usize,
    /// Tokens not understood.
    unknown: Vec<String>,
}

/// Splits `s` at the commas outside parentheses.
fn top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

fn parse_actions(s: &str, out: &mut OvsActions) {
    for tok in top_level(s) {
        let head = tok.split('(').next().unwrap_or("");
        if let Ok(n) = tok.parse::<u32>() {
            out.outputs.push(n);
        } else if let Some(inner) = tok.strip_prefix("clone(").and_then(|t| t.strip_suffix(')')) {
            parse_actions(inner, out);
        } else if head == "userspace" && tok.contains("controller(") {
            // reason=2 is OFPR_INVALID_TTL: a TTL expiry, which OF1.3.5
            // drops unless the controller asked for those packet-ins
            // (there is no controller).
            if !tok.contains("dont_send=1") && !tok.contains("reason=2,") {
                out.packet_ins += 1;
            }
        } else if head == "recirc" {
            out.recirc = true;
        } else if !matches!(
            head,
            "drop" | "set" | "set_masked" | "push_vlan" | "pop_vlan" | "hash"
        ) {
            out.unknown.push(tok.to_string());
        }
    }
}

fn ovs_actions(trace: &str) -> OvsActions {
    let mut out = OvsActions::default();
    match trace
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
    {
        Some(a) => parse_actions(a, &mut out),
        None => out.unknown.push("(no Datapath actions line)".into()),
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What OVS did with every packet.
struct OvsResults {
    trace: Vec<String>,
    /// Frames sent, per packet: (OpenFlow port, bytes).
    sent: Vec<Vec<(u32, Vec<u8>)>>,
}

/// Traces and sends every packet through OVS (see the module docs).
fn run_ovs(ovs: &mut Ovs, br: &Bridge, cases: &[Case]) -> OvsResults {
    const BATCH: usize = 40;
    let rx_before: u64 = {
        let c = ovs.port_counters();
        br.ports
            .iter()
            .map(|p| c.get(&p.name).map_or(0, |x| x.0))
            .sum()
    };
    // Frames of earlier runs stay in the pcaps.
    let earlier: Vec<usize> = br
        .ports
        .iter()
        .map(|p| read_pcap(&p.tx_pcap).len())
        .collect();
    let mut trace = Vec::with_capacity(cases.len());
    let mut sent_so_far = 0u64;
    for chunk in cases.chunks(BATCH) {
        let mut reqs = Vec::with_capacity(2 * chunk.len());
        for c in chunk {
            let port = br.by_ofport(c.in_port).expect("ingress port");
            let h = hex(&c.frame);
            reqs.push((
                "ofproto/trace",
                vec![br.name.clone(), format!("in_port={}", c.in_port), h.clone()],
            ));
            reqs.push(("netdev-dummy/receive", vec![port.name.clone(), h]));
        }
        let replies = ovs.ctl().call_many(&reqs);
        for (i, r) in replies.into_iter().enumerate() {
            match (i % 2, r) {
                (0, Ok(t)) => trace.push(t),
                (0, Err(e)) => trace.push(format!("(ofproto/trace failed: {e})")),
                (_, Ok(_)) => {}
                (_, Err(e)) => panic!("netdev-dummy/receive failed: {e}"),
            }
        }
        sent_so_far += chunk.len() as u64;
        // The dummy rx queue holds 100 packets: wait until the batch is in.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let c = ovs.port_counters();
            let rx: u64 = br
                .ports
                .iter()
                .map(|p| c.get(&p.name).map_or(0, |x| x.0))
                .sum();
            if rx - rx_before >= sent_so_far {
                assert_eq!(rx - rx_before, sent_so_far, "OVS received more than sent");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "OVS received {} of {sent_so_far} packets",
                rx - rx_before
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Every output written: the tx counters agree with the pcaps.
    let mut sent = vec![Vec::new(); cases.len()];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let counters = ovs.port_counters();
        let mut all = true;
        for s in sent.iter_mut() {
            s.clear();
        }
        for (p, &skip) in br.ports.iter().zip(&earlier) {
            let frames = read_pcap(&p.tx_pcap);
            let tx = counters.get(&p.name).map_or(0, |x| x.1);
            all &= frames.len() as u64 == tx;
            for f in frames.into_iter().skip(skip) {
                match find_tag(&f) {
                    Some(i) if i < cases.len() => sent[i].push((p.ofport, f)),
                    _ => panic!("OVS sent an untagged frame on {}: {}", p.name, hex(&f)),
                }
            }
        }
        if all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "OVS tx pcaps do not match its tx counters"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    OvsResults { trace, sent }
}

/// Ports that are outputs of select-group buckets, with their class name.
fn select_classes(config: &Config) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for g in &config.pipeline.as_ref().unwrap().groups {
        if g.kind != GroupType::Select {
            continue;
        }
        let ports: Vec<u32> = g
            .buckets
            .iter()
            .flat_map(|b| &b.actions)
            .filter_map(|a| match a {
                Action::Output(OutPort::Port(n)) => Some(*n),
                _ => None,
            })
            .collect();
        let name = format!(
            "select{}({})",
            g.id,
            ports
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("|")
        );
        for p in ports {
            out.insert(p, name.clone());
        }
    }
    out
}

/// Whether two sorted lists of outputs agree. `ingress`: the select
/// class of the ingress port, if it is a select bucket's port; then that
/// class's outputs may be missing on one side (the bucket chosen there was
/// the ingress port, which sends nothing).
fn agree<T: PartialEq>(
    a: &[T],
    b: &[T],
    class_of: impl Fn(&T) -> String,
    ingress: Option<&str>,
) -> bool {
    if a == b {
        return true;
    }
    let Some(c) = ingress else { return false };
    let (a_sel, a_rest): (Vec<&T>, Vec<&T>) = a.iter().partition(|x| class_of(x) == c);
    let (b_sel, b_rest): (Vec<&T>, Vec<&T>) = b.iter().partition(|x| class_of(x) == c);
    a_rest == b_rest && (a_sel.is_empty() || b_sel.is_empty() || a_sel == b_sel)
}

/// Coverage of the rules by the packets (from Sluice's traces).
#[derive(Default)]
struct Coverage {
    hits: BTreeMap<(u8, u32), usize>,
    misses: BTreeMap<u8, usize>,
    buckets: BTreeSet<(u32, usize)>,
    outputs: BTreeMap<u32, usize>,
    drops: BTreeMap<&'static str, usize>,
}

impl Coverage {
    fn add(&mut self, o: &Outcome) {
        for s in &o.trace {
            match s {
                TraceStep::Lookup {
                    table,
                    hit: Some(e),
                } => *self.hits.entry((*table, e.source.line)).or_default() += 1,
                TraceStep::Lookup { table, hit: None } => {
                    *self.misses.entry(*table).or_default() += 1
                }
                TraceStep::Bucket { group, index, .. } => {
                    self.buckets.insert((*group, *index));
                }
                _ => {}
            }
        }
        for e in &o.outputs {
            *self.outputs.entry(e.port).or_default() += 1;
        }
        if o.outputs.is_empty() {
            *self
                .drops
                .entry(o.dropped.map_or("no_output", |d| d.as_str()))
                .or_default() += 1;
        }
    }
}

/// Runs `cases` through both switches and compares them; panics with
/// every disagreement.
fn compare(
    rs: &RuleSet<'_>,
    ovs: &mut Ovs,
    br: &Bridge,
    cases: &[Case],
    dir: &Path,
    down: &BTreeSet<u32>,
) -> Coverage {
    let t0 = Instant::now();
    let ours = run_sluice(rs, cases, dir, down);
    let t_sluice = t0.elapsed();
    let theirs = run_ovs(ovs, br, cases);
    let t_ovs = t0.elapsed() - t_sluice;
    let classes = select_classes(rs.config);
    let class = |p: u32| classes.get(&p).cloned().unwrap_or_else(|| p.to_string());
    let odp_to_of: BTreeMap<u32, u32> = br.ports.iter().map(|p| (p.odp, p.ofport)).collect();

    let mut cov = Coverage::default();
    let mut failures = Vec::new();
    let (mut n_out, mut n_drop, mut n_recirc) = (0, 0, 0);
    for (i, case) in cases.iter().enumerate() {
        let o = &ours.outcome[i];
        cov.add(o);
        let mut why = Vec::new();
        // Outputs to a port whose link is down are not compared (they go
        // nowhere; the dummy port still writes them to its pcap).
        let mut s: Vec<Out> = o
            .outputs
            .iter()
            .filter(|e| !down.contains(&e.port))
            .map(|e| (class(e.port), e.data.clone()))
            .collect();
        s.sort();
        let mut d: Vec<Out> = theirs.sent[i]
            .iter()
            .filter(|(p, _)| !down.contains(p))
            .map(|(p, f)| (class(*p), f.clone()))
            .collect();
        d.sort();
        // The binary's trace says the same as the in-process tracer.
        match cli_ports(&ours.text[i]) {
            _ if !down.is_empty() => {}
            Ok(ports) => {
                let want: Vec<String> = o.outputs.iter().map(|e| e.port.to_string()).collect();
                if ports != want {
                    why.push(format!(
                        "sluice trace prints outputs {ports:?}, its tracer {want:?}"
                    ));
                }
            }
            Err(e) => why.push(format!("sluice trace: {e}")),
        }
        if ours.text[i].contains("WARNING") {
            why.push("sluice trace warns (compiled pipeline and reference disagree)".into());
        }
        // Sluice vs the OVS datapath: ports and bytes.
        let ingress = classes.get(&case.in_port).map(String::as_str);
        if !agree(&s, &d, |x| x.0.clone(), ingress) {
            why.push("outputs differ from the OVS datapath's".into());
        }
        // Sluice vs ofproto/trace: ports.
        let a = ovs_actions(&theirs.trace[i]);
        if !a.unknown.is_empty() {
            why.push(format!(
                "OVS datapath actions not understood: {:?}",
                a.unknown
            ));
        }
        if a.recirc {
            n_recirc += 1;
        } else {
            let mut t: Vec<String> = a
                .outputs
                .iter()
                .filter(|p| odp_to_of.get(p).map_or(true, |n| !down.contains(n)))
                .map(|p| odp_to_of.get(p).map_or(format!("odp{p}"), |&n| class(n)))
                .collect();
            t.sort();
            let mut sp: Vec<String> = s.iter().map(|x| x.0.clone()).collect();
            sp.sort();
            if !agree(&t, &sp, |x| x.clone(), ingress) {
                why.push(format!("ofproto/trace outputs {t:?}, Sluice {sp:?}"));
            }
        }
        if a.packet_ins != o.packet_ins.len() {
            why.push(format!(
                "packet-ins: OVS {}, Sluice {}",
                a.packet_ins,
                o.packet_ins.len()
            ));
        }
        if s.is_empty() {
            n_drop += 1;
        }
        n_out += s.len();
        if !why.is_empty() {
            failures.push((i, why, s, d));
        }
    }
    eprintln!(
        "{}: {} packets compared: {n_out} outputs, {n_drop} drops, {n_recirc} through a select group \
         after recirculation in OVS (ports from its datapath); sluice {:.1} s, OVS {:.1} s",
        rs.name,
        cases.len(),
        t_sluice.as_secs_f64(),
        t_ovs.as_secs_f64()
    );
    if failures.is_empty() {
        return cov;
    }
    let name = |p: u32| {
        br.by_ofport(p)
            .map_or(p.to_string(), |x| format!("{} ({p})", x.name))
    };
    for (i, why, s, d) in failures.iter().take(8) {
        let c = &cases[*i];
        eprintln!(
            "\n######## {}: packet #{i} on port {} disagrees:\n  - {}\npacket: {}",
            rs.name,
            name(c.in_port),
            why.join("\n  - "),
            hex(&c.frame)
        );
        for (who, outs) in [("Sluice", s), ("OVS datapath", d)] {
            eprintln!("{who} outputs:");
            for (p, f) in outs {
                eprintln!("  {p}: {}", hex(f));
            }
        }
        eprintln!("--- sluice trace:\n{}", ours.text[*i]);
        eprintln!("--- ovs-appctl ofproto/trace:\n{}", theirs.trace[*i]);
    }
    panic!(
        "{}: {} of {} packets disagree between Sluice and Open vSwitch (the first {} printed above)",
        rs.name,
        failures.len(),
        cases.len(),
        failures.len().min(8)
    );
}

fn seed() -> u64 {
    let seed = std::env::var("SLUICE_OVS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("seed {seed} (repeat with SLUICE_OVS_SEED={seed})");
    seed
}

fn packet_count(default: usize) -> usize {
    std::env::var("SLUICE_OVS_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn ovs_ports(config: &Config) -> Vec<(String, u32)> {
    config
        .ports
        .iter()
        .map(|p| (p.name.clone(), p.ofport))
        .collect()
}

/// The flow and group strings of a config's `[pipeline]`, verbatim.
fn inline_rules(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let list = |key: &str| -> String {
        v["pipeline"]
            .get(key)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .map(|s| format!("{}\n", s.as_str().expect("a string")))
                    .collect()
            })
            .unwrap_or_default()
    };
    (list("groups"), list("flows"))
}

#[test]
fn example_openflow_config_agrees_with_ovs() {
    let Some(tools) = require_ovs() else { return };
    let dir = scratch("ovs-trace");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/openflow.toml");
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let pipeline = config.pipeline.as_ref().expect("[pipeline]");
    let (groups_text, flows_text) = inline_rules(&path);
    let rs = RuleSet {
        name: "config/openflow.toml",
        config_path: &path,
        config: &config,
        groups_text,
        flows_text,
    };

    let mut rng = XorShift64::new(seed());
    let ports: Vec<u32> = config.ports.iter().map(|p| p.ofport).collect();
    let g = Generator::new(&pipeline.flows, &pipeline.groups, ports);
    let cases: Vec<Case> = (0..packet_count(3000))
        .map(|i| {
            let d = g.packet(&mut rng);
            Case {
                in_port: d.in_port,
                frame: d.build(&tag(i)),
            }
        })
        .collect();

    let mut ovs = Ovs::start(tools, &dir.join("ovs"));
    let br = ovs.add_bridge("br0", &ovs_ports(&config));
    ovs.load(&br, &rs.groups_text, &rs.flows_text, pipeline.flows.len());
    let cov = compare(&rs, &mut ovs, &br, &cases, &dir, &BTreeSet::new());

    // The packets exercised the whole pipeline.
    eprintln!(
        "coverage: {} of {} flows hit; table misses {:?}; group buckets {:?}; outputs by port {:?}; drops {:?}",
        cov.hits.len(),
        pipeline.flows.len(),
        cov.misses,
        cov.buckets,
        cov.outputs,
        cov.drops
    );
    if cases.len() >= 3000 {
        for f in &pipeline.flows {
            assert!(
                cov.hits.contains_key(&(f.table, f.source.line)),
                "no packet hit the flow on line {} (table {})",
                f.source.line,
                f.table
            );
        }
        // Tables 0 and 1 have no table-miss entry (table 2 has a default
        // route per tenant, table 3 a priority-0 drop).
        for t in 0..=1 {
            assert!(cov.misses.contains_key(&t), "no table miss in table {t}");
        }
        for gr in &pipeline.groups {
            for b in 0..gr.buckets.len() {
                // Fast failover uses its first bucket while every port is up.
                if gr.kind == GroupType::FastFailover && b > 0 {
                    continue;
                }
                assert!(
                    cov.buckets.contains(&(gr.id, b)),
                    "bucket {b} of group {} never ran",
                    gr.id
                );
            }
        }
    }

    // Fast failover: the uplink's link goes down; the default routes of
    // tenant A move to the backup port.
    let uplink = config.ports.iter().find(|p| p.name == "uplink").unwrap();
    ovs.ctl()
        .call("netdev-dummy/set-admin-state", &["uplink", "down"])
        .expect("set the uplink down");
    // Megaflows cached before still output to the uplink: drop them.
    ovs.ctl()
        .call("revalidator/purge", &[])
        .expect("revalidator/purge");
    let down: BTreeSet<u32> = [uplink.ofport].into();
    let cases: Vec<Case> = (0..packet_count(3000) / 3)
        .map(|i| {
            let d = g.packet(&mut rng);
            Case {
                in_port: d.in_port,
                frame: d.build(&tag(i)),
            }
        })
        .collect();
    let rs = RuleSet {
        name: "config/openflow.toml with the uplink down",
        ..rs
    };
    let cov = compare(&rs, &mut ovs, &br, &cases, &dir, &down);
    drop(ovs);
    let backup = config.ports.iter().find(|p| p.name == "backup").unwrap();
    eprintln!("uplink down: outputs by port {:?}", cov.outputs);
    assert!(
        cov.outputs.contains_key(&backup.ofport),
        "nothing failed over to the backup port"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn r2_rules_agree_with_ovs() {
    let Some(tools) = require_ovs() else { return };
    let dir = scratch("ovs-trace-r2");
    let seed = seed();
    // The benchmark's R2: 100 tenants, 1,000 ACL entries, 10,000 routes.
    let (flows_text, routes) = workload::r2(100, 1000, 10_000, seed);
    std::fs::write(dir.join("r2.flows"), &flows_text).unwrap();
    let path = dir.join("r2.toml");
    std::fs::write(
        &path,
        "[workers]\ncores = [1]\n\n\
         [[port]]\nname = \"in\"\ndevice = \"net_null0\"\nofport = 1\n\n\
         [[port]]\nname = \"out\"\ndevice = \"net_null1,no-rx=1\"\nofport = 2\n\n\
         [pipeline]\nflows_file = \"r2.flows\"\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let pipeline = config.pipeline.as_ref().expect("[pipeline]");
    let rs = RuleSet {
        name: "R2",
        config_path: &path,
        config: &config,
        groups_text: String::new(),
        flows_text,
    };

    // Half the benchmark's own traffic (every packet routed), half walks
    // through the ACL (drops, prefixes and port-range edges) and misses.
    let mut rng = XorShift64::new(seed ^ 0x5eed);
    let g = Generator::new(&pipeline.flows, &[], vec![1, 2]);
    let n = packet_count(3000) / 2;
    let mut descs: Vec<Desc> = workload::traffic(n / 2, 100, &routes, seed)
        .iter()
        .map(|f| Desc::of_frame(&g, f, 1, &mut rng))
        .collect();
    descs.extend((0..n - n / 2).map(|_| g.packet(&mut rng)));
    let cases: Vec<Case> = descs
        .iter()
        .enumerate()
        .map(|(i, d)| Case {
            in_port: d.in_port,
            frame: d.build(&tag(i)),
        })
        .collect();

    let mut ovs = Ovs::start(tools, &dir.join("ovs"));
    let br = ovs.add_bridge("br-r2", &ovs_ports(&config));
    ovs.load(&br, "", &rs.flows_text, pipeline.flows.len());
    let cov = compare(&rs, &mut ovs, &br, &cases, &dir, &BTreeSet::new());
    drop(ovs);
    eprintln!(
        "coverage: distinct flows hit per table {:?}; table misses {:?}; outputs by port {:?}; drops {:?}",
        (0..3)
            .map(|t| cov.hits.keys().filter(|(x, _)| *x == t).count())
            .collect::<Vec<_>>(),
        cov.misses,
        cov.outputs,
        cov.drops
    );
    if n >= 1000 {
        // The ACL's entries (beyond the 100 per-tenant defaults) were hit,
        // and routes were taken.
        let acl = cov.hits.keys().filter(|(t, _)| *t == 1).count();
        assert!(acl > 200, "only {acl} ACL entries hit");
        let routed = cov.outputs.get(&2).copied().unwrap_or(0);
        assert!(routed > n / 4, "only {routed} of {n} packets routed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
