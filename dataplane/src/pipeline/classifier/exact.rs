//! Exact tables: every rule (but the catch-alls) matches the same fields
//! under the same masks, e.g. `ip,nw_dst=A.B.C.D` routes, MAC tables,
//! exact 5-tuples.
//!
//! What: one hash table from the masked field values to the winning rule
//! for a packet with those values: the best of the rules with those
//! values (they match the same packets) and the best catch-all, decided
//! at build time, so a lookup returns the stored id and compares no ranks.
//!
//! How: fields that every keyed rule fixes to the same value (`eth_type`
//! of `ip,nw_dst=...` routes) are a *guard*, compared once: a packet that
//! fails it can only match a catch-all. The other fields are read straight
//! from the `FlowKey` (no full key extraction). When their masked bits fit
//! in 32 bits (an IPv4 address, a port, a tag) they are packed into one
//! `u32` and probed in a [`Map32`] of 8-byte slots (key and answer in one
//! slot; 10,000 routes take 128 KiB instead of 512 KiB). Wider keys are
//! packed at fixed shifts into at most four words and probed in a
//! [`KeyMap`].
//!
//! Threads: immutable after build.

use super::key::{read_field, FastMap, KeyMap, Map32, Read};
use crate::openflow::{Field, Match};
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

/// (field, mask) pairs.
type FieldMasks = Vec<(Field, u128)>;

/// Most key words an exact table may have.
const MAX_WIDTH: usize = 4;

/// Where one field goes in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    field: Field,
    mask: u128,
    word: u8,
    shift: u8,
}

#[derive(Clone, Debug)]
pub(crate) struct Exact {
    /// (field, mask, value) that every keyed rule has.
    guard: Vec<(Field, u128, u128)>,
    layout: Layout,
    /// The answer when no keyed rule matches: the best catch-all.
    miss: Option<u32>,
}

/// One field of a compact key: `(read & mask) >> low << at`.
#[derive(Clone, Copy, Debug)]
struct Part {
    field: Field,
    mask: u128,
    low: u8,
    at: u8,
}

#[derive(Clone, Debug)]
enum Layout {
    /// One key field of at most 32 bits and at most one guard field (the
    /// usual case: routes, MAC or port tables), read in straight-line
    /// code; `guard` of `Exact` is then empty.
    One {
        /// (field, mask, value); mask and value 0 without a guard.
        guard: (Read, u64, u64),
        /// (field, mask, low bit).
        part: (Read, u64, u32),
        map: Map32,
    },
    /// The key bits fit in 32: answer id + 1 by packed key (parts, map).
    /// Boxed, like `Wide`, so that telling `One` from the others is one
    /// byte compare.
    Compact(Box<(Vec<Part>, Map32)>),
    /// Answer id + 1 by key words (places, width, map).
    Wide(Box<(Vec<Place>, usize, KeyMap)>),
}

/// The common (field, mask) list of the non-empty matches, if they all
/// have the same one and it packs into `MAX_WIDTH` words.
pub(crate) fn shape<'a>(
    mut matches: impl Iterator<Item = &'a Match>,
) -> Option<Vec<(Field, u128)>> {
    let mut shape: Option<Vec<(Field, u128)>> = None;
    let same = matches.all(|m| {
        if m.is_empty() {
            return true;
        }
        let fields = m.fields();
        match &shape {
            None => {
                shape = Some(fields.iter().map(|f| (f.field, f.mask)).collect());
                true
            }
            Some(s) => {
                s.len() == fields.len()
                    && s.iter()
                        .zip(fields)
                        .all(|(a, f)| a.0 == f.field && a.1 == f.mask)
            }
        }
    });
    let shape = shape.filter(|_| same)?;
    plan(&shape).map(|_| shape)
}

/// Places for the fields of `shape` (first fit by declared width), and
/// the word count.
fn plan(shape: &[(Field, u128)]) -> Option<(Vec<Place>, usize)> {
    let mut free: Vec<u32> = Vec::new();
    let mut places = Vec::with_capacity(shape.len() + 1);
    for &(field, mask) in shape {
        let bits = field.bits();
        if bits > 64 {
            let w = free.len();
            free.extend([0, 0]);
            places.push(Place {
                field,
                mask,
                word: w as u8,
                shift: 0,
            });
            continue;
        }
        let w = match free.iter().position(|&f| f >= bits) {
            Some(w) => w,
            None => {
                free.push(64);
                free.len() - 1
            }
        };
        places.push(Place {
            field,
            mask,
            word: w as u8,
            shift: (64 - free[w]) as u8,
        });
        free[w] -= bits;
    }
    (!free.is_empty() && free.len() <= MAX_WIDTH).then_some((places, free.len()))
}

/// The parts of a compact key for the fields `key`, if their masked bits
/// (from the lowest to the highest set bit of each mask) fit in 32.
fn compact_parts(key: &[(Field, u128)]) -> Option<Vec<Part>> {
    let mut at = 0u32;
    let mut parts = Vec::with_capacity(key.len());
    for &(field, mask) in key {
        let low = mask.trailing_zeros();
        let span = 128 - mask.leading_zeros() - low;
        parts.push(Part {
            field,
            mask,
            low: low as u8,
            at: at as u8,
        });
        at += span;
        if at > 32 {
            return None;
        }
    }
    Some(parts)
}

impl Exact {
    /// `rules`: (match, rank) of a table whose non-empty matches all have
    /// `shape`.
    pub(crate) fn build<'a>(
        shape: &[(Field, u128)],
        rules: impl Iterator<Item = (&'a Match, u64)>,
    ) -> Exact {
        let mut catch_all = 0u64;
        let mut keyed: Vec<(&Match, u64)> = Vec::new();
        for (m, rank) in rules {
            if m.is_empty() {
                catch_all = catch_all.max(rank);
            } else {
                keyed.push((m, rank));
            }
        }
        let value = |m: &Match, f: Field| m.get(f).map_or(0, |x| x.value);
        let first = keyed.first().map(|k| k.0);
        let (guard, key): (FieldMasks, FieldMasks) = shape.iter().partition(|&&(f, _)| {
            first.is_some_and(|m0| keyed.iter().all(|(m, _)| value(m, f) == value(m0, f)))
        });
        let mut guard: Vec<(Field, u128, u128)> = guard
            .iter()
            .map(|&(f, mask)| (f, mask, first.map_or(0, |m| value(m, f))))
            .collect();
        // A key's answer, id + 1: its best rule or the best catch-all.
        let answer = |rank: u64| u64::from(!(rank.max(catch_all) as u32)) + 1;
        let compact = compact_parts(&key)
            .filter(|_| keyed.iter().all(|&(_, r)| answer(r) <= u64::from(u32::MAX)));
        let layout = match compact {
            Some(parts) => {
                let packed = |m: &Match| {
                    parts.iter().fold(0u32, |k, p| {
                        k | (((value(m, p.field) & p.mask) >> p.low) as u32) << p.at
                    })
                };
                let mut best: FastMap<u32, u64> = FastMap::default();
                for &(m, r) in &keyed {
                    let e = best.entry(packed(m)).or_default();
                    *e = (*e).max(r);
                }
                let map = Map32::build(
                    best.into_iter().map(|(k, r)| (k, answer(r) as u32)),
                    |a, _| a,
                );
                let one = |f: Field, mask: u128| Some((Read::of(f)?, u64::try_from(mask).ok()?));
                let g = match guard[..] {
                    [] => Some((Read::EthType, 0, 0)),
                    [(f, mask, value)] => one(f, mask).map(|(r, m)| (r, m, value as u64)),
                    _ => None,
                };
                let p = match parts[..] {
                    [p] => one(p.field, p.mask).map(|(r, m)| (r, m, u32::from(p.low))),
                    _ => None,
                };
                match (g, p) {
                    (Some(g), Some(part)) => {
                        guard.clear();
                        Layout::One {
                            guard: g,
                            part,
                            map,
                        }
                    }
                    _ => Layout::Compact(Box::new((parts, map))),
                }
            }
            None => {
                let (places, width) = plan(&key).unwrap_or((Vec::new(), 1));
                let keys: Vec<([u64; MAX_WIDTH], u64)> = keyed
                    .iter()
                    .map(|&(m, rank)| {
                        let mut k = [0u64; MAX_WIDTH];
                        for p in &places {
                            put(&mut k, p, value(m, p.field));
                        }
                        (k, rank)
                    })
                    .collect();
                let ranks =
                    KeyMap::build(width, keys.iter().map(|(k, r)| (&k[..width], *r)), u64::max);
                let answers: Vec<(&[u64], u64)> =
                    ranks.iter().map(|(k, r)| (k, answer(r))).collect();
                let map = KeyMap::build(width, answers.into_iter(), |a, _| a);
                Layout::Wide(Box::new((places, width, map)))
            }
        };
        Exact {
            guard,
            layout,
            miss: super::rank_id(catch_all),
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        match &self.layout {
            Layout::One { map, .. } => map.bytes(),
            Layout::Compact(c) => c.1.bytes(),
            Layout::Wide(w) => w.2.bytes(),
        }
    }

    /// Whether the key is one `u32` probed in a [`Map32`].
    #[cfg(test)]
    pub(crate) fn is_compact(&self) -> bool {
        matches!(self.layout, Layout::One { .. } | Layout::Compact(_))
    }

    /// The packet's key for the wide layout (`N` = the table's width).
    /// Only constant indices into `k`, so that it stays in registers (a
    /// read-modify-write through a computed index goes through memory and
    /// stalls on store forwarding).
    #[inline(always)]
    fn key<const N: usize>(places: &[Place], key: &FlowKey, regs: &Registers) -> [u64; N] {
        let mut k = [0u64; N];
        for p in places {
            let v = read_field(key, regs, p.field) & p.mask;
            let w = usize::from(p.word);
            let wide = p.field.bits() > 64;
            for (j, x) in k.iter_mut().enumerate() {
                *x |= match (wide, j == w, j == w + 1) {
                    (true, true, _) => (v >> 64) as u64,
                    (true, _, true) => v as u64,
                    (false, true, _) => (v as u64) << p.shift,
                    _ => 0,
                };
            }
        }
        k
    }

    /// The id of the winning rule, if any. Out of line (so is each
    /// layout but the common one): a small function with a small frame.
    #[inline(never)]
    pub(crate) fn lookup(&self, key: &FlowKey, regs: &Registers) -> Option<u32> {
        let a = match &self.layout {
            Layout::One { guard, part, map } => {
                let (f, mask, value) = *guard;
                if f.get(key, regs) & mask != value {
                    return self.miss;
                }
                let (f, mask, low) = *part;
                map.get(((f.get(key, regs) & mask) >> low) as u32)
            }
            Layout::Compact(c) => return self.lookup_compact(c, key, regs),
            Layout::Wide(w) => return self.lookup_wide(w, key, regs),
        };
        match a {
            0 => self.miss,
            a => Some(a - 1),
        }
    }

    #[inline(never)]
    fn lookup_compact(
        &self,
        c: &(Vec<Part>, Map32),
        key: &FlowKey,
        regs: &Registers,
    ) -> Option<u32> {
        let (parts, map) = c;
        if !self.guard_passes(key, regs) {
            return self.miss;
        }
        let k = parts.iter().fold(0u32, |k, p| {
            k | (((read_field(key, regs, p.field) & p.mask) >> p.low) as u32) << p.at
        });
        match map.get(k) {
            0 => self.miss,
            a => Some(a - 1),
        }
    }

    #[inline(never)]
    fn lookup_wide(
        &self,
        w: &(Vec<Place>, usize, KeyMap),
        key: &FlowKey,
        regs: &Registers,
    ) -> Option<u32> {
        let (places, width, map) = (&w.0, w.1, &w.2);
        if !self.guard_passes(key, regs) {
            return self.miss;
        }
        let a = match width {
            1 => map.get1(Self::key::<1>(places, key, regs)[0]),
            2 => map.get_n(&Self::key::<2>(places, key, regs)),
            3 => map.get_n(&Self::key::<3>(places, key, regs)),
            _ => map.get_n(&Self::key::<4>(places, key, regs)),
        };
        match a {
            0 => self.miss,
            a => Some((a - 1) as u32),
        }
    }

    #[inline]
    fn guard_passes(&self, key: &FlowKey, regs: &Registers) -> bool {
        self.guard
            .iter()
            .all(|&(f, mask, value)| read_field(key, regs, f) & mask == value)
    }
}

#[inline(always)]
fn put(k: &mut [u64; MAX_WIDTH], p: &Place, v: u128) {
    let w = p.word as usize;
    if p.field.bits() > 64 {
        if let Some([hi, lo]) = k.get_mut(w..w + 2) {
            *hi = (v >> 64) as u64;
            *lo = v as u64;
        }
    } else if let Some(x) = k.get_mut(w) {
        *x |= (v as u64) << p.shift;
    }
}
