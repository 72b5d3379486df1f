//! OpenFlow 1.3 meters (`meter:N` instructions) on the rate engine.
//!
//! # Design
//!
//! What: [`MeterTable`] turns the pipeline's [`MeterEntry`]s into the
//! engine's [`OpenFlowMeters`] ([`meter_spec`]: flags `kbps`/`pktps` and
//! `burst`, bands `drop` / `dscp_remark` with `rate`, `burst_size` and
//! `prec_level`), and each worker gets a [`WorkerMeterHook`], the
//! pipeline's [`MeterHook`]. The admin reads [`MeterStats`],
//! [`MeterSample`]s for `/metrics` and [`MeterTable::dump_meters`], the
//! text of `ovs-ofctl -O OpenFlow13 dump-meters` and `meter-stats`.
//!
//! How: OpenFlow's 32-bit `meter_id` maps to the engine's dense index
//! (meters in ascending id order) through [`MeterIds`]: a direct array when
//! every id is below [`DIRECT_IDS`] (one load), else an open-addressing
//! hash table at most half full (Fibonacci hashing, linear probing; ids
//! are never 0, which marks an empty slot). Measured with 10,000 meters
//! (`benches/tenant.rs`): a binary search over sorted ids cost about
//! 35 ns more per packet than the direct array. The engine needs the time
//! of each packet; the hook has a public `now` that the worker sets once
//! per burst (the TSC read it already makes), so the `MeterHook` signature
//! stays clock-free.
//!
//! A packet naming a meter that does not exist is dropped and counted
//! (OpenFlow refuses such a flow at flow-mod time with
//! `OFPMMFC_UNKNOWN_METER`, so this means the pipeline and the meter table
//! disagree; failing closed keeps a limit from being bypassed).
//!
//! Threads: the admin builds and modifies the table and reads counters; a
//! worker owns its hook. The id map is immutable and shared.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::admin::metrics::{MeterBandSample, MeterSample, Traffic};
use crate::meter::{
    Action, BandType, ChunkPolicy, Count, MeterBand, MeterCounters, MeterError, MeterSpec,
    MeterUnit, OpenFlowMeters, TickScale, WorkerMeters,
};
use crate::openflow::{BandKind, MeterEntry, MeterFlags, OFPM_MAX};
use crate::pipeline::env::{MeterHook, MeterVerdict};

/// Ids below this are mapped by a direct array (at most 256 KiB).
pub const DIRECT_IDS: u32 = 1 << 16;

const NONE: u32 = u32::MAX;

/// Why a meter could not be installed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeterTableError {
    #[error("meter id {0} is invalid (meters are 1..={OFPM_MAX})")]
    InvalidId(u32),
    #[error("meter {0} is given twice")]
    Duplicate(u32),
    #[error("meter {0}: a meter is either kbps or pktps, not both")]
    BothUnits(u32),
    #[error("meter {id}: {error}")]
    Engine { id: u32, error: MeterError },
    #[error("no meter {0}")]
    Unknown(u32),
}

/// The engine's spec for an OpenFlow meter: `kbps` (or neither flag, the
/// OpenFlow default) counts bits, `pktps` packets; the `burst` flag makes
/// each band's `burst_size` its depth (else the engine's default depth).
pub fn meter_spec(entry: &MeterEntry) -> Result<MeterSpec, MeterTableError> {
    let kbps = entry.flags.contains(MeterFlags::KBPS);
    let pktps = entry.flags.contains(MeterFlags::PKTPS);
    if kbps && pktps {
        return Err(MeterTableError::BothUnits(entry.id));
    }
    let bands = entry
        .bands
        .iter()
        .map(|b| MeterBand {
            band_type: match b.kind {
                BandKind::Drop => BandType::Drop,
                BandKind::DscpRemark { prec_level } => BandType::DscpRemark { prec_level },
            },
            rate: u64::from(b.rate),
            burst_size: u64::from(b.burst_size),
        })
        .collect();
    Ok(MeterSpec {
        unit: if pktps {
            MeterUnit::Pktps
        } else {
            MeterUnit::Kbps
        },
        burst: entry.flags.contains(MeterFlags::BURST),
        bands,
    })
}

/// OpenFlow meter id → dense engine index (see the module docs).
#[derive(Clone, Debug)]
pub enum MeterIds {
    /// `table[id]` = index or `NONE`.
    Direct(Box<[u32]>),
    /// `(id, index)` slots, a power of two of them, `id` 0 = empty;
    /// `shift` = 64 - log2(slots).
    Hashed {
        slots: Box<[(u32, u32)]>,
        shift: u32,
    },
}

impl MeterIds {
    /// For ids sorted ascending, without duplicates, none 0.
    fn new(sorted: &[u32]) -> Self {
        match sorted.last() {
            Some(&max) if max >= DIRECT_IDS => {
                let bits = (sorted.len() * 2)
                    .next_power_of_two()
                    .trailing_zeros()
                    .max(1);
                let mut slots = vec![(0u32, NONE); 1 << bits];
                let shift = 64 - bits;
                let mask = slots.len() - 1;
                for (i, &id) in sorted.iter().enumerate() {
                    let mut s = Self::home(id, shift);
                    while slots[s].0 != 0 {
                        s = (s + 1) & mask;
                    }
                    slots[s] = (id, i as u32);
                }
                MeterIds::Hashed {
                    slots: slots.into(),
                    shift,
                }
            }
            max => {
                let mut t = vec![NONE; max.map_or(0, |&m| m as usize + 1)];
                for (i, &id) in sorted.iter().enumerate() {
                    t[id as usize] = i as u32;
                }
                MeterIds::Direct(t.into())
            }
        }
    }

    #[inline]
    fn home(id: u32, shift: u32) -> usize {
        (u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
    }

    /// The dense index of `meter_id`.
    #[inline]
    pub fn get(&self, meter_id: u32) -> Option<u32> {
        match self {
            MeterIds::Direct(t) => t.get(meter_id as usize).copied().filter(|&i| i != NONE),
            MeterIds::Hashed { slots, shift } => {
                if meter_id == 0 {
                    return None;
                }
                let mask = slots.len() - 1;
                let mut s = Self::home(meter_id, *shift) & mask;
                // At most half full: a probe always reaches an empty slot.
                for _ in 0..slots.len() {
                    match slots[s] {
                        (0, _) => return None,
                        (id, index) if id == meter_id => return Some(index),
                        _ => s = (s + 1) & mask,
                    }
                }
                None
            }
        }
    }
}

/// One meter's configuration and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterStats {
    pub entry: MeterEntry,
    pub counters: MeterCounters,
    /// Ticks since the meter was added.
    pub age_ticks: u64,
}

/// All OpenFlow meters of a pipeline generation (see the module docs).
#[derive(Debug)]
pub struct MeterTable {
    meters: Arc<OpenFlowMeters>,
    ids: Arc<MeterIds>,
    /// By dense index (ascending meter id).
    entries: Vec<MeterEntry>,
    /// Tick at which each meter was added or last replaced.
    created: Vec<u64>,
    /// Per meter: counters of the generations before `previous` (a
    /// reload keeps a meter's counters when its id stays).
    base: Vec<MeterCounters>,
    /// The table this one was rebuilt from, still read live (its workers
    /// may finish a few bursts on it), with each meter's old index.
    previous: Option<(Arc<OpenFlowMeters>, Vec<Option<u32>>)>,
}

impl MeterTable {
    /// A table of `entries` (any order), buckets full at `now`, with the
    /// default chunk policy.
    pub fn new(
        entries: &[MeterEntry],
        scale: TickScale,
        now: u64,
    ) -> Result<Self, MeterTableError> {
        Self::with_chunk(entries, scale, ChunkPolicy::DEFAULT, now)
    }

    pub fn with_chunk(
        entries: &[MeterEntry],
        scale: TickScale,
        chunk: ChunkPolicy,
        now: u64,
    ) -> Result<Self, MeterTableError> {
        let mut sorted: Vec<MeterEntry> = entries.to_vec();
        sorted.sort_by_key(|e| e.id);
        for w in sorted.windows(2) {
            if w[0].id == w[1].id {
                return Err(MeterTableError::Duplicate(w[0].id));
            }
        }
        let mut specs = Vec::with_capacity(sorted.len());
        for e in &sorted {
            if e.id == 0 || e.id > OFPM_MAX {
                return Err(MeterTableError::InvalidId(e.id));
            }
            specs.push(meter_spec(e)?);
        }
        let meters = OpenFlowMeters::new(scale, chunk, &specs, now).map_err(|e| match e {
            MeterError::Entry { index, error, .. } => MeterTableError::Engine {
                id: sorted.get(index).map_or(0, |e| e.id),
                error: *error,
            },
            error => MeterTableError::Engine { id: 0, error },
        })?;
        let ids: Vec<u32> = sorted.iter().map(|e| e.id).collect();
        Ok(Self {
            meters,
            ids: Arc::new(MeterIds::new(&ids)),
            created: vec![now; sorted.len()],
            base: vec![MeterCounters::default(); sorted.len()],
            previous: None,
            entries: sorted,
        })
    }

    /// A new generation for a reload: `entries` at `now`, on `old`'s tick
    /// scale and chunk policy. A meter whose id is in `old` keeps its
    /// counters (band counters only when it has as many bands) and, when
    /// its unit and band count are unchanged, its buckets' fill; its age
    /// continues. Others start full, at zero.
    pub fn rebuild_from(
        old: &MeterTable,
        entries: &[MeterEntry],
        now: u64,
    ) -> Result<Self, MeterTableError> {
        let mut new =
            Self::with_chunk(entries, old.meters.scale(), old.meters.chunk_policy(), now)?;
        let old_prev = old.previous_counters();
        let mut map = vec![None; new.entries.len()];
        for (i, e) in new.entries.iter().enumerate() {
            let Some(j) = old.index_of(e.id) else {
                continue;
            };
            let j = j as usize;
            let mut base = old.base.get(j).cloned().unwrap_or_default();
            if let Some(p) = old_prev.get(j) {
                base += p;
            }
            if base.bands.len() != e.bands.len() {
                base.bands = vec![Count::default(); e.bands.len()];
            }
            new.base[i] = base;
            new.created[i] = old.created.get(j).copied().unwrap_or(now);
            map[i] = Some(j as u32);
            // Another unit or band count cannot carry a fill: such a meter
            // starts full, like a new one.
            let _ = new.meters.carry_over(i as u32, &old.meters, j as u32);
        }
        new.previous = Some((Arc::clone(&old.meters), map));
        Ok(new)
    }

    /// Per meter of `self`, the live counters of the table it was rebuilt
    /// from (empty when none).
    fn previous_counters(&self) -> Vec<MeterCounters> {
        let mut out = vec![MeterCounters::default(); self.entries.len()];
        if let Some((prev, map)) = &self.previous {
            let all = prev.all_counters();
            for ((o, j), e) in out.iter_mut().zip(map).zip(&self.entries) {
                if let Some(c) = j.and_then(|j| all.get(j as usize)) {
                    if c.bands.len() == e.bands.len() {
                        *o = c.clone();
                    } else {
                        o.input = c.input;
                    }
                }
            }
        }
        out
    }

    /// A worker's hook (allocates its per-band cells; call at setup).
    pub fn hook(&self) -> WorkerMeterHook {
        WorkerMeterHook {
            meters: self.meters.worker(),
            ids: Arc::clone(&self.ids),
            now: 0,
            unknown: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn scale(&self) -> TickScale {
        self.meters.scale()
    }

    /// The engine table (levels, raw counters).
    pub fn engine(&self) -> &Arc<OpenFlowMeters> {
        &self.meters
    }

    /// The id map the hooks share.
    pub fn ids(&self) -> &MeterIds {
        &self.ids
    }

    /// The dense engine index of `meter_id`.
    pub fn index_of(&self, meter_id: u32) -> Option<u32> {
        self.ids.get(meter_id)
    }

    pub fn entry(&self, meter_id: u32) -> Option<&MeterEntry> {
        self.entries.get(self.index_of(meter_id)? as usize)
    }

    /// Tokens in each band's bucket of `meter_id` (bits or packets).
    pub fn levels(&self, meter_id: u32) -> Option<Vec<u64>> {
        self.meters.levels(self.index_of(meter_id)?)
    }

    /// `OFPMC_MODIFY`: new bands for an existing meter at `now`, keeping
    /// each band's fill (clamped) and the counters. The unit and the number
    /// of bands must stay the same (the engine's reconfigure); otherwise
    /// build a new table.
    pub fn modify(&mut self, entry: &MeterEntry, now: u64) -> Result<(), MeterTableError> {
        let index = self
            .index_of(entry.id)
            .ok_or(MeterTableError::Unknown(entry.id))?;
        let spec = meter_spec(entry)?;
        self.meters
            .reconfigure(index, &spec, now)
            .map_err(|e| MeterTableError::Engine {
                id: entry.id,
                error: match e {
                    MeterError::Entry { error, .. } => *error,
                    e => e,
                },
            })?;
        if let Some(slot) = self.entries.get_mut(index as usize) {
            *slot = entry.clone();
        }
        Ok(())
    }

    /// Every meter's configuration and counters at tick `now`, by id.
    pub fn stats(&self, now: u64) -> Vec<MeterStats> {
        let all = self.meters.all_counters();
        let prev = self.previous_counters();
        self.entries
            .iter()
            .zip(all)
            .zip(&self.created)
            .enumerate()
            .map(|(i, ((entry, mut counters), &created))| {
                if let Some(b) = self.base.get(i) {
                    counters += b;
                }
                if let Some(p) = prev.get(i) {
                    counters += p;
                }
                MeterStats {
                    entry: entry.clone(),
                    counters,
                    age_ticks: now.saturating_sub(created),
                }
            })
            .collect()
    }

    /// The `/metrics` samples of every meter.
    pub fn samples(&self) -> Vec<MeterSample> {
        let traffic = |c: Count| Traffic {
            packets: c.packets,
            bytes: c.bytes,
        };
        self.stats(0)
            .into_iter()
            .map(|s| MeterSample {
                meter_id: s.entry.id,
                input: traffic(s.counters.input),
                bands: s
                    .entry
                    .bands
                    .iter()
                    .zip(&s.counters.bands)
                    .map(|(b, c)| MeterBandSample {
                        kind: match b.kind {
                            BandKind::Drop => "drop",
                            BandKind::DscpRemark { .. } => "dscp_remark",
                        },
                        traffic: traffic(*c),
                    })
                    .collect(),
            })
            .collect()
    }

    /// `sluice dump-meters`: the meter configurations and statistics at
    /// tick `now`, in the text of `ovs-ofctl -O OpenFlow13 dump-meters`
    /// and `meter-stats`. `flow_count(id)` is the number of flows whose
    /// instructions name the meter (the pipeline knows).
    pub fn dump_meters(&self, now: u64, flow_count: &dyn Fn(u32) -> u64) -> String {
        let hz = self.scale().hz().max(1);
        let mut s = String::from("OFPST_METER_CONFIG reply (OF1.3):\n");
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                s.push('\n');
            }
            let _ = write!(s, "meter={}", e.id);
            for (flag, name) in [
                (MeterFlags::KBPS, "kbps"),
                (MeterFlags::PKTPS, "pktps"),
                (MeterFlags::BURST, "burst"),
                (MeterFlags::STATS, "stats"),
            ] {
                if e.flags.contains(flag) {
                    let _ = write!(s, " {name}");
                }
            }
            s.push_str(" bands=\n");
            // ovs-ofctl's order: type, rate, burst_size, prec_level.
            for b in &e.bands {
                let kind = match b.kind {
                    BandKind::Drop => "drop",
                    BandKind::DscpRemark { .. } => "dscp_remark",
                };
                let _ = write!(s, "type={kind} rate={}", b.rate);
                if e.flags.contains(MeterFlags::BURST) {
                    let _ = write!(s, " burst_size={}", b.burst_size);
                }
                if let BandKind::DscpRemark { prec_level } = b.kind {
                    let _ = write!(s, " prec_level={prec_level}");
                }
                s.push('\n');
            }
        }
        s.push_str("\nOFPST_METER reply (OF1.3):\n");
        for st in self.stats(now) {
            let secs = st.age_ticks / hz;
            let millis = (st.age_ticks % hz) as u128 * 1000 / u128::from(hz);
            let _ = writeln!(
                s,
                "meter:{} flow_count:{} packet_in_count:{} byte_in_count:{} duration:{secs}.{millis:03}s bands:",
                st.entry.id,
                flow_count(st.entry.id),
                st.counters.input.packets,
                st.counters.input.bytes,
            );
            for (i, c) in st.counters.bands.iter().enumerate() {
                let _ = writeln!(s, "{i}: packet_count:{} byte_count:{}", c.packets, c.bytes);
            }
        }
        s
    }
}

/// A worker's [`MeterHook`] over its [`WorkerMeters`]. Set `now` to the
/// current tick (TSC) once per burst before running the pipeline.
#[derive(Debug)]
pub struct WorkerMeterHook {
    meters: WorkerMeters,
    ids: Arc<MeterIds>,
    /// The tick the next packets are metered at.
    pub now: u64,
    unknown: u64,
}

impl WorkerMeterHook {
    /// Packets that named a meter that does not exist (dropped).
    pub fn unknown_meter_packets(&self) -> u64 {
        self.unknown
    }

    /// Gives local credit back to the shared buckets (also on drop).
    pub fn flush(&mut self) {
        self.meters.flush();
    }
}

impl MeterHook for WorkerMeterHook {
    #[inline]
    fn meter(&mut self, meter_id: u32, packet_len: usize) -> MeterVerdict {
        let len = u32::try_from(packet_len).unwrap_or(u32::MAX);
        let verdict = self
            .ids
            .get(meter_id)
            .and_then(|i| self.meters.meter(i, len, self.now));
        let Some(v) = verdict else {
            self.unknown += 1;
            return MeterVerdict::Drop;
        };
        match v.action {
            Action::Forward => MeterVerdict::Pass,
            Action::Drop => MeterVerdict::Drop,
            Action::RaiseDropPrecedence(prec_level) => MeterVerdict::RemarkDscp { prec_level },
            // Meter bands are drop or dscp_remark only (`meter_spec`).
            Action::SetDscp(_) => MeterVerdict::Pass,
        }
    }
}
