//! Exact tables: every rule (but the catch-alls) matches the same fields
//! under the same masks, e.g. `ip,nw_dst=A.B.C.D` routes, MAC tables,
//! exact 5-tuples.
//!
//! What: one hash table from the masked field values to the best rank
//! among the rules with those values (rules with equal values match the
//! same packets), and the best catch-all.
//! How: the table's fields are read straight from the `FlowKey` (no full
//! key extraction) and packed at fixed shifts into at most four words
//! (`eth_type` + `ipv4_dst` is one), then one probe of a [`KeyMap`].
//! Threads: immutable after build.

use super::key::{read_field, KeyMap};
use crate::openflow::{Field, Match};
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

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
    places: Vec<Place>,
    width: usize,
    map: KeyMap,
    catch_all: u64,
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

impl Exact {
    /// `rules`: (match, rank) of a table whose non-empty matches all have
    /// `shape`.
    pub(crate) fn build<'a>(
        shape: &[(Field, u128)],
        rules: impl Iterator<Item = (&'a Match, u64)>,
    ) -> Exact {
        let (places, width) = plan(shape).unwrap_or((Vec::new(), 1));
        let mut catch_all = 0;
        let mut keys: Vec<([u64; MAX_WIDTH], u64)> = Vec::new();
        for (m, rank) in rules {
            if m.is_empty() {
                catch_all = catch_all.max(rank);
                continue;
            }
            let mut k = [0u64; MAX_WIDTH];
            for p in &places {
                if let Some(f) = m.get(p.field) {
                    put(&mut k, p, f.value);
                }
            }
            keys.push((k, rank));
        }
        let map = KeyMap::build(width, keys.iter().map(|(k, r)| (&k[..width], *r)), u64::max);
        Exact {
            places,
            width,
            map,
            catch_all,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.map.bytes()
    }

    /// The packet's key (`N` = the table's width). Only constant indices
    /// into `k`, so that it stays in registers (a read-modify-write
    /// through a computed index goes through memory and stalls on store
    /// forwarding).
    #[inline(always)]
    fn key<const N: usize>(&self, key: &FlowKey, regs: &Registers) -> [u64; N] {
        let mut k = [0u64; N];
        for p in &self.places {
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

    /// The best matching rank, or 0.
    #[inline]
    pub(crate) fn lookup(&self, key: &FlowKey, regs: &Registers) -> u64 {
        let r = match self.width {
            1 => self.map.get1(self.key::<1>(key, regs)[0]),
            2 => self.map.get_n(&self.key::<2>(key, regs)),
            3 => self.map.get_n(&self.key::<3>(key, regs)),
            _ => self.map.get_n(&self.key::<4>(key, regs)),
        };
        r.max(self.catch_all)
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
