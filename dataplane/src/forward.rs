//! The forwarding decision: the one function between a parsed packet and
//! what the worker does with it.
//!
//! Today a static port → port map from `[[forward]]`; the OpenFlow
//! pipeline replaces the body of [`Forwarding::decide`], not its callers.

use crate::config::Config;
use crate::stats::DropReason;
use crate::wire::FlowKey;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send out of the port with this index.
    Output(u16),
    Drop(DropReason),
}

/// Immutable, shared read-only by all workers.
#[derive(Debug, Clone)]
pub struct Forwarding {
    out: Box<[Option<u16>]>,
}

impl Forwarding {
    pub fn new(config: &Config) -> Self {
        Self {
            out: config.forward.iter().map(|o| o.map(|p| p as u16)).collect(),
        }
    }

    #[inline(always)]
    pub fn decide(&self, key: &FlowKey) -> Verdict {
        match self.out.get(key.in_port as usize) {
            Some(Some(p)) => Verdict::Output(*p),
            _ => Verdict::Drop(DropReason::NoRoute),
        }
    }

    /// Whether the decision reads packet headers. The static map does not:
    /// the worker then skips parsing and validates only frame lengths.
    #[inline(always)]
    pub fn reads_headers(&self) -> bool {
        false
    }

    /// The output for every packet from `in_port`, when the decision
    /// depends on nothing else.
    #[inline(always)]
    pub fn port_route(&self, in_port: u16) -> Option<u16> {
        self.out.get(in_port as usize).copied().flatten()
    }
}
