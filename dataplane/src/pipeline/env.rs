//! What the pipeline asks of the world around it while processing a
//! packet: meters and port liveness.
//!
//! The rate engine (`crate::meter`) and the port state live elsewhere; the
//! pipeline only needs a verdict per metered packet ([`MeterHook`]) and
//! whether a watched port is up (for fast-failover and select groups).
//! Threads: an [`Env`] is built per call by the worker (or test) that
//! processes the packet; nothing in it is shared.

/// What a meter decided for one packet (OF1.3.5 §5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterVerdict {
    /// Under every band's rate (or no band applies): continue.
    Pass,
    /// A `drop` band applied: the packet stops here.
    Drop,
    /// A `dscp_remark` band applied: raise the drop precedence of the
    /// packet's DSCP by `prec_level`, then continue.
    RemarkDscp { prec_level: u8 },
}

impl MeterVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            MeterVerdict::Pass => "pass",
            MeterVerdict::Drop => "drop",
            MeterVerdict::RemarkDscp { .. } => "dscp_remark",
        }
    }
}

/// Meters a packet: called for every `meter:N` instruction with the
/// packet's length at that point.
pub trait MeterHook {
    fn meter(&mut self, meter_id: u32, packet_len: usize) -> MeterVerdict;
}

/// A meter hook that lets everything through (tests, `sluice trace`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThroughMeters;

impl MeterHook for PassThroughMeters {
    fn meter(&mut self, _: u32, _: usize) -> MeterVerdict {
        MeterVerdict::Pass
    }
}

/// Every port is live.
pub fn all_ports_live(_: u32) -> bool {
    true
}

/// The environment of one packet's trip through the pipeline.
pub struct Env<'a> {
    pub meters: &'a mut dyn MeterHook,
    /// Whether a port is up (fast-failover `watch_port`, select buckets
    /// with a watch port).
    pub port_live: &'a dyn Fn(u32) -> bool,
}

impl<'a> Env<'a> {
    /// `meters`, with every port live.
    pub fn new(meters: &'a mut dyn MeterHook) -> Self {
        Env {
            meters,
            port_live: &all_ports_live,
        }
    }

    /// `meters` and a liveness function.
    pub fn with_liveness(
        meters: &'a mut dyn MeterHook,
        port_live: &'a dyn Fn(u32) -> bool,
    ) -> Self {
        Env { meters, port_live }
    }
}
