//! Tenants and OpenFlow meters around the rate engine ([`crate::meter`]):
//! which tenant a packet belongs to, the per-worker handles that police
//! it, the `meter:N` hook of the pipeline, and the admin's view
//! (counters, `/metrics` samples, `dump-meters`).
//!
//! # What
//!
//! * [`TenantTable`] (admin): built from the validated `[[tenant]]`
//!   configs ([`crate::config::tenant`]); owns the shared buckets
//!   ([`TenantPolicers`]) and the [`TenantClassifier`], hands each worker
//!   a [`WorkerTenants`], sums counters into [`TenantStats`] /
//!   [`TenantSample`]s, and rebuilds itself for a reload keeping the
//!   counters and bucket fill of tenants whose name stays
//!   ([`TenantTable::rebuild_from`]).
//! * [`WorkerTenants`] (one per worker): [`classify`](WorkerTenants::classify)
//!   a packet to a tenant index, then [`police`](WorkerTenants::police) it
//!   into a [`TenantVerdict`].
//! * [`MeterTable`] / [`WorkerMeterHook`] ([`meters`]): OpenFlow 1.3
//!   meters (`MeterEntry` from the flow parser) on the same engine; the
//!   hook implements the pipeline's [`MeterHook`](crate::pipeline::MeterHook).
//!
//! # A packet (worker)
//!
//! ```text
//! ports / vlans / src tenants:  t = tenants.classify(port, &key, &regs)   at ingress
//! metadata tenants:             t = tenants.classify(port, &key, &regs)   after the tables
//! then:                         match tenants.police(t, len, now) { Pass, Drop, Remark { dscp } }
//! OpenFlow meters:              hook.now = tsc (once per burst); the pipeline calls hook.meter(id, len)
//! ```
//!
//! `now` is the TSC (any tick counter in tests: the engine's
//! [`TickScale`] converts it). Nothing here allocates, locks or panics per
//! packet.
//!
//! # Threads
//!
//! The admin thread builds tables and reads counters; a worker owns its
//! [`WorkerTenants`] and [`WorkerMeterHook`] (`&mut self`, not shared) and
//! shares only the immutable classifier and the engine's buckets.

#![deny(unsafe_code)]

mod classify;
pub mod meters;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

pub use classify::{ClassifyError, TenantClassifier};
pub use meters::{meter_spec, MeterStats, MeterTable, MeterTableError, WorkerMeterHook};

use crate::admin::metrics::{TenantSample, Traffic};
use crate::config::tenant::{MatchKind, TenantConfig};
use crate::meter::{
    Action, Algorithm, ChunkPolicy, Count, MeterError, Mode, Outcome, PolicerSpec, TenantCounters,
    TenantPolicers, TickScale, WorkerPolicers,
};
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

/// What to do with a policed packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TenantVerdict {
    /// Forward unchanged (green, or a color configured to pass).
    Pass,
    Drop,
    /// Forward with the IP DSCP set to `dscp` (0..=63).
    Remark {
        dscp: u8,
    },
}

impl TenantVerdict {
    #[inline]
    fn of(action: Action) -> Self {
        match action {
            Action::Forward => TenantVerdict::Pass,
            Action::Drop => TenantVerdict::Drop,
            Action::SetDscp(dscp) => TenantVerdict::Remark { dscp },
            // Refused by `TenantTable::new` (only OpenFlow meters raise
            // drop precedence); forwarding is the harmless answer.
            Action::RaiseDropPrecedence(_) => TenantVerdict::Pass,
        }
    }

    pub const fn forwards(self) -> bool {
        !matches!(self, TenantVerdict::Drop)
    }
}

/// Why a [`TenantTable`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error(transparent)]
    Classify(#[from] ClassifyError),
    #[error("tenant {name:?}: {error}")]
    Policer { name: String, error: MeterError },
    #[error("tenant {name:?}: a tenant policer can set a DSCP but not raise its drop precedence")]
    UnsupportedAction { name: String },
    #[error("duplicate tenant name {0:?}")]
    DuplicateName(String),
    #[error("no tenant #{index} (the table has {len})")]
    UnknownTenant { index: usize, len: usize },
    #[error("tenant {name:?}: the match cannot change in place; rebuild the table")]
    MatchChanged { name: String },
}

/// One tenant's configuration and counters, summed over workers (and over
/// the earlier generations of a rebuilt table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantStats {
    pub name: String,
    /// Packets and bytes by color and outcome.
    pub counters: TenantCounters,
    /// The policer it runs with now.
    pub spec: PolicerSpec,
}

/// The tenants of one configuration generation (see the module docs).
///
/// Counters across rebuilds: `base` holds, per tenant, what earlier
/// generations counted up to the generation before the previous one;
/// `previous` is the table this one was rebuilt from, still read live
/// (its workers may finish a few bursts on it after the switch), with
/// the old index of each tenant. Rebuilding again freezes it into `base`.
#[derive(Debug)]
pub struct TenantTable {
    configs: Vec<TenantConfig>,
    by_name: HashMap<String, usize>,
    classifier: Arc<TenantClassifier>,
    policers: Arc<TenantPolicers>,
    base: Vec<TenantCounters>,
    previous: Option<(Arc<TenantPolicers>, Vec<Option<u32>>)>,
    nports: usize,
}

impl TenantTable {
    /// A table for `configs` (tenant `i` is `configs[i]`) on `nports`
    /// ports, buckets full at `now`, with the default chunk policy.
    pub fn new(
        configs: Vec<TenantConfig>,
        nports: usize,
        scale: TickScale,
        now: u64,
    ) -> Result<Self, TenantError> {
        Self::with_chunk(configs, nports, scale, ChunkPolicy::DEFAULT, now)
    }

    /// [`TenantTable::new`] with an explicit chunk policy (tests:
    /// [`ChunkPolicy::EXACT`]).
    pub fn with_chunk(
        configs: Vec<TenantConfig>,
        nports: usize,
        scale: TickScale,
        chunk: ChunkPolicy,
        now: u64,
    ) -> Result<Self, TenantError> {
        let mut by_name = HashMap::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            if by_name.insert(c.name.clone(), i).is_some() {
                return Err(TenantError::DuplicateName(c.name.clone()));
            }
            let raises = |a: Action| matches!(a, Action::RaiseDropPrecedence(_));
            if raises(c.policer.yellow) || raises(c.policer.red) {
                return Err(TenantError::UnsupportedAction {
                    name: c.name.clone(),
                });
            }
        }
        let classifier = TenantClassifier::new(&configs, nports)?;
        let specs: Vec<PolicerSpec> = configs.iter().map(|c| c.policer).collect();
        let policers = TenantPolicers::new(scale, chunk, &specs, now).map_err(|e| match e {
            MeterError::Entry { index, error, .. } => TenantError::Policer {
                name: configs
                    .get(index)
                    .map_or_else(String::new, |c| c.name.clone()),
                error: *error,
            },
            error => TenantError::Policer {
                name: String::new(),
                error,
            },
        })?;
        Ok(Self {
            base: vec![TenantCounters::default(); configs.len()],
            configs,
            by_name,
            classifier: Arc::new(classifier),
            policers,
            previous: None,
            nports,
        })
    }

    /// A new generation for a reload: `configs` on `nports` ports at
    /// `now`, on `old`'s tick scale and chunk policy. Tenants whose name
    /// is in `old` keep their counters (old totals plus whatever `old`'s
    /// workers still count before they switch) and, when their algorithm,
    /// mode and packet cap are unchanged, their buckets' fill (clamped to
    /// new depths); others start with full buckets and zero counters.
    /// Credit parked in `old`'s workers is not carried (at most a chunk per
    /// worker and bucket).
    pub fn rebuild_from(
        old: &TenantTable,
        configs: Vec<TenantConfig>,
        nports: usize,
        now: u64,
    ) -> Result<Self, TenantError> {
        let mut new = Self::with_chunk(
            configs,
            nports,
            old.policers.scale(),
            old.policers.chunk_policy(),
            now,
        )?;
        let old_prev = old.previous_counters();
        let mut map = vec![None; new.configs.len()];
        for (i, c) in new.configs.iter().enumerate() {
            let Some(&j) = old.by_name.get(&c.name) else {
                continue;
            };
            let mut base = old.base.get(j).copied().unwrap_or_default();
            if let Some(p) = old_prev.get(j) {
                base += *p;
            }
            new.base[i] = base;
            map[i] = Some(j as u32);
            // A different shape (algorithm, mode, cap) cannot carry a fill:
            // such a tenant starts full, like a new one.
            let _ = new.policers.carry_over(i as u32, &old.policers, j as u32);
        }
        new.previous = Some((Arc::clone(&old.policers), map));
        Ok(new)
    }

    /// Per tenant of `self`, the live counters of the table it was rebuilt
    /// from (zero when none).
    fn previous_counters(&self) -> Vec<TenantCounters> {
        let mut out = vec![TenantCounters::default(); self.configs.len()];
        if let Some((prev, map)) = &self.previous {
            let all = prev.all_counters();
            for (o, j) in out.iter_mut().zip(map) {
                if let Some(c) = j.and_then(|j| all.get(j as usize)) {
                    *o = *c;
                }
            }
        }
        out
    }

    /// A worker's handle (allocates its per-tenant slots; call at setup or
    /// when the worker picks up this generation).
    pub fn worker(&self) -> WorkerTenants {
        WorkerTenants {
            policers: self.policers.worker(),
            classifier: Arc::clone(&self.classifier),
        }
    }

    pub fn len(&self) -> usize {
        self.configs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    pub fn nports(&self) -> usize {
        self.nports
    }

    /// The match kind all tenants share (`None` without tenants).
    pub fn kind(&self) -> Option<MatchKind> {
        self.classifier.kind()
    }

    pub fn classifier(&self) -> &Arc<TenantClassifier> {
        &self.classifier
    }

    /// The engine table (for [`TenantPolicers::levels`] and friends).
    pub fn policers(&self) -> &Arc<TenantPolicers> {
        &self.policers
    }

    pub fn configs(&self) -> &[TenantConfig] {
        &self.configs
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Classification as a worker does it (admin tools, `sluice trace`).
    pub fn classify(&self, in_port: usize, key: &FlowKey, regs: &Registers) -> Option<usize> {
        self.classifier.classify(in_port, key, regs)
    }

    /// Changes tenant `index`'s limits in place at `now` (buckets keep
    /// their fill, clamped to the new depths). The match must stay the
    /// same, and so must the algorithm, mode and packet cap (the engine's
    /// [`TenantPolicers::reconfigure`]); otherwise rebuild.
    pub fn reconfigure(
        &mut self,
        index: usize,
        config: TenantConfig,
        now: u64,
    ) -> Result<(), TenantError> {
        let len = self.configs.len();
        let old = self
            .configs
            .get(index)
            .ok_or(TenantError::UnknownTenant { index, len })?;
        if old.selector != config.selector || old.name != config.name {
            return Err(TenantError::MatchChanged {
                name: config.name.clone(),
            });
        }
        self.policers
            .reconfigure(index as u32, &config.policer, now)
            .map_err(|e| TenantError::Policer {
                name: config.name.clone(),
                error: match e {
                    MeterError::Entry { error, .. } => *error,
                    e => e,
                },
            })?;
        self.configs[index] = config;
        Ok(())
    }

    /// Tenant `index`'s counters over all workers and generations.
    pub fn counters(&self, index: usize) -> Option<TenantCounters> {
        let mut c = *self.base.get(index)?;
        c += self.policers.counters(index as u32)?;
        if let Some((prev, map)) = &self.previous {
            if let Some(j) = map.get(index).copied().flatten() {
                c += prev.counters(j).unwrap_or_default();
            }
        }
        Some(c)
    }

    /// Every tenant's configuration and counters, in config order.
    pub fn stats(&self) -> Vec<TenantStats> {
        let live = self.policers.all_counters();
        let prev = self.previous_counters();
        self.configs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut counters = self.base[i];
                counters += live.get(i).copied().unwrap_or_default();
                counters += prev[i];
                TenantStats {
                    name: c.name.clone(),
                    counters,
                    spec: self.policers.spec(i as u32).unwrap_or(c.policer),
                }
            })
            .collect()
    }

    /// The `/metrics` samples of every tenant ([`sample`]).
    pub fn samples(&self) -> Vec<TenantSample> {
        self.stats().iter().map(sample).collect()
    }
}

fn traffic(c: Count) -> Traffic {
    Traffic {
        packets: c.packets,
        bytes: c.bytes,
    }
}

/// A tenant's `/metrics` sample: traffic by outcome (all colors; the
/// per-color split is in [`TenantStats::counters`]) and the configured
/// rates and bursts in bytes. Packet-mode tenants (only `pps`) have no
/// byte rate and show 0; srTCM's excess bucket is not a peak and is not
/// shown.
pub fn sample(s: &TenantStats) -> TenantSample {
    let c = &s.counters;
    let (cr, cb, pr, pb) = match (s.spec.mode, s.spec.algorithm) {
        (Mode::Packets, _) => (0, 0, 0, 0),
        (Mode::Bytes, Algorithm::Police { rate, burst }) => (rate / 8, burst, 0, 0),
        (Mode::Bytes, Algorithm::SrTcm { cir, cbs, .. }) => (cir / 8, cbs, 0, 0),
        (Mode::Bytes, Algorithm::TrTcm { cir, cbs, pir, pbs }) => (cir / 8, cbs, pir / 8, pbs),
    };
    TenantSample {
        name: s.name.clone(),
        passed: traffic(c.outcome(Outcome::Passed)),
        remarked: traffic(c.outcome(Outcome::Remarked)),
        dropped: traffic(c.outcome(Outcome::Dropped)),
        committed_rate_bytes_per_second: cr,
        committed_burst_bytes: cb,
        peak_rate_bytes_per_second: pr,
        peak_burst_bytes: pb,
    }
}

/// One worker's handle on a [`TenantTable`]: its local credit and counters
/// per tenant, and the shared classifier. Not `Clone`; dropping it gives
/// its local credit back to the shared buckets.
#[derive(Debug)]
pub struct WorkerTenants {
    policers: WorkerPolicers,
    classifier: Arc<TenantClassifier>,
}

impl WorkerTenants {
    /// The tenant of a packet (see [`TenantClassifier::classify`]).
    #[inline]
    pub fn classify(&self, in_port: usize, key: &FlowKey, regs: &Registers) -> Option<usize> {
        self.classifier.classify(in_port, key, regs)
    }

    /// True when tenants classify by metadata: call
    /// [`classify`](Self::classify) after the pipeline, not at ingress.
    pub fn needs_metadata(&self) -> bool {
        self.classifier.needs_metadata()
    }

    /// Polices a packet of `len` bytes of tenant `tenant` at tick `now`.
    /// An index that is no tenant passes (it has no limit).
    #[inline]
    pub fn police(&mut self, tenant: usize, len: usize, now: u64) -> TenantVerdict {
        let Ok(id) = u32::try_from(tenant) else {
            return TenantVerdict::Pass;
        };
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        match self.policers.police(id, len, now) {
            Some(v) => TenantVerdict::of(v.action),
            None => TenantVerdict::Pass,
        }
    }

    /// Gives all local credit back (also done on drop).
    pub fn flush(&mut self) {
        self.policers.flush();
    }

    /// This worker's own counters for `tenant` (tests, debugging).
    pub fn local_counters(&self, tenant: usize) -> Option<TenantCounters> {
        self.policers.local_counters(u32::try_from(tenant).ok()?)
    }
}
