//! Sluice: a kernel-bypass OpenFlow 1.3 switch.
//!
//! Only [`dpdk`] (and, through it, the `dpdk-sys` crate) touches FFI. The
//! packet-facing modules [`wire`] and [`meter`] are plain Rust over byte
//! slices so that they test, fuzz and benchmark without EAL.

pub mod admin;
pub mod config;
pub mod dpdk;
pub mod forward;
pub mod meter;
pub mod openflow;
pub mod pipeline;
pub mod reload;
pub mod rng;
pub mod runtime;
pub mod stats;
pub mod tenant;
pub mod watch;
pub mod wire;
pub mod worker;
