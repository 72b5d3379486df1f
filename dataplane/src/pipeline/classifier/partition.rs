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
//! Fast paths: when every rule masks only key words 0..4 (the IPv4
//! 5-tuple, `eth_type`, port, VLAN, `metadata`), the key is those four
//! words and every linear leaf stores the same words, the union of the
//! leaves' own (one rule width for the tree: the key's values of those
//! words are gathered once, and no leaf dispatches on its width); and
//! when, besides, the
//! root is a split whose children are all linear leaves, the lookup is a
//! [`Flat`] one: one probe, the value child's leaf, then the wildcard
//! child's leaf if it can still win, with no node walk. Linear leaves of a
//! few rules carry nibble filters (see `linear.rs`).
//!
//! Choosing splits: a worst-case cost model (a linear leaf costs per rule,
//! a TSS leaf per tuple, a split one probe plus its largest value child
//! plus its wildcard child) is evaluated for every candidate bit range that
//! some rule masks; the cheapest split is taken when it beats the best
//! leaf clearly. The 1,000-rule ACL of the R2 benchmark (144 masks) splits
//! on `metadata` into 100 ten-rule linear leaves (flat, filtered).
//!
//! Threads: built by the compiler, then read-only.

use super::key::{word_fp, FastMap, FastSet, IdMap, PackedRule, Words, WORDS};
use super::{linear, tss};

/// Cost model, in instructions (measured with cachegrind on the R2 tables
/// and on synthetic ones): visiting a leaf, a linear rule and each word it
/// compares, a TSS probe and each folded key word it hashes, a split.
const COST_LEAF: f64 = 30.0;
const COST_RULE: f64 = 4.0;
const COST_RULE_WORD: f64 = 3.0;
const COST_TUPLE: f64 = 40.0;
const COST_TUPLE_WORD: f64 = 20.0;
const COST_SPLIT: f64 = 50.0;
/// A split must cost at most this fraction of the best leaf.
const SPLIT_GAIN: f64 = 0.75;
const MAX_DEPTH: u32 = 8;
/// Candidate bit ranges must cover at least this share of a node's rules.
const MIN_COVER_DIV: usize = 16;
const MAX_CANDIDATES: usize = 32;
/// Distinct masks per bit range considered for candidates.
const MAX_MASKS: usize = 48;
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
    /// `a`: offset in `lin`, `b`: rule count, `words`: the stored words,
    /// `f`: index in `filters` or `NONE`.
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
    f: u32,
}

#[derive(Clone, Debug)]
struct SplitTable {
    mask: u64,
    /// `max_rank` of the wildcard child (0 without one).
    wild_rank: u64,
    /// Value → child node index + 1.
    children: IdMap,
}

#[derive(Clone, Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    root: u32,
    /// Linear leaves' rules (see [`linear`]).
    lin: Vec<u64>,
    /// Filters of linear leaves.
    filters: Vec<linear::Filter>,
    tuples: Vec<tss::Tuple>,
    splits: Vec<SplitTable>,
    /// Every rule masks only key words 0..4: linear leaves store
    /// `leaf_words` and [`lookup4`](Self::lookup4) applies.
    common: bool,
    /// With `common`, bit `w` set when some rule masks word `w`.
    used: u8,
    /// With `common`, the words some linear leaf compares (ascending, at
    /// least one): every linear leaf stores these, in this order.
    leaf_words: Vec<u8>,
    /// With `common`, a root split whose children are all linear leaves
    /// (R2's tenant ACL), as a [`Flat`] for a walk-free lookup.
    flat: Option<Box<Flat>>,
}

/// A root split whose value and wildcard children are linear leaves
/// over words 0..4: the lookup is one probe and one or two leaf searches,
/// with no node visits and no stack of pending nodes.
#[derive(Clone, Debug)]
struct Flat {
    /// The key word the root tests (0..4) and its mask.
    word: u8,
    mask: u64,
    /// Value → index + 1 in `leaves`.
    children: IdMap,
    leaves: Vec<Leaf>,
    /// The wildcard child.
    wild: Option<Leaf>,
}

#[derive(Clone, Copy, Debug)]
struct Leaf {
    max_rank: u64,
    /// Offset in `Tree::lin`, rule count, filter index or `NONE`.
    off: u32,
    n: u32,
    f: u32,
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
        let common = rules.iter().all(|r| r.nonzero & !0b1111 == 0);
        let used = rules.iter().fold(0, |u, r| u | r.nonzero as u8 & 0b1111);
        let mut t = Tree {
            common,
            used,
            leaf_words: Vec::new(),
            flat: None,
            nodes: Vec::new(),
            root: NONE,
            lin: Vec::new(),
            filters: Vec::new(),
            tuples: Vec::new(),
            splits: Vec::new(),
        };
        t.root = t.node(rules, ranges, shape, 0);
        if common {
            t.relayout();
            t.flat = t.flat().map(Box::new);
        }
        t
    }

    /// Store every linear leaf over the union of the leaves' words, so
    /// that one rule width serves the whole tree (`lookup4`).
    fn relayout(&mut self) {
        let mut union: Vec<u8> = self
            .nodes
            .iter()
            .filter(|n| n.kind == Kind::Linear)
            .flat_map(|n| n.words[..usize::from(n.nwords)].to_vec())
            .collect();
        union.sort_unstable();
        union.dedup();
        if union.is_empty() {
            union.push(0);
        }
        let stride = 1 + 2 * union.len();
        let mut lin = Vec::with_capacity(self.lin.len() / 2 * stride);
        for n in self.nodes.iter_mut().filter(|n| n.kind == Kind::Linear) {
            let words = n.words[..usize::from(n.nwords)].to_vec();
            let old = 1 + 2 * words.len();
            let off = lin.len();
            let start = n.a as usize;
            for r in self.lin[start..start + n.b as usize * old].chunks_exact(old) {
                lin.push(r[0]);
                for u in &union {
                    match words.iter().position(|w| w == u) {
                        Some(p) => lin.extend([r[1 + 2 * p], r[2 + 2 * p]]),
                        None => lin.extend([0, 0]),
                    }
                }
            }
            if let Some(f) = self.filters.get_mut(n.f as usize) {
                f.remap(|i| {
                    let w = words[usize::from(i)];
                    union.iter().position(|&u| u == w).unwrap_or(0) as u8
                });
            }
            n.a = off as u32;
            n.nwords = union.len() as u8;
            n.words = [0; WORDS];
            n.words[..union.len()].copy_from_slice(&union);
        }
        self.lin = lin;
        self.leaf_words = union;
    }

    /// The [`Flat`] form of the root, if it has one.
    fn flat(&self) -> Option<Flat> {
        let root = self.nodes.get(self.root as usize)?;
        if root.kind != Kind::Split {
            return None;
        }
        let leaf = |i: u32| -> Option<Leaf> {
            let n = self.nodes.get(i as usize)?;
            (n.kind == Kind::Linear).then_some(Leaf {
                max_rank: n.max_rank,
                off: n.a,
                n: n.b,
                f: n.f,
            })
        };
        let sp = self.splits.get(root.a as usize)?;
        let mut leaves = Vec::new();
        let mut entries = Vec::new();
        for (v, c) in sp.children.pairs() {
            leaves.push(leaf(c - 1)?);
            entries.push((v, leaves.len() as u32));
        }
        let wild = match root.b {
            NONE => None,
            b => Some(leaf(b)?),
        };
        Some(Flat {
            word: root.words[0] & 3,
            mask: sp.mask,
            children: IdMap::build(&entries, |a, _| a),
            leaves,
            wild,
        })
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
                + self
                    .filters
                    .iter()
                    .map(linear::Filter::bytes)
                    .sum::<usize>()
                + self.tuples.iter().map(tss::Tuple::bytes).sum::<usize>()
                + self
                    .splits
                    .iter()
                    .map(|s| s.children.bytes() + 16)
                    .sum::<usize>()
                + self.flat.as_ref().map_or(0, |f| {
                    f.children.bytes() + f.leaves.len() * std::mem::size_of::<Leaf>()
                }),
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
            .pairs()
            .into_iter()
            .map(|(_, c)| self.depth(c - 1))
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
                let filter = if n.f == NONE { "" } else { ", filtered" };
                let _ = writeln!(
                    out,
                    "{pad}{label}linear: {} rules over {} words{filter}",
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
                let mut shown = sp.children.pairs();
                shown.sort_unstable();
                for (k, c) in shown.iter().take(3) {
                    self.describe_node(c - 1, depth + 1, &format!("{k:#x}: "), out);
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
        let summary = Summary::of(&rules);
        let leaf_cost = summary.leaf();
        let split = match shape {
            // No split can cost less than one probe and one small leaf.
            Shape::Auto
                if n > LINEAR_MAX
                    && depth < MAX_DEPTH
                    && SPLIT_GAIN * leaf_cost > COST_SPLIT + COST_LEAF + COST_RULE =>
            {
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
            f: NONE,
        };
        let Some(split) = split else {
            let linear = match shape {
                Shape::Linear => true,
                Shape::Tss => false,
                Shape::SplitAlways => n <= 4,
                Shape::Auto => n <= LINEAR_MAX || summary.linear() <= summary.tss(),
            };
            if linear {
                let words = linear::used_words(&rules);
                node.nwords = words.len() as u8;
                node.words[..words.len()].copy_from_slice(&words);
                let (off, filter) = linear::push(&mut self.lin, rules, &words);
                node.a = off as u32;
                node.b = n as u32;
                if let Some(f) = filter {
                    node.f = self.filters.len() as u32;
                    self.filters.push(f);
                }
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
        let mut groups: FastMap<u64, Vec<PackedRule>> = FastMap::default();
        let mut wild = Vec::new();
        for mut r in rules {
            if r.key.mask[word] & mask == mask {
                let v = r.key.value[word] & mask;
                r.strip(word, mask);
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
            entries.push((v, c + 1));
        }
        node.kind = Kind::Split;
        node.words[0] = word as u8;
        node.nwords = 1;
        let wild_rank = wild.iter().map(|r| r.rank).max().unwrap_or(0);
        node.b = if wild.is_empty() {
            NONE
        } else {
            self.node(wild, ranges, shape, depth + 1)
        };
        node.a = self.splits.len() as u32;
        let children = IdMap::build(&entries, |a, _| a);
        self.splits.push(SplitTable {
            mask,
            wild_rank,
            children,
        });
        self.push(node)
    }

    /// The rank of the best rule matching the packed key `k`, or 0. `k`
    /// has at least the words the rules mask (`K = 4` when they are all
    /// among the first four, `WORDS` otherwise).
    ///
    /// Iterative: a split continues into its value child and remembers
    /// its wildcard child (at most one per level, so `MAX_DEPTH + 1`
    /// slots suffice), visiting first whichever can rank higher.
    #[inline]
    pub(crate) fn lookup<const K: usize>(&self, k: &[u64; K]) -> u64 {
        self.walk(
            |w| k.get(w).copied().unwrap_or(0),
            |n, best| match n.kind {
                Kind::Linear => self.search_linear(n, k, best),
                _ => self.search_tss(n, k, best),
            },
        )
    }

    /// The walk both lookups share: from the root, a split's value child
    /// and its wildcard child (the better first, the other on a stack),
    /// skipping any node that cannot beat the best rank found; `word`
    /// reads a key word, `leaf` searches a linear or TSS leaf.
    #[inline(always)]
    fn walk(&self, word: impl Fn(usize) -> u64, mut leaf: impl FnMut(&Node, &mut u64)) -> u64 {
        let mut best = 0;
        let mut pending = [NONE; MAX_DEPTH as usize + 1];
        let mut top = 0;
        let mut i = self.root;
        loop {
            if let Some(n) = self.nodes.get(i as usize).filter(|n| n.max_rank > best) {
                match n.kind {
                    Kind::Linear | Kind::Tss => leaf(n, &mut best),
                    Kind::Split => {
                        let Some(sp) = self.splits.get(n.a as usize) else {
                            return best;
                        };
                        let c = sp.children.get(word(usize::from(n.words[0])) & sp.mask);
                        let (wild, child) = (n.b, c.wrapping_sub(1));
                        let next = match (c != 0, wild != NONE) {
                            (true, true) => {
                                let child_rank =
                                    self.nodes.get(child as usize).map_or(0, |n| n.max_rank);
                                let (first, later) = if sp.wild_rank > child_rank {
                                    (wild, child)
                                } else {
                                    (child, wild)
                                };
                                if let Some(slot) = pending.get_mut(top) {
                                    *slot = later;
                                    top += 1;
                                }
                                first
                            }
                            (true, false) => child,
                            (false, true) => wild,
                            (false, false) => NONE,
                        };
                        if next != NONE {
                            i = next;
                            continue;
                        }
                    }
                }
            }
            let Some(&next) = top.checked_sub(1).and_then(|t| pending.get(t)) else {
                return best;
            };
            top -= 1;
            i = next;
        }
    }

    /// [`lookup`](Self::lookup) for a tree whose rules mask only words
    /// 0..4 (`common`; the caller checks): every linear leaf stores the
    /// same words (`leaf_words`), gathered from `k` once, so leaves are
    /// searched inline with no per-leaf width dispatch and no index checks
    /// on the key.
    #[inline]
    pub(crate) fn lookup4(&self, k: &[u64; 4]) -> u64 {
        match self.leaf_words.len() {
            1 => self.lookup4n::<1, 3>(k),
            2 => self.lookup4n::<2, 5>(k),
            3 => self.lookup4n::<3, 7>(k),
            _ => self.lookup4n::<4, 9>(k),
        }
    }

    /// `lookup4` with `N` leaf words of `S = 1 + 2N` stored words a rule.
    #[inline(always)]
    fn lookup4n<const N: usize, const S: usize>(&self, k: &[u64; 4]) -> u64 {
        let mut x = [0u64; N];
        for (x, &w) in x.iter_mut().zip(&self.leaf_words) {
            *x = k[usize::from(w) & 3];
        }
        if let Some(f) = &self.flat {
            return self.lookup_flat::<N, S>(f, k, &x);
        }
        self.walk(
            |w| k[w & 3],
            |n, best| match n.kind {
                Kind::Linear => {
                    let filter = self.filters.get(n.f as usize);
                    linear::search_x::<N, S>(
                        &self.lin,
                        n.a as usize,
                        n.b as usize,
                        filter,
                        &x,
                        best,
                    );
                }
                _ => self.search_tss(n, k, best),
            },
        )
    }

    #[inline(always)]
    fn lookup_flat<const N: usize, const S: usize>(
        &self,
        f: &Flat,
        k: &[u64; 4],
        x: &[u64; N],
    ) -> u64 {
        let mut best = 0;
        let c = f.children.get(k[usize::from(f.word) & 3] & f.mask);
        if let Some(l) = f.leaves.get(c.wrapping_sub(1) as usize) {
            self.search_leaf::<N, S>(l, x, &mut best);
        }
        if let Some(w) = &f.wild {
            if w.max_rank > best {
                self.search_leaf::<N, S>(w, x, &mut best);
            }
        }
        best
    }

    #[inline(always)]
    fn search_leaf<const N: usize, const S: usize>(&self, l: &Leaf, x: &[u64; N], best: &mut u64) {
        let filter = self.filters.get(l.f as usize);
        linear::search_x::<N, S>(&self.lin, l.off as usize, l.n as usize, filter, x, best);
    }

    /// Whether the root has the [`Flat`] form, and the number of filtered
    /// linear leaves.
    #[cfg(test)]
    pub(crate) fn fast_paths(&self) -> (bool, usize) {
        (self.flat.is_some(), self.filters.len())
    }

    /// With [`lookup4`](Self::lookup4): the words 0..4 some rule masks
    /// (bit set), `None` when other words are masked too.
    pub(crate) fn common(&self) -> Option<u8> {
        self.common.then_some(self.used)
    }

    // The leaves' searches are out of line: inlined, their per-width
    // instances made the walk set up a large frame and hoist every
    // instance's loop invariants on each lookup.

    #[inline(never)]
    fn search_linear<const K: usize>(&self, n: &Node, k: &[u64; K], best: &mut u64) {
        let words = n.words.get(..usize::from(n.nwords)).unwrap_or_default();
        let filter = self.filters.get(n.f as usize);
        linear::search(
            &self.lin,
            n.a as usize,
            n.b as usize,
            words,
            filter,
            k,
            best,
        );
    }

    #[inline(never)]
    fn search_tss<const K: usize>(&self, n: &Node, k: &[u64; K], best: &mut u64) {
        let Some(t) = self.tuples.get(n.a as usize..(n.a + n.b) as usize) else {
            return;
        };
        match <&Words>::try_from(&k[..]) {
            Ok(full) => tss::search(t, full, best),
            Err(_) => {
                // A short key (words past `K` are masked by no rule).
                let mut full = [0u64; WORDS];
                for (f, &x) in full.iter_mut().zip(k) {
                    *f = x;
                }
                tss::search(t, &full, best)
            }
        }
    }
}

/// The cheapest split of `rules` by the cost model, if any.
fn best_split(rules: &[PackedRule], ranges: &[(usize, u64)]) -> Option<Split> {
    let n = rules.len();
    let mut candidates: Vec<(usize, u64, usize)> = Vec::new();
    for &(w, range) in ranges {
        let mut masks: FastMap<u64, usize> = FastMap::default();
        for r in rules {
            let m = r.key.mask[w] & range;
            if m != 0 {
                *masks.entry(m).or_default() += 1;
            }
        }
        // A candidate M covers the rules whose mask includes it: each
        // frequent mask, and the bits all of them share (e.g. the shortest
        // prefix, so that rules with longer prefixes or port blocks split
        // by their common top bits).
        let mut frequent: Vec<(u64, usize)> = masks.into_iter().collect();
        frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        frequent.truncate(MAX_MASKS);
        let common = frequent.iter().fold(u64::MAX, |acc, &(m, _)| acc & m);
        let extra = (common != 0 && frequent.iter().all(|&(m, _)| m != common)).then_some(common);
        for m in frequent.iter().map(|&(m, _)| m).chain(extra) {
            let cover: usize = frequent
                .iter()
                .filter(|(o, _)| o & m == m)
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

/// What the cost model needs to know about a rule set.
#[derive(Clone, Copy, Default)]
struct Summary {
    rules: usize,
    /// Words some mask uses (bit set), which a linear leaf stores.
    words: u32,
    /// Sum of the probe costs of the distinct masks.
    probes: f64,
}

impl Summary {
    fn of(rules: &[PackedRule]) -> Summary {
        let mut s = Summary::default();
        let mut seen = FastSet::default();
        for r in rules {
            s.add(r.bits, r.nonzero, seen.insert(r.fp));
        }
        s
    }

    /// Add a rule whose mask has `bits` set bits in the words `nonzero`;
    /// `new_mask`: no earlier rule had the same mask.
    fn add(&mut self, bits: u32, nonzero: u32, new_mask: bool) {
        self.rules += 1;
        self.words |= nonzero;
        if new_mask {
            self.probes += COST_TUPLE + COST_TUPLE_WORD * f64::from(bits.div_ceil(64));
        }
    }

    fn linear(&self) -> f64 {
        COST_LEAF
            + self.rules as f64 * (COST_RULE + COST_RULE_WORD * f64::from(self.words.count_ones()))
    }

    fn tss(&self) -> f64 {
        COST_LEAF + self.probes
    }

    /// The cheaper leaf (always linear for a few rules).
    fn leaf(&self) -> f64 {
        if self.rules == 0 {
            0.0
        } else if self.rules <= LINEAR_MAX {
            self.linear()
        } else {
            self.linear().min(self.tss())
        }
    }
}

/// Worst-case cost of splitting on `key[word] & mask`, or `None` when the
/// split would not separate anything (fewer than two values).
fn split_cost(rules: &[PackedRule], word: usize, mask: u64) -> Option<f64> {
    let mut groups: FastMap<u64, Summary> = FastMap::default();
    let mut wild = Summary::default();
    // (value, mask fingerprint) pairs seen, to count each group's masks
    // once (the wildcard group uses value `u64::MAX`: a collision with a
    // real value only blurs the estimate).
    let mut seen: FastSet<(u64, u64)> = FastSet::default();
    for r in rules {
        let old = r.key.mask[word];
        if old & mask == mask {
            let left = old & !mask;
            let fp =
                r.fp.wrapping_sub(word_fp(word, old))
                    .wrapping_add(word_fp(word, left));
            let nonzero = if left == 0 {
                r.nonzero & !(1 << word)
            } else {
                r.nonzero
            };
            let v = r.key.value[word] & mask;
            let new = seen.insert((v, fp));
            groups
                .entry(v)
                .or_default()
                .add(r.bits - mask.count_ones(), nonzero, new);
        } else {
            let new = seen.insert((u64::MAX, r.fp));
            wild.add(r.bits, r.nonzero, new);
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let worst = groups.values().map(Summary::leaf).fold(0.0, f64::max);
    Some(COST_SPLIT + worst + wild.leaf())
}
