//! The OpenFlow 1.3 pipeline: the semantics (action executor, reference
//! interpreter, group choice, outcome and trace), the classifiers, and the
//! compiled pipeline the workers run.
//!
//! * [`packet`]: [`PacketBuf`], the buffer operations push/pop need, for
//!   mbufs and [`VecPacket`].
//! * [`exec`]: every OF1.3 header action on a packet and its
//!   [`FlowKey`](crate::wire::FlowKey), checksums kept valid.
//! * [`reference`]: [`ReferencePipeline`], OF1.3.5 §5 interpreted literally
//!   (the baseline for the compiled pipeline and the conformance corpus).
//! * [`compile`]: [`CompiledPipeline`], validated and compiled once,
//!   shared read-only by the workers; [`run`]: its per-packet
//!   [`process`](CompiledPipeline::process) ([`Sink`], [`Verdict`]);
//!   [`counters`]: per-worker [`PipelineCounters`]; [`flowcache`]: the
//!   per-worker [`FlowCache`] of lookup paths.
//! * [`trace`]: `sluice trace` (a packet from an ovs-style flow
//!   description, or a pcap, traced through the pipeline).
//! * [`groups`]: select-group hashing and bucket choice, fast failover.
//! * [`env`]: what processing needs from outside ([`MeterHook`], port
//!   liveness).
//! * [`outcome`]: [`Outcome`] (outputs, packet-ins, drop cause, trace) and
//!   its `ofproto/trace`-like rendering.
//! * [`fields`]: OXM field values of a flow key.
//! * [`classifier`]: the per-table lookup structures.
#![deny(unsafe_code)]

pub mod classifier;
pub mod compile;
pub mod counters;
pub mod env;
pub mod exec;
pub mod fields;
pub mod flowcache;
pub mod groups;
pub mod outcome;
mod overlap;
pub mod packet;
mod program;
pub mod reference;
pub mod run;
pub mod trace;
pub mod workload;

#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod exec_tests;
#[cfg(test)]
mod reference_tests;

pub use compile::{CompileError, CompiledPipeline, Diagnostic, Site, TableInfo, DEFAULT_SALT};
pub use counters::{CounterTotals, PipelineCounters};
pub use env::{Env, MeterHook, MeterVerdict, PassThroughMeters};
pub use exec::{execute, Applied, Fault};
pub use fields::Registers;
pub use flowcache::FlowCache;
pub use outcome::{
    DropCause, Effect, Egress, EntryRef, Outcome, PacketIn, PacketInReason, Stage, TraceStep,
};
pub use packet::{PacketBuf, VecPacket};
pub use reference::ReferencePipeline;
pub use run::{CacheLookup, CollectSink, FrameRun, PacketInInfo, Sink, Verdict};
