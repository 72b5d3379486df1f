//! Linear list: the leaf for a few rules.
//!
//! What: rules sorted by rank (priority, then lowest id) from best to worst;
//! the first that matches wins.
//! How: a list stores only the key words some of its rules mask (`words`),
//! rule after rule as `[rank, value0, mask0, value1, mask1, ...]` in one
//! arena shared by all lists of a tree, so a scan reads consecutive memory
//! and compares without branches inside a rule. The scan stops at the
//! first match or at the first rule that cannot beat the best rank found
//! elsewhere.
//! Threads: immutable after build.

use super::key::{PackedRule, Words, WORDS};

/// The words any of `rules` masks, ascending.
pub(crate) fn used_words(rules: &[PackedRule]) -> Vec<u8> {
    (0..WORDS)
        .filter(|&w| rules.iter().any(|r| r.key.mask[w] != 0))
        .map(|w| w as u8)
        .collect()
}

/// Append `rules` (best first) over `words` to `arena`; returns the offset.
pub(crate) fn push(arena: &mut Vec<u64>, mut rules: Vec<PackedRule>, words: &[u8]) -> usize {
    rules.sort_by_key(|r| std::cmp::Reverse(r.rank));
    let off = arena.len();
    for r in &rules {
        arena.push(r.rank);
        for &w in words {
            arena.push(r.key.value[w as usize]);
            arena.push(r.key.mask[w as usize]);
        }
    }
    off
}

/// Raise `best` to the rank of the best rule of the list at `arena[off..]`
/// (`n` rules over `words`) that matches `k`, if higher.
#[inline]
pub(crate) fn search(arena: &[u64], off: usize, n: usize, words: &[u8], k: &Words, best: &mut u64) {
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
        1 => run::<1>(list, words, k, best),
        2 => run::<2>(list, words, k, best),
        3 => run::<3>(list, words, k, best),
        4 => run::<4>(list, words, k, best),
        5 => run::<5>(list, words, k, best),
        6 => run::<6>(list, words, k, best),
        _ => run::<WORDS>(list, words, k, best),
    }
}

/// `search` over rules of `N` stored words (`N = WORDS` for any count:
/// the missing words compare as 0 against mask 0).
#[inline(always)]
fn run<const N: usize>(list: &[u64], words: &[u8], k: &Words, best: &mut u64) {
    let mut x = [0u64; N];
    for (xi, &w) in x.iter_mut().zip(words) {
        *xi = k[w as usize];
    }
    let stride = 1 + 2 * words.len();
    // The first list a lookup visits starts from nothing, so every rule
    // may win and the per-rule rank test can go.
    if *best == 0 {
        scan::<N, false>(list, stride, &x, best);
    } else {
        scan::<N, true>(list, stride, &x, best);
    }
}

#[inline(always)]
fn scan<const N: usize, const CHECK: bool>(
    list: &[u64],
    stride: usize,
    x: &[u64; N],
    best: &mut u64,
) {
    for d in list.chunks_exact(stride) {
        if CHECK && d[0] <= *best {
            return;
        }
        let diff = x
            .iter()
            .zip(d[1..].chunks_exact(2))
            .fold(0, |acc, (xi, vm)| acc | ((xi & vm[1]) ^ vm[0]));
        if diff == 0 {
            *best = (*best).max(d[0]);
            return;
        }
    }
}
