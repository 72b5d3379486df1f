//! ovs-ofctl text for the model. Everything printed here parses back to
//! an equal value (`parse(display(x)) == x`).
//!
//! * [`FlowEntry`]: `{}` is the dump-flows form
//!   (`cookie=0x0, table=0, priority=10, in_port=1,eth_type=0x0800 actions=output:2`),
//!   `{:#}` the add-flow form (`table=0,priority=10,in_port=1,eth_type=0x0800,actions=output:2`);
//!   [`FlowEntry::dump`] adds counters the way dump-flows does.
//! * [`GroupEntry`] / [`MeterEntry`]: the add-group / add-meter form.

use std::fmt;
use std::time::Duration;

use super::field::Field;
use super::model::*;
use super::value::FieldValue;

impl fmt::Display for MatchField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}",
            self.field.name(),
            FieldValue {
                field: self.field,
                value: self.value,
                mask: self.partial_mask(),
            }
        )
    }
}

/// Comma-separated fields; empty for the match-all.
impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.fields().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for OutPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutPort::Port(n) => write!(f, "output:{n}"),
            OutPort::Controller { max_len } => write!(f, "CONTROLLER:{max_len}"),
            other => f.write_str(port::reserved_name(other.number()).unwrap_or("?")),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Output(p) => write!(f, "{p}"),
            Action::Group(g) => write!(f, "group:{g}"),
            Action::SetField { field, value, mask } => {
                let exact = *mask == field.full_mask();
                write!(
                    f,
                    "set_field:{}->{}",
                    FieldValue {
                        field: *field,
                        value: *value,
                        mask: (!exact).then_some(*mask),
                    },
                    field.name()
                )
            }
            Action::PushVlan(t) => write!(f, "push_vlan:0x{t:04x}"),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::PushMpls(t) => write!(f, "push_mpls:0x{t:04x}"),
            Action::PopMpls(t) => write!(f, "pop_mpls:0x{t:04x}"),
            Action::SetMplsTtl(t) => write!(f, "set_mpls_ttl:{t}"),
            Action::DecMplsTtl => f.write_str("dec_mpls_ttl"),
            Action::SetNwTtl(t) => write!(f, "mod_nw_ttl:{t}"),
            Action::DecNwTtl => f.write_str("dec_ttl"),
            Action::CopyTtlOut => f.write_str("copy_ttl_out"),
            Action::CopyTtlIn => f.write_str("copy_ttl_in"),
            Action::PushPbb(t) => write!(f, "push_pbb:0x{t:04x}"),
            Action::PopPbb => f.write_str("pop_pbb"),
            Action::SetQueue(q) => write!(f, "set_queue:{q}"),
        }
    }
}

/// Comma-separated actions, `drop` for none.
pub struct ActionList<'a>(pub &'a [Action]);

impl fmt::Display for ActionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("drop");
        }
        write_actions(f, self.0)
    }
}

fn write_actions(f: &mut fmt::Formatter<'_>, actions: &[Action]) -> fmt::Result {
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instruction::Meter(m) => write!(f, "meter:{m}"),
            Instruction::ApplyActions(a) => write_actions(f, a),
            Instruction::ClearActions => f.write_str("clear_actions"),
            Instruction::WriteActions(a) => {
                f.write_str("write_actions(")?;
                write_actions(f, a)?;
                f.write_str(")")
            }
            Instruction::WriteMetadata { value, mask } if *mask == u64::MAX => {
                write!(f, "write_metadata:0x{value:x}")
            }
            Instruction::WriteMetadata { value, mask } => {
                write!(f, "write_metadata:0x{value:x}/0x{mask:x}")
            }
            Instruction::GotoTable(t) => write!(f, "goto_table:{t}"),
        }
    }
}

/// What follows `actions=`: the instructions in order, `drop` for none.
impl fmt::Display for InstructionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("drop");
        }
        for (i, ins) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{ins}")?;
        }
        Ok(())
    }
}

/// Counters for [`FlowEntry::dump`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub duration: Duration,
    pub n_packets: u64,
    pub n_bytes: u64,
}

/// A flow in dump-flows form with counters; see [`FlowEntry::dump`].
pub struct FlowDump<'a> {
    entry: &'a FlowEntry,
    stats: Option<FlowStats>,
}

impl FlowEntry {
    /// dump-flows text with `duration`, `n_packets` and `n_bytes` (which
    /// the parser ignores, so the text still parses back to the entry).
    pub fn dump(&self, stats: Option<FlowStats>) -> FlowDump<'_> {
        FlowDump { entry: self, stats }
    }
}

fn write_cookie(f: &mut fmt::Formatter<'_>, e: &FlowEntry) -> fmt::Result {
    write!(f, "cookie=0x{:x}", e.cookie)?;
    if e.cookie_mask != u64::MAX {
        write!(f, "/0x{:x}", e.cookie_mask)?;
    }
    Ok(())
}

/// timeouts and flags, each followed by `sep`.
fn write_options(f: &mut fmt::Formatter<'_>, e: &FlowEntry, sep: &str) -> fmt::Result {
    if e.idle_timeout != 0 {
        write!(f, "idle_timeout={}{sep}", e.idle_timeout)?;
    }
    if e.hard_timeout != 0 {
        write!(f, "hard_timeout={}{sep}", e.hard_timeout)?;
    }
    for (name, flag) in FlowFlags::NAMES {
        if e.flags.contains(flag) {
            write!(f, "{name}{sep}")?;
        }
    }
    Ok(())
}

impl fmt::Display for FlowDump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.entry;
        write_cookie(f, e)?;
        f.write_str(", ")?;
        if let Some(s) = &self.stats {
            write!(
                f,
                "duration={}.{:03}s, ",
                s.duration.as_secs(),
                s.duration.subsec_millis()
            )?;
        }
        write!(f, "table={}, ", e.table)?;
        if let Some(s) = &self.stats {
            write!(f, "n_packets={}, n_bytes={}, ", s.n_packets, s.n_bytes)?;
        }
        write_options(f, e, ", ")?;
        write!(f, "priority={}", e.priority)?;
        if !e.r#match.is_empty() {
            write!(f, ", {}", e.r#match)?;
        }
        write!(f, " actions={}", e.instructions)
    }
}

impl fmt::Display for FlowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return write!(f, "{}", self.dump(None));
        }
        write!(f, "table={},priority={},", self.table, self.priority)?;
        if self.cookie != 0 || self.cookie_mask != u64::MAX {
            write_cookie(f, self)?;
            f.write_str(",")?;
        }
        write_options(f, self, ",")?;
        if !self.r#match.is_empty() {
            write!(f, "{},", self.r#match)?;
        }
        write!(f, "actions={}", self.instructions)
    }
}

impl fmt::Display for Bucket {
    /// `weight=1,actions=output:2` (without the `bucket=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A select bucket always shows its weight; others only if set.
        if self.weight != 0 {
            write!(f, "weight={},", self.weight)?;
        }
        if self.watch_port != port::ANY {
            match port::reserved_name(self.watch_port) {
                Some(n) => write!(f, "watch_port={n},")?,
                None => write!(f, "watch_port={},", self.watch_port)?,
            }
        }
        if self.watch_group != OFPG_ANY {
            write!(f, "watch_group={},", self.watch_group)?;
        }
        write!(f, "actions={}", ActionList(&self.actions))
    }
}

impl fmt::Display for GroupEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group_id={},type={}", self.id, self.kind.name())?;
        for b in &self.buckets {
            if self.kind == GroupType::Select && b.weight == 0 {
                write!(f, ",bucket=weight=0,{b}")?;
            } else {
                write!(f, ",bucket={b}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BandKind::Drop => f.write_str("type=drop")?,
            BandKind::DscpRemark { .. } => f.write_str("type=dscp_remark")?,
        }
        write!(f, ",rate={}", self.rate)?;
        if self.burst_size != 0 {
            write!(f, ",burst_size={}", self.burst_size)?;
        }
        if let BandKind::DscpRemark { prec_level } = self.kind {
            write!(f, ",prec_level={prec_level}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MeterEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            OFPM_CONTROLLER => f.write_str("meter=controller")?,
            OFPM_SLOWPATH => f.write_str("meter=slowpath")?,
            id => write!(f, "meter={id}")?,
        }
        for (name, flag) in [
            ("kbps", MeterFlags::KBPS),
            ("pktps", MeterFlags::PKTPS),
            ("burst", MeterFlags::BURST),
            ("stats", MeterFlags::STATS),
        ] {
            if self.flags.contains(flag) {
                write!(f, ",{name}")?;
            }
        }
        f.write_str(",bands=")?;
        for (i, b) in self.bands.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{b}")?;
        }
        Ok(())
    }
}

impl Field {
    /// Display a value of this field (mask `None` = exact) in ovs form.
    pub fn display_value(self, value: u128, mask: Option<u128>) -> FieldValue {
        FieldValue {
            field: self,
            value,
            mask,
        }
    }
}
