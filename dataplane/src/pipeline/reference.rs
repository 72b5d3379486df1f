//! The reference interpreter: OpenFlow 1.3.5 §5 pipeline processing,
//! written straight from the spec with no cleverness.
//!
//! # Design
//!
//! What: [`ReferencePipeline`] holds flow tables, groups and meters as the
//! parser produced them and sends one packet at a time through them,
//! returning an [`Outcome`] with a full trace. It is the semantic baseline:
//! the compiled pipeline must give the same outputs, packet-ins and drops
//! on every packet (property tests), and the conformance corpus runs on
//! it. It allocates freely (a copy of the packet per output and group
//! bucket, trace strings) and is not for the data path.
//!
//! How, following the spec:
//! * Tables 0..=254, each a `Vec<FlowEntry>` in priority order, highest
//!   first. **Ties: among entries of equal priority that both match, the
//!   one added first wins** (OpenFlow leaves overlapping equal-priority
//!   entries undefined; the classifiers use the same rule). Adding an
//!   entry with the same table, priority and match as an existing one
//!   replaces it in place (OFPFC_ADD).
//! * Matching is a linear scan with [`fields::matches`].
//! * No match: the packet is dropped (the table-miss flow entry of §5.4 is
//!   an ordinary priority-0, match-everything entry when present).
//! * An entry's instructions run in the spec's order (§5.9): meter,
//!   apply-actions, clear-actions, write-actions, write-metadata,
//!   goto-table. Without goto-table the pipeline ends and the action set
//!   runs in the §5.10 order (the order [`crate::openflow::action_set`]
//!   keeps); a group in the set takes precedence over its output.
//! * Output makes a copy of the packet as it is at that point. Output to
//!   the ingress port by number sends nothing (§4.5: use IN_PORT);
//!   IN_PORT, ALL and FLOOD (all configured ports but the ingress one),
//!   LOCAL and CONTROLLER (a packet-in, reason `action`, or `no_match`
//!   from a table-miss entry, cut to `max_len`) are supported; NORMAL is
//!   not (nothing sent).
//! * Groups (§5.6): every bucket runs, as an action list, on its own copy
//!   of the packet, so a bucket's rewrites never leak into the actions
//!   after the group. all: every bucket; indirect: its bucket; select:
//!   [`groups::select_bucket`] over [`groups::flow_hash`]; fast failover:
//!   the first live bucket. Groups may chain up to [`MAX_GROUP_DEPTH`].
//! * Meters (§5.7): the [`MeterHook`] decides; a `dscp_remark` verdict
//!   raises the DSCP's drop precedence.
//! * A failing action (TTL expired, no headroom) drops the packet: the
//!   rest of its actions and its action set are discarded (OF1.3 would
//!   send `OFPR_INVALID_TTL` to a controller that asked; we count a drop).
//!   In a group bucket only that copy is dropped.
//!
//! Threads: build on one thread, then `process` from any number (it takes
//! `&self`).

use std::collections::BTreeMap;

use super::env::{Env, MeterVerdict};
use super::exec;
use super::fields::{self, Registers};
use super::groups;
use super::outcome::{
    DropCause, Effect, Egress, EntryRef, Outcome, PacketIn, PacketInReason, Stage, TraceStep,
};
use super::packet::{PacketBuf, VecPacket};
use crate::openflow::{
    action_set, port, Action, FlowEntry, GroupEntry, GroupType, Instruction, MeterEntry, OutPort,
    OFPCML_NO_BUFFER,
};
use crate::wire::{self, FlowKey};

/// How deep groups may chain (a group bucket naming a group ...).
pub const MAX_GROUP_DEPTH: u8 = 16;

/// Number of flow tables (0..=254; 255 is `OFPTT_ALL`).
const TABLES: usize = 255;

/// A packet (or a group copy of it) in flight.
#[derive(Clone)]
struct Flight {
    buf: VecPacket,
    key: FlowKey,
    regs: Registers,
    queue: Option<u32>,
}

/// OpenFlow tables, groups and meters, interpreted per the spec (see the
/// module docs).
#[derive(Clone, Debug)]
pub struct ReferencePipeline {
    tables: Vec<Vec<FlowEntry>>,
    groups: BTreeMap<u32, GroupEntry>,
    meters: BTreeMap<u32, MeterEntry>,
    ports: Vec<u32>,
    salt: u64,
}

impl ReferencePipeline {
    /// An empty pipeline on these ports (for ALL and FLOOD); `salt` seeds
    /// the select-group hash.
    pub fn new(ports: Vec<u32>, salt: u64) -> Self {
        ReferencePipeline {
            tables: vec![Vec::new(); TABLES],
            groups: BTreeMap::new(),
            meters: BTreeMap::new(),
            ports,
            salt,
        }
    }

    /// Adds a flow entry (after those of equal priority, or in place of
    /// one with the same priority and match). Entries for table 255 are
    /// ignored: it is not a table.
    pub fn add_flow(&mut self, entry: FlowEntry) {
        let Some(table) = self.tables.get_mut(usize::from(entry.table)) else {
            return;
        };
        if let Some(old) = table
            .iter_mut()
            .find(|e| e.priority == entry.priority && e.r#match == entry.r#match)
        {
            *old = entry;
            return;
        }
        let at = table.partition_point(|e| e.priority >= entry.priority);
        table.insert(at, entry);
    }

    /// Adds a group, replacing one with the same id.
    pub fn add_group(&mut self, group: GroupEntry) {
        self.groups.insert(group.id, group);
    }

    /// Adds a meter, replacing one with the same id. Meters are metered by
    /// the [`MeterHook`](super::env::MeterHook); the entries are kept for
    /// tools.
    pub fn add_meter(&mut self, meter: MeterEntry) {
        self.meters.insert(meter.id, meter);
    }

    /// A table's entries in lookup order.
    pub fn table(&self, id: u8) -> &[FlowEntry] {
        self.tables
            .get(usize::from(id))
            .map_or(&[], |t| t.as_slice())
    }

    pub fn group(&self, id: u32) -> Option<&GroupEntry> {
        self.groups.get(&id)
    }

    pub fn meter(&self, id: u32) -> Option<&MeterEntry> {
        self.meters.get(&id)
    }

    pub fn ports(&self) -> &[u32] {
        &self.ports
    }

    /// The entry a packet matches in a table: index and entry.
    pub fn lookup(
        &self,
        table: u8,
        key: &FlowKey,
        regs: &Registers,
    ) -> Option<(usize, &FlowEntry)> {
        self.table(table)
            .iter()
            .enumerate()
            .find(|(_, e)| fields::matches(&e.r#match, key, regs))
    }

    /// Sends `frame`, received on `in_port`, through the pipeline.
    pub fn process(&self, frame: &[u8], in_port: u32, env: &mut Env<'_>) -> Outcome {
        self.process_with(frame, in_port, Registers::default(), env)
    }

    /// As [`ReferencePipeline::process`], with initial registers (a
    /// tunnel id from the ingress port; metadata is 0 per the spec).
    pub fn process_with(
        &self,
        frame: &[u8],
        in_port: u32,
        regs: Registers,
        env: &mut Env<'_>,
    ) -> Outcome {
        let mut run = Run {
            pipe: self,
            env,
            out: Outcome::default(),
            in_port,
            table: 0,
            cookie: 0,
            reason: PacketInReason::Action,
            chain: 0,
        };
        let mut key = FlowKey::default();
        let parsed = wire::parse(frame, in_port, &mut key);
        let mut flight = Flight {
            buf: VecPacket::new(frame),
            key,
            regs,
            queue: None,
        };
        match parsed {
            Ok(()) => {
                run.out.trace.push(TraceStep::Ingress {
                    in_port,
                    len: frame.len(),
                    key: key.normalized(),
                });
                run.pipeline(&mut flight);
            }
            Err(m) => {
                flight.key = FlowKey {
                    in_port,
                    ..FlowKey::default()
                };
                run.drop(0, DropCause::Malformed(m));
            }
        }
        let mut out = run.out;
        if out.dropped.is_none() && out.outputs.is_empty() && out.packet_ins.is_empty() {
            out.dropped = Some(DropCause::NoOutput);
        }
        out.final_packet = flight.buf.to_vec();
        out.final_key = flight.key.normalized();
        out.final_regs = flight.regs;
        out
    }

    /// Is group `id` live (for a bucket's watch_group)? A fast-failover or
    /// select group is live while it has a live bucket; others while they
    /// exist.
    fn group_live(&self, id: u32, depth: u8, port_live: &dyn Fn(u32) -> bool) -> bool {
        let Some(g) = self.groups.get(&id) else {
            return false;
        };
        if depth >= MAX_GROUP_DEPTH {
            return false;
        }
        let gl = |g: u32| self.group_live(g, depth + 1, port_live);
        match g.kind {
            GroupType::FastFailover => {
                groups::failover_bucket(&g.buckets, port_live, &gl).is_some()
            }
            GroupType::Select => groups::select_bucket(&g.buckets, 0, port_live, &gl).is_some(),
            GroupType::All | GroupType::Indirect => true,
        }
    }
}

/// The state of one `process` call.
struct Run<'p, 'e, 'a> {
    pipe: &'p ReferencePipeline,
    env: &'e mut Env<'a>,
    out: Outcome,
    in_port: u32,
    /// Table and cookie of the last entry that matched (for packet-ins).
    table: u8,
    cookie: u64,
    reason: PacketInReason,
    /// How many groups are running, one inside the other.
    chain: u8,
}

impl Run<'_, '_, '_> {
    /// Records a drop (the first cause is kept).
    fn drop(&mut self, depth: u8, cause: DropCause) {
        self.out.trace.push(TraceStep::Drop { depth, cause });
        if self.out.dropped.is_none() {
            self.out.dropped = Some(cause);
        }
    }

    /// Tables from 0 until the pipeline ends or drops.
    fn pipeline(&mut self, f: &mut Flight) {
        let mut set: Vec<Action> = Vec::new();
        let mut table = 0u8;
        loop {
            let hit = self.pipe.lookup(table, &f.key, &f.regs);
            self.out.trace.push(TraceStep::Lookup {
                table,
                hit: hit.map(|(index, e)| EntryRef {
                    index,
                    priority: e.priority,
                    cookie: e.cookie,
                    source: e.source,
                    text: format!("{e:#}"),
                }),
            });
            let Some((_, entry)) = hit else {
                self.drop(0, DropCause::TableMiss { table });
                return;
            };
            self.table = table;
            self.cookie = entry.cookie;
            self.reason = if entry.priority == 0 && entry.r#match.is_empty() {
                PacketInReason::NoMatch
            } else {
                PacketInReason::Action
            };
            let mut next = None;
            for ins in entry.instructions.iter() {
                match ins {
                    Instruction::Meter(id) => {
                        if !self.meter(f, *id) {
                            return;
                        }
                    }
                    Instruction::ApplyActions(list) => {
                        if let Err(cause) = self.actions(f, list, Stage::ApplyActions, 0) {
                            self.drop(0, cause);
                            return;
                        }
                    }
                    Instruction::ClearActions => {
                        set.clear();
                        self.out.trace.push(TraceStep::ClearActions);
                    }
                    Instruction::WriteActions(written) => {
                        set = action_set(set.drain(..).chain(written.iter().cloned()).collect());
                        self.out.trace.push(TraceStep::WriteActions {
                            written: written.clone(),
                            set: set.clone(),
                        });
                    }
                    Instruction::WriteMetadata { value, mask } => {
                        f.regs.metadata = (f.regs.metadata & !mask) | (value & mask);
                        self.out.trace.push(TraceStep::WriteMetadata {
                            value: *value,
                            mask: *mask,
                            metadata: f.regs.metadata,
                        });
                    }
                    Instruction::GotoTable(t) => next = Some(*t),
                }
            }
            match next {
                Some(t) if t > table => {
                    self.out.trace.push(TraceStep::Goto { table: t });
                    table = t;
                }
                Some(t) => {
                    self.drop(0, DropCause::InvalidGoto { from: table, to: t });
                    return;
                }
                None => break,
            }
        }
        self.out.trace.push(TraceStep::ActionSet {
            actions: set.clone(),
        });
        let has_group = set.iter().any(|a| matches!(a, Action::Group(_)));
        for a in &set {
            if has_group && matches!(a, Action::Output(_)) {
                self.out.trace.push(TraceStep::Action {
                    depth: 0,
                    stage: Stage::ActionSet,
                    action: a.clone(),
                    effect: Effect::Ignored("the action set has a group"),
                });
                continue;
            }
            if let Err(cause) = self.action(f, a, Stage::ActionSet, 0) {
                self.drop(0, cause);
                return;
            }
        }
    }

    /// The meter instruction; `false` when the packet is dropped.
    fn meter(&mut self, f: &mut Flight, id: u32) -> bool {
        let verdict = self.env.meters.meter(id, f.buf.len());
        let applied = match verdict {
            MeterVerdict::RemarkDscp { prec_level } => Some(exec::remark_dscp(
                prec_level,
                &mut f.buf,
                &mut f.key,
                &mut f.regs,
            )),
            MeterVerdict::Pass | MeterVerdict::Drop => None,
        };
        self.out.trace.push(TraceStep::Meter {
            id,
            verdict,
            applied,
        });
        if verdict == MeterVerdict::Drop {
            self.drop(0, DropCause::Meter { id });
            return false;
        }
        true
    }

    /// An action list, in order; stops at the first failing action.
    fn actions(
        &mut self,
        f: &mut Flight,
        list: &[Action],
        stage: Stage,
        depth: u8,
    ) -> Result<(), DropCause> {
        for a in list {
            self.action(f, a, stage, depth)?;
        }
        Ok(())
    }

    fn trace_action(&mut self, depth: u8, stage: Stage, action: &Action, effect: Effect) {
        self.out.trace.push(TraceStep::Action {
            depth,
            stage,
            action: action.clone(),
            effect,
        });
    }

    fn action(
        &mut self,
        f: &mut Flight,
        a: &Action,
        stage: Stage,
        depth: u8,
    ) -> Result<(), DropCause> {
        match a {
            Action::Output(p) => {
                self.output(f, *p, a, stage, depth);
                Ok(())
            }
            Action::Group(id) => {
                self.trace_action(depth, stage, a, Effect::Group);
                self.group(f, *id, depth + 1);
                Ok(())
            }
            Action::SetQueue(q) => {
                f.queue = Some(*q);
                self.trace_action(depth, stage, a, Effect::Queue(*q));
                Ok(())
            }
            _ => match exec::execute(a, &mut f.buf, &mut f.key, &mut f.regs) {
                Ok(applied) => {
                    self.trace_action(depth, stage, a, Effect::Applied(applied));
                    Ok(())
                }
                Err(fault) => {
                    self.trace_action(depth, stage, a, Effect::Fault(fault));
                    Err(fault.into())
                }
            },
        }
    }

    fn emit(&mut self, f: &Flight, port: u32, a: &Action, stage: Stage, depth: u8) {
        let data = f.buf.to_vec();
        let len = data.len();
        self.out.outputs.push(Egress {
            port,
            queue: f.queue,
            data,
        });
        self.trace_action(depth, stage, a, Effect::Output { port, len });
    }

    fn output(&mut self, f: &Flight, p: OutPort, a: &Action, stage: Stage, depth: u8) {
        match p {
            OutPort::Port(n) if n == self.in_port => self.trace_action(
                depth,
                stage,
                a,
                Effect::OutputSkipped {
                    port: n,
                    why: "it is the ingress port (use IN_PORT)",
                },
            ),
            OutPort::Port(n) => self.emit(f, n, a, stage, depth),
            OutPort::InPort => self.emit(f, self.in_port, a, stage, depth),
            OutPort::Local => self.emit(f, port::LOCAL, a, stage, depth),
            OutPort::All | OutPort::Flood => {
                let ports: Vec<u32> = self
                    .pipe
                    .ports
                    .iter()
                    .copied()
                    .filter(|&p| p != self.in_port)
                    .collect();
                for p in ports {
                    self.emit(f, p, a, stage, depth);
                }
            }
            OutPort::Normal => self.trace_action(
                depth,
                stage,
                a,
                Effect::OutputSkipped {
                    port: port::NORMAL,
                    why: "NORMAL is not supported",
                },
            ),
            OutPort::Controller { max_len } => {
                let all = f.buf.data();
                let keep = if max_len == OFPCML_NO_BUFFER {
                    all.len()
                } else {
                    all.len().min(usize::from(max_len))
                };
                self.out.packet_ins.push(PacketIn {
                    reason: self.reason,
                    table_id: self.table,
                    cookie: self.cookie,
                    in_port: self.in_port,
                    metadata: f.regs.metadata,
                    tunnel_id: f.regs.tunnel_id,
                    total_len: all.len(),
                    data: all[..keep].to_vec(),
                });
                let reason = self.reason;
                self.trace_action(depth, stage, a, Effect::PacketIn { reason, len: keep });
            }
        }
    }

    /// Runs group `id` on copies of the packet.
    fn group(&mut self, f: &Flight, id: u32, depth: u8) {
        let pipe = self.pipe;
        let Some(g) = pipe.groups.get(&id) else {
            self.out.trace.push(TraceStep::Group {
                depth,
                id,
                kind: None,
                buckets: Vec::new(),
            });
            self.drop(depth, DropCause::UnknownGroup { id });
            return;
        };
        if self.chain >= MAX_GROUP_DEPTH {
            self.drop(depth, DropCause::GroupChainTooDeep { id });
            return;
        }
        let port_live = self.env.port_live;
        let gl = |g: u32| pipe.group_live(g, 0, port_live);
        let chosen: Vec<usize> = match g.kind {
            GroupType::All => (0..g.buckets.len()).collect(),
            GroupType::Indirect => (0..g.buckets.len().min(1)).collect(),
            GroupType::Select => {
                let h = groups::flow_hash(&f.key, pipe.salt);
                groups::select_bucket(&g.buckets, h, port_live, &gl)
                    .into_iter()
                    .collect()
            }
            GroupType::FastFailover => groups::failover_bucket(&g.buckets, port_live, &gl)
                .into_iter()
                .collect(),
        };
        self.out.trace.push(TraceStep::Group {
            depth,
            id,
            kind: Some(g.kind),
            buckets: chosen.clone(),
        });
        if chosen.is_empty() {
            self.drop(depth, DropCause::NoLiveBucket { group: id });
            return;
        }
        self.chain += 1;
        for i in chosen {
            self.out.trace.push(TraceStep::Bucket {
                depth,
                group: id,
                index: i,
            });
            let mut copy = f.clone();
            if let Err(cause) =
                self.actions(&mut copy, &g.buckets[i].actions, Stage::Bucket, depth + 1)
            {
                self.drop(depth + 1, cause);
            }
        }
        self.chain -= 1;
    }
}
