//! The OpenFlow 1.3 objects a switch holds: matches, actions, instruction
//! sets, flow entries, groups and meters.
//!
//! What: plain owned values, validated on construction where the spec
//! states an invariant (a [`Match`] is normalised and sorted, an
//! [`InstructionSet`] holds at most one instruction of each type, an action
//! set at most one action of each type).
//! How: `Match` is a small sorted `Vec` (a flow matches a handful of
//! fields); `InstructionSet` a `Vec` sorted by [`InstructionKind`]; an
//! action set a `Vec` in the execution order of OF1.3.5 §5.10, so equal
//! sets compare equal and the pipeline can run them front to back.
//! Threads: built by the admin thread (parser, controller), then shared
//! read-only; nothing here has interior mutability.

use std::cmp::Ordering;

use super::field::{Field, Prereq, OFPVID_PRESENT};

/// OpenFlow port numbers (`ofp_port_no`).
pub mod port {
    /// Highest physical/logical port number (`OFPP_MAX`).
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    /// Wildcard / "no port" (`OFPP_ANY`).
    pub const ANY: u32 = 0xffff_ffff;

    /// The ovs-ofctl name of a reserved port number.
    pub fn reserved_name(no: u32) -> Option<&'static str> {
        Some(match no {
            IN_PORT => "IN_PORT",
            TABLE => "TABLE",
            NORMAL => "NORMAL",
            FLOOD => "FLOOD",
            ALL => "ALL",
            CONTROLLER => "CONTROLLER",
            LOCAL => "LOCAL",
            ANY => "ANY",
            _ => return None,
        })
    }

    /// The reserved port a name (any case) stands for. `NONE` is ovs's
    /// spelling of `ANY`.
    pub fn from_reserved_name(name: &str) -> Option<u32> {
        const NAMES: [(&str, u32); 9] = [
            ("IN_PORT", IN_PORT),
            ("TABLE", TABLE),
            ("NORMAL", NORMAL),
            ("FLOOD", FLOOD),
            ("ALL", ALL),
            ("CONTROLLER", CONTROLLER),
            ("LOCAL", LOCAL),
            ("ANY", ANY),
            ("NONE", ANY),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// Highest group id (`OFPG_MAX`); above it are reserved ids.
pub const OFPG_MAX: u32 = 0xffff_ff00;
/// `OFPG_ANY`: "no group" in `watch_group`.
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// Highest meter id (`OFPM_MAX`).
pub const OFPM_MAX: u32 = 0xffff_0000;
/// Virtual meter for packets sent to the slow path (`OFPM_SLOWPATH`).
pub const OFPM_SLOWPATH: u32 = 0xffff_fffd;
/// Virtual meter for packets sent to the controller (`OFPM_CONTROLLER`).
pub const OFPM_CONTROLLER: u32 = 0xffff_fffe;
/// Highest flow table id (`OFPTT_MAX`).
pub const OFPTT_MAX: u8 = 0xfe;
/// `OFPCML_NO_BUFFER`: send the whole packet to the controller.
pub const OFPCML_NO_BUFFER: u16 = 0xffff;

/// Where an output action sends the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutPort {
    /// A physical or logical port, `1..=port::MAX`.
    Port(u32),
    /// Back out of the ingress port (`OFPP_IN_PORT`).
    InPort,
    /// The traditional switching pipeline (`OFPP_NORMAL`).
    Normal,
    /// All ports but ingress and blocked ones (`OFPP_FLOOD`).
    Flood,
    /// All ports but ingress (`OFPP_ALL`).
    All,
    /// Packet-in to the controller, with at most `max_len` bytes of packet.
    Controller { max_len: u16 },
    /// The switch's local port (`OFPP_LOCAL`).
    Local,
}

impl OutPort {
    /// The `ofp_port_no` this output goes to.
    pub fn number(self) -> u32 {
        match self {
            OutPort::Port(n) => n,
            OutPort::InPort => port::IN_PORT,
            OutPort::Normal => port::NORMAL,
            OutPort::Flood => port::FLOOD,
            OutPort::All => port::ALL,
            OutPort::Controller { .. } => port::CONTROLLER,
            OutPort::Local => port::LOCAL,
        }
    }
}

/// An OpenFlow 1.3 action (OF1.3.5 §5.12). The ovs legacy spellings
/// (`mod_nw_src`, `strip_vlan`, …) are parsed into these.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Output(OutPort),
    Group(u32),
    /// Write `value` into the bits of `field` selected by `mask` (a full
    /// mask for a plain OF1.3 set-field; partial masks come from
    /// `set_field:V/M->F` and `load:V->F[a..b]`). `value` is within `mask`.
    /// For `vlan_vid` the value always carries OFPVID_PRESENT.
    SetField {
        field: Field,
        value: u128,
        mask: u128,
    },
    /// Push a VLAN tag with this TPID (0x8100 or 0x88a8).
    PushVlan(u16),
    PopVlan,
    /// Push an MPLS shim with this ethertype (0x8847 or 0x8848).
    PushMpls(u16),
    /// Pop the MPLS shim; the payload has this ethertype.
    PopMpls(u16),
    SetMplsTtl(u8),
    DecMplsTtl,
    SetNwTtl(u8),
    DecNwTtl,
    CopyTtlOut,
    CopyTtlIn,
    /// Push a PBB I-TAG with this ethertype (0x88e7).
    PushPbb(u16),
    PopPbb,
    SetQueue(u32),
}

impl Action {
    /// A full-width set-field.
    pub fn set_field(field: Field, value: u128) -> Action {
        Action::SetField {
            field,
            value: value & field.full_mask(),
            mask: field.full_mask(),
        }
    }

    /// The action's place in the action-set execution order (OF1.3.5
    /// §5.10): copy TTL in, pops, push MPLS, push PBB, push VLAN, copy TTL
    /// out, decrement TTL, sets, QoS, group, output. The spec leaves the
    /// order among pops open: we pop VLAN, then PBB, then MPLS (outermost
    /// first, as Open vSwitch does for strip_vlan/pop_mpls).
    pub(crate) fn set_slot(&self) -> (u8, u8) {
        match self {
            Action::CopyTtlIn => (0, 0),
            Action::PopVlan => (1, 0),
            Action::PopPbb => (2, 0),
            Action::PopMpls(_) => (3, 0),
            Action::PushMpls(_) => (4, 0),
            Action::PushPbb(_) => (5, 0),
            Action::PushVlan(_) => (6, 0),
            Action::CopyTtlOut => (7, 0),
            Action::DecNwTtl => (8, 0),
            Action::DecMplsTtl => (9, 0),
            Action::SetField { field, .. } => (10, field.oxm_id()),
            Action::SetNwTtl(_) => (11, 0),
            Action::SetMplsTtl(_) => (12, 0),
            Action::SetQueue(_) => (13, 0),
            Action::Group(_) => (14, 0),
            Action::Output(_) => (15, 0),
        }
    }
}

/// Turn an action list into an action set (OF1.3.5 §5.10): at most one
/// action of each type (one set-field per field), in execution order.
/// When a type repeats, the later action replaces the earlier one — the
/// spec's rule for merging Write-Actions into the set, and what Open
/// vSwitch does within one `write_actions(...)`. Two set-fields of one
/// field combine bit-wise (the later wins where the masks overlap), which
/// for full masks is the same as replacing.
pub fn action_set(list: Vec<Action>) -> Vec<Action> {
    let mut set: Vec<Action> = Vec::with_capacity(list.len());
    for a in list {
        let slot = a.set_slot();
        match set.binary_search_by(|x| x.set_slot().cmp(&slot)) {
            Ok(i) => {
                if let (
                    Action::SetField {
                        value: old_v,
                        mask: old_m,
                        ..
                    },
                    Action::SetField {
                        field,
                        value: new_v,
                        mask: new_m,
                    },
                ) = (&set[i], &a)
                {
                    let mask = old_m | new_m;
                    let value = (old_v & !new_m) | new_v;
                    set[i] = Action::SetField {
                        field: *field,
                        value: value & mask,
                        mask,
                    };
                } else {
                    set[i] = a;
                }
            }
            Err(i) => set.insert(i, a),
        }
    }
    set
}

/// The instruction types in the order OF1.3 executes them and ovs-ofctl
/// requires them to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstructionKind {
    Meter,
    ApplyActions,
    ClearActions,
    WriteActions,
    WriteMetadata,
    GotoTable,
}

impl InstructionKind {
    /// The ovs-ofctl keyword.
    pub fn name(self) -> &'static str {
        match self {
            InstructionKind::Meter => "meter",
            InstructionKind::ApplyActions => "apply_actions",
            InstructionKind::ClearActions => "clear_actions",
            InstructionKind::WriteActions => "write_actions",
            InstructionKind::WriteMetadata => "write_metadata",
            InstructionKind::GotoTable => "goto_table",
        }
    }
}

/// An OpenFlow 1.3 instruction (OF1.3.5 §5.9).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    Meter(u32),
    /// An action list, run in order now.
    ApplyActions(Vec<Action>),
    ClearActions,
    /// An action set (see [`action_set`]): merged into the packet's set.
    WriteActions(Vec<Action>),
    /// `metadata = (metadata & !mask) | value`; `value` is within `mask`.
    WriteMetadata {
        value: u64,
        mask: u64,
    },
    GotoTable(u8),
}

impl Instruction {
    pub fn kind(&self) -> InstructionKind {
        match self {
            Instruction::Meter(_) => InstructionKind::Meter,
            Instruction::ApplyActions(_) => InstructionKind::ApplyActions,
            Instruction::ClearActions => InstructionKind::ClearActions,
            Instruction::WriteActions(_) => InstructionKind::WriteActions,
            Instruction::WriteMetadata { .. } => InstructionKind::WriteMetadata,
            Instruction::GotoTable(_) => InstructionKind::GotoTable,
        }
    }
}

/// A flow entry's instructions: at most one of each type, kept in
/// execution order (so order of insertion does not matter and equal sets
/// compare equal). Empty means drop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct InstructionSet {
    items: Vec<Instruction>,
}

/// A second instruction of a type the set already has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("duplicate {} instruction", .0.name())]
pub struct DuplicateInstruction(pub InstructionKind);

impl InstructionSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an instruction; a second one of the same type is an error.
    /// An `ApplyActions` with no actions is not stored (it does nothing).
    /// A `WriteActions` list is turned into an action set.
    pub fn insert(&mut self, ins: Instruction) -> Result<(), DuplicateInstruction> {
        let ins = match ins {
            Instruction::ApplyActions(list) if list.is_empty() => return Ok(()),
            Instruction::WriteActions(list) => Instruction::WriteActions(action_set(list)),
            Instruction::WriteMetadata { value, mask } => Instruction::WriteMetadata {
                value: value & mask,
                mask,
            },
            other => other,
        };
        let kind = ins.kind();
        match self.items.binary_search_by(|x| x.kind().cmp(&kind)) {
            Ok(_) => Err(DuplicateInstruction(kind)),
            Err(i) => {
                // Flows have one or two instructions: grow exactly.
                self.items.reserve_exact(1);
                self.items.insert(i, ins);
                Ok(())
            }
        }
    }

    /// The instructions in execution order.
    pub fn iter(&self) -> std::slice::Iter<'_, Instruction> {
        self.items.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn get(&self, kind: InstructionKind) -> Option<&Instruction> {
        self.items.iter().find(|i| i.kind() == kind)
    }

    pub fn meter(&self) -> Option<u32> {
        match self.get(InstructionKind::Meter) {
            Some(Instruction::Meter(m)) => Some(*m),
            _ => None,
        }
    }

    /// The apply-actions list (empty if none).
    pub fn apply_actions(&self) -> &[Action] {
        match self.get(InstructionKind::ApplyActions) {
            Some(Instruction::ApplyActions(a)) => a,
            _ => &[],
        }
    }

    pub fn clear_actions(&self) -> bool {
        self.get(InstructionKind::ClearActions).is_some()
    }

    /// The write-actions set, if the instruction is present.
    pub fn write_actions(&self) -> Option<&[Action]> {
        match self.get(InstructionKind::WriteActions) {
            Some(Instruction::WriteActions(a)) => Some(a),
            _ => None,
        }
    }

    /// `(value, mask)` of write-metadata.
    pub fn write_metadata(&self) -> Option<(u64, u64)> {
        match self.get(InstructionKind::WriteMetadata) {
            Some(Instruction::WriteMetadata { value, mask }) => Some((*value, *mask)),
            _ => None,
        }
    }

    pub fn goto_table(&self) -> Option<u8> {
        match self.get(InstructionKind::GotoTable) {
            Some(Instruction::GotoTable(t)) => Some(*t),
            _ => None,
        }
    }
}

impl<'a> IntoIterator for &'a InstructionSet {
    type Item = &'a Instruction;
    type IntoIter = std::slice::Iter<'a, Instruction>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

/// One matched field. `value` has no bits outside `mask`; an exact match
/// has `mask == field.full_mask()`; `mask` is never 0 (a field with an
/// all-zero mask is wildcarded, i.e. absent from the [`Match`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatchField {
    pub field: Field,
    pub value: u128,
    pub mask: u128,
}

impl MatchField {
    pub fn is_exact(&self) -> bool {
        self.mask == self.field.full_mask()
    }

    /// `None` for an exact match, else the mask.
    pub fn partial_mask(&self) -> Option<u128> {
        (!self.is_exact()).then_some(self.mask)
    }

    /// Whether a packet whose field has value `v` matches.
    pub fn matches(&self, v: u128) -> bool {
        v & self.mask == self.value
    }
}

/// Why a field could not be added to a [`Match`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    #[error("{0} is matched twice")]
    Duplicate(Field),
    #[error("{field} does not take a mask (only exact values)")]
    NotMaskable { field: Field },
    #[error("value 0x{value:x} does not fit in {field} ({} bits)", .field.bits())]
    ValueTooWide { field: Field, value: u128 },
    #[error("mask 0x{mask:x} does not fit in {field} ({} bits)", .field.bits())]
    MaskTooWide { field: Field, mask: u128 },
    #[error("{field} requires {prereq}")]
    Prerequisite { field: Field, prereq: Prereq },
}

/// An OXM match: fields sorted by OXM order, each at most once,
/// normalised (see [`MatchField`]). The empty match matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Match {
    fields: Vec<MatchField>,
}

impl Match {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        Match {
            fields: Vec::with_capacity(n),
        }
    }

    /// Add `field` = `value`/`mask` (`mask` = `None` for exact). The value
    /// is normalised (`value &= mask`); a zero mask adds nothing; a full
    /// mask is stored as exact. Prerequisites are not checked here (the
    /// order of insertion is free): call [`Match::check_prerequisites`].
    pub fn insert(
        &mut self,
        field: Field,
        value: u128,
        mask: Option<u128>,
    ) -> Result<(), MatchError> {
        let full = field.full_mask();
        if value & !full != 0 {
            return Err(MatchError::ValueTooWide { field, value });
        }
        let mask = match mask {
            None => full,
            Some(m) if m & !full != 0 => return Err(MatchError::MaskTooWide { field, mask: m }),
            Some(m) if m != full && !field.maskable() => {
                return Err(MatchError::NotMaskable { field })
            }
            Some(m) => m,
        };
        match self.fields.binary_search_by(|f| f.field.cmp(&field)) {
            Ok(_) => Err(MatchError::Duplicate(field)),
            Err(_) if mask == 0 => Ok(()),
            Err(i) => {
                self.fields.insert(
                    i,
                    MatchField {
                        field,
                        value: value & mask,
                        mask,
                    },
                );
                Ok(())
            }
        }
    }

    pub fn get(&self, field: Field) -> Option<&MatchField> {
        self.fields
            .binary_search_by(|f| f.field.cmp(&field))
            .ok()
            .map(|i| &self.fields[i])
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.fields.shrink_to_fit();
    }

    pub(crate) fn get_mut(&mut self, field: Field) -> Option<&mut MatchField> {
        self.fields
            .binary_search_by(|f| f.field.cmp(&field))
            .ok()
            .map(|i| &mut self.fields[i])
    }

    /// The exact value of `field`, if matched exactly.
    pub fn exact(&self, field: Field) -> Option<u128> {
        self.get(field).filter(|f| f.is_exact()).map(|f| f.value)
    }

    /// The fields in OXM order.
    pub fn fields(&self) -> &[MatchField] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The first field whose prerequisite the match does not meet.
    pub fn check_prerequisites(&self) -> Result<(), MatchError> {
        let ctx = PacketFacts::from_match(self);
        for f in &self.fields {
            let prereq = f.field.prereq();
            if !ctx.satisfies(prereq) {
                return Err(MatchError::Prerequisite {
                    field: f.field,
                    prereq,
                });
            }
        }
        Ok(())
    }
}

/// Whether the packet is known to carry a VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanState {
    Tagged,
    Untagged,
    Unknown,
}

/// What is known about a packet at some point of a flow's actions: the
/// facts its match guarantees, updated by the actions run so far. Used to
/// check prerequisites of matches and of set-field-like actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketFacts {
    pub eth_type: Option<u16>,
    pub ip_proto: Option<u8>,
    pub icmpv6_type: Option<u8>,
    pub vlan: VlanState,
}

impl PacketFacts {
    /// Nothing known.
    pub const UNKNOWN: PacketFacts = PacketFacts {
        eth_type: None,
        ip_proto: None,
        icmpv6_type: None,
        vlan: VlanState::Unknown,
    };

    /// The facts an exact match guarantees.
    pub fn from_match(m: &Match) -> PacketFacts {
        let present = u128::from(OFPVID_PRESENT);
        let vlan = match m.get(Field::VlanVid) {
            Some(v) if v.mask & present != 0 && v.value & present != 0 => VlanState::Tagged,
            Some(v) if v.mask & present != 0 => VlanState::Untagged,
            _ => VlanState::Unknown,
        };
        PacketFacts {
            eth_type: m.exact(Field::EthType).map(|v| v as u16),
            ip_proto: m.exact(Field::IpProto).map(|v| v as u8),
            icmpv6_type: m.exact(Field::Icmpv6Type).map(|v| v as u8),
            vlan,
        }
    }

    pub fn satisfies(&self, p: Prereq) -> bool {
        let eth_in = |types: &[u16]| self.eth_type.is_some_and(|t| types.contains(&t));
        match p {
            Prereq::None => true,
            Prereq::VlanPresent => self.vlan == VlanState::Tagged,
            Prereq::EthType(types) => eth_in(types),
            Prereq::IpProto { eth_types, proto } => {
                eth_in(eth_types) && self.ip_proto == Some(proto)
            }
            Prereq::Icmpv6Type(types) => {
                eth_in(&[super::field::ethertype::IPV6])
                    && self.ip_proto == Some(super::field::ipproto::ICMPV6)
                    && self.icmpv6_type.is_some_and(|t| types.contains(&t))
            }
        }
    }

    /// Update the facts for an action that has just run.
    pub fn apply(&mut self, a: &Action) {
        use super::field::ethertype as et;
        match *a {
            Action::PushVlan(_) => self.vlan = VlanState::Tagged,
            Action::PopVlan => self.vlan = VlanState::Unknown,
            Action::PushMpls(t) => {
                self.eth_type = Some(t);
                self.ip_proto = None;
                self.icmpv6_type = None;
            }
            Action::PopMpls(t) => {
                self.eth_type = Some(t);
                self.ip_proto = None;
                self.icmpv6_type = None;
            }
            Action::PushPbb(_) => {
                *self = PacketFacts {
                    eth_type: Some(et::PBB),
                    vlan: VlanState::Untagged,
                    ..PacketFacts::UNKNOWN
                }
            }
            Action::PopPbb => *self = PacketFacts::UNKNOWN,
            Action::SetField { field, value, mask } => match field {
                Field::EthType if mask == field.full_mask() => {
                    self.eth_type = Some(value as u16);
                    self.ip_proto = None;
                    self.icmpv6_type = None;
                }
                Field::IpProto if mask == field.full_mask() => {
                    self.ip_proto = Some(value as u8);
                    self.icmpv6_type = None;
                }
                Field::Icmpv6Type if mask == field.full_mask() => {
                    self.icmpv6_type = Some(value as u8)
                }
                Field::EthType => {
                    *self = PacketFacts {
                        vlan: self.vlan,
                        ..PacketFacts::UNKNOWN
                    }
                }
                Field::IpProto => {
                    self.ip_proto = None;
                    self.icmpv6_type = None;
                }
                Field::Icmpv6Type => self.icmpv6_type = None,
                _ => {}
            },
            _ => {}
        }
    }
}

/// `ofp_flow_mod_flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowFlags(pub u16);

impl FlowFlags {
    pub const SEND_FLOW_REM: FlowFlags = FlowFlags(1 << 0);
    pub const CHECK_OVERLAP: FlowFlags = FlowFlags(1 << 1);
    pub const RESET_COUNTS: FlowFlags = FlowFlags(1 << 2);
    pub const NO_PKT_COUNTS: FlowFlags = FlowFlags(1 << 3);
    pub const NO_BYT_COUNTS: FlowFlags = FlowFlags(1 << 4);
    /// Every flag with its ovs-ofctl keyword.
    pub const NAMES: [(&'static str, FlowFlags); 5] = [
        ("send_flow_rem", Self::SEND_FLOW_REM),
        ("check_overlap", Self::CHECK_OVERLAP),
        ("reset_counts", Self::RESET_COUNTS),
        ("no_packet_counts", Self::NO_PKT_COUNTS),
        ("no_byte_counts", Self::NO_BYT_COUNTS),
    ];

    pub fn contains(self, other: FlowFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: FlowFlags) {
        self.0 |= other.0;
    }
}

/// Where in the source text an entry started (1-based line and character
/// column). Not part of an entry's identity: equality ignores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SourceLoc {
    pub line: u32,
    pub col: u32,
}

/// Default flow priority (`OFP_DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// A flow table entry, as added by `ovs-ofctl add-flow`.
#[derive(Clone, Debug)]
pub struct FlowEntry {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    /// All ones unless the text gave `cookie=V/M` (a cookie filter, as in
    /// del-flows / dump-flows).
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: FlowFlags,
    pub r#match: Match,
    pub instructions: InstructionSet,
    pub source: SourceLoc,
}

impl Default for FlowEntry {
    fn default() -> Self {
        FlowEntry {
            table: 0,
            priority: DEFAULT_PRIORITY,
            cookie: 0,
            cookie_mask: u64::MAX,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: FlowFlags::default(),
            r#match: Match::new(),
            instructions: InstructionSet::new(),
            source: SourceLoc::default(),
        }
    }
}

impl PartialEq for FlowEntry {
    /// Everything but `source`.
    fn eq(&self, o: &Self) -> bool {
        self.table == o.table
            && self.priority == o.priority
            && self.cookie == o.cookie
            && self.cookie_mask == o.cookie_mask
            && self.idle_timeout == o.idle_timeout
            && self.hard_timeout == o.hard_timeout
            && self.flags == o.flags
            && self.r#match == o.r#match
            && self.instructions == o.instructions
    }
}
impl Eq for FlowEntry {}

/// `ofp_group_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    All,
    Select,
    Indirect,
    FastFailover,
}

impl GroupType {
    /// The ovs-ofctl keyword.
    pub fn name(self) -> &'static str {
        match self {
            GroupType::All => "all",
            GroupType::Select => "select",
            GroupType::Indirect => "indirect",
            GroupType::FastFailover => "ff",
        }
    }
}

/// A group bucket. `watch_port` is `port::ANY` and `watch_group`
/// `OFPG_ANY` when unused; `weight` is 0 outside select groups.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub weight: u16,
    pub watch_port: u32,
    pub watch_group: u32,
    /// Run as a list, in order (as Open vSwitch does).
    pub actions: Vec<Action>,
}

/// A group table entry, as added by `ovs-ofctl add-group`.
#[derive(Clone, Debug)]
pub struct GroupEntry {
    pub id: u32,
    pub kind: GroupType,
    pub buckets: Vec<Bucket>,
    pub source: SourceLoc,
}

impl PartialEq for GroupEntry {
    /// Everything but `source`.
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id && self.kind == o.kind && self.buckets == o.buckets
    }
}
impl Eq for GroupEntry {}

/// `ofp_meter_flags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterFlags(pub u16);

impl MeterFlags {
    pub const KBPS: MeterFlags = MeterFlags(1 << 0);
    pub const PKTPS: MeterFlags = MeterFlags(1 << 1);
    pub const BURST: MeterFlags = MeterFlags(1 << 2);
    pub const STATS: MeterFlags = MeterFlags(1 << 3);

    pub fn contains(self, other: MeterFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: MeterFlags) {
        self.0 |= other.0;
    }
}

/// What a meter band does to packets over its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BandKind {
    Drop,
    /// Raise the drop precedence of the DSCP by `prec_level`.
    DscpRemark {
        prec_level: u8,
    },
}

/// A meter band: `rate` and `burst_size` are in kbit/s and kbit, or
/// packets/s and packets, per the meter's flags. `burst_size` is 0 unless
/// the meter has the `burst` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Band {
    pub kind: BandKind,
    pub rate: u32,
    pub burst_size: u32,
}

/// A meter table entry, as added by `ovs-ofctl add-meter`.
#[derive(Clone, Debug)]
pub struct MeterEntry {
    pub id: u32,
    pub flags: MeterFlags,
    pub bands: Vec<Band>,
    pub source: SourceLoc,
}

impl PartialEq for MeterEntry {
    /// Everything but `source`.
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id && self.flags == o.flags && self.bands == o.bands
    }
}
impl Eq for MeterEntry {}

impl PartialOrd for MatchField {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MatchField {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.field, self.value, self.mask).cmp(&(other.field, other.value, other.mask))
    }
}
