//! Linear list: the leaf for a few rules.
//!
//! What: rules sorted by rank (priority, then lowest id) from best to worst;
//! the first that matches wins.
//!
//! How: a list stores only the key words some of its rules mask (`words`),
//! rule after rule as `[rank, value0, mask0, value1, mask1, ...]` in one
//! arena shared by all lists of a tree, so a scan reads consecutive memory
//! and compares without branches inside a rule; the rule width is a
//! compile-time constant of the scan (one instance per word count), so the
//! words of a rule are read at constant offsets with no bounds checks. The
//! scan stops at the first match or at the first rule that cannot beat the
//! best rank found elsewhere.
//!
//! A list of 3 to 16 rules may also have a [`Filter`]: one to four 4-bit
//! *nibbles* of the key, each with a table from the nibble's value to the
//! set of rules (a `u16`, bit `i` for the `i`-th best) whose value and mask
//! allow that value. The sets of the packet's nibbles are intersected and
//! only the rules left are compared, best first. A rule the filter drops
//! cannot match (its own bits say so), so the answer is the scan's. The
//! nibbles are chosen at build time, greedily, among those that separate
//! some two rules (that a packet's value there can match one but not the
//! other: `ip_proto`, port blocks, address prefixes beyond a common
//! first byte), to minimise the number of rules left for a key whose
//! nibbles are uniform; a nibble every rule fixes to the same value
//! (`eth_type`) never helps, whatever the traffic. On R2's ten-rule tenant
//! ACLs a packet compares one or two rules instead of ten.
//!
//! Threads: immutable after build.

use super::key::{PackedRule, WORDS};

/// Nibbles a filter tests.
const CHUNKS: usize = 4;
/// Lists of these sizes get a filter.
const FILTER_MIN: usize = 3;
const FILTER_MAX: usize = 16;

/// See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    /// Nibbles used (1..=`CHUNKS`).
    count: u8,
    /// Per nibble: index into the list's words, and bit shift.
    at: [(u8, u8); CHUNKS],
    /// Per nibble and nibble value: the rules that allow it.
    sets: [[u16; 16]; CHUNKS],
}

impl Filter {
    /// A filter for `rules` (best first) over `words`, if one is worth it.
    fn build(rules: &[PackedRule], words: &[u8]) -> Option<Filter> {
        let n = rules.len();
        if !(FILTER_MIN..=FILTER_MAX).contains(&n) {
            return None;
        }
        // Per candidate nibble: (word index, shift, per rule the set of
        // nibble values it allows).
        let mut cands: Vec<(u8, u8, Vec<u16>)> = Vec::new();
        for (i, &w) in words.iter().enumerate() {
            for sh in (0..64).step_by(4) {
                let allows: Vec<u16> = rules
                    .iter()
                    .map(|r| {
                        let m = (r.key.mask[w as usize] >> sh) & 15;
                        let v = (r.key.value[w as usize] >> sh) & 15;
                        (0..16u64)
                            .filter(|x| x & m == v)
                            .fold(0u16, |s, x| s | 1 << x)
                    })
                    .collect();
                let separates = allows
                    .iter()
                    .enumerate()
                    .any(|(a, &x)| allows[a + 1..].iter().any(|&y| x & y == 0));
                if separates {
                    cands.push((i as u8, sh as u8, allows));
                }
            }
        }
        // Greedy: the nibble that leaves the fewest expected rules, while
        // it removes a quarter of a rule or more. A nibble costs about 12
        // instructions, a compared rule 8 plus 4.5 a word, so a bar of
        // 12 / (8 + 4.5 * words) would be even on average; the lower one
        // keeps packets the uniform model misjudges close to the average
        // (on R2, one such packet compared 4 rules with that bar).
        let worth = 0.25;
        let mut left = vec![1.0f64; n];
        let mut chosen: Vec<usize> = Vec::new();
        let mut expect = n as f64;
        while chosen.len() < CHUNKS {
            let after = |c: &(u8, u8, Vec<u16>)| -> f64 {
                c.2.iter()
                    .zip(&left)
                    .map(|(a, l)| l * f64::from(a.count_ones()) / 16.0)
                    .sum()
            };
            let Some((best, e)) = cands
                .iter()
                .enumerate()
                .filter(|(j, _)| !chosen.contains(j))
                .map(|(j, c)| (j, after(c)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
            else {
                break;
            };
            if e > expect - worth {
                break;
            }
            for (l, a) in left.iter_mut().zip(&cands[best].2) {
                *l *= f64::from(a.count_ones()) / 16.0;
            }
            expect = e;
            chosen.push(best);
        }
        // Worth it when it leaves at most half the rules (each compared
        // rule costs about what a nibble does).
        if chosen.is_empty() || expect > n as f64 / 2.0 {
            return None;
        }
        let mut f = Filter {
            count: chosen.len() as u8,
            at: [(0, 0); CHUNKS],
            sets: [[u16::MAX; 16]; CHUNKS],
        };
        for (slot, &j) in chosen.iter().enumerate() {
            let (i, sh, allows) = &cands[j];
            f.at[slot] = (*i, *sh);
            for (v, set) in f.sets[slot].iter_mut().enumerate() {
                *set = allows
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| *a & (1 << v) != 0)
                    .fold(0, |s, (r, _)| s | 1 << r);
            }
        }
        Some(f)
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Filter>()
    }

    /// Renumber the list words the nibbles are taken from.
    pub(crate) fn remap(&mut self, to: impl Fn(u8) -> u8) {
        for at in &mut self.at {
            at.0 = to(at.0);
        }
    }
}

/// The words any of `rules` masks, ascending.
pub(crate) fn used_words(rules: &[PackedRule]) -> Vec<u8> {
    (0..WORDS)
        .filter(|&w| rules.iter().any(|r| r.key.mask[w] != 0))
        .map(|w| w as u8)
        .collect()
}

/// Append `rules` over `words` to `arena`, best first; returns the offset
/// and the list's filter, if it has one.
pub(crate) fn push(
    arena: &mut Vec<u64>,
    mut rules: Vec<PackedRule>,
    words: &[u8],
) -> (usize, Option<Filter>) {
    rules.sort_by_key(|r| std::cmp::Reverse(r.rank));
    let off = arena.len();
    for r in &rules {
        arena.push(r.rank);
        for &w in words {
            arena.push(r.key.value[w as usize]);
            arena.push(r.key.mask[w as usize]);
        }
    }
    (off, Filter::build(&rules, words))
}

/// Raise `best` to the rank of the best rule of the list at `arena[off..]`
/// (`n` rules over `words`, with `filter`) that matches `k`, if higher.
#[inline]
pub(crate) fn search<const K: usize>(
    arena: &[u64],
    off: usize,
    n: usize,
    words: &[u8],
    filter: Option<&Filter>,
    k: &[u64; K],
    best: &mut u64,
) {
    let stride = 1 + 2 * words.len();
    let Some(list) = arena.get(off..off + n * stride) else {
        return;
    };
    match words.len() {
        0 => {
            if let Some(&r) = list.first() {
                *best = (*best).max(r);
            }
        }
        1 => run::<K, 1, 3>(list, words, filter, k, best),
        2 => run::<K, 2, 5>(list, words, filter, k, best),
        3 => run::<K, 3, 7>(list, words, filter, k, best),
        4 => run::<K, 4, 9>(list, words, filter, k, best),
        5 => run::<K, 5, 11>(list, words, filter, k, best),
        6 => run::<K, 6, 13>(list, words, filter, k, best),
        _ => run::<K, WORDS, { 1 + 2 * WORDS }>(list, words, filter, k, best),
    }
}

/// [`search`] for a list of `N` stored words with `x` the key's values of
/// those words (inline; `S = 1 + 2N`).
#[inline(always)]
pub(crate) fn search_x<const N: usize, const S: usize>(
    arena: &[u64],
    off: usize,
    n: usize,
    filter: Option<&Filter>,
    x: &[u64; N],
    best: &mut u64,
) {
    let Some(list) = arena.get(off..off + n * S) else {
        return;
    };
    match (filter, *best == 0) {
        (Some(f), true) => filtered::<N, S, false>(list, f, x, best),
        (Some(f), false) => filtered::<N, S, true>(list, f, x, best),
        (None, true) => scan::<N, S, false>(list, x, best),
        (None, false) => scan::<N, S, true>(list, x, best),
    }
}

/// `search` over rules of `N` stored words, `S = 1 + 2N` u64 each (`N =
/// WORDS` for any count: the missing words compare as 0 against mask 0).
/// One function per width, so that each has only its own frame.
#[inline(never)]
fn run<const K: usize, const N: usize, const S: usize>(
    list: &[u64],
    words: &[u8],
    filter: Option<&Filter>,
    k: &[u64; K],
    best: &mut u64,
) {
    let mut x = [0u64; N];
    for (xi, &w) in x.iter_mut().zip(words) {
        *xi = k.get(usize::from(w)).copied().unwrap_or(0);
    }
    let stride = 1 + 2 * words.len();
    if N == WORDS && stride != S {
        // Fewer words than the generic instance stores: the plain scan
        // over the real stride.
        return scan_any::<N>(list, stride, &x, best);
    }
    // The first list a lookup visits starts from nothing, so every rule
    // may win and the per-rule rank test can go.
    match (filter, *best == 0) {
        (Some(f), true) => filtered::<N, S, false>(list, f, &x, best),
        (Some(f), false) => filtered::<N, S, true>(list, f, &x, best),
        (None, true) => scan::<N, S, false>(list, &x, best),
        (None, false) => scan::<N, S, true>(list, &x, best),
    }
}

/// Whether rule `d` (`[rank, value0, mask0, ...]`) matches `x`.
#[inline(always)]
fn hit<const N: usize, const S: usize>(d: &[u64; S], x: &[u64; N]) -> bool {
    let mut diff = 0;
    for (i, xi) in x.iter().enumerate() {
        diff |= (xi & d[2 + 2 * i]) ^ d[1 + 2 * i];
    }
    diff == 0
}

#[inline(always)]
fn scan<const N: usize, const S: usize, const CHECK: bool>(
    list: &[u64],
    x: &[u64; N],
    best: &mut u64,
) {
    for d in list.chunks_exact(S) {
        let Some(d) = d.first_chunk::<S>() else {
            return;
        };
        if CHECK && d[0] <= *best {
            return;
        }
        if hit(d, x) {
            *best = (*best).max(d[0]);
            return;
        }
    }
}

#[inline(always)]
fn filtered<const N: usize, const S: usize, const CHECK: bool>(
    list: &[u64],
    f: &Filter,
    x: &[u64; N],
    best: &mut u64,
) {
    let mut cand = u32::from(u16::MAX);
    let used = usize::from(f.count);
    for (&(i, sh), sets) in f.at.iter().zip(&f.sets).take(used) {
        let nibble = (x[usize::from(i) % N] >> sh) & 15;
        cand &= u32::from(sets[nibble as usize]);
    }
    while cand != 0 {
        let r = cand.trailing_zeros() as usize;
        cand &= cand - 1;
        let Some(d) = list.get(r * S..).and_then(<[u64]>::first_chunk::<S>) else {
            return;
        };
        if CHECK && d[0] <= *best {
            return;
        }
        if hit(d, x) {
            *best = (*best).max(d[0]);
            return;
        }
    }
}

/// The plain scan for rules of any stride (the generic instance).
fn scan_any<const N: usize>(list: &[u64], stride: usize, x: &[u64; N], best: &mut u64) {
    for d in list.chunks_exact(stride) {
        if d[0] <= *best {
            return;
        }
        let diff = x
            .iter()
            .zip(d[1..].chunks_exact(2))
            .fold(0, |acc, (xi, vm)| acc | ((xi & vm[1]) ^ vm[0]));
        if diff == 0 {
            *best = d[0];
            return;
        }
    }
}
