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
    match *words {
        [] => {
            if let Some(&r) = list.first() {
                *best = (*best).max(r);
            }
        }
        [a] => {
            let x = k[a as usize];
            for d in list.chunks_exact(3) {
                if d[0] <= *best {
                    return;
                }
                if x & d[2] == d[1] {
                    *best = d[0];
                    return;
                }
            }
        }
        [a, b] => {
            let (x0, x1) = (k[a as usize], k[b as usize]);
            for d in list.chunks_exact(5) {
                if d[0] <= *best {
                    return;
                }
                if ((x0 & d[2]) ^ d[1]) | ((x1 & d[4]) ^ d[3]) == 0 {
                    *best = d[0];
                    return;
                }
            }
        }
        [a, b, c] => {
            let (x0, x1, x2) = (k[a as usize], k[b as usize], k[c as usize]);
            for d in list.chunks_exact(7) {
                if d[0] <= *best {
                    return;
                }
                if ((x0 & d[2]) ^ d[1]) | ((x1 & d[4]) ^ d[3]) | ((x2 & d[6]) ^ d[5]) == 0 {
                    *best = d[0];
                    return;
                }
            }
        }
        [a, b, c, e] => {
            let (x0, x1, x2, x3) = (k[a as usize], k[b as usize], k[c as usize], k[e as usize]);
            for d in list.chunks_exact(9) {
                if d[0] <= *best {
                    return;
                }
                let diff = ((x0 & d[2]) ^ d[1])
                    | ((x1 & d[4]) ^ d[3])
                    | ((x2 & d[6]) ^ d[5])
                    | ((x3 & d[8]) ^ d[7]);
                if diff == 0 {
                    *best = d[0];
                    return;
                }
            }
        }
        _ => {
            let mut x = [0u64; WORDS];
            for (xi, &w) in x.iter_mut().zip(words) {
                *xi = k[w as usize];
            }
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
    }
}
