//! Sluice: a kernel-bypass OpenFlow 1.3 switch.
//!
//! Only [`dpdk`] (and, through it, the `dpdk-sys` crate) touches FFI. The
//! packet-facing modules [`wire`], [`openflow`], [`pipeline`] and [`meter`]
//! are plain Rust over byte slices so that they test, fuzz and benchmark
//! without EAL.

pub mod dpdk;
pub mod wire;
