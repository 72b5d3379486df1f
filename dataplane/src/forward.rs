//! The forwarding decision: what a worker runs between rx and tx.
//!
//! Either the static port → port map of `[[forward]]` (decided on the input
//! port alone, so the worker never parses) or the compiled OpenFlow
//! pipeline of `[pipeline]` (every packet parsed and run through it).
//! Immutable; shared read-only by all workers.

use crate::config::Config;
use crate::pipeline::CompiledPipeline;
use crate::stats::DropReason;
use std::sync::Arc;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send out of the port with this index.
    Output(u16),
    /// Drop and count under this reason.
    Drop(DropReason),
}

#[derive(Debug, Clone)]
pub enum Forwarding {
    /// `out[in_port_index]`.
    Static(Box<[Option<u16>]>),
    Pipeline(Arc<CompiledPipeline>),
}

impl Forwarding {
    pub fn static_map(config: &Config) -> Self {
        Forwarding::Static(config.forward.iter().map(|o| o.map(|p| p as u16)).collect())
    }

    /// The static map's output for every packet from `in_port`.
    #[inline(always)]
    pub fn port_route(&self, in_port: u16) -> Option<u16> {
        match self {
            Forwarding::Static(out) => out.get(in_port as usize).copied().flatten(),
            Forwarding::Pipeline(_) => None,
        }
    }
}
