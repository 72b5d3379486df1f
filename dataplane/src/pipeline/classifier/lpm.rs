//! Prefix tables: one field matched by prefix (`nw_dst=10.0.0.0/8`,
//! `ipv6_src=2001:db8::/32`, ...), every rule sharing the same exact
//! "guard" fields (typically `eth_type=0x0800`), plus catch-alls.
//!
//! What: a poptrie (Asai & Ohara, SIGCOMM 2015) answering, for the field's
//! value, the best-ranked rule whose prefix contains it. Priorities need not
//! follow prefix lengths: the trie stores, for every address range, the best
//! rank of all prefixes covering it (leaf pushing by rank instead of by
//! length), so a lookup is one root-to-leaf walk with no backtracking.
//!
//! How: the field is left-aligned in a `u64` (or a `u128` for IPv6). The top `s` bits (16, or
//! the field width if smaller) index a direct array; each entry is a leaf
//! or a node. A node covers the next 6 bits with two 64-bit maps: `vector`
//! marks the entries that are child nodes (stored contiguously from
//! `base1`, found by popcount), `leafvec` marks where a run of equal leaf
//! values starts (runs stored contiguously from `base0`, found by popcount
//! too), so a node with one long prefix inside costs three leaves, not 64.
//! An IPv4 /32 lookup reads the direct array and at most three nodes.
//! Guard fields are compared before the walk; a packet failing them can
//! only match a catch-all.
//!
//! Threads: immutable after build.

use super::key::read_field;
use crate::openflow::{Field, Match};
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

const STRIDE: u32 = 6;
const DIRECT_BITS: u32 = 16;
const NODE: u32 = 1 << 31;

#[derive(Clone, Copy, Debug)]
struct PNode {
    vector: u64,
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// A prefix: left-aligned value, length, rank.
#[derive(Clone, Copy, Debug)]
struct Prefix {
    value: u128,
    len: u32,
    rank: u64,
}

/// What a table must look like for [`Lpm`]: the prefix field and the
/// guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub field: Field,
    pub guard: Vec<(Field, u128)>,
    /// Every prefix is the full width (a plain exact-match table).
    pub all_exact: bool,
}

/// The prefix length of `mask` in a `bits`-wide field, if it is a prefix.
fn prefix_len(mask: u128, bits: u32) -> Option<u32> {
    let full = if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let len = mask.count_ones();
    let want = full & !full.checked_shr(len).unwrap_or(0);
    (mask == want).then_some(len)
}

/// The [`Shape`] of the non-empty matches, if they have one: the fields
/// every one of them matches exactly with one common value form the guard;
/// every other field must be one and the same field, with prefix masks.
pub(crate) fn shape<'a>(matches: impl Iterator<Item = &'a Match> + Clone) -> Option<Shape> {
    let mut nonempty = matches.filter(|m| !m.is_empty());
    let first = nonempty.clone().next()?;
    let guard: Vec<(Field, u128)> = first
        .fields()
        .iter()
        .filter(|f| f.is_exact())
        .map(|f| (f.field, f.value))
        .filter(|&(field, value)| nonempty.clone().all(|m| m.exact(field) == Some(value)))
        .collect();
    let mut field = None;
    let mut all_exact = true;
    let ok = nonempty.all(|m| {
        m.fields()
            .iter()
            .filter(|f| !guard.iter().any(|g| g.0 == f.field))
            .all(|f| {
                if *field.get_or_insert(f.field) != f.field {
                    return false;
                }
                all_exact &= f.is_exact();
                prefix_len(f.mask, f.field.bits()).is_some()
            })
    });
    let field = field?;
    (ok && field.bits() <= 128).then_some(Shape {
        field,
        guard,
        all_exact,
    })
}

#[derive(Clone, Debug)]
pub(crate) struct Lpm {
    field: Field,
    /// Left shift that aligns the field's value at bit 127.
    align: u32,
    guard: Vec<(Field, u128)>,
    catch_all: u64,
    direct_bits: u32,
    /// Leaf index, or `NODE | node index`.
    direct: Vec<u32>,
    nodes: Vec<PNode>,
    /// Best rank per leaf run (0: no prefix covers it).
    leaves: Vec<u64>,
}

impl Lpm {
    /// `rules`: (match, rank) of a table with `shape`. An empty match is a
    /// catch-all; a match that is only the guard is the /0 prefix.
    pub(crate) fn build<'a>(shape: &Shape, rules: impl Iterator<Item = (&'a Match, u64)>) -> Lpm {
        let bits = shape.field.bits();
        let align = 128 - bits;
        let mut catch_all = 0;
        let mut prefixes = Vec::new();
        for (m, rank) in rules {
            if m.is_empty() {
                catch_all = catch_all.max(rank);
                continue;
            }
            let (value, len) = match m.get(shape.field) {
                Some(f) => (f.value << align, prefix_len(f.mask, bits).unwrap_or(bits)),
                None => (0, 0),
            };
            prefixes.push(Prefix { value, len, rank });
        }
        prefixes.sort_by(|a, b| {
            (a.value, a.len)
                .cmp(&(b.value, b.len))
                .then(b.rank.cmp(&a.rank))
        });
        prefixes.dedup_by(|later, first| later.value == first.value && later.len == first.len);
        let direct_bits = DIRECT_BITS.min(bits);
        let mut t = Lpm {
            field: shape.field,
            align,
            guard: shape.guard.clone(),
            catch_all,
            direct_bits,
            direct: Vec::new(),
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let entries = expand(&prefixes, 0, direct_bits, 0);
        let mut direct = Vec::with_capacity(entries.len());
        for e in entries {
            match e {
                Entry::Leaf(r) => {
                    if t.leaves.last() != Some(&r) || direct.is_empty() {
                        t.leaves.push(r);
                    }
                    direct.push((t.leaves.len() - 1) as u32);
                }
                Entry::Node(sub, inherited) => {
                    let i = t.nodes.len();
                    t.nodes.push(PNode {
                        vector: 0,
                        leafvec: 0,
                        base0: 0,
                        base1: 0,
                    });
                    t.fill(i, &sub, direct_bits, inherited);
                    direct.push(NODE | i as u32);
                }
            }
        }
        t.direct = direct;
        t
    }

    /// Build node `i` for the region at `depth` bits holding `prefixes`
    /// (all longer than `depth`), inheriting `inherited` from above.
    fn fill(&mut self, i: usize, prefixes: &[Prefix], depth: u32, inherited: u64) {
        let entries = expand(prefixes, depth, STRIDE, inherited);
        let mut node = PNode {
            vector: 0,
            leafvec: 0,
            base0: self.leaves.len() as u32,
            base1: 0,
        };
        let mut last = None;
        let mut subs = Vec::new();
        for (e, entry) in entries.into_iter().enumerate() {
            match entry {
                Entry::Leaf(r) => {
                    if last != Some(r) {
                        node.leafvec |= 1 << e;
                        self.leaves.push(r);
                        last = Some(r);
                    }
                }
                Entry::Node(sub, inh) => {
                    node.vector |= 1 << e;
                    subs.push((sub, inh));
                }
            }
        }
        node.base1 = self.nodes.len() as u32;
        let placeholder = PNode {
            vector: 0,
            leafvec: 0,
            base0: 0,
            base1: 0,
        };
        self.nodes
            .extend(std::iter::repeat(placeholder).take(subs.len()));
        for (j, (sub, inh)) in subs.into_iter().enumerate() {
            self.fill(node.base1 as usize + j, &sub, depth + STRIDE, inh);
        }
        self.nodes[i] = node;
    }

    pub(crate) fn bytes(&self) -> usize {
        self.direct.len() * 4
            + self.nodes.len() * std::mem::size_of::<PNode>()
            + self.leaves.len() * 8
    }

    pub(crate) fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The best matching rank, or 0.
    #[inline]
    pub(crate) fn lookup(&self, key: &FlowKey, regs: &Registers) -> u64 {
        for &(f, v) in &self.guard {
            if read_field(key, regs, f) != v {
                return self.catch_all;
            }
        }
        let v = read_field(key, regs, self.field);
        let best = if self.align >= 64 {
            // Fields of up to 64 bits walk on a u64, left-aligned.
            self.walk((v as u64) << (self.align - 64))
        } else {
            self.walk(v << self.align)
        };
        best.max(self.catch_all)
    }

    #[inline]
    fn walk<V: Aligned>(&self, v: V) -> u64 {
        let d = self
            .direct
            .get(v.top(self.direct_bits))
            .copied()
            .unwrap_or(0);
        if d & NODE == 0 {
            return self.leaves.get(d as usize).copied().unwrap_or(0);
        }
        let mut i = (d & !NODE) as usize;
        let mut off = self.direct_bits;
        loop {
            let Some(n) = self.nodes.get(i) else { return 0 };
            // A node exists only above prefixes longer than `off`, so
            // `off` is inside the field here.
            let c = v.chunk(off);
            let upto = u64::MAX >> (63 - c);
            if n.vector & (1 << c) != 0 {
                i = (n.base1 + (n.vector & upto).count_ones() - 1) as usize;
                off += STRIDE;
            } else {
                let j = n.base0 + (n.leafvec & upto).count_ones() - 1;
                return self.leaves.get(j as usize).copied().unwrap_or(0);
            }
        }
    }
}

/// A left-aligned field value: its top bits and its `STRIDE`-bit chunks.
trait Aligned: Copy {
    /// The top `s` bits (`0 < s <= 16`).
    fn top(self, s: u32) -> usize;
    /// The `STRIDE` bits starting `off` bits from the top (zeros past the
    /// end).
    fn chunk(self, off: u32) -> u32;
}

impl Aligned for u64 {
    #[inline(always)]
    fn top(self, s: u32) -> usize {
        (self >> (64 - s)) as usize
    }

    #[inline(always)]
    fn chunk(self, off: u32) -> u32 {
        (self.checked_shl(off).unwrap_or(0) >> (64 - STRIDE)) as u32
    }
}

impl Aligned for u128 {
    #[inline(always)]
    fn top(self, s: u32) -> usize {
        (self >> (128 - s)) as usize
    }

    #[inline(always)]
    fn chunk(self, off: u32) -> u32 {
        (self.checked_shl(off).unwrap_or(0) >> (128 - STRIDE)) as u32
    }
}

enum Entry {
    Leaf(u64),
    /// The prefixes below this entry and the rank inherited from above.
    Node(Vec<Prefix>, u64),
}

/// The `2^k` entries of the region at `depth` (bits already consumed):
/// for each, the best rank of the prefixes (of `prefixes`, sorted by value)
/// that cover it entirely, or a node if longer prefixes lie inside it.
fn expand(prefixes: &[Prefix], depth: u32, k: u32, inherited: u64) -> Vec<Entry> {
    let mut best = vec![inherited; 1 << k];
    let mut long: Vec<Vec<Prefix>> = (0..1 << k).map(|_| Vec::new()).collect();
    let chunk = |v: u128| ((v << depth) >> (128 - k)) as usize;
    for p in prefixes {
        if p.len <= depth + k {
            let span = 1usize << (depth + k - p.len);
            let e0 = chunk(p.value) & !(span - 1);
            for b in &mut best[e0..e0 + span] {
                *b = (*b).max(p.rank);
            }
        } else {
            long[chunk(p.value)].push(*p);
        }
    }
    best.into_iter()
        .zip(long)
        .map(|(b, l)| {
            if l.is_empty() {
                Entry::Leaf(b)
            } else {
                Entry::Node(l, b)
            }
        })
        .collect()
}
