//! OpenFlow 1.3 model and the ovs-ofctl text syntax.
//!
//! What: the objects of an OpenFlow 1.3.5 switch — [`Match`] over the OXM
//! basic [`Field`]s, [`Action`]s, [`InstructionSet`]s, [`FlowEntry`],
//! [`GroupEntry`], [`MeterEntry`] — and a parser for the text that
//! `ovs-ofctl -O OpenFlow13 add-flow / add-flows / add-group / add-meter`
//! accept, with [`Display`](std::fmt::Display) producing text that parses
//! back to an equal value.
//!
//! How: [`parse_flow`] and friends lex the text into `key=value` tokens and
//! validate as a switch would validate a flow-mod: every field's value
//! range and maskability, prerequisites (OF1.3.5 table 12: `nw_src` needs
//! `eth_type=0x0800`, `tcp_dst` needs `ip_proto=6`, … — like ovs-ofctl we
//! infer nothing and report the missing prerequisite), prerequisites of
//! set-field-like actions against what the match and earlier actions
//! guarantee, instruction order and duplicates, `goto_table` moving
//! forward. Errors carry the line and character column and say what was
//! found and what was expected.
//!
//! Semantics worth knowing:
//! * `vlan_vid` is the OXM value: `0x1000|VID` for a tagged packet, `0` for
//!   an untagged one (`vlan_vid=0x1000/0x1000` = any tag). The ovs aliases
//!   `dl_vlan`, `dl_vlan_pcp` and `vlan_tci` are translated into it.
//! * `ip_dscp` is the 6-bit DSCP; `nw_tos` (the TOS byte) is translated.
//! * Write-actions hold an action set (at most one action per type, one
//!   set-field per field); a repeated type replaces the earlier action, as
//!   in OF1.3.5 §5.10 and Open vSwitch. See [`action_set`].
//! * Extensions beyond OF1.3 that ovs-ofctl also accepts: masks on
//!   TCP/UDP/SCTP ports, masked `set_field:V/M->F` and `load:V->F[a..b]`.
//!
//! Threads: pure data and pure functions.

#![deny(unsafe_code)]

mod display;
mod field;
mod lexer;
mod model;
mod parse;
mod value;

pub use display::{ActionList, FlowDump, FlowStats};
pub use field::{
    ethertype, exthdr, ipproto, Field, Prereq, ValueFormat, ALL_FIELDS, OFPVID_NONE, OFPVID_PRESENT,
};
pub use model::{
    action_set, port, Action, Band, BandKind, Bucket, DuplicateInstruction, FlowEntry, FlowFlags,
    GroupEntry, GroupType, Instruction, InstructionKind, InstructionSet, Match, MatchError,
    MatchField, MeterEntry, MeterFlags, OutPort, PacketFacts, SourceLoc, VlanState,
    DEFAULT_PRIORITY, OFPCML_NO_BUFFER, OFPG_ANY, OFPG_MAX, OFPM_CONTROLLER, OFPM_MAX,
    OFPM_SLOWPATH, OFPTT_MAX,
};
pub use parse::{
    parse_flow, parse_flows_file, parse_group, parse_groups_file, parse_match, parse_meter,
    parse_meters_file, NoPortNames, ParseError, PortNames,
};
pub use value::FieldValue;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod corpus_tests;
