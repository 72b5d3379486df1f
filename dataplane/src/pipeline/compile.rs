//! The compiler: flow entries, groups and meters into a
//! [`CompiledPipeline`] that every worker runs on every packet.
//!
//! # Design
//!
//! What: [`CompiledPipeline::build`] validates a whole rule set and turns
//! it into an immutable object: per table a
//! [`Classifier`](super::classifier::Classifier) and per entry a flat
//! program ([`super::program`]). [`CompiledPipeline::process`]
//! (in [`super::run`]) sends one packet through it with the semantics of
//! the [`ReferencePipeline`](super::ReferencePipeline), which is the
//! specification (property tests and the conformance corpus hold the two
//! equal).
//!
//! How, in order:
//! 1. Validation, collecting every problem (nothing half-compiles):
//!    table 255 is not a table; goto_table must go forward to a table that
//!    has flows; outputs, `in_port` matches and watch ports name
//!    configured ports (an `in_port` that is not one only warns: the flow
//!    never matches); NORMAL is rejected (there is no traditional L2
//!    pipeline); groups and meters referenced exist, ids are unique, group
//!    chains have no loop and are at most
//!    [`MAX_GROUP_DEPTH`](super::reference::MAX_GROUP_DEPTH) deep.
//! 2. Flows in add-flows order; a flow with the table, priority and match
//!    of an earlier one replaces it in place (OFPFC_ADD, as the reference
//!    does), with a warning. Entries of equal priority whose matches
//!    overlap are warned about ([`super::overlap`]): the first one wins.
//! 3. Per table (ascending id) the entries in lookup order (priority
//!    descending, then add order); an entry's classifier id is its
//!    position, so the classifier's tie rule (lowest id) is the
//!    reference's (first added). The table's classifier is built from
//!    them; the entry's instructions become an [`Entry`] with op ranges,
//!    ports resolved to indices into the port list, groups to indices into
//!    the group list, the goto target to a table index.
//!
//! Threads: `build` runs on the admin thread; the result is `Send + Sync`,
//! never changes, and is shared by the workers through an `Arc` (a reload
//! builds a new one).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::classifier::{Classifier, Rule};
use super::counters::{CounterTotals, PipelineCounters};
use super::flowcache::{FlowCache, KeySpec};
use super::overlap;
use super::program::{self, flag, Entry, Group, Kind, Op, Step, NONE, PARTIAL};
use super::reference::MAX_GROUP_DEPTH;
use crate::openflow::{
    port, Action, BandKind, Field, FlowEntry, FlowStats, GroupEntry, Instruction, MeterEntry,
    OutPort, SourceLoc, OFPG_ANY,
};

/// What a [`Diagnostic`] is about: an index into the flows, groups or
/// meters given to [`CompiledPipeline::build`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Site {
    Flow(usize),
    Group(usize),
    Meter(usize),
}

/// A compile error or warning about one flow, group or meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub site: Site,
    /// Where the flow, group or meter was written (from the parser).
    pub source: SourceLoc,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, i) = match self.site {
            Site::Flow(i) => ("flow", i),
            Site::Group(i) => ("group", i),
            Site::Meter(i) => ("meter", i),
        };
        if self.source.line > 0 {
            write!(
                f,
                "{}:{}: {what}: {}",
                self.source.line, self.source.col, self.message
            )
        } else {
            write!(f, "{what} #{}: {}", i + 1, self.message)
        }
    }
}

/// Why a rule set does not compile: every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct CompileError {
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Select-group hash salt when the configuration gives none.
pub const DEFAULT_SALT: u64 = 0x51ce_5eed_0f13_0001;

/// Generations of compiled pipelines (to tell counter blocks apart).
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// One flow table, compiled.
#[derive(Debug)]
pub(crate) struct Table {
    pub id: u8,
    pub classifier: Classifier,
    /// Global index of the table's first entry.
    pub base: u32,
    pub len: u32,
}

/// The compiled OpenFlow pipeline (see the module docs).
pub struct CompiledPipeline {
    pub(crate) tables: Vec<Table>,
    /// Table id → index into `tables`, [`NONE`] for a table without flows.
    pub(crate) table_index: [u32; 256],
    pub(crate) entries: Vec<Entry>,
    /// Per entry: [`Step::of`] it.
    pub(crate) steps: Vec<Step>,
    pub(crate) ops: Vec<Op>,
    /// Per op: its action-set slot (`| PARTIAL`), for write-actions ops.
    pub(crate) op_slot: Vec<u8>,
    pub(crate) groups: Vec<Group>,
    /// `(group id, index)` sorted by id (watch_group liveness).
    pub(crate) group_ids: Vec<(u32, u32)>,
    /// OpenFlow port numbers, by port index.
    pub(crate) ports: Vec<u32>,
    pub(crate) salt: u64,
    /// How to pack a packet's lookup key for a [`FlowCache`]; `None`: the
    /// matches use too many field bits to cache.
    pub(crate) key_spec: Option<KeySpec>,
    /// Per entry: the flow as given (its source kept), for dump-flows and
    /// trace.
    flows: Vec<FlowEntry>,
    /// Per entry: index of the flow in the input.
    origin: Vec<u32>,
    meters: Vec<MeterEntry>,
    warnings: Vec<Diagnostic>,
    pub(crate) generation: u64,
    built_at: Instant,
    /// Counters carried from the generation this one replaced (a reload):
    /// set once, by the admin thread, after every worker has moved here
    /// and the old counters stopped changing; added to every total.
    carried: OnceLock<CounterTotals>,
    /// Per entry, set with `carried`: when the flow was first installed
    /// (`built_at` for a flow new here, an earlier generation's for one it
    /// already had), so that dump-flows' `duration` runs on across reloads.
    born: OnceLock<Vec<Instant>>,
}

impl fmt::Debug for CompiledPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledPipeline")
            .field("tables", &self.tables.len())
            .field("entries", &self.entries.len())
            .field("ops", &self.ops.len())
            .field("groups", &self.groups.len())
            .field("meters", &self.meters.len())
            .field("ports", &self.ports)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Shape and lookup counters of one table, for `/metrics` and `sluice
/// check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    pub id: u8,
    /// The classifier kind (`direct`, `lpm`, `tss`, ...).
    pub kind: &'static str,
    pub entries: usize,
    pub lookups: u64,
    pub matches: u64,
}

impl CompiledPipeline {
    /// Validates and compiles a rule set (see the module docs). `ports`
    /// are the OpenFlow numbers of the configured ports, in port-index
    /// order: outputs report port indices into this list. `salt` seeds
    /// the select-group hash.
    pub fn build(
        flows: &[FlowEntry],
        groups: &[GroupEntry],
        meters: &[MeterEntry],
        ports: &[u32],
        salt: u64,
    ) -> Result<CompiledPipeline, CompileError> {
        let mut v = Validator::new(flows, groups, meters, ports);
        v.check_ids();
        v.check_flows();
        v.check_groups();
        if !v.errors.is_empty() {
            return Err(CompileError { errors: v.errors });
        }
        let Validator {
            group_index,
            mut warnings,
            ..
        } = v;

        // Add-flows order with in-place replacement.
        let mut kept: Vec<usize> = Vec::with_capacity(flows.len());
        let mut seen: HashMap<(u8, u16, &crate::openflow::Match), usize> =
            HashMap::with_capacity(flows.len());
        for (i, f) in flows.iter().enumerate() {
            match seen.entry((f.table, f.priority, &f.r#match)) {
                std::collections::hash_map::Entry::Occupied(slot) => {
                    let at = *slot.get();
                    let old = kept[at];
                    warnings.push(Diagnostic {
                        site: Site::Flow(i),
                        source: f.source,
                        message: format!(
                            "replaces the flow with the same table, priority and match {}",
                            describe_loc(flows[old].source, old)
                        ),
                    });
                    kept[at] = i;
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(kept.len());
                    kept.push(i);
                }
            }
        }
        drop(seen);

        // Per table, lookup order.
        let mut by_table: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for &i in &kept {
            by_table.entry(flows[i].table).or_default().push(i);
        }
        for list in by_table.values_mut() {
            // Stable: equal priorities stay in add order.
            list.sort_by_key(|&i| std::cmp::Reverse(flows[i].priority));
        }
        overlap::warn_overlaps(flows, &by_table, &mut warnings);

        let mut table_index = [NONE; 256];
        for (n, &id) in by_table.keys().enumerate() {
            table_index[usize::from(id)] = n as u32;
        }
        let mut c = Emitter {
            ports,
            group_index: &group_index,
            ops: Vec::with_capacity(flows.len() * 2),
            op_slot: Vec::with_capacity(flows.len() * 2),
        };
        let mut tables = Vec::with_capacity(by_table.len());
        let mut entries = Vec::with_capacity(kept.len());
        let mut compiled_flows = Vec::with_capacity(kept.len());
        let mut origin = Vec::with_capacity(kept.len());
        for (&id, list) in &by_table {
            let rules: Vec<Rule> = list
                .iter()
                .enumerate()
                .map(|(pos, &i)| Rule {
                    id: pos as u32,
                    priority: flows[i].priority,
                    r#match: &flows[i].r#match,
                })
                .collect();
            let classifier = Classifier::build(&rules);
            tables.push(Table {
                id,
                classifier,
                base: entries.len() as u32,
                len: list.len() as u32,
            });
            for &i in list {
                entries.push(c.entry(&flows[i], &table_index));
                compiled_flows.push(flows[i].clone());
                origin.push(i as u32);
            }
        }
        // Meters that may rewrite a DSCP some flow matches.
        let dscp_matched = kept.iter().any(|&i| {
            flows[i]
                .r#match
                .fields()
                .iter()
                .any(|f| f.field == Field::IpDscp)
        });
        if dscp_matched {
            let mut remarking: Vec<u32> = meters
                .iter()
                .filter(|m| {
                    m.bands
                        .iter()
                        .any(|b| matches!(b.kind, BandKind::DscpRemark { .. }))
                })
                .map(|m| m.id)
                .collect();
            remarking.sort_unstable();
            for e in &mut entries {
                if e.meter != NONE && remarking.binary_search(&e.meter).is_ok() {
                    e.flags |= flag::REMARKS;
                }
            }
        }
        let mut compiled_groups = Vec::with_capacity(groups.len());
        for g in groups {
            let programs = g.buckets.iter().map(|b| c.list(&b.actions)).collect();
            compiled_groups.push(Group {
                id: g.id,
                kind: g.kind,
                buckets: g.buckets.clone(),
                programs,
            });
        }
        let mut group_ids: Vec<(u32, u32)> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id, i as u32))
            .collect();
        group_ids.sort_unstable();
        let Emitter { ops, op_slot, .. } = c;
        let key_spec = KeySpec::new(
            kept.iter()
                .flat_map(|&i| flows[i].r#match.fields().iter().map(|f| f.field)),
        );
        let steps = entries.iter().map(Step::of).collect();
        Ok(CompiledPipeline {
            tables,
            table_index,
            entries,
            steps,
            ops,
            op_slot,
            groups: compiled_groups,
            group_ids,
            ports: ports.to_vec(),
            salt,
            key_spec,
            flows: compiled_flows,
            origin,
            meters: meters.to_vec(),
            warnings,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            built_at: Instant::now(),
            carried: OnceLock::new(),
            born: OnceLock::new(),
        })
    }

    /// Warnings found while compiling (replaced flows, overlapping
    /// same-priority entries, `in_port` matches on ports that do not
    /// exist).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// A fresh, zeroed counter block for one worker.
    pub fn new_counters(&self) -> PipelineCounters {
        PipelineCounters::new(self.generation, self.tables.len(), self.entries.len())
    }

    /// A flow cache for one worker with `slots` entries (rounded up to a
    /// power of two), for [`process_cached`](Self::process_cached).
    pub fn new_flow_cache(&self, slots: usize) -> FlowCache {
        FlowCache::new(self.generation, slots, self.key_words())
    }

    /// Bytes of one [`new_flow_cache`](Self::new_flow_cache) of `slots`
    /// slots (one cache line a slot, two for keys wider than a slot holds).
    pub fn flow_cache_bytes(&self, slots: usize) -> usize {
        FlowCache::bytes(slots, self.key_words())
    }

    /// Words of the flow cache key (0: not cacheable).
    fn key_words(&self) -> usize {
        self.key_spec.as_ref().map_or(0, KeySpec::words)
    }

    /// Whether `c` was made by [`new_flow_cache`](Self::new_flow_cache) of
    /// this pipeline (a worker makes a new cache when the pipeline changes;
    /// a foreign cache is ignored, never wrong).
    pub fn owns_cache(&self, c: &FlowCache) -> bool {
        c.generation == self.generation
    }

    /// Whether lookups of this pipeline can be cached (its matches use at
    /// most [`KEY_WORDS`](super::flowcache::KEY_WORDS) words of fields).
    pub fn cacheable(&self) -> bool {
        self.key_spec.is_some()
    }

    /// Whether `c` was made by [`new_counters`](Self::new_counters) of
    /// this pipeline.
    pub fn owns_counters(&self, c: &PipelineCounters) -> bool {
        c.generation == self.generation
    }

    /// OpenFlow port numbers, by port index.
    pub fn ports(&self) -> &[u32] {
        &self.ports
    }

    /// The OpenFlow number of the port at `index`.
    pub fn ofport(&self, index: u32) -> Option<u32> {
        self.ports.get(index as usize).copied()
    }

    /// The index of the port with OpenFlow number `ofport`.
    #[inline]
    pub fn port_index(&self, ofport: u32) -> Option<u32> {
        self.ports
            .iter()
            .position(|&p| p == ofport)
            .map(|i| i as u32)
    }

    /// Number of flow entries (after replacements).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The flow entries in table and lookup order (the global entry index
    /// of the counters).
    pub fn flows(&self) -> &[FlowEntry] {
        &self.flows
    }

    /// For each entry (global index), the index of its flow in the input
    /// given to `build`.
    pub fn flow_origins(&self) -> &[u32] {
        &self.origin
    }

    pub fn meters(&self) -> &[MeterEntry] {
        &self.meters
    }

    /// Table ids with flows, ascending (the table index order of the
    /// counters).
    pub fn table_ids(&self) -> impl Iterator<Item = u8> + '_ {
        self.tables.iter().map(|t| t.id)
    }

    /// Per table: id, classifier kind, entries, and the lookup counters
    /// summed over `workers`.
    pub fn table_info<'a>(
        &self,
        workers: impl IntoIterator<Item = &'a PipelineCounters>,
    ) -> Vec<TableInfo> {
        let t = self.totals(workers);
        self.tables
            .iter()
            .zip(&t.tables)
            .map(|(tab, &(lookups, matches))| TableInfo {
                id: tab.id,
                kind: tab.classifier.kind(),
                entries: tab.len as usize,
                lookups,
                matches,
            })
            .collect()
    }

    /// Counters summed over `workers` (blocks of another pipeline are
    /// skipped).
    pub fn totals<'a>(
        &self,
        workers: impl IntoIterator<Item = &'a PipelineCounters>,
    ) -> CounterTotals {
        let ranges: Vec<(u32, u32)> = self.tables.iter().map(|t| (t.base, t.len)).collect();
        let mut t = CounterTotals::sum(
            &ranges,
            self.entries.len(),
            workers.into_iter().filter(|w| self.owns_counters(w)),
        );
        if let Some(c) = self.carried.get() {
            t.add(c);
        }
        t
    }

    /// Carries the counters of `old` (the generation this one replaces;
    /// `old_totals` = `old.totals(..)` once its workers have stopped
    /// counting) into this one, as OVS does for a modified flow: a flow
    /// whose table, priority and match are unchanged keeps its packets and
    /// bytes, a table with the same id its lookups and matches, and the
    /// drop causes theirs. Flows new in this generation start at zero.
    /// A kept flow also keeps its age (dump-flows' `duration`).
    /// Only the first call takes effect (returns false after that).
    pub fn carry_counters_from(&self, old: &CompiledPipeline, old_totals: &CounterTotals) -> bool {
        if self.carried.get().is_some() {
            return false;
        }
        let mut c = CounterTotals {
            tables: vec![(0, 0); self.tables.len()],
            entries: vec![(0, 0); self.entries.len()],
            drops: old_totals.drops,
            no_local_port: old_totals.no_local_port,
            unknown_in_port: old_totals.unknown_in_port,
            copy_failures: old_totals.copy_failures,
        };
        let by_key: HashMap<(u8, u16, &crate::openflow::Match), usize> = old
            .flows
            .iter()
            .enumerate()
            .map(|(i, f)| ((f.table, f.priority, &f.r#match), i))
            .collect();
        let mut born = vec![self.built_at; self.flows.len()];
        for ((slot, f), b) in c.entries.iter_mut().zip(&self.flows).zip(&mut born) {
            if let Some(&i) = by_key.get(&(f.table, f.priority, &f.r#match)) {
                *slot = old_totals.entries.get(i).copied().unwrap_or_default();
                *b = old.born(i);
            }
        }
        for (slot, t) in c.tables.iter_mut().zip(&self.tables) {
            if let Some(i) = old.tables.iter().position(|o| o.id == t.id) {
                *slot = old_totals.tables.get(i).copied().unwrap_or_default();
            }
        }
        let _ = self.born.set(born);
        self.carried.set(c).is_ok()
    }

    /// When entry `i`'s flow was installed: this build, or the build of
    /// the earliest generation that already had it.
    fn born(&self, i: usize) -> Instant {
        self.born
            .get()
            .and_then(|b| b.get(i).copied())
            .unwrap_or(self.built_at)
    }

    /// `ovs-ofctl dump-flows` text of every flow, with packet and byte
    /// counters summed over `workers` and the time since the flow was
    /// installed as the duration (a flow kept by a reload keeps its age).
    /// One flow a line, table then lookup order.
    pub fn dump_flows<'a>(
        &self,
        workers: impl IntoIterator<Item = &'a PipelineCounters>,
    ) -> String {
        use std::fmt::Write;
        let t = self.totals(workers);
        let mut out = String::with_capacity(self.flows.len() * 96);
        for (i, (f, &(n_packets, n_bytes))) in self.flows.iter().zip(&t.entries).enumerate() {
            let stats = FlowStats {
                duration: self.born(i).elapsed(),
                n_packets,
                n_bytes,
            };
            let _ = writeln!(out, " {}", f.dump(Some(stats)));
        }
        out
    }

    /// Time since `build`.
    pub fn age(&self) -> Duration {
        self.built_at.elapsed()
    }

    /// The group at `id`, if any.
    #[inline]
    pub(crate) fn group_by_id(&self, id: u32) -> Option<&Group> {
        let i = self.group_ids.binary_search_by_key(&id, |&(g, _)| g).ok()?;
        self.groups.get(self.group_ids[i].1 as usize)
    }
}

fn describe_loc(src: SourceLoc, index: usize) -> String {
    if src.line > 0 {
        format!("at {}:{}", src.line, src.col)
    } else {
        format!("#{}", index + 1)
    }
}

/// Turns validated instructions into ops.
struct Emitter<'a> {
    ports: &'a [u32],
    group_index: &'a HashMap<u32, u32>,
    ops: Vec<Op>,
    op_slot: Vec<u8>,
}

impl Emitter<'_> {
    fn op(&self, a: &Action) -> Op {
        match *a {
            Action::Output(OutPort::Port(n)) => Op::Output {
                port: self.ports.iter().position(|&p| p == n).unwrap_or(0) as u32,
                ofport: n,
            },
            Action::Output(OutPort::InPort) => Op::InPort,
            Action::Output(OutPort::All | OutPort::Flood) => Op::Flood,
            Action::Output(OutPort::Controller { max_len }) => Op::Controller { max_len },
            // NORMAL is rejected by validation; LOCAL has no port here.
            Action::Output(OutPort::Local | OutPort::Normal) => Op::Local,
            Action::Group(id) => Op::Group(self.group_index.get(&id).copied().unwrap_or(NONE)),
            Action::SetQueue(q) => Op::SetQueue(q),
            Action::SetField {
                field: Field::TunnelId,
                value,
                mask,
            } => Op::SetTunnel {
                value: value as u64,
                mask: mask as u64,
            },
            ref other => Op::Exec(other.clone()),
        }
    }

    fn push(&mut self, a: &Action) {
        let op = self.op(a);
        let mut s = program::slot(a);
        if let Action::SetField { field, mask, .. } = a {
            if *mask != field.full_mask() {
                s |= PARTIAL;
            }
        }
        self.ops.push(op);
        self.op_slot.push(s);
    }

    fn list(&mut self, actions: &[Action]) -> (u32, u32) {
        let start = self.ops.len() as u32;
        for a in actions {
            self.push(a);
        }
        (start, self.ops.len() as u32)
    }

    fn entry(&mut self, f: &FlowEntry, table_index: &[u32; 256]) -> Entry {
        let ins = &f.instructions;
        let apply = self.list(ins.apply_actions());
        let write = match ins.write_actions() {
            Some(set) => self.list(set),
            None => (apply.1, apply.1),
        };
        let (metadata_value, metadata_mask) = ins.write_metadata().unwrap_or((0, 0));
        let goto = ins
            .goto_table()
            .map_or(NONE, |t| table_index[usize::from(t)]);
        let mut flags = 0;
        if ins.clear_actions() {
            flags |= flag::CLEAR;
        }
        if f.priority == 0 && f.r#match.is_empty() {
            flags |= flag::TABLE_MISS;
        }
        if goto == NONE && write.0 == write.1 {
            flags |= flag::ENDS;
        }
        let mut out = (0, 0);
        if let [Op::Output { port, ofport }] = &self.ops[apply.0 as usize..apply.1 as usize] {
            flags |= flag::ONE_OUTPUT;
            out = (*port, *ofport);
        }
        let meter = ins.meter().unwrap_or(NONE);
        let plain = meter == NONE && write.0 == write.1 && flags & flag::CLEAR == 0;
        let kind = if plain && apply.0 == apply.1 && goto != NONE {
            Kind::Goto
        } else if plain && flags & flag::ONE_OUTPUT != 0 && goto == NONE {
            Kind::Output
        } else {
            Kind::General
        };
        Entry {
            cookie: f.cookie,
            metadata_value,
            metadata_mask,
            apply,
            write,
            meter,
            goto,
            out,
            table_id: f.table,
            flags,
            kind,
        }
    }
}

/// Validation (step 1 of the module docs).
struct Validator<'a> {
    flows: &'a [FlowEntry],
    groups: &'a [GroupEntry],
    meters: &'a [MeterEntry],
    ports: &'a [u32],
    group_index: HashMap<u32, u32>,
    meter_ids: HashMap<u32, usize>,
    tables_used: [bool; 256],
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// At most this many errors are collected (the rest are counted).
const MAX_ERRORS: usize = 100;

impl<'a> Validator<'a> {
    fn new(
        flows: &'a [FlowEntry],
        groups: &'a [GroupEntry],
        meters: &'a [MeterEntry],
        ports: &'a [u32],
    ) -> Self {
        let mut tables_used = [false; 256];
        for f in flows {
            tables_used[usize::from(f.table)] = true;
        }
        Validator {
            flows,
            groups,
            meters,
            ports,
            group_index: HashMap::with_capacity(groups.len()),
            meter_ids: HashMap::with_capacity(meters.len()),
            tables_used,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn error(&mut self, site: Site, message: String) {
        let source = match site {
            Site::Flow(i) => self.flows[i].source,
            Site::Group(i) => self.groups[i].source,
            Site::Meter(i) => self.meters[i].source,
        };
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(Diagnostic {
                site,
                source,
                message,
            });
        }
    }

    fn port_list(&self) -> String {
        if self.ports.is_empty() {
            return "none".to_string();
        }
        let v: Vec<String> = self.ports.iter().map(|p| p.to_string()).collect();
        v.join(", ")
    }

    fn check_ids(&mut self) {
        for (i, g) in self.groups.iter().enumerate() {
            if let Some(&prev) = self.group_index.get(&g.id) {
                let at = describe_loc(self.groups[prev as usize].source, prev as usize);
                self.error(
                    Site::Group(i),
                    format!("group {} is defined twice (first {at})", g.id),
                );
            } else {
                self.group_index.insert(g.id, i as u32);
            }
        }
        for (i, m) in self.meters.iter().enumerate() {
            if let Some(&prev) = self.meter_ids.get(&m.id) {
                let at = describe_loc(self.meters[prev].source, prev);
                self.error(
                    Site::Meter(i),
                    format!("meter {} is defined twice (first {at})", m.id),
                );
            } else {
                self.meter_ids.insert(m.id, i);
            }
        }
    }

    fn check_port(&mut self, site: Site, what: &str, n: u32) {
        if !self.ports.contains(&n) {
            let list = self.port_list();
            self.error(
                site,
                format!("{what} {n} is not a configured port (ports: {list})"),
            );
        }
    }

    fn check_actions(&mut self, site: Site, actions: &[Action]) {
        for a in actions {
            match *a {
                Action::Output(OutPort::Port(n)) => self.check_port(site, "output to port", n),
                Action::Output(OutPort::Normal) => self.error(
                    site,
                    "output:NORMAL is not supported: Sluice has no traditional L2 switching \
                     pipeline; use explicit outputs (or FLOOD)"
                        .to_string(),
                ),
                Action::Group(id) if !self.group_index.contains_key(&id) => {
                    self.error(site, format!("group {id} is not defined"))
                }
                _ => {}
            }
        }
    }

    fn check_flows(&mut self) {
        for (i, f) in self.flows.iter().enumerate() {
            let site = Site::Flow(i);
            if f.table == 255 {
                self.error(site, "table 255 is not a flow table (0..=254)".into());
            }
            if let Some(n) = f.r#match.exact(Field::InPort) {
                let n = n as u32;
                if !self.ports.contains(&n) {
                    let list = self.port_list();
                    self.warnings.push(Diagnostic {
                        site,
                        source: f.source,
                        message: format!(
                            "in_port={} is not a configured port (ports: {list}): this flow never matches",
                            port::reserved_name(n).map_or(n.to_string(), str::to_string)
                        ),
                    });
                }
            }
            for ins in f.instructions.iter() {
                match ins {
                    Instruction::Meter(id) if !self.meter_ids.contains_key(id) => {
                        self.error(site, format!("meter {id} is not defined"))
                    }
                    Instruction::ApplyActions(list) | Instruction::WriteActions(list) => {
                        self.check_actions(site, list)
                    }
                    Instruction::GotoTable(t) if *t <= f.table => self.error(
                        site,
                        format!(
                            "goto_table:{t} from table {}: goto_table must go to a later table",
                            f.table
                        ),
                    ),
                    Instruction::GotoTable(t) if !self.tables_used[usize::from(*t)] => {
                        self.error(site, format!("goto_table:{t}, but table {t} has no flows"))
                    }
                    _ => {}
                }
            }
        }
    }

    fn check_groups(&mut self) {
        for (i, g) in self.groups.iter().enumerate() {
            let site = Site::Group(i);
            for b in &g.buckets {
                self.check_actions(site, &b.actions);
                if b.watch_port != port::ANY {
                    self.check_port(site, "watch_port", b.watch_port);
                }
                if b.watch_group != OFPG_ANY && !self.group_index.contains_key(&b.watch_group) {
                    self.error(
                        site,
                        format!("watch_group {} is not defined", b.watch_group),
                    );
                }
            }
        }
        if !self.errors.is_empty() {
            return;
        }
        // Chains: depth-first, colouring groups (0 new, 1 on the path,
        // 2 done with its depth known).
        let n = self.groups.len();
        let mut state = vec![0u8; n];
        let mut depth = vec![0u32; n];
        let mut watch_state = vec![0u8; n];
        for start in 0..n {
            if state[start] == 0 {
                if let Err(path) = self.chain(start, &mut state, &mut depth, &mut Vec::new()) {
                    self.loop_error(start, "group chain loop", &path);
                    return;
                }
            }
            if watch_state[start] == 0 {
                if let Err(path) = self.watch(start, &mut watch_state, &mut Vec::new()) {
                    self.loop_error(start, "watch_group loop", &path);
                    return;
                }
            }
        }
        for (i, &d) in depth.iter().enumerate() {
            if d > u32::from(MAX_GROUP_DEPTH) {
                self.error(
                    Site::Group(i),
                    format!(
                        "group {} starts a chain of {d} groups; at most {MAX_GROUP_DEPTH} may chain",
                        self.groups[i].id
                    ),
                );
                return;
            }
        }
    }

    fn loop_error(&mut self, at: usize, what: &str, path: &[usize]) {
        let ids: Vec<String> = path
            .iter()
            .map(|&g| self.groups[g].id.to_string())
            .collect();
        let first = path.first().copied().unwrap_or(at);
        self.error(Site::Group(first), format!("{what}: {}", ids.join(" -> ")));
    }

    fn children(&self, g: usize) -> impl Iterator<Item = usize> + '_ {
        self.groups[g]
            .buckets
            .iter()
            .flat_map(|b| b.actions.iter())
            .filter_map(|a| match a {
                Action::Group(id) => self.group_index.get(id).map(|&i| i as usize),
                _ => None,
            })
    }

    /// Depth of the chain starting at `g` (1 for a group that names no
    /// other); `Err(path)` on a loop.
    fn chain(
        &self,
        g: usize,
        state: &mut [u8],
        depth: &mut [u32],
        path: &mut Vec<usize>,
    ) -> Result<u32, Vec<usize>> {
        match state[g] {
            2 => return Ok(depth[g]),
            1 => {
                let from = path.iter().position(|&p| p == g).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(g);
                return Err(cycle);
            }
            _ => {}
        }
        state[g] = 1;
        path.push(g);
        let mut d = 1;
        let kids: Vec<usize> = self.children(g).collect();
        for c in kids {
            d = d.max(1 + self.chain(c, state, depth, path)?);
        }
        path.pop();
        state[g] = 2;
        depth[g] = d;
        Ok(d)
    }

    fn watch(&self, g: usize, state: &mut [u8], path: &mut Vec<usize>) -> Result<(), Vec<usize>> {
        match state[g] {
            2 => return Ok(()),
            1 => {
                let from = path.iter().position(|&p| p == g).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(g);
                return Err(cycle);
            }
            _ => {}
        }
        state[g] = 1;
        path.push(g);
        let kids: Vec<usize> = self.groups[g]
            .buckets
            .iter()
            .filter(|b| b.watch_group != OFPG_ANY)
            .filter_map(|b| self.group_index.get(&b.watch_group).map(|&i| i as usize))
            .collect();
        for c in kids {
            self.watch(c, state, path)?;
        }
        path.pop();
        state[g] = 2;
        Ok(())
    }
}
