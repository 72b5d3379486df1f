//! `[[tenant]]` validation: every kind of match, the limits and their
//! defaults, and each error located at the offending value.

use super::*;
use crate::config::{Config, ConfigError};
use crate::meter::units::{default_burst_bytes, default_burst_packets};
use crate::meter::{Algorithm, Mode, PacketCap};

const CORES: &[usize] = &[0, 1];

const BASE: &str = r#"
[workers]
cores = [1]

[[port]]
name = "vf1"
device = "net_null0"

[[port]]
name = "vf2"
device = "net_null1"

[[port]]
name = "vf3"
device = "net_null2"
"#;

fn parse(tenants: &str) -> Result<Vec<TenantConfig>, ConfigError> {
    Config::parse("t.toml", &format!("{BASE}{tenants}"), CORES).map(|c| c.tenants)
}

fn ok(tenants: &str) -> Vec<TenantConfig> {
    parse(tenants).unwrap_or_else(|e| panic!("rejected: {e}\n{tenants}"))
}

/// Line and column (1-based, in characters) of the `nth` occurrence of
/// `needle` in the full config text.
fn pos(tenants: &str, needle: &str, nth: usize) -> (usize, usize) {
    let text = format!("{BASE}{tenants}");
    let (at, _) = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle:?} #{nth} not in the text"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// The error must point at the `nth` `needle` and its message contain
/// every one of `words`.
#[track_caller]
fn err_at(tenants: &str, needle: &str, nth: usize, words: &[&str]) -> ConfigError {
    let e = match parse(tenants) {
        Ok(t) => panic!("accepted: {t:?}\n{tenants}"),
        Err(e) => e,
    };
    assert_eq!(
        (e.line, e.col),
        pos(tenants, needle, nth),
        "wrong place for {needle:?}: {e}"
    );
    for w in words {
        assert!(e.message.contains(w), "{w:?} not in: {e}");
    }
    e
}

#[test]
fn no_tenants_is_fine() {
    assert!(ok("").is_empty());
}

#[test]
fn each_kind_of_match() {
    let t = ok(r#"
[[tenant]]
name = "acme"
match = { ports = ["vf1", "vf3"] }
rate = "2.5Gbit"

[[tenant]]
name = "beta"
match = { ports = ["vf2"] }
pps = 1_000_000
"#);
    assert_eq!(t[0].selector, TenantMatch::Ports(vec![0, 2]));
    assert_eq!(t[1].selector, TenantMatch::Ports(vec![1]));
    assert_eq!(t[0].selector.kind(), MatchKind::Ports);

    let t = ok(r#"
[[tenant]]
name = "a"
match = { vlans = [100, 4094] }
rate = "1Mbit"
"#);
    assert_eq!(t[0].selector, TenantMatch::Vlans(vec![100, 4094]));

    let t = ok(r#"
[[tenant]]
name = "a"
match = { src = ["10.1.0.0/16", "2001:db8::/32", "192.0.2.7"] }
rate = "1Mbit"
"#);
    assert_eq!(
        t[0].selector,
        TenantMatch::Src(vec![
            IpPrefix::V4 {
                addr: 0x0a01_0000,
                len: 16
            },
            IpPrefix::V6 {
                addr: 0x2001_0db8 << 96,
                len: 32
            },
            IpPrefix::V4 {
                addr: 0xc000_0207,
                len: 32
            },
        ])
    );

    let t = ok(r#"
[[tenant]]
name = "a"
match = { metadata = "0x10/0xff" }
rate = "1Mbit"
[[tenant]]
name = "b"
match = { metadata = "0x11/0xff" }
rate = "1Mbit"
[[tenant]]
name = "c"
match = { metadata = "256" }
rate = "1Mbit"
"#);
    assert_eq!(
        t[0].selector,
        TenantMatch::Metadata {
            value: 0x10,
            mask: 0xff
        }
    );
    assert_eq!(
        t[2].selector,
        TenantMatch::Metadata {
            value: 256,
            mask: u64::MAX
        }
    );
}

#[test]
fn limits_and_defaults() {
    let t = ok(r#"
[[tenant]]
name = "police"
match = { ports = ["vf1"] }
rate = "2.5Gbit"
burst = "256KiB"

[[tenant]]
name = "default-burst"
match = { ports = ["vf2"] }
rate = "100Mbit"
pps = "1Mpps"

[[tenant]]
name = "packets"
match = { ports = ["vf3"] }
pps = 50_000
burst = 64
"#);
    assert_eq!(
        t[0].policer.algorithm,
        Algorithm::Police {
            rate: 2_500_000_000,
            burst: 256 * 1024
        }
    );
    assert_eq!(t[0].policer.mode, Mode::Bytes);
    assert_eq!(t[0].policer.red, Action::Drop);
    assert_eq!(t[0].limits.rate, Some(2_500_000_000));
    assert_eq!(
        t[1].policer.algorithm,
        Algorithm::Police {
            rate: 100_000_000,
            burst: default_burst_bytes(100_000_000)
        }
    );
    assert_eq!(
        t[1].policer.packet_cap,
        Some(PacketCap {
            pps: 1_000_000,
            burst: default_burst_packets(1_000_000)
        })
    );
    assert_eq!(t[2].policer.mode, Mode::Packets);
    assert_eq!(
        t[2].policer.algorithm,
        Algorithm::Police {
            rate: 50_000,
            burst: 64
        }
    );
}

#[test]
fn markers_and_actions() {
    let t = ok(r#"
[[tenant]]
name = "sr"
match = { vlans = [1] }
rate = "10Mbit"
burst = "64KiB"
color = "srtcm"
excess_burst = "128KiB"
exceed = { yellow = "remark", red = "drop" }
remark_dscp = { yellow = 10 }

[[tenant]]
name = "tr"
match = { vlans = [2] }
rate = "10Mbit"
color = "trtcm"
peak_rate = "20Mbit"
peak_burst = "1MiB"
exceed = "remark"
remark_dscp = 8

[[tenant]]
name = "mark-only"
match = { vlans = [3] }
rate = "10Mbit"
color = "trtcm"
peak_rate = "10Mbit"
exceed = "pass"
"#);
    let p = &t[0].policer;
    assert_eq!(
        p.algorithm,
        Algorithm::SrTcm {
            cir: 10_000_000,
            cbs: 65536,
            ebs: 131072
        }
    );
    assert_eq!((p.yellow, p.red), (Action::SetDscp(10), Action::Drop));
    let p = &t[1].policer;
    assert_eq!(
        p.algorithm,
        Algorithm::TrTcm {
            cir: 10_000_000,
            cbs: default_burst_bytes(10_000_000),
            pir: 20_000_000,
            pbs: 1 << 20
        }
    );
    assert_eq!((p.yellow, p.red), (Action::SetDscp(8), Action::SetDscp(8)));
    let p = &t[2].policer;
    assert_eq!((p.yellow, p.red), (Action::Forward, Action::Forward));
}

const ONE: &str = r#"
[[tenant]]
name = "acme"
match = { ports = ["vf1"] }
"#;

#[test]
fn bad_units_are_located_with_the_unit_error() {
    let t = format!("{ONE}rate = \"2.5Gbt\"\n");
    err_at(&t, "\"2.5Gbt\"", 0, &["rate:", "unknown unit", "Gbit"]);
    let t = format!("{ONE}rate = 1000\n");
    err_at(&t, "1000", 0, &["rate:", "missing unit"]);
    let t = format!("{ONE}rate = \"1Gbit\"\nburst = \"12 parsecs\"\n");
    err_at(&t, "\"12 parsecs\"", 0, &["burst:", "unknown unit", "KiB"]);
    let t = format!("{ONE}pps = \"10 Mbit\"\n");
    err_at(&t, "\"10 Mbit\"", 0, &["pps:", "unknown unit", "Mpps"]);
    let t = format!("{ONE}pps = 0\n");
    err_at(&t, "0\n", 0, &["pps:", "above 0"]);
    let t = format!("{ONE}rate = \"0Mbit\"\n");
    err_at(&t, "\"0Mbit\"", 0, &["zero"]);
    let t = format!("{ONE}rate = 2.5\n");
    err_at(&t, "2.5", 0, &["floating point", "unit"]);
    let t = format!("{ONE}rate = \"1Gbit\"\nburst = 10\n");
    err_at(&t, "10\n", 0, &["burst:", "at least 64"]);
    let t = format!("{ONE}pps = 1000\nburst = \"64KiB\"\n");
    err_at(&t, "\"64KiB\"", 0, &["count packets", "burst = 64"]);
    let t = format!("{ONE}rate = \"9Tbit\"\n");
    err_at(&t, "\"9Tbit\"", 0, &["above the supported maximum"]);
    let t = format!("{ONE}rate = \"1Gbit\"\nburst = \"1TiB\"\n");
    err_at(&t, "\"1TiB\"", 0, &["above the supported maximum"]);
}

#[test]
fn missing_rate_and_missing_match() {
    err_at(ONE, "\"acme\"", 0, &["no limit", "rate"]);
    let t = "[[tenant]]\nname = \"x\"\nrate = \"1Mbit\"\n";
    err_at(t, "\"x\"", 0, &["no match"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = {}\nrate = \"1Mbit\"\n";
    err_at(t, "{}", 0, &["exactly one", "found none"]);
    let t =
        "[[tenant]]\nname = \"x\"\nmatch = { ports = [\"vf1\"], vlans = [1] }\nrate = \"1Mbit\"\n";
    err_at(t, "{ ports", 0, &["exactly one", "ports and vlans"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { ports = [] }\nrate = \"1Mbit\"\n";
    err_at(t, "[]", 0, &["match.ports is empty"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { port = [\"vf1\"] }\nrate = \"1Mbit\"\n";
    err_at(t, "port =", 0, &["unknown field", "ports"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { ports = [\"vf1\"] }\nrate = \"1Mbit\"\nrat = 1\n";
    err_at(t, "rat =", 0, &["unknown field"]);
}

#[test]
fn unknown_port_and_bad_values() {
    let t = "[[tenant]]\nname = \"x\"\nmatch = { ports = [\"vf1\", \"vf9\"] }\nrate = \"1Mbit\"\n";
    err_at(t, "\"vf9\"", 0, &["unknown port \"vf9\""]);
    for (vid, word) in [
        ("0", "priority tag"),
        ("4095", "1..=4094"),
        ("-3", "1..=4094"),
    ] {
        let t = format!(
            "[[tenant]]\nname = \"x\"\nmatch = {{ vlans = [7, {vid}] }}\nrate = \"1Mbit\"\n"
        );
        err_at(&t, &format!("{vid}]"), 0, &[word]);
    }
    let t = "[[tenant]]\nname = \"x\"\nmatch = { src = [\"10.1.0.1/16\"] }\nrate = \"1Mbit\"\n";
    err_at(t, "\"10.1.0.1/16\"", 0, &["host bits", "10.1.0.0/16"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { src = [\"10.1.0.0/33\"] }\nrate = \"1Mbit\"\n";
    err_at(t, "\"10.1.0.0/33\"", 0, &["0..=32"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { src = [\"10.1.0/16\"] }\nrate = \"1Mbit\"\n";
    err_at(t, "\"10.1.0/16\"", 0, &["not an IPv4 or IPv6 address"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { metadata = \"0x110/0xff\" }\nrate = \"1Mbit\"\n";
    err_at(t, "\"0x110/0xff\"", 0, &["outside mask"]);
    let t = "[[tenant]]\nname = \"x\"\nmatch = { metadata = \"0xzz\" }\nrate = \"1Mbit\"\n";
    err_at(t, "\"0xzz\"", 0, &["not a 64-bit number"]);
    let t = "[[tenant]]\nname = \"1x\"\nmatch = { ports = [\"vf1\"] }\nrate = \"1Mbit\"\n";
    err_at(t, "\"1x\"", 0, &["bad tenant name"]);
}

#[test]
fn duplicate_names() {
    let t = r#"
[[tenant]]
name = "acme"
match = { ports = ["vf1"] }
rate = "1Mbit"
[[tenant]]
name = "acme"
match = { ports = ["vf2"] }
rate = "1Mbit"
"#;
    let (line, _) = pos(t, "\"acme\"", 0);
    err_at(
        t,
        "\"acme\"",
        1,
        &["duplicate tenant name", &format!("line {line}")],
    );
}

fn two(a: &str, b: &str) -> String {
    format!(
        "[[tenant]]\nname = \"acme\"\nmatch = {a}\nrate = \"1Mbit\"\n\n[[tenant]]\nname = \"beta\"\nmatch = {b}\nrate = \"1Mbit\"\n"
    )
}

#[test]
fn overlapping_ports_and_vlans() {
    let t = two(
        r#"{ ports = ["vf1", "vf2"] }"#,
        r#"{ ports = ["vf3", "vf2"] }"#,
    );
    err_at(
        &t,
        "\"vf2\"",
        2,
        &[
            "port \"vf2\" is already claimed by tenant \"acme\"",
            "at most one tenant",
        ],
    );
    let t = two(r#"{ ports = ["vf1", "vf1"] }"#, r#"{ ports = ["vf3"] }"#);
    err_at(&t, "\"vf1\"", 2, &["port \"vf1\" is listed twice"]);
    let t = two("{ vlans = [10, 20] }", "{ vlans = [30, 20] }");
    err_at(
        &t,
        "20",
        1,
        &["VLAN 20 is already claimed by tenant \"acme\""],
    );
}

#[test]
fn overlapping_prefixes() {
    // Nested, later tenant inside the earlier one.
    let t = two(
        r#"{ src = ["10.1.0.0/16"] }"#,
        r#"{ src = ["192.0.2.0/24", "10.1.2.0/24"] }"#,
    );
    err_at(
        &t,
        "\"10.1.2.0/24\"",
        0,
        &["prefix 10.1.2.0/24 overlaps prefix 10.1.0.0/16 of tenant \"acme\""],
    );
    // Nested the other way: the later, wider prefix is the offender.
    let t = two(
        r#"{ src = ["10.1.2.0/24"] }"#,
        r#"{ src = ["10.0.0.0/8"] }"#,
    );
    err_at(
        &t,
        "\"10.0.0.0/8\"",
        0,
        &["overlaps prefix 10.1.2.0/24 of tenant \"acme\""],
    );
    // Equal IPv6 prefixes, written differently.
    let t = two(
        r#"{ src = ["2001:db8::/32"] }"#,
        r#"{ src = ["2001:0db8:0::/32"] }"#,
    );
    err_at(
        &t,
        "\"2001:0db8:0::/32\"",
        0,
        &["is already claimed by tenant \"acme\""],
    );
    // The default route overlaps everything of its family, not the other.
    let t = two(
        r#"{ src = ["0.0.0.0/0"] }"#,
        r#"{ src = ["2001:db8::/32"] }"#,
    );
    assert_eq!(ok(&t).len(), 2);
    let t = two(r#"{ src = ["0.0.0.0/0"] }"#, r#"{ src = ["203.0.113.9"] }"#);
    err_at(&t, "\"203.0.113.9\"", 0, &["overlaps prefix 0.0.0.0/0"]);
    // Within one tenant.
    let t = two(
        r#"{ src = ["10.0.0.0/8", "10.9.0.0/16"] }"#,
        r#"{ src = ["11.0.0.0/8"] }"#,
    );
    err_at(&t, "\"10.9.0.0/16\"", 0, &["listed earlier in this tenant"]);
    // Adjacent prefixes do not overlap.
    let t = two(
        r#"{ src = ["10.0.0.0/9", "10.128.0.0/9"] }"#,
        r#"{ src = ["11.0.0.0/8", "2001:db8::/33", "2001:db8:8000::/33"] }"#,
    );
    assert_eq!(ok(&t).len(), 2);
}

#[test]
fn overlapping_metadata() {
    // 0x10/0xff and 0x0/0xf agree on the low nibble: 0x10 matches both.
    let t = two(
        r#"{ metadata = "0x10/0xff" }"#,
        r#"{ metadata = "0x0/0xf" }"#,
    );
    err_at(
        &t,
        "\"0x0/0xf\"",
        0,
        &[
            "overlaps metadata 0x10/0xff of tenant \"acme\"",
            "0x10 matches both",
        ],
    );
    let t = two(
        r#"{ metadata = "0x10/0xff" }"#,
        r#"{ metadata = "0x10/0xff" }"#,
    );
    err_at(
        &t,
        "\"0x10/0xff\"",
        1,
        &["already claimed by tenant \"acme\""],
    );
    // Disjoint on a common bit.
    let t = two(
        r#"{ metadata = "0x10/0xff" }"#,
        r#"{ metadata = "0x1/0xf" }"#,
    );
    assert_eq!(ok(&t).len(), 2);
    // Three masks: the conflict reported is the first in file order.
    let t = format!(
        "{}\n[[tenant]]\nname = \"gamma\"\nmatch = {{ metadata = \"0x100/0xf00\" }}\nrate = \"1Mbit\"\n",
        two(r#"{ metadata = "0x10/0xff" }"#, r#"{ metadata = "0x1/0xf" }"#)
    );
    err_at(&t, "\"0x100/0xf00\"", 0, &["of tenant \"acme\""]);
}

#[test]
fn mixed_kinds_are_refused() {
    let t = two(r#"{ ports = ["vf1"] }"#, "{ vlans = [100] }");
    err_at(
        &t,
        "{ vlans",
        0,
        &[
            "tenant \"beta\" matches by vlans but tenant \"acme\" matches by ports",
            "same kind",
            "metadata",
        ],
    );
}

#[test]
fn marker_key_errors() {
    let t = format!("{ONE}rate = \"1Mbit\"\ncolor = \"srtcmm\"\n");
    err_at(&t, "\"srtcmm\"", 0, &["unknown color", "trtcm"]);
    let t = format!("{ONE}rate = \"1Mbit\"\ncolor = \"trtcm\"\n");
    err_at(&t, "\"trtcm\"", 0, &["needs peak_rate"]);
    let t = format!("{ONE}rate = \"10Mbit\"\ncolor = \"trtcm\"\npeak_rate = \"5Mbit\"\n");
    err_at(&t, "\"5Mbit\"", 0, &["at least the rate"]);
    let t = format!("{ONE}rate = \"10Mbit\"\npeak_rate = \"20Mbit\"\n");
    err_at(
        &t,
        "\"20Mbit\"",
        0,
        &["only to color = \"trtcm\"", "police"],
    );
    let t = format!("{ONE}rate = \"10Mbit\"\ncolor = \"trtcm\"\npeak_rate = \"20Mbit\"\nexcess_burst = \"1MiB\"\n");
    err_at(&t, "\"1MiB\"", 0, &["only to color = \"srtcm\""]);
}

#[test]
fn exceed_and_remark_errors() {
    let t = format!("{ONE}rate = \"1Mbit\"\nexceed = \"remark\"\n");
    err_at(&t, "\"remark\"", 0, &["no DSCP for red"]);
    let t = format!("{ONE}rate = \"1Mbit\"\nexceed = \"remark\"\nremark_dscp = 64\n");
    err_at(&t, "64", 0, &["out of range", "0..=63"]);
    let t = format!("{ONE}rate = \"1Mbit\"\nremark_dscp = 10\n");
    err_at(&t, "10\n", 0, &["does not remark"]);
    let t = format!("{ONE}rate = \"1Mbit\"\nexceed = \"delete\"\n");
    err_at(&t, "\"delete\"", 0, &["unknown exceed action"]);
    let t = format!("{ONE}rate = \"1Mbit\"\nexceed = {{ yellow = \"drop\", red = \"drop\" }}\n");
    err_at(&t, "{ yellow", 0, &["police", "no packet yellow"]);
    let t = format!("{ONE}rate = \"1Mbit\"\ncolor = \"srtcm\"\nexceed = {{ red = \"drop\" }}\n");
    err_at(&t, "{ red", 0, &["both yellow and red"]);
    let t = format!("{ONE}rate = \"1Mbit\"\ncolor = \"srtcm\"\nexceed = {{ yellow = \"pass\", red = \"remark\" }}\nremark_dscp = {{ yellow = 1, red = 2 }}\n");
    err_at(
        &t,
        "{ yellow = 1",
        0,
        &["remark_dscp.yellow", "not remarked"],
    );
    let t = format!("{ONE}rate = \"1Mbit\"\nexceed = {{ red = \"drop\", green = \"drop\" }}\n");
    err_at(&t, "green =", 0, &["unknown field `green`"]);
    // Police with a per-color table naming red only is fine.
    let t = format!("{ONE}rate = \"1Mbit\"\nexceed = {{ red = \"remark\" }}\nremark_dscp = 0\n");
    assert_eq!(ok(&t)[0].policer.red, Action::SetDscp(0));
}

#[test]
fn parse_helpers() {
    assert_eq!(parse_metadata("0x10/0xff"), Ok((0x10, 0xff)));
    assert_eq!(parse_metadata("1_000"), Ok((1000, u64::MAX)));
    assert!(parse_metadata("0x1/0x0").is_err());
    let p = IpPrefix::parse("2001:db8::/32").unwrap();
    assert_eq!(p.to_string(), "2001:db8::/32");
    assert_eq!(p.prefix_len(), 32);
    assert_eq!(
        p.range(),
        (0x2001_0db8 << 96, (0x2001_0db8 << 96) | ((1u128 << 96) - 1))
    );
    let h = IpPrefix::parse("192.0.2.1").unwrap();
    assert_eq!(h.range(), (0xc000_0201, 0xc000_0201));
    assert_eq!(
        IpPrefix::parse("0.0.0.0/0").unwrap().range(),
        (0, 0xffff_ffff)
    );
}

/// More than 64 distinct masks: the pairwise check.
#[test]
fn many_distinct_metadata_masks() {
    let mut text = String::new();
    for i in 1..=70u64 {
        text += &format!(
            "[[tenant]]\nname = \"t{i}\"\nmatch = {{ metadata = \"{i:#x}/{:#x}\" }}\nrate = \"1Mbit\"\n",
            0xff | (i << 8)
        );
    }
    assert_eq!(ok(&text).len(), 70);
    text += "[[tenant]]\nname = \"late\"\nmatch = { metadata = \"0x5/0xff\" }\nrate = \"1Mbit\"\n";
    err_at(&text, "\"0x5/0xff\"", 0, &["of tenant \"t5\""]);
}
