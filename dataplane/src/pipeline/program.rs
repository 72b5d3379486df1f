//! The compiled form of flow entries and groups: flat action programs with
//! resolved indices, and the action set as a fixed array of slots.
//!
//! # Design
//!
//! What: the data [`CompiledPipeline`](super::CompiledPipeline) runs per
//! packet. Every flow entry becomes an [`Entry`] (its instructions
//! flattened: meter, a range of apply [`Op`]s, clear, a range of write
//! ops, metadata value/mask, the goto target as a table index) and every
//! group a [`Group`] whose buckets are op ranges too. All ops of all
//! entries and buckets live in one `Vec<Op>`; ports, groups and tables are
//! referred to by their index, never looked up by number or id on the
//! data path.
//!
//! How the action set works: OF1.3.5 §5.10 keeps at most one action per
//! type (one set-field per field) and executes them in a fixed order.
//! [`slot`] numbers every (type, field) in that order (54 slots: 10 types
//! before set-field, one per field, 5 after), so the per-packet set is a
//! presence bitmask plus one op index per slot ([`ActionSet`]); writing
//! an action is a store, executing the set is a walk over the set bits.
//! The only case that needs a value not in an op is a partially masked
//! set-field written over another set-field of the same field (the values
//! combine bit-wise, [`crate::openflow::action_set`]); those are kept in a
//! side array that exists only when used.
//!
//! Threads: built once by the compiler, then read-only and shared by all
//! workers.

use crate::openflow::{Action, Field, ALL_FIELDS};
use crate::pipeline::outcome::PacketInReason;

/// No index (goto, meter).
pub(crate) const NONE: u32 = u32::MAX;

/// One step of an action program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Output to the port at `port` (index into the port list); `ofport`
    /// is its OpenFlow number (output to the ingress port by number sends
    /// nothing, as in the reference).
    Output {
        port: u32,
        ofport: u32,
    },
    /// OFPP_IN_PORT.
    InPort,
    /// OFPP_ALL and OFPP_FLOOD: every port but the ingress one.
    Flood,
    /// OFPP_CONTROLLER: a packet-in of at most `max_len` bytes.
    Controller {
        max_len: u16,
    },
    /// OFPP_LOCAL: Sluice has no local port; counted, nothing sent.
    Local,
    /// A group, by index.
    Group(u32),
    SetQueue(u32),
    /// set_field:…->tunnel_id: a register, not a header.
    SetTunnel {
        value: u64,
        mask: u64,
    },
    /// A header action for [`crate::pipeline::exec::execute`].
    Exec(Action),
}

/// Entry flags.
pub(crate) mod flag {
    /// clear_actions.
    pub const CLEAR: u8 = 1 << 0;
    /// Priority 0 and an empty match: packet-ins are `no_match`.
    pub const TABLE_MISS: u8 = 1 << 1;
    /// The apply actions are one output to a port: `Entry::out` (no op
    /// list to load).
    pub const ONE_OUTPUT: u8 = 1 << 3;
    /// No goto and no write_actions: if the action set is empty after
    /// this entry's clear, nothing happens to the packet after its apply
    /// actions (so a group at their end may use the packet itself).
    pub const ENDS: u8 = 1 << 2;
    /// The entry's meter has a `dscp_remark` band and some flow matches
    /// `ip_dscp`: what follows may depend on the meter's verdict, so a
    /// flow cache path ends here.
    pub const REMARKS: u8 = 1 << 4;
}

/// How an entry runs: two common shapes take a short path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only write_metadata (maybe) and goto_table.
    Goto,
    /// Only one output to a port (`Entry::out`), and the pipeline ends
    /// (write_metadata allowed).
    Output,
    /// Anything else: every instruction in order.
    General,
}

/// One flow entry, compiled: one cache line.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct Entry {
    pub cookie: u64,
    /// Already within the mask.
    pub metadata_value: u64,
    /// 0: no write_metadata.
    pub metadata_mask: u64,
    /// Apply-actions: `ops[apply.0..apply.1]`.
    pub apply: (u32, u32),
    /// Write-actions: `ops[write.0..write.1]`, slots in `op_slot`.
    pub write: (u32, u32),
    /// Meter id, or [`NONE`].
    pub meter: u32,
    /// Index of the goto table in the table list, or [`NONE`].
    pub goto: u32,
    /// With [`flag::ONE_OUTPUT`]: (port index, OpenFlow port).
    pub out: (u32, u32),
    pub table_id: u8,
    pub flags: u8,
    pub kind: Kind,
}

impl Entry {
    #[inline]
    pub fn reason(&self) -> PacketInReason {
        if self.flags & flag::TABLE_MISS != 0 {
            PacketInReason::NoMatch
        } else {
            PacketInReason::Action
        }
    }
}

/// What an entry of one of the two plain shapes does, in 8 bytes: go to
/// a table, or output to a port and end, writing no metadata. The lookup
/// loop reads these instead of the 64-byte [`Entry`] (one per entry, in
/// the same order), so that a large table's hit costs its classifier and
/// its counters, not a third cache line: 10,000 routes are 80 KiB of
/// steps against 640 KiB of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// A table index (below [`Step::OUTPUT`]), `OUTPUT | port index`, or
    /// [`Step::GENERAL`]: read the entry.
    pub code: u32,
    /// With `OUTPUT`: the port's OpenFlow number (an output to the
    /// packet's own in_port is not sent).
    pub ofport: u32,
}

impl Step {
    pub const OUTPUT: u32 = 1 << 31;
    pub const GENERAL: Step = Step {
        code: u32::MAX,
        ofport: 0,
    };

    pub fn of(e: &Entry) -> Step {
        match e.kind {
            Kind::Goto if e.metadata_mask == 0 && e.goto < Self::OUTPUT => Step {
                code: e.goto,
                ofport: 0,
            },
            Kind::Output if e.metadata_mask == 0 && e.out.0 < Self::OUTPUT - 1 => Step {
                code: Self::OUTPUT | e.out.0,
                ofport: e.out.1,
            },
            _ => Self::GENERAL,
        }
    }
}

/// Number of action-set slots.
pub(crate) const SLOTS: usize = 10 + ALL_FIELDS.len() + 5;
/// Slot of the group action.
pub(crate) const GROUP_SLOT: u32 = (SLOTS - 2) as u32;
/// Slot of the output action.
pub(crate) const OUTPUT_SLOT: u32 = (SLOTS - 1) as u32;
/// Set in `op_slot` for a set-field with a partial mask (it combines with
/// an earlier set-field of the same field instead of replacing it).
pub(crate) const PARTIAL: u8 = 0x80;
/// Set in an action-set ref: the value is in the combined array.
pub(crate) const COMBINED: u32 = 1 << 31;

const _: () = assert!(SLOTS <= 64, "the action set's presence mask is a u64");

/// The action-set slot of an action: its place in the §5.10 order.
pub(crate) fn slot(a: &Action) -> u8 {
    let (kind, sub) = a.set_slot();
    match kind {
        0..=9 => kind,
        10 => 10 + field_index(sub),
        _ => kind - 11 + 10 + ALL_FIELDS.len() as u8,
    }
}

/// Position of the field with OXM id `oxm` in [`ALL_FIELDS`] (OXM order).
fn field_index(oxm: u8) -> u8 {
    ALL_FIELDS
        .iter()
        .position(|f| f.oxm_id() == oxm)
        .unwrap_or(0) as u8
}

/// The field of a set-field slot.
pub(crate) fn slot_field(slot: u32) -> Option<Field> {
    let i = (slot as usize).checked_sub(10)?;
    ALL_FIELDS.get(i).copied()
}

/// A group, compiled: its buckets' op ranges (the openflow buckets are
/// kept for liveness and weights).
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub id: u32,
    pub kind: crate::openflow::GroupType,
    pub buckets: Vec<crate::openflow::Bucket>,
    /// `ops[b.0..b.1]` per bucket.
    pub programs: Vec<(u32, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::{OutPort, ALL_FIELDS};

    #[test]
    fn slots_follow_the_action_set_order() {
        let mut all = vec![
            Action::CopyTtlIn,
            Action::PopVlan,
            Action::PopPbb,
            Action::PopMpls(0x0800),
            Action::PushMpls(0x8847),
            Action::PushPbb(0x88e7),
            Action::PushVlan(0x8100),
            Action::CopyTtlOut,
            Action::DecNwTtl,
            Action::DecMplsTtl,
            Action::SetNwTtl(1),
            Action::SetMplsTtl(1),
            Action::SetQueue(1),
            Action::Group(1),
            Action::Output(OutPort::Port(1)),
        ];
        all.extend(ALL_FIELDS.iter().map(|&f| Action::set_field(f, 0)));
        let mut by_spec = all.clone();
        by_spec.sort_by_key(|a| a.set_slot());
        let mut by_slot = all.clone();
        by_slot.sort_by_key(slot);
        assert_eq!(by_spec, by_slot);
        let mut slots: Vec<u8> = all.iter().map(slot).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), SLOTS, "one slot per type and field");
        assert_eq!(*slots.last().unwrap() as usize, SLOTS - 1);
        assert_eq!(u32::from(slot(&Action::Group(3))), GROUP_SLOT);
        assert_eq!(
            u32::from(slot(&Action::Output(OutPort::InPort))),
            OUTPUT_SLOT
        );
        for &f in ALL_FIELDS.iter() {
            assert_eq!(
                slot_field(u32::from(slot(&Action::set_field(f, 0)))),
                Some(f)
            );
        }
        assert_eq!(slot_field(3), None);
    }
}
