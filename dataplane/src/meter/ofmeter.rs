//! OpenFlow 1.3 meters (§5.7 "Meter Table", `ofp_meter_mod`).
//!
//! # Semantics chosen
//!
//! OpenFlow says a packet is processed by "the meter band with the highest
//! configured rate that is lower than the current measured rate", and
//! leaves how to measure open. Here each band is its own token bucket at
//! the band's rate and burst, fed with every packet that enters the meter
//! (the measured rate is the offered rate): a band is *exceeded* by a
//! packet when its bucket cannot cover it, and a bucket that can cover it
//! pays for it, whatever the other bands decide. Of the exceeded bands the
//! one with the highest rate applies (ties: the first configured); if none
//! is exceeded the packet passes unmetered. So with bands at 10 and 20
//! Mbit/s and 30 Mbit/s offered, about 10 Mbit/s is dropped or remarked by
//! the 20 Mbit/s band, and of the rest the part beyond the 10 Mbit/s
//! band's bucket is handled by that band.
//!
//! Units: `kbps` meters count bits (band rate in kbit/s, `burst_size` in
//! kbit, a packet costs `8 × len`), `pktps` meters count packets. Without
//! `OFPMF_BURST` (or with it but a zero `burst_size`) the band's depth is
//! [`default_burst_bytes`] / [`default_burst_packets`] of its rate.
//! `dscp_remark` raises the AF drop precedence by `prec_level`
//! ([`super::raise_drop_precedence`]); `drop` drops. Experimenter bands
//! are not supported (the pipeline rejects them when parsing).
//!
//! # Design
//!
//! Same engine as the tenant policers ([`super::bucket`]): per band one
//! cache-line `SharedBucket` in a table shared by all workers, and per
//! worker, per band a cell with local credit and the band's counters, plus
//! a per-meter input counter. The per-meter entry (first bucket, band
//! count, bands in descending rate order, band actions) is read-only for
//! workers and updated in place by [`OpenFlowMeters::reconfigure`].
//! Meters are addressed by a dense [`MeterId`] (index); mapping OpenFlow's
//! 32-bit `meter_id` to it is the pipeline compiler's job.
//!
//! # Threads
//!
//! Workers call [`WorkerMeters::meter`] on their own handle; the admin
//! thread builds, reconfigures and reads counters.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use super::bucket::{
    acquire, give_back, BucketParams, ChunkPolicy, LocalCredit, SharedBucket, TickScale,
};
use super::counters::{bump, Count, MeterCounters};
use super::units::{default_burst_bytes, default_burst_packets};
use super::{Action, MeterError, Mode, MAX_RATE};

/// Dense meter index into an [`OpenFlowMeters`] table.
pub type MeterId = u32;

/// Most bands per meter (what the switch advertises in
/// `ofp_meter_features.max_bands`).
pub const MAX_BANDS: usize = 8;

/// `OFPMF_KBPS` or `OFPMF_PKTPS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterUnit {
    Kbps,
    Pktps,
}

/// `OFPMBT_DROP` or `OFPMBT_DSCP_REMARK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BandType {
    Drop,
    DscpRemark { prec_level: u8 },
}

impl BandType {
    pub const fn action(self) -> Action {
        match self {
            BandType::Drop => Action::Drop,
            BandType::DscpRemark { prec_level } => Action::RaiseDropPrecedence(prec_level),
        }
    }
}

/// One band: rate in kbit/s or packets/s, `burst_size` in kbit or packets
/// (used only when the meter has the burst flag and it is not 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeterBand {
    pub band_type: BandType,
    pub rate: u64,
    pub burst_size: u64,
}

/// One meter as `ofp_meter_mod` gives it (flags `KBPS`/`PKTPS` and
/// `BURST`; `STATS` is implied: counters are always kept).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterSpec {
    pub unit: MeterUnit,
    pub burst: bool,
    pub bands: Vec<MeterBand>,
}

impl MeterSpec {
    fn compile(
        &self,
        scale: &TickScale,
        chunk: &ChunkPolicy,
    ) -> Result<(Vec<BucketParams>, [u8; MAX_BANDS]), MeterError> {
        if self.bands.is_empty() {
            return Err(MeterError::NoBands);
        }
        if self.bands.len() > MAX_BANDS {
            return Err(MeterError::TooManyBands(self.bands.len()));
        }
        let mut params = Vec::with_capacity(self.bands.len());
        for band in &self.bands {
            if band.rate == 0 {
                return Err(MeterError::ZeroBandRate);
            }
            // The burst flag with a zero burst_size (ovs-ofctl leaves it 0
            // when not given) gets the default, as without the flag.
            let explicit = self.burst && band.burst_size != 0;
            let p = match self.unit {
                MeterUnit::Kbps => {
                    let bits = band.rate.checked_mul(1000).filter(|&r| r <= MAX_RATE);
                    let Some(bits) = bits else {
                        return Err(MeterError::RateTooHigh {
                            what: "meter band rate (kbit/s)",
                            rate: band.rate,
                            max: MAX_RATE / 1000,
                        });
                    };
                    if explicit {
                        BucketParams::new(
                            scale,
                            chunk,
                            "meter band burst_size",
                            bits,
                            band.burst_size,
                            1000,
                            "kbit",
                        )?
                    } else {
                        let burst = default_burst_bytes(bits);
                        BucketParams::new(scale, chunk, "default burst", bits, burst, 8, "bytes")?
                    }
                }
                MeterUnit::Pktps => {
                    let burst = if explicit {
                        band.burst_size
                    } else {
                        default_burst_packets(band.rate)
                    };
                    let what = "meter band burst_size";
                    BucketParams::new(scale, chunk, what, band.rate, burst, 1, "packets")?
                }
            };
            params.push(p);
        }
        // Band indices by descending rate, ties in configured order.
        let mut order: Vec<u8> = (0..self.bands.len() as u8).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.bands[usize::from(i)].rate));
        let mut out = [0u8; MAX_BANDS];
        out[..order.len()].copy_from_slice(&order);
        Ok((params, out))
    }

    fn mode(&self) -> Mode {
        match self.unit {
            MeterUnit::Kbps => Mode::Bytes,
            MeterUnit::Pktps => Mode::Packets,
        }
    }
}

/// The result of metering one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeterVerdict {
    /// The band that applied (index in configured order), if any.
    pub band: Option<u8>,
    /// [`Action::Forward`] when no band applied.
    pub action: Action,
}

#[derive(Debug)]
struct MeterEntry {
    first: u32,
    bands: u8,
    mode: Mode,
    /// Band indices in descending rate order, one per byte.
    order: AtomicU64,
    actions: [AtomicU16; MAX_BANDS],
}

/// A worker's per-band state: local credit and the band's counters.
#[derive(Debug, Default)]
struct BandCell {
    credit: LocalCredit,
    count: [AtomicU64; 2],
}

/// A worker's state for the whole table.
#[derive(Debug)]
struct WorkerCells {
    /// Per meter: `[packets, bytes]` that entered it.
    input: Box<[[AtomicU64; 2]]>,
    /// Per band, parallel to the table's buckets.
    bands: Box<[BandCell]>,
}

/// All OpenFlow meters of a pipeline (see the module docs).
#[derive(Debug)]
pub struct OpenFlowMeters {
    scale: TickScale,
    chunk: ChunkPolicy,
    entries: Box<[MeterEntry]>,
    buckets: Box<[SharedBucket]>,
    specs: Mutex<Vec<MeterSpec>>,
    workers: Mutex<Vec<Arc<WorkerCells>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn pack_order(order: &[u8; MAX_BANDS]) -> u64 {
    u64::from_le_bytes(*order)
}

impl OpenFlowMeters {
    /// A table with meter `i` = `specs[i]`, all buckets full at `now`.
    pub fn new(
        scale: TickScale,
        chunk: ChunkPolicy,
        specs: &[MeterSpec],
        now: u64,
    ) -> Result<Arc<Self>, MeterError> {
        let q = scale.quantum(now);
        let mut entries = Vec::with_capacity(specs.len());
        let mut buckets = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let (params, order) = spec
                .compile(&scale, &chunk)
                .map_err(|e| MeterError::Entry {
                    what: "meter",
                    index,
                    error: Box::new(e),
                })?;
            let first = u32::try_from(buckets.len())
                .map_err(|_| MeterError::TooManyBuckets(buckets.len()))?;
            buckets.extend(params.iter().map(|p| SharedBucket::new(*p, q)));
            let actions = std::array::from_fn(|i| {
                let a = spec
                    .bands
                    .get(i)
                    .map_or(Action::Forward, |b| b.band_type.action());
                AtomicU16::new(a.encode())
            });
            entries.push(MeterEntry {
                first,
                bands: params.len() as u8,
                mode: spec.mode(),
                order: AtomicU64::new(pack_order(&order)),
                actions,
            });
        }
        Ok(Arc::new(Self {
            scale,
            chunk,
            entries: entries.into(),
            buckets: buckets.into(),
            specs: Mutex::new(specs.to_vec()),
            workers: Mutex::new(Vec::new()),
        }))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn scale(&self) -> TickScale {
        self.scale
    }

    pub fn chunk_policy(&self) -> ChunkPolicy {
        self.chunk
    }

    /// Copies the shared fill of `old`'s meter `old_id` into meter `id`
    /// (clamped to the new depths), for a rebuilt table that keeps a meter
    /// with the same unit and number of bands. Credit parked in the old
    /// workers' local slots (at most a chunk per worker and band) is not
    /// carried.
    pub fn carry_over(
        &self,
        id: MeterId,
        old: &OpenFlowMeters,
        old_id: MeterId,
    ) -> Result<(), MeterError> {
        if old.scale != self.scale {
            return Err(MeterError::ScaleMismatch(old.scale.hz(), self.scale.hz()));
        }
        let (e, b) = self.entry(id)?;
        let (oe, ob) = old.entry(old_id)?;
        if e.mode != oe.mode || e.bands != oe.bands {
            return Err(MeterError::ShapeChanged {
                what: "meter",
                index: id as usize,
                reason: "carried from a meter of another unit or band count",
            });
        }
        for (to, from) in b.iter().zip(ob) {
            to.set_fill(from.fill());
        }
        Ok(())
    }

    /// A new worker's handle (allocates; call at setup).
    pub fn worker(self: &Arc<Self>) -> WorkerMeters {
        let cells = Arc::new(WorkerCells {
            input: (0..self.len()).map(|_| Default::default()).collect(),
            bands: (0..self.buckets.len())
                .map(|_| BandCell::default())
                .collect(),
        });
        lock(&self.workers).push(Arc::clone(&cells));
        WorkerMeters {
            table: Arc::clone(self),
            cells,
        }
    }

    pub fn spec(&self, id: MeterId) -> Option<MeterSpec> {
        lock(&self.specs).get(id as usize).cloned()
    }

    fn entry(&self, id: MeterId) -> Result<(&MeterEntry, &[SharedBucket]), MeterError> {
        let unknown = || MeterError::UnknownId {
            what: "meter",
            index: id as usize,
            len: self.len(),
        };
        let e = self.entries.get(id as usize).ok_or_else(unknown)?;
        let first = e.first as usize;
        let b = self
            .buckets
            .get(first..first + usize::from(e.bands))
            .ok_or_else(unknown)?;
        Ok((e, b))
    }

    /// Changes meter `id`'s band rates, bursts and types in place at time
    /// `now` (an `OFPMC_MODIFY`), keeping each band's fill clamped to its
    /// new depth. The unit and the number of bands must stay the same;
    /// otherwise build a new table.
    pub fn reconfigure(&self, id: MeterId, spec: &MeterSpec, now: u64) -> Result<(), MeterError> {
        let (entry, buckets) = self.entry(id)?;
        let index = id as usize;
        let (params, order) =
            spec.compile(&self.scale, &self.chunk)
                .map_err(|e| MeterError::Entry {
                    what: "meter",
                    index,
                    error: Box::new(e),
                })?;
        let changed = |reason| MeterError::ShapeChanged {
            what: "meter",
            index,
            reason,
        };
        if spec.mode() != entry.mode {
            return Err(changed("kbps vs pktps"));
        }
        if params.len() != usize::from(entry.bands) {
            return Err(changed("different number of bands"));
        }
        let q = self.scale.quantum(now);
        for (b, p) in buckets.iter().zip(&params) {
            b.reconfigure(*p, q);
        }
        for (slot, band) in entry.actions.iter().zip(&spec.bands) {
            slot.store(band.band_type.action().encode(), Relaxed);
        }
        entry.order.store(pack_order(&order), Relaxed);
        if let Some(s) = lock(&self.specs).get_mut(index) {
            s.clone_from(spec);
        }
        Ok(())
    }

    /// Tokens (bits or packets) in meter `id`'s band buckets, in configured
    /// band order, not counting credit parked in workers.
    pub fn levels(&self, id: MeterId) -> Option<Vec<u64>> {
        let (_, b) = self.entry(id).ok()?;
        let qps = self.scale.quanta_per_sec();
        Some(b.iter().map(|b| b.fill() / qps).collect())
    }

    /// Meter `id`'s counters summed over all workers.
    pub fn counters(&self, id: MeterId) -> Option<MeterCounters> {
        let (e, _) = self.entry(id).ok()?;
        let mut total = MeterCounters {
            input: Count::default(),
            bands: vec![Count::default(); usize::from(e.bands)],
        };
        for w in lock(&self.workers).iter() {
            total += &snapshot(w, id as usize, e);
        }
        Some(total)
    }

    /// Every meter's counters (index = [`MeterId`]), summed over workers.
    pub fn all_counters(&self) -> Vec<MeterCounters> {
        let workers = lock(&self.workers);
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut total = MeterCounters {
                    input: Count::default(),
                    bands: vec![Count::default(); usize::from(e.bands)],
                };
                for w in workers.iter() {
                    total += &snapshot(w, i, e);
                }
                total
            })
            .collect()
    }
}

fn snapshot(w: &WorkerCells, id: usize, e: &MeterEntry) -> MeterCounters {
    let first = e.first as usize;
    let bands = w
        .bands
        .get(first..first + usize::from(e.bands))
        .unwrap_or(&[]);
    MeterCounters {
        input: w.input.get(id).map(Count::load).unwrap_or_default(),
        bands: bands.iter().map(|c| Count::load(&c.count)).collect(),
    }
}

/// One worker's handle on an [`OpenFlowMeters`] table. Not `Clone`;
/// dropping it gives the local credit back.
#[derive(Debug)]
pub struct WorkerMeters {
    table: Arc<OpenFlowMeters>,
    cells: Arc<WorkerCells>,
}

impl WorkerMeters {
    pub fn table(&self) -> &Arc<OpenFlowMeters> {
        &self.table
    }

    /// Meters a packet of `len` bytes through meter `id` at TSC time
    /// `now`. `None` if the meter does not exist.
    #[inline]
    pub fn meter(&mut self, id: MeterId, len: u32, now: u64) -> Option<MeterVerdict> {
        let t = &*self.table;
        let entry = t.entries.get(id as usize)?;
        let first = entry.first as usize;
        let n = usize::from(entry.bands);
        let q = t.scale.quantum(now);
        let one = t.scale.quanta_per_sec();
        let cost = match entry.mode {
            Mode::Bytes => u64::from(len) * 8 * one,
            Mode::Packets => one,
        };
        let mut applied: Option<usize> = None;
        if n == 1 {
            // The usual meter (one rate limit): no band order to walk.
            let b = t.buckets.get(first)?;
            let c = self.cells.bands.get(first)?;
            if !acquire(&c.credit, b, None, cost, q) {
                applied = Some(0);
            }
        } else {
            let buckets = t.buckets.get(first..first + n)?;
            let cells = self.cells.bands.get(first..first + n)?;
            let order = entry.order.load(Relaxed).to_le_bytes();
            for &band in &order[..n] {
                let band = usize::from(band);
                let (Some(b), Some(c)) = (buckets.get(band), cells.get(band)) else {
                    continue;
                };
                if !acquire(&c.credit, b, None, cost, q) && applied.is_none() {
                    applied = Some(band);
                }
            }
        }
        if let Some(input) = self.cells.input.get(id as usize) {
            bump(input, len);
        }
        let Some(band) = applied else {
            return Some(MeterVerdict {
                band: None,
                action: Action::Forward,
            });
        };
        if let Some(c) = self.cells.bands.get(first + band) {
            bump(&c.count, len);
        }
        Some(MeterVerdict {
            band: Some(band as u8),
            action: Action::decode(entry.actions[band].load(Relaxed)),
        })
    }

    /// Gives all local credit back to the shared buckets (also on drop).
    pub fn flush(&mut self) {
        for (cell, bucket) in self.cells.bands.iter().zip(self.table.buckets.iter()) {
            give_back(&cell.credit, bucket, None);
        }
    }
}

impl Drop for WorkerMeters {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1000; // 1 tick = 1 ms, 1 quantum = 1 tick

    fn band(band_type: BandType, rate: u64, burst_size: u64) -> MeterBand {
        MeterBand {
            band_type,
            rate,
            burst_size,
        }
    }

    fn table(specs: &[MeterSpec]) -> Arc<OpenFlowMeters> {
        OpenFlowMeters::new(TickScale::new(HZ).unwrap(), ChunkPolicy::EXACT, specs, 0).unwrap()
    }

    /// Remark band at 8 kbit/s (1000 B/s, 2000 B deep), drop band at
    /// 16 kbit/s (2000 B/s, 4000 B deep); 1000-byte packets.
    fn two_bands(reversed: bool) -> MeterSpec {
        let mut bands = vec![
            band(BandType::DscpRemark { prec_level: 1 }, 8, 16),
            band(BandType::Drop, 16, 32),
        ];
        if reversed {
            bands.reverse();
        }
        MeterSpec {
            unit: MeterUnit::Kbps,
            burst: true,
            bands,
        }
    }

    #[test]
    fn band_selection() {
        for reversed in [false, true] {
            let t = table(&[two_bands(reversed)]);
            let mut w = t.worker();
            let (remark, drop): (u8, u8) = if reversed { (1, 0) } else { (0, 1) };
            let mut got = Vec::new();
            for _ in 0..5 {
                got.push(w.meter(0, 1000, 0).unwrap());
            }
            let pass = MeterVerdict {
                band: None,
                action: Action::Forward,
            };
            let remarked = MeterVerdict {
                band: Some(remark),
                action: Action::RaiseDropPrecedence(1),
            };
            let dropped = MeterVerdict {
                band: Some(drop),
                action: Action::Drop,
            };
            // Both buckets pay for two packets; then only the drop band's
            // bucket covers two more (the remark band, exceeded, applies);
            // then both are exceeded and the higher-rate drop band wins.
            assert_eq!(got, [pass, pass, remarked, remarked, dropped]);
            // 500 ms later: remark band +500 B, drop band +1000 B.
            assert_eq!(w.meter(0, 1000, 500), Some(remarked));
            assert_eq!(w.meter(0, 1000, 500), Some(dropped));
            let c = t.counters(0).unwrap();
            assert_eq!(
                c.input,
                Count {
                    packets: 7,
                    bytes: 7000
                }
            );
            assert_eq!(
                c.bands[usize::from(remark)],
                Count {
                    packets: 3,
                    bytes: 3000
                }
            );
            assert_eq!(
                c.bands[usize::from(drop)],
                Count {
                    packets: 2,
                    bytes: 2000
                }
            );
            assert_eq!(t.levels(0).unwrap()[usize::from(remark)], 500 * 8);
        }
    }

    #[test]
    fn packet_meter_and_default_burst() {
        let spec = MeterSpec {
            unit: MeterUnit::Pktps,
            burst: false,
            bands: vec![band(BandType::Drop, 10, 999)],
        };
        let t = table(&[spec]);
        let mut w = t.worker();
        // Default depth: max(10 ms of 10 pps, 32) = 32 packets.
        let passed = (0..40)
            .filter(|_| w.meter(0, 64, 0).unwrap().band.is_none())
            .count();
        assert_eq!(passed, 32);
        // 10 pps: one packet per 100 ms.
        assert_eq!(w.meter(0, 64, 99).unwrap().action, Action::Drop);
        assert_eq!(w.meter(0, 64, 100).unwrap().action, Action::Forward);
        assert_eq!(w.meter(0, 64, 100).unwrap().action, Action::Drop);
    }

    #[test]
    fn modify_keeps_fill_and_reorders() {
        let t = table(&[two_bands(false)]);
        let mut w = t.worker();
        w.meter(0, 1000, 0);
        assert_eq!(t.levels(0).unwrap(), vec![1000 * 8, 3000 * 8]);
        // Swap the rates: now the remark band is the faster one, and its
        // depth shrinks below its fill.
        let mut spec = two_bands(false);
        spec.bands[0].rate = 32;
        spec.bands[0].burst_size = 4; // 500 B
        t.reconfigure(0, &spec, 0).unwrap();
        assert_eq!(t.levels(0).unwrap(), vec![500 * 8, 3000 * 8]);
        assert_eq!(t.spec(0).unwrap(), spec);
        // Remark band (500 B) is exceeded by a 1000 B packet, drop band is
        // not: remark applies.
        assert_eq!(w.meter(0, 1000, 0).unwrap().band, Some(0));
        // The remark band, now the fastest, stays exceeded and applies
        // while the drop band's bucket keeps paying (2000 B, then 1000 B).
        assert_eq!(w.meter(0, 1000, 0).unwrap().band, Some(0));
        assert_eq!(
            w.meter(0, 1000, 0).unwrap().action,
            Action::RaiseDropPrecedence(1)
        );
        let mut fewer = spec.clone();
        fewer.bands.pop();
        assert!(matches!(
            t.reconfigure(0, &fewer, 0),
            Err(MeterError::ShapeChanged { .. })
        ));
        let other_unit = MeterSpec {
            unit: MeterUnit::Pktps,
            ..spec
        };
        assert!(matches!(
            t.reconfigure(0, &other_unit, 0),
            Err(MeterError::ShapeChanged { .. })
        ));
        assert!(matches!(
            t.reconfigure(1, &fewer, 0),
            Err(MeterError::UnknownId { .. })
        ));
    }

    #[test]
    fn spec_errors() {
        let s = TickScale::new(HZ).unwrap();
        let c = ChunkPolicy::DEFAULT;
        let mk = |unit, burst, bands| MeterSpec { unit, burst, bands };
        let err = |spec: MeterSpec| match OpenFlowMeters::new(s, c, &[spec], 0) {
            Err(MeterError::Entry {
                error, index: 0, ..
            }) => *error,
            other => panic!("{other:?}"),
        };
        assert_eq!(err(mk(MeterUnit::Kbps, false, vec![])), MeterError::NoBands);
        assert_eq!(
            err(mk(
                MeterUnit::Kbps,
                false,
                vec![band(BandType::Drop, 1, 0); 9]
            )),
            MeterError::TooManyBands(9)
        );
        assert_eq!(
            err(mk(MeterUnit::Kbps, false, vec![band(BandType::Drop, 0, 0)])),
            MeterError::ZeroBandRate
        );
        // Burst flag without a burst_size: the default burst.
        let t = OpenFlowMeters::new(
            s,
            c,
            &[mk(
                MeterUnit::Kbps,
                true,
                vec![band(BandType::Drop, 800, 0)],
            )],
            0,
        )
        .unwrap();
        assert_eq!(
            t.levels(0).unwrap(),
            vec![crate::meter::units::MIN_DEFAULT_BURST_BYTES * 8]
        );
        assert!(matches!(
            err(mk(
                MeterUnit::Pktps,
                true,
                vec![band(BandType::Drop, 1, 1 << 62)]
            )),
            MeterError::BurstTooLarge { .. }
        ));
        assert!(matches!(
            err(mk(
                MeterUnit::Kbps,
                false,
                vec![band(BandType::Drop, u64::MAX, 0)]
            )),
            MeterError::RateTooHigh { .. }
        ));
        let e = OpenFlowMeters::new(s, c, &[mk(MeterUnit::Kbps, false, vec![])], 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "meter #0: an OpenFlow meter needs at least one band"
        );
    }

    #[test]
    fn unknown_meter_and_many_workers() {
        let t = table(&[two_bands(false)]);
        let mut a = t.worker();
        let mut b = t.worker();
        assert_eq!(a.meter(1, 100, 0), None);
        a.meter(0, 100, 0);
        b.meter(0, 200, 0);
        let all = t.all_counters();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].input,
            Count {
                packets: 2,
                bytes: 300
            }
        );
    }
}
