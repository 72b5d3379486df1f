//! The `sluice` command line.

use clap::{Parser, Subcommand};
use sluice::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sluice: a kernel-bypass OpenFlow 1.3 switch on DPDK.
///
/// Poll-mode workers pinned to their cores forward packets between DPDK
/// ports (NICs, SR-IOV VFs, vhost-user, tap, pcap, ring, null, af_xdp);
/// a small admin thread serves Prometheus metrics.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switch until Ctrl-C or SIGTERM, then print the final port
    /// counters. Without --config it runs the embedded demo config
    /// (config/demo.toml: two tap ports, sl-a and sl-b, forwarded to each
    /// other; scripts/demo.sh wires them into two network namespaces).
    /// Needs root (DPDK).
    Run {
        /// The TOML config file.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Validate a config file and print a summary (ports, queues, the
    /// worker -> queue assignment, forwarding). On error print
    /// FILE:LINE:COL: message and exit with status 1. Touches no device.
    Check {
        /// The TOML config file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Trace a packet through the config's OpenFlow pipeline, like
    /// `ovs-appctl ofproto/trace`: the tables visited, the entry matched
    /// in each (with its source line), the instructions and actions run,
    /// the final action set, and the resulting packet and outputs. The
    /// packet is given in ovs flow syntax, e.g.
    /// 'in_port=vf1,tcp,nw_src=10.0.0.1,tp_dst=80' (unspecified fields get
    /// defaults), or read from a pcap file. Touches no device.
    Trace {
        /// The TOML config file (needs a [pipeline]).
        #[arg(short, long)]
        config: PathBuf,
        /// The packet, in ovs-ofctl flow syntax.
        #[arg(required_unless_present = "pcap")]
        packet: Option<String>,
        /// Trace every packet of this pcap file instead.
        #[arg(long, conflicts_with = "packet")]
        pcap: Option<PathBuf>,
        /// Ingress port (name or OpenFlow number) for --pcap packets.
        #[arg(long, requires = "pcap")]
        in_port: Option<String>,
    },
    /// Print the flows of a running instance with their packet and byte
    /// counters, in `ovs-ofctl dump-flows` format (from its admin listener).
    DumpFlows {
        /// The admin listener of the running instance.
        #[arg(long, default_value = "127.0.0.1:9091")]
        admin: String,
    },
    /// Print the OpenFlow meters of a running instance with their
    /// statistics (`ovs-ofctl dump-meters` + `meter-stats` format).
    DumpMeters {
        /// The admin listener of the running instance.
        #[arg(long, default_value = "127.0.0.1:9091")]
        admin: String,
    },
    /// Make a running instance reload its config file (POST /-/reload)
    /// and print the result: the generation now running, or why the new
    /// config was rejected (FILE:LINE:COL). Exits 1 when rejected.
    Reload {
        /// The admin listener of the running instance.
        #[arg(long, default_value = "127.0.0.1:9091")]
        admin: String,
        /// Bearer token (default: $SLUICE_ADMIN_TOKEN), needed when the
        /// instance has admin.token set.
        #[arg(long)]
        token: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => match Config::load(&config) {
            Ok(c) => {
                print!("{}", c.summary());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Trace {
            config,
            packet,
            pcap,
            in_port,
        } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = match (&packet, &pcap) {
                (_, Some(path)) => {
                    sluice::config::pipeline::trace_pcap(&config, path, in_port.as_deref())
                }
                (Some(spec), None) => sluice::config::pipeline::trace(&config, spec),
                (None, None) => unreachable!("clap requires one"),
            };
            match result {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sluice trace: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::DumpFlows { admin } => fetch(&admin, "GET", "/dump-flows", None),
        Command::DumpMeters { admin } => fetch(&admin, "GET", "/dump-meters", None),
        Command::Reload { admin, token } => {
            let token = token.or_else(|| std::env::var("SLUICE_ADMIN_TOKEN").ok());
            fetch(&admin, "POST", "/-/reload", token.as_deref())
        }
        Command::Run { config } => {
            let config_path = config.clone();
            let loaded = match &config {
                Some(path) => Config::load(path),
                None => Config::demo(),
            };
            let config = match loaded {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            match sluice::runtime::run(config, config_path) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Sends `method path` to a running instance's admin listener and prints
/// the answer.
fn fetch(admin: &str, method: &str, path: &str, token: Option<&str>) -> ExitCode {
    use std::io::{Read, Write};
    let result = (|| -> std::io::Result<(u16, String)> {
        let mut s = std::net::TcpStream::connect(admin)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(70)))?;
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {admin}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_string());
        Ok((code, body))
    })();
    match result {
        Ok((200, body)) => {
            print!("{body}");
            ExitCode::SUCCESS
        }
        Ok((422, body)) => {
            // A rejected reload: the report says why.
            print!("{body}");
            ExitCode::FAILURE
        }
        Ok((code, body)) => {
            eprintln!("sluice: {admin}{path}: HTTP {code}: {}", body.trim_end());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "sluice: cannot reach the admin listener at {admin}: {e} (is sluice running?)"
            );
            ExitCode::FAILURE
        }
    }
}
