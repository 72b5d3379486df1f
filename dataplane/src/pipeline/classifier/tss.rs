//! Tuple-space search: one hash table per distinct mask.
//!
//! What: rules grouped by their packed mask ("tuple"); within a tuple, a
//! packet's masked key names the only rules that can match, so one hash
//! probe per tuple decides it.
//! How: a tuple keeps only the key words its mask touches (inline, next
//! to its best rank) and maps the masked value to the best rank among its
//! rules with that value (rules with the same mask and value match the
//! same packets, so the others can never win). The masked words are
//! folded into as few words as their set bits need, by rotations that keep
//! the bits disjoint (an exact /32 route with `eth_type` is one word, a
//! tenant ACL tuple with 64-bit `metadata` two), so the map's keys are
//! short and the probe is unrolled. A leaf's tuples are sorted
//! by their best rank, best first; a lookup stops as soon as the next
//! tuple cannot beat what was found.
//! Threads: immutable after build.

use super::key::{FastMap, KeyMap, PackedRule, Words, WORDS};

/// Most folded words a tuple key may have; wider tuples keep their words.
const MAX_FOLD: usize = 4;

#[derive(Clone, Debug)]
pub(crate) struct Tuple {
    pub max_rank: u64,
    nwords: usize,
    /// Key word index and mask of each masked word.
    words: [u8; WORDS],
    mask: [u64; WORDS],
    /// Folded key width (1..=`MAX_FOLD`), or 0 when not folded.
    folded: usize,
    /// Word `i` of the tuple goes, rotated left by `rot[i]`, into folded
    /// word `into[i]`; rotations keep the rotated masks of one folded word
    /// disjoint, so folding is injective.
    into: [u8; WORDS],
    rot: [u8; WORDS],
    map: KeyMap,
}

/// A fold of `masks` into at most `MAX_FOLD` words (first fit, first
/// rotation that does not overlap), as (width, into, rot); `None` for no
/// words or when more than `MAX_FOLD` are needed.
fn fold(masks: &[u64]) -> Option<(usize, [u8; WORDS], [u8; WORDS])> {
    let mut used = [0u64; MAX_FOLD];
    let mut width = 0;
    let (mut into, mut rot) = ([0u8; WORDS], [0u8; WORDS]);
    for (i, &m) in masks.iter().enumerate() {
        let fit = (0..width).find_map(|j| {
            (0..64)
                .find(|&r| m.rotate_left(r) & used[j] == 0)
                .map(|r| (j, r))
        });
        let (j, r) = match fit {
            Some(f) => f,
            None if width < MAX_FOLD => {
                width += 1;
                (width - 1, 0)
            }
            None => return None,
        };
        used[j] |= m.rotate_left(r);
        into[i] = j as u8;
        rot[i] = r as u8;
    }
    if width == masks.len() {
        // Nothing saved: keep the words as they are (the probe skips the
        // rotations when the widths are equal).
        for (i, (j, r)) in into.iter_mut().zip(rot.iter_mut()).take(width).enumerate() {
            (*j, *r) = (i as u8, 0);
        }
    }
    (width > 0).then_some((width, into, rot))
}

impl Tuple {
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Tuple>() + self.map.bytes()
    }

    fn width(&self) -> usize {
        if self.folded > 0 {
            self.folded
        } else {
            self.nwords
        }
    }

    /// The map key of a packed value or packet key.
    fn key_of(&self, v: &Words) -> Vec<u64> {
        let masked = (0..self.nwords).map(|i| v[self.words[i] as usize] & self.mask[i]);
        if self.folded == 0 {
            return masked.collect();
        }
        let mut out = vec![0u64; self.folded];
        for (i, x) in masked.enumerate() {
            out[self.into[i] as usize] |= x.rotate_left(u32::from(self.rot[i]));
        }
        out
    }

    /// The folded key of `k` for a tuple of `NW` words folded into `K`.
    #[inline(always)]
    fn fold_key<const NW: usize, const K: usize>(&self, k: &Words) -> [u64; K] {
        // Constant indices into `q` only, so that it stays in registers
        // (see `Exact::key`).
        let mut q = [0u64; K];
        for i in 0..NW {
            let x = k[self.words[i] as usize] & self.mask[i];
            if K == NW {
                q[i % K] = x;
                continue;
            }
            let x = x.rotate_left(u32::from(self.rot[i]));
            for (j, slot) in q.iter_mut().enumerate() {
                *slot |= if usize::from(self.into[i]) == j { x } else { 0 };
            }
        }
        q
    }

    #[inline(always)]
    fn probe_nk<const NW: usize, const K: usize>(&self, k: &Words) -> u64 {
        self.map.get_n(&self.fold_key::<NW, K>(k))
    }

    /// The best rank of this tuple's rules matching `k`, or 0.
    #[inline]
    fn probe(&self, k: &Words) -> u64 {
        match (self.nwords, self.folded) {
            (1, 1) => self.map.get1(k[self.words[0] as usize] & self.mask[0]),
            (2, 1) => self.probe_nk::<2, 1>(k),
            (2, 2) => self.probe_nk::<2, 2>(k),
            (3, 1) => self.probe_nk::<3, 1>(k),
            (3, 2) => self.probe_nk::<3, 2>(k),
            (3, 3) => self.probe_nk::<3, 3>(k),
            (4, 1) => self.probe_nk::<4, 1>(k),
            (4, 2) => self.probe_nk::<4, 2>(k),
            (4, 3) => self.probe_nk::<4, 3>(k),
            (4, 4) => self.probe_nk::<4, 4>(k),
            _ => {
                let n = self.nwords;
                self.map.get_masked(k, &self.words[..n], &self.mask[..n])
            }
        }
    }
}

/// The tuples of `rules`, best first.
pub(crate) fn tuples(rules: Vec<PackedRule>) -> Vec<Tuple> {
    let mut groups: FastMap<Words, Vec<(Words, u64)>> = FastMap::default();
    for r in rules {
        groups
            .entry(r.key.mask)
            .or_default()
            .push((r.key.value, r.rank));
    }
    let mut tuples: Vec<Tuple> = groups
        .into_iter()
        .map(|(mask, members)| {
            let mut t = Tuple {
                max_rank: members.iter().map(|m| m.1).max().unwrap_or(0),
                nwords: 0,
                words: [0; WORDS],
                mask: [0; WORDS],
                folded: 0,
                into: [0; WORDS],
                rot: [0; WORDS],
                map: KeyMap::build(0, std::iter::empty(), u64::max),
            };
            for (w, &m) in mask.iter().enumerate().filter(|(_, m)| **m != 0) {
                t.words[t.nwords] = w as u8;
                t.mask[t.nwords] = m;
                t.nwords += 1;
            }
            if let Some((width, into, rot)) = fold(&t.mask[..t.nwords]) {
                (t.folded, t.into, t.rot) = (width, into, rot);
            }
            let keys: Vec<(Vec<u64>, u64)> =
                members.iter().map(|(v, r)| (t.key_of(v), *r)).collect();
            t.map = KeyMap::build(t.width(), keys.iter().map(|(k, r)| (&k[..], *r)), u64::max);
            t
        })
        .collect();
    tuples.sort_by(|a, b| {
        b.max_rank
            .cmp(&a.max_rank)
            .then_with(|| (a.words, a.mask).cmp(&(b.words, b.mask)))
    });
    tuples
}

/// Raise `best` to the rank of the best rule of `tuples` matching `k`.
#[inline]
pub(crate) fn search(tuples: &[Tuple], k: &Words, best: &mut u64) {
    for t in tuples {
        if t.max_rank <= *best {
            return;
        }
        let r = t.probe(k);
        if r > *best {
            *best = r;
        }
    }
}
