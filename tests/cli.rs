//! `sluice check` and `--help` through the real binary: bad configs give a
//! located message and a non-zero exit, good ones a summary.
mod common;

use common::{scratch, BIN};
use std::process::Command;

const GOOD: &str = r#"[workers]
cores = [0]

[[port]]
name = "a"
device = "net_null0"

[[port]]
name = "b"
device = "net_tap0,iface=sl-x"

[[forward]]
in = "a"
out = "b"
"#;

fn check(text: &str) -> (bool, String, String) {
    let dir = scratch("cli");
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "FILE");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn good_config_prints_summary() {
    let (ok, out, err) = check(GOOD);
    assert!(ok, "{err}");
    assert!(out.contains("a = net_null0 (net_null)"), "{out}");
    assert!(out.contains("worker 0 on core 0: rx a/0, b/0"), "{out}");
    assert!(out.contains("a -> b"), "{out}");
}

#[test]
fn bad_configs_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "name = \"a\"",
            "name = \"a\"\nspeed = 10",
            "FILE:6:1: unknown field `speed`",
        ),
        (
            "\"net_null0\"",
            "\"net_null0,size=\"",
            "FILE:6:26: device argument \"size\" has an empty value",
        ),
        (
            "\"net_null0\"",
            "\"nul0\"",
            "FILE:6:11: unknown device \"nul0\"",
        ),
        (
            "cores = [0]",
            "cores = [0, 4096]",
            "FILE:2:13: core 4096 does not exist",
        ),
        (
            "name = \"b\"",
            "name = \"a\"",
            "FILE:9:8: duplicate port name \"a\"",
        ),
        (
            "out = \"b\"",
            "out = \"z\"",
            "FILE:14:7: unknown port \"z\"",
        ),
        ("cores = [0]", "cores = [0", "FILE:"),
    ];
    for (from, to, want) in cases {
        let text = GOOD.replace(from, to);
        let (ok, _, err) = check(&text);
        assert!(!ok, "accepted:\n{text}");
        assert!(err.starts_with(want), "want {want:?}, got {err:?}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn missing_file_is_an_error() {
    let out = Command::new(BIN)
        .args(["check", "--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config"));
}

#[test]
fn run_with_bad_config_touches_nothing() {
    let dir = scratch("cli-run");
    let path = dir.join("c.toml");
    std::fs::write(&path, "[workers]\ncores = [0]\nbogus = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":3:1: unknown field `bogus`"), "{err}");
    assert!(!err.contains("EAL"), "{err}");
}

#[test]
fn help_explains_each_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "check"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = Command::new(BIN).args(["run", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("embedded demo config"));
}
