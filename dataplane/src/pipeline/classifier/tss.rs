//! Tuple-space search: one hash table per distinct mask.
//!
//! What: rules grouped by their packed mask ("tuple"); within a tuple, a
//! packet's masked key names the only rules that can match, so one hash
//! probe per tuple decides it.
//! How: a tuple keeps only the key words its mask touches (inline, next
//! to its best rank) and maps the masked value to the best rank among its
//! rules with that value (rules with the same mask and value match the
//! same packets, so the others can never win). A leaf's tuples are sorted
//! by their best rank, best first; a lookup stops as soon as the next
//! tuple cannot beat what was found.
//! Threads: immutable after build.

use std::collections::HashMap;

use super::key::{KeyMap, PackedRule, Words, WORDS};

#[derive(Clone, Debug)]
pub(crate) struct Tuple {
    pub max_rank: u64,
    nwords: usize,
    /// Key word index and mask of each masked word.
    words: [u8; WORDS],
    mask: [u64; WORDS],
    map: KeyMap,
}

impl Tuple {
    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Tuple>() + self.map.bytes()
    }

    /// The best rank of this tuple's rules matching `k`, or 0.
    #[inline]
    fn probe(&self, k: &Words) -> u64 {
        match self.nwords {
            1 => self.map.get1(k[self.words[0] as usize] & self.mask[0]),
            n => self.map.get_masked(k, &self.words[..n], &self.mask[..n]),
        }
    }
}

/// The tuples of `rules`, best first.
pub(crate) fn tuples(rules: Vec<PackedRule>) -> Vec<Tuple> {
    let mut groups: HashMap<Words, Vec<(Words, u64)>> = HashMap::new();
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
                map: KeyMap::build(0, std::iter::empty(), u64::max),
            };
            for (w, &m) in mask.iter().enumerate().filter(|(_, m)| **m != 0) {
                t.words[t.nwords] = w as u8;
                t.mask[t.nwords] = m;
                t.nwords += 1;
            }
            let words = &t.words[..t.nwords];
            let keys: Vec<(Vec<u64>, u64)> = members
                .iter()
                .map(|(v, r)| (words.iter().map(|&w| v[w as usize]).collect(), *r))
                .collect();
            t.map = KeyMap::build(t.nwords, keys.iter().map(|(k, r)| (&k[..], *r)), u64::max);
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
