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
        Command::Run { config } => {
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
            match sluice::runtime::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
