//! The general classifier: a shallow partition tree over packed keys whose
//! leaves are linear lists or tuple-space searches.
//!
//! What: any rule set. A tree with a single leaf is the plain `linear` or
//! `tss` kind; a tree with splits is `partitioned`.
//!
//! How: a *split* node tests one bit range of one key word (`key[word] &
//! mask`, the whole or a prefix of one field that many rules match
//! exactly, such as `metadata` or `ip_proto`) and sends the packet to the
//! child for that value, one hash probe; rules that do not fix those bits
//! live in the node's *wildcard* child, which the packet also visits. Every
//! node carries the best rank of its rules, so a visit is skipped as soon
//! as it cannot beat the best rank already found (the same early exit that
//! orders tuples inside a TSS leaf). The bits a split tested are removed
//! from its value children's masks, so leaves compare and hash less.
//!
//! Choosing splits: a worst-case cost model (a linear leaf costs per rule,
//! a TSS leaf per tuple, a split one probe plus its largest value child
//! plus its wildcard child) is evaluated for every candidate bit range that
//! some rule masks; the cheapest split is taken when it beats the best
//! leaf clearly. The 1,000-rule ACL of the R2 benchmark (144 masks) splits
//! on `metadata` into 100 ten-rule linear leaves.
//!
//! Threads: built by the compiler, then read-only.

use std::collections::{HashMap, HashSet};

use super::key::{hash_words, KeyMap, PackedRule, Words, WORDS};
use super::{linear, tss};

/// Cost model units (roughly nanoseconds on one 2.6 GHz core).
const COST_LINEAR_RULE: f64 = 1.5;
const COST_TUPLE: f64 = 7.0;
const COST_SPLIT: f64 = 6.0;
/// A split must cost at most this fraction of the best leaf.
const SPLIT_GAIN: f64 = 0.75;
const MAX_DEPTH: u32 = 8;
/// Candidate bit ranges must cover at least this share of a node's rules.
const MIN_COVER_DIV: usize = 16;
const MAX_CANDIDATES: usize = 32;
const NONE: u32 = u32::MAX;

/// How the tree is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One linear leaf.
    Linear,
    /// One TSS leaf.
    Tss,
    /// Splits where the cost model says so (what `build` uses).
    Auto,
    /// Split whenever any split is possible, leaves of at most 4 rules
    /// linear (to exercise the tree in tests).
    SplitAlways,
}

/// Rule count up to which a leaf is always linear.
pub const LINEAR_MAX: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `a`: offset in `lin`, `b`: rule count, `words`: the stored words.
    Linear,
    /// `a`: first tuple in `tuples`, `b`: tuple count.
    Tss,
    /// `a`: index in `splits`, `b`: wildcard child or `NONE`,
    /// `words[0]`: the key word tested.
    Split,
}

/// 48 bytes; every node of a tree lives in one `Vec`.
#[derive(Clone, Copy, Debug)]
struct Node {
    max_rank: u64,
    kind: Kind,
    nwords: u8,
    words: [u8; WORDS],
    a: u32,
    b: u32,
}

#[derive(Clone, Debug)]
struct SplitTable {
    mask: u64,
    /// Value → child node index + 1.
    children: KeyMap,
}

#[derive(Clone, Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    root: u32,
    /// Linear leaves' rules (see [`linear`]).
    lin: Vec<u64>,
    tuples: Vec<tss::Tuple>,
    splits: Vec<SplitTable>,
}

/// Shape facts for `Classifier::stats`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TreeStats {
    pub splits: usize,
    pub leaves: usize,
    pub tuples: usize,
    pub depth: u32,
    pub bytes: usize,
}

impl Tree {
    /// `ranges`: the (word, mask) bit ranges of the fields the rules use,
    /// the candidate split ranges.
    pub(crate) fn build(rules: Vec<PackedRule>, ranges: &[(usize, u64)], shape: Shape) -> Tree {
        let mut t = Tree {
            nodes: Vec::new(),
            root: NONE,
            lin: Vec::new(),
            tuples: Vec::new(),
            splits: Vec::new(),
        };
        t.root = t.node(rules, ranges, shape, 0);
        t
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self.nodes[self.root as usize].kind {
            Kind::Linear => "linear",
            Kind::Tss => "tss",
            Kind::Split => "partitioned",
        }
    }

    pub(crate) fn stats(&self) -> TreeStats {
        let mut s = TreeStats {
            bytes: self.nodes.len() * std::mem::size_of::<Node>()
                + self.lin.len() * 8
                + self.tuples.iter().map(tss::Tuple::bytes).sum::<usize>()
                + self
                    .splits
                    .iter()
                    .map(|s| s.children.bytes() + 8)
                    .sum::<usize>(),
            tuples: self.tuples.len(),
            splits: self.splits.len(),
            ..TreeStats::default()
        };
        s.leaves = self.nodes.len() - s.splits;
        s.depth = self.depth(self.root);
        s
    }

    fn depth(&self, i: u32) -> u32 {
        let n = &self.nodes[i as usize];
        if n.kind != Kind::Split {
            return 1;
        }
        let sp = &self.splits[n.a as usize];
        let below = sp
            .children
            .iter()
            .map(|(_, c)| self.depth((c - 1) as u32))
            .max()
            .unwrap_or(0);
        let wild = if n.b == NONE { 0 } else { self.depth(n.b) };
        1 + below.max(wild)
    }

    /// One line per node, indented by depth (for `sluice check -v`).
    pub(crate) fn describe(&self) -> String {
        let mut out = String::new();
        self.describe_node(self.root, 0, "", &mut out);
        out
    }

    fn describe_node(&self, i: u32, depth: usize, label: &str, out: &mut String) {
        use std::fmt::Write;
        let n = &self.nodes[i as usize];
        let pad = "  ".repeat(depth);
        match n.kind {
            Kind::Linear => {
                let _ = writeln!(
                    out,
                    "{pad}{label}linear: {} rules over {} words",
                    n.b, n.nwords
                );
            }
            Kind::Tss => {
                let _ = writeln!(out, "{pad}{label}tss: {} tuples", n.b);
            }
            Kind::Split => {
                let sp = &self.splits[n.a as usize];
                let _ = writeln!(
                    out,
                    "{pad}{label}split on word {} mask {:#x}: {} values",
                    n.words[0],
                    sp.mask,
                    sp.children.len()
                );
                let mut shown: Vec<(u64, u64)> =
                    sp.children.iter().map(|(k, c)| (k[0], c)).collect();
                shown.sort_unstable();
                for (k, c) in shown.iter().take(3) {
                    self.describe_node((c - 1) as u32, depth + 1, &format!("{k:#x}: "), out);
                }
                if shown.len() > 3 {
                    let _ = writeln!(out, "{pad}  ... {} more", shown.len() - 3);
                }
                if n.b != NONE {
                    self.describe_node(n.b, depth + 1, "*: ", out);
                }
            }
        }
    }

    fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    fn node(
        &mut self,
        rules: Vec<PackedRule>,
        ranges: &[(usize, u64)],
        shape: Shape,
        depth: u32,
    ) -> u32 {
        let max_rank = rules.iter().map(|r| r.rank).max().unwrap_or(0);
        let n = rules.len();
        let tuples = count_tuples(&rules);
        let leaf_cost = leaf_cost(n, tuples);
        let split = match shape {
            Shape::Auto if n > LINEAR_MAX && leaf_cost > 2.0 * COST_TUPLE && depth < MAX_DEPTH => {
                best_split(&rules, ranges).filter(|s| s.cost < SPLIT_GAIN * leaf_cost)
            }
            Shape::SplitAlways if n > 4 && depth < MAX_DEPTH => best_split(&rules, ranges),
            _ => None,
        };
        let mut node = Node {
            max_rank,
            kind: Kind::Linear,
            nwords: 0,
            words: [0; WORDS],
            a: 0,
            b: 0,
        };
        let Some(split) = split else {
            let linear = match shape {
                Shape::Linear => true,
                Shape::Tss => false,
                Shape::SplitAlways => n <= 4,
                Shape::Auto => n <= LINEAR_MAX || linear_cost(n) <= tss_cost(tuples),
            };
            if linear {
                let words = linear::used_words(&rules);
                node.nwords = words.len() as u8;
                node.words[..words.len()].copy_from_slice(&words);
                node.a = linear::push(&mut self.lin, rules, &words) as u32;
                node.b = n as u32;
            } else {
                let t = tss::tuples(rules);
                node.kind = Kind::Tss;
                node.a = self.tuples.len() as u32;
                node.b = t.len() as u32;
                self.tuples.extend(t);
            }
            return self.push(node);
        };
        let (word, mask) = (split.word, split.mask);
        let mut groups: HashMap<u64, Vec<PackedRule>> = HashMap::new();
        let mut wild = Vec::new();
        for mut r in rules {
            if r.key.mask[word] & mask == mask {
                let v = r.key.value[word] & mask;
                r.key.mask[word] &= !mask;
                r.key.value[word] &= !mask;
                groups.entry(v).or_default().push(r);
            } else {
                wild.push(r);
            }
        }
        let mut groups: Vec<(u64, Vec<PackedRule>)> = groups.into_iter().collect();
        groups.sort_by_key(|g| g.0);
        let mut entries = Vec::with_capacity(groups.len());
        for (v, g) in groups {
            let c = self.node(g, ranges, shape, depth + 1);
            entries.push(([v], u64::from(c) + 1));
        }
        node.kind = Kind::Split;
        node.words[0] = word as u8;
        node.nwords = 1;
        node.b = if wild.is_empty() {
            NONE
        } else {
            self.node(wild, ranges, shape, depth + 1)
        };
        node.a = self.splits.len() as u32;
        let children = KeyMap::build(1, entries.iter().map(|(k, v)| (&k[..], *v)), |a, _| a);
        self.splits.push(SplitTable { mask, children });
        self.push(node)
    }

    /// The rank of the best rule matching the packed key `k`, or 0.
    #[inline]
    pub(crate) fn lookup(&self, k: &Words) -> u64 {
        let mut best = 0;
        self.search(self.root, k, &mut best);
        best
    }

    fn search(&self, i: u32, k: &Words, best: &mut u64) {
        let Some(n) = self.nodes.get(i as usize) else {
            return;
        };
        if n.max_rank <= *best {
            return;
        }
        match n.kind {
            Kind::Linear => linear::search(
                &self.lin,
                n.a as usize,
                n.b as usize,
                &n.words[..n.nwords as usize],
                k,
                best,
            ),
            Kind::Tss => {
                if let Some(t) = self.tuples.get(n.a as usize..(n.a + n.b) as usize) {
                    tss::search(t, k, best);
                }
            }
            Kind::Split => {
                let Some(sp) = self.splits.get(n.a as usize) else {
                    return;
                };
                let c = sp.children.get1(k[n.words[0] as usize] & sp.mask);
                let wild = n.b;
                if c == 0 {
                    if wild != NONE {
                        self.search(wild, k, best);
                    }
                    return;
                }
                let c = (c - 1) as u32;
                let rank = |i: u32| self.nodes.get(i as usize).map_or(0, |n| n.max_rank);
                if wild != NONE && rank(wild) > rank(c) {
                    self.search(wild, k, best);
                    self.search(c, k, best);
                } else {
                    self.search(c, k, best);
                    if wild != NONE {
                        self.search(wild, k, best);
                    }
                }
            }
        }
    }
}

/// The cheapest split of `rules` by the cost model, if any.
fn best_split(rules: &[PackedRule], ranges: &[(usize, u64)]) -> Option<Split> {
    let n = rules.len();
    let mut candidates: Vec<(usize, u64, usize)> = Vec::new();
    for &(w, range) in ranges {
        let mut masks: HashMap<u64, usize> = HashMap::new();
        for r in rules {
            let m = r.key.mask[w] & range;
            if m != 0 {
                *masks.entry(m).or_default() += 1;
            }
        }
        // A candidate M covers the rules whose mask includes it.
        for &m in masks.keys() {
            let cover: usize = masks
                .iter()
                .filter(|(&o, _)| o & m == m)
                .map(|(_, c)| c)
                .sum();
            if cover * MIN_COVER_DIV >= n && cover >= 2 {
                candidates.push((w, m, cover));
            }
        }
    }
    candidates.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    candidates.truncate(MAX_CANDIDATES);
    let mut best: Option<Split> = None;
    for (word, mask, _) in candidates {
        if let Some(cost) = split_cost(rules, word, mask) {
            if best.as_ref().map_or(true, |b| cost < b.cost) {
                best = Some(Split { word, mask, cost });
            }
        }
    }
    best
}

struct Split {
    word: usize,
    mask: u64,
    cost: f64,
}

fn linear_cost(n: usize) -> f64 {
    n as f64 * COST_LINEAR_RULE
}

fn tss_cost(tuples: usize) -> f64 {
    tuples as f64 * COST_TUPLE
}

fn leaf_cost(n: usize, tuples: usize) -> f64 {
    if n <= LINEAR_MAX {
        linear_cost(n)
    } else {
        linear_cost(n).min(tss_cost(tuples))
    }
}

fn count_tuples(rules: &[PackedRule]) -> usize {
    rules
        .iter()
        .map(|r| hash_words(&r.key.mask))
        .collect::<HashSet<_>>()
        .len()
}

/// Worst-case cost of splitting on `key[word] & mask`, or `None` when the
/// split would not separate anything (fewer than two values).
fn split_cost(rules: &[PackedRule], word: usize, mask: u64) -> Option<f64> {
    // Per value: rule count and the distinct (stripped) masks.
    let mut groups: HashMap<u64, (usize, HashSet<u64>)> = HashMap::new();
    let mut wild_n = 0;
    let mut wild_masks = HashSet::new();
    for r in rules {
        if r.key.mask[word] & mask == mask {
            let mut stripped = r.key.mask;
            stripped[word] &= !mask;
            let g = groups.entry(r.key.value[word] & mask).or_default();
            g.0 += 1;
            g.1.insert(hash_words(&stripped));
        } else {
            wild_n += 1;
            wild_masks.insert(hash_words(&r.key.mask));
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let worst = groups
        .values()
        .map(|(n, m)| leaf_cost(*n, m.len()))
        .fold(0.0, f64::max);
    let wild = if wild_n == 0 {
        0.0
    } else {
        leaf_cost(wild_n, wild_masks.len())
    };
    Some(COST_SPLIT + worst + wild)
}
