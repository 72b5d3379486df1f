//! What happened to a packet in the pipeline: the frames it produced,
//! its packet-ins, why it was dropped, and a step-by-step trace.
//!
//! [`Outcome`] is the reference interpreter's result and what `sluice
//! trace` prints; its [`Display`](fmt::Display) reads like `ovs-appctl
//! ofproto/trace`: the packet's flow, each table visited with the entry
//! that matched (and its source line), the instructions and actions with
//! what each did, the final action set and the resulting packet.
//! Threads: plain owned data.

use std::fmt;

use super::env::MeterVerdict;
use super::exec::{Applied, Fault};
use super::fields::{self, Registers};
use crate::openflow::{port, Action, ActionList, GroupType, SourceLoc, ALL_FIELDS};
use crate::wire::{FlowKey, Malformed};

/// A frame sent out of a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Egress {
    /// OpenFlow port number (`port::LOCAL` for the local port).
    pub port: u32,
    /// The queue chosen by `set_queue`, if any.
    pub queue: Option<u32>,
    pub data: Vec<u8>,
}

/// `ofp_packet_in_reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketInReason {
    /// Output to CONTROLLER from a table-miss flow entry (priority 0, empty
    /// match): `OFPR_NO_MATCH`.
    NoMatch,
    /// Output to CONTROLLER from any other entry: `OFPR_ACTION`.
    Action,
}

impl PacketInReason {
    /// The name the conformance corpus and Ryu use (`no_match`, `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            PacketInReason::NoMatch => "no_match",
            PacketInReason::Action => "action",
        }
    }
}

/// A packet sent to the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    pub reason: PacketInReason,
    /// The table of the entry that sent it.
    pub table_id: u8,
    /// That entry's cookie.
    pub cookie: u64,
    pub in_port: u32,
    pub metadata: u64,
    pub tunnel_id: u64,
    /// Length of the whole packet; `data` may be shorter (`max_len`).
    pub total_len: usize,
    pub data: Vec<u8>,
}

/// Why a packet (or one of its group copies) was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropCause {
    /// The frame did not parse at ingress.
    Malformed(Malformed),
    /// No entry matched in this table (and there is no table-miss entry).
    TableMiss { table: u8 },
    /// dec_ttl / dec_mpls_ttl on a TTL of 0 or 1.
    TtlExpired,
    /// A meter's drop band.
    Meter { id: u32 },
    /// The pipeline ended without any output or packet-in (`actions=drop`,
    /// an empty action set).
    NoOutput,
    /// A push did not fit in the buffer's headroom.
    NoHeadroom,
    /// A group action names a group that does not exist.
    UnknownGroup { id: u32 },
    /// Groups chained deeper than the interpreter allows (a loop).
    GroupChainTooDeep { id: u32 },
    /// A group had no bucket to run (fast failover with every watched
    /// port down, select with no live bucket of non-zero weight).
    NoLiveBucket { group: u32 },
    /// goto_table to a table not after the current one.
    InvalidGoto { from: u8, to: u8 },
}

impl DropCause {
    /// Number of distinct causes; [`DropCause::index`] is below this.
    pub const COUNT: usize = 10;

    /// [`as_str`](Self::as_str) of each cause, by [`index`](Self::index).
    pub const NAMES: [&'static str; Self::COUNT] = [
        "malformed",
        "table_miss",
        "ttl_expired",
        "meter",
        "no_output",
        "no_headroom",
        "unknown_group",
        "group_chain_too_deep",
        "no_live_bucket",
        "invalid_goto",
    ];

    /// A dense index per cause (its data ignored), for per-reason drop
    /// counters kept in a flat array.
    pub const fn index(&self) -> usize {
        match self {
            DropCause::Malformed(_) => 0,
            DropCause::TableMiss { .. } => 1,
            DropCause::TtlExpired => 2,
            DropCause::Meter { .. } => 3,
            DropCause::NoOutput => 4,
            DropCause::NoHeadroom => 5,
            DropCause::UnknownGroup { .. } => 6,
            DropCause::GroupChainTooDeep { .. } => 7,
            DropCause::NoLiveBucket { .. } => 8,
            DropCause::InvalidGoto { .. } => 9,
        }
    }

    /// A stable snake_case name (a metrics label).
    pub fn as_str(&self) -> &'static str {
        match self {
            DropCause::Malformed(_) => "malformed",
            DropCause::TableMiss { .. } => "table_miss",
            DropCause::TtlExpired => "ttl_expired",
            DropCause::Meter { .. } => "meter",
            DropCause::NoOutput => "no_output",
            DropCause::NoHeadroom => "no_headroom",
            DropCause::UnknownGroup { .. } => "unknown_group",
            DropCause::GroupChainTooDeep { .. } => "group_chain_too_deep",
            DropCause::NoLiveBucket { .. } => "no_live_bucket",
            DropCause::InvalidGoto { .. } => "invalid_goto",
        }
    }
}

impl From<Fault> for DropCause {
    fn from(f: Fault) -> Self {
        match f {
            Fault::TtlExpired => DropCause::TtlExpired,
            Fault::NoHeadroom => DropCause::NoHeadroom,
        }
    }
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropCause::Malformed(m) => write!(f, "malformed packet ({m})"),
            DropCause::TableMiss { table } => write!(f, "table miss in table {table}"),
            DropCause::TtlExpired => f.write_str("TTL expired"),
            DropCause::Meter { id } => write!(f, "meter {id} drop band"),
            DropCause::NoOutput => f.write_str("no output action"),
            DropCause::NoHeadroom => f.write_str("no headroom for a push"),
            DropCause::UnknownGroup { id } => write!(f, "group {id} does not exist"),
            DropCause::GroupChainTooDeep { id } => write!(f, "group chain too deep at group {id}"),
            DropCause::NoLiveBucket { group } => write!(f, "group {group} has no live bucket"),
            DropCause::InvalidGoto { from, to } => write!(f, "goto_table:{to} from table {from}"),
        }
    }
}

/// The flow entry that matched in a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef {
    /// Position in the table's priority order.
    pub index: usize,
    pub priority: u16,
    pub cookie: u64,
    /// Where the entry was written (line 0: not from a file).
    pub source: SourceLoc,
    /// The entry in `add-flow` syntax.
    pub text: String,
}

/// Which instruction (or group) an action ran in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    ApplyActions,
    ActionSet,
    Bucket,
}

/// What one action did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A header action (see [`Applied`]).
    Applied(Applied),
    /// A copy of the packet went out of `port`.
    Output { port: u32, len: usize },
    /// An output that sends nothing (to the ingress port by number,
    /// NORMAL).
    OutputSkipped { port: u32, why: &'static str },
    /// A packet-in of `len` bytes.
    PacketIn { reason: PacketInReason, len: usize },
    /// set_queue.
    Queue(u32),
    /// The group steps follow.
    Group,
    /// Not executed (an output in an action set that also has a group).
    Ignored(&'static str),
    /// The action failed and the packet stops.
    Fault(Fault),
}

/// One step of a packet's trip through the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceStep {
    /// The frame arrived (its key, normalised).
    Ingress {
        in_port: u32,
        len: usize,
        key: FlowKey,
    },
    /// A table lookup and the entry that matched, if any.
    Lookup {
        table: u8,
        hit: Option<EntryRef>,
    },
    Meter {
        id: u32,
        verdict: MeterVerdict,
        applied: Option<Applied>,
    },
    Action {
        depth: u8,
        stage: Stage,
        action: Action,
        effect: Effect,
    },
    ClearActions,
    /// Write-actions: the actions written and the action set after merging.
    WriteActions {
        written: Vec<Action>,
        set: Vec<Action>,
    },
    WriteMetadata {
        value: u64,
        mask: u64,
        metadata: u64,
    },
    Goto {
        table: u8,
    },
    /// The pipeline ended: the action set is executed.
    ActionSet {
        actions: Vec<Action>,
    },
    /// A group ran these buckets (`kind` None: the group does not exist).
    Group {
        depth: u8,
        id: u32,
        kind: Option<GroupType>,
        buckets: Vec<usize>,
    },
    /// A bucket starts (on its own copy of the packet).
    Bucket {
        depth: u8,
        group: u32,
        index: usize,
    },
    /// The packet (or this copy of it) is dropped.
    Drop {
        depth: u8,
        cause: DropCause,
    },
}

/// The result of sending one packet through the pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Frames sent out of ports, in the order the actions produced them.
    pub outputs: Vec<Egress>,
    pub packet_ins: Vec<PacketIn>,
    /// The first reason the packet, or a group copy of it, was dropped;
    /// [`DropCause::NoOutput`] when it simply went nowhere.
    pub dropped: Option<DropCause>,
    pub trace: Vec<TraceStep>,
    /// The packet as the pipeline left it (after the action set, or where
    /// it was dropped), its key and registers.
    pub final_packet: Vec<u8>,
    pub final_key: FlowKey,
    pub final_regs: Registers,
}

/// `key` (and the non-zero registers) as an ovs-style match:
/// `in_port=1,eth_dst=…,eth_type=0x0800,nw_src=…`. Only fields the packet
/// has are listed.
pub fn flow_text(key: &FlowKey, regs: &Registers) -> String {
    use crate::openflow::Field;
    let mut out = String::new();
    for &field in ALL_FIELDS.iter() {
        let Some(v) = fields::value(key, regs, field) else {
            continue;
        };
        let skip = match field {
            Field::Metadata | Field::TunnelId | Field::Ipv6Exthdr => v == 0,
            Field::VlanVid => key.vlan_count == 0,
            _ => false,
        };
        if skip {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!(
            "{}={}",
            field.name(),
            field.display_value(v, None)
        ));
    }
    out
}

fn port_name(p: u32) -> String {
    match port::reserved_name(p) {
        Some(n) => n.to_string(),
        None => p.to_string(),
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Effect::Applied(Applied::Modified) => f.write_str("done"),
            Effect::Applied(Applied::Register) => f.write_str("register set"),
            Effect::Applied(Applied::Skipped(why)) => write!(f, "skipped: {why}"),
            Effect::Applied(Applied::Unparseable(m)) => {
                write!(
                    f,
                    "done; the packet no longer parses ({m}), only L2 fields remain"
                )
            }
            Effect::Applied(Applied::Deferred) => f.write_str("deferred"),
            Effect::Output { port, len } => write!(f, "out port {}, {len} bytes", port_name(*port)),
            Effect::OutputSkipped { port, why } => {
                write!(f, "nothing sent to {}: {why}", port_name(*port))
            }
            Effect::PacketIn { reason, len } => {
                write!(f, "packet-in (reason {}), {len} bytes", reason.as_str())
            }
            Effect::Queue(q) => write!(f, "queue {q}"),
            Effect::Group => f.write_str("group"),
            Effect::Ignored(why) => write!(f, "ignored: {why}"),
            Effect::Fault(e) => write!(f, "failed: {e}"),
        }
    }
}

impl fmt::Display for Outcome {
    /// The trace, in the manner of `ovs-appctl ofproto/trace`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ind = |depth: u8| " ".repeat(4 + 2 * usize::from(depth));
        for step in &self.trace {
            match step {
                TraceStep::Ingress { in_port, len, key } => {
                    let regs = Registers::default();
                    writeln!(f, "Flow: {}", flow_text(key, &regs))?;
                    writeln!(f, "      ({len} bytes on port {})", port_name(*in_port))?;
                    writeln!(f)?;
                }
                TraceStep::Lookup {
                    table,
                    hit: Some(e),
                } => {
                    let at = if e.source.line > 0 {
                        format!("line {}", e.source.line)
                    } else {
                        format!("entry #{}", e.index)
                    };
                    writeln!(
                        f,
                        "{table:2}. {at}: priority {}, cookie {:#x}",
                        e.priority, e.cookie
                    )?;
                    writeln!(f, "    {}", e.text)?;
                }
                TraceStep::Lookup { table, hit: None } => {
                    writeln!(f, "{table:2}. no match")?;
                }
                TraceStep::Meter {
                    id,
                    verdict,
                    applied,
                } => {
                    write!(f, "    meter:{id} -> {}", verdict.as_str())?;
                    match applied {
                        Some(a) => writeln!(f, " ({})", Effect::Applied(*a))?,
                        None => writeln!(f)?,
                    }
                }
                TraceStep::Action {
                    depth,
                    action,
                    effect,
                    ..
                } => {
                    writeln!(f, "{}{action} -> {effect}", ind(*depth))?;
                }
                TraceStep::ClearActions => writeln!(f, "    clear_actions -> action set empty")?,
                TraceStep::WriteActions { written, set } => writeln!(
                    f,
                    "    write_actions({}) -> action set: {}",
                    ActionList(written),
                    ActionList(set)
                )?,
                TraceStep::WriteMetadata {
                    value,
                    mask,
                    metadata,
                } => writeln!(
                    f,
                    "    write_metadata:{value:#x}/{mask:#x} -> metadata={metadata:#x}"
                )?,
                TraceStep::Goto { table } => writeln!(f, "    goto_table:{table}")?,
                TraceStep::ActionSet { actions } => {
                    writeln!(f)?;
                    if actions.is_empty() {
                        writeln!(f, "Action set: empty")?;
                    } else {
                        writeln!(f, "Action set: {}", ActionList(actions))?;
                    }
                }
                TraceStep::Group {
                    depth,
                    id,
                    kind,
                    buckets,
                } => match kind {
                    Some(k) => writeln!(
                        f,
                        "{}group {id} (type {}): buckets {buckets:?}",
                        ind(*depth),
                        k.name()
                    )?,
                    None => writeln!(f, "{}group {id}: no such group", ind(*depth))?,
                },
                TraceStep::Bucket { depth, index, .. } => {
                    writeln!(f, "{}bucket {index}:", ind(*depth))?
                }
                TraceStep::Drop { depth, cause } => writeln!(f, "{}-> drop: {cause}", ind(*depth))?,
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "Final flow: {}",
            flow_text(&self.final_key, &self.final_regs)
        )?;
        writeln!(f, "Final packet: {}", hex(&self.final_packet))?;
        if self.outputs.is_empty() && self.packet_ins.is_empty() {
            write!(f, "Result: dropped")?;
        } else {
            write!(f, "Result:")?;
            for o in &self.outputs {
                write!(f, " output:{} ({} bytes)", port_name(o.port), o.data.len())?;
                if let Some(q) = o.queue {
                    write!(f, " queue {q}")?;
                }
            }
            for p in &self.packet_ins {
                write!(
                    f,
                    " packet-in:{} ({} bytes)",
                    p.reason.as_str(),
                    p.data.len()
                )?;
            }
        }
        if let Some(c) = &self.dropped {
            write!(f, "; drop: {c}")?;
        }
        writeln!(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_cause_indices_are_dense_and_names_unique() {
        let all = [
            DropCause::Malformed(Malformed::BadIhl),
            DropCause::TableMiss { table: 3 },
            DropCause::TtlExpired,
            DropCause::Meter { id: 1 },
            DropCause::NoOutput,
            DropCause::NoHeadroom,
            DropCause::UnknownGroup { id: 1 },
            DropCause::GroupChainTooDeep { id: 1 },
            DropCause::NoLiveBucket { group: 1 },
            DropCause::InvalidGoto { from: 2, to: 1 },
        ];
        assert_eq!(all.len(), DropCause::COUNT);
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert!(all[..i].iter().all(|d| d.as_str() != c.as_str()));
            assert!(!c.to_string().is_empty());
        }
    }
}

#[cfg(test)]
mod drop_cause_tests {
    use super::*;
    use crate::wire::{Layer, Malformed};

    #[test]
    fn names_follow_the_index() {
        let all = [
            DropCause::Malformed(Malformed::Truncated {
                layer: Layer::Ethernet,
            }),
            DropCause::TableMiss { table: 3 },
            DropCause::TtlExpired,
            DropCause::Meter { id: 1 },
            DropCause::NoOutput,
            DropCause::NoHeadroom,
            DropCause::UnknownGroup { id: 1 },
            DropCause::GroupChainTooDeep { id: 1 },
            DropCause::NoLiveBucket { group: 1 },
            DropCause::InvalidGoto { from: 1, to: 0 },
        ];
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(DropCause::NAMES[i], c.as_str());
        }
    }
}
