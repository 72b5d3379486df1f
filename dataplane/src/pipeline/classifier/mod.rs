//! Per-table packet classifiers: which flow entry of a table wins for a
//! packet.
//!
//! # What
//!
//! [`Classifier::build`] turns a table's rules (id, priority, [`Match`])
//! into the lookup structure that suits them; [`Classifier::lookup`]
//! returns the id of the winning rule for a packet's [`FlowKey`] and the
//! pipeline [`Registers`]. The answer is always the one a linear scan
//! gives: among the rules whose every field matches (as
//! [`fields::matches`](super::fields::matches) decides), the highest
//! priority, and among equal priorities the lowest id.
//!
//! # Design
//!
//! Both parts of the tie rule fold into one `u64` *rank*,
//! `(priority + 1) << 32 | !id`: a higher rank wins, 0 means "no rule", and
//! every structure only ever keeps the maximum rank it can prove. The
//! kinds, chosen by `build` from the rules alone (never from traffic, so
//! 100,000 flows cost what one does, modulo cache misses); the first three
//! are tried in this order whenever the rules fit them, the general ones
//! otherwise:
//!
//! | kind | when | lookup |
//! | --- | --- | --- |
//! | `direct` | only exact `in_port` / `vlan_vid` (+ catch-alls) | one hash probe, precomputed answers (`direct.rs`) |
//! | `exact` | one common mask (e.g. `ip,nw_dst=A.B.C.D` routes) + catch-alls | common fields compared once, the rest read directly, one hash probe of 8-byte slots holding the winner's id (`exact.rs`) |
//! | `lpm` | one field by prefix of mixed lengths, a common exact guard (e.g. `ip`), catch-alls | a poptrie walk (`lpm.rs`) |
//! | `linear` | general, at most [`LINEAR_MAX`] rules, or what the cost model prefers | scan in rank order, stop at the first match |
//! | `tss` | general, few distinct masks | one probe per mask, best mask first, early exit (`tss.rs`) |
//! | `partitioned` | general, many masks | a split tree on fields many rules fix exactly (e.g. `metadata`), linear (nibble-filtered) or TSS leaves (`partition.rs`) |
//!
//! The general kinds work on packed keys (`key.rs`): every field has a
//! fixed place in 20 `u64` words (the IPv4 5-tuple, `eth_type`, `in_port`,
//! VLAN and `metadata` in the first four); a lookup extracts only the
//! groups of words its table uses into a stack array (just those four
//! words when the rules mask nothing else, the usual ACL), and rules are
//! packed the same way, so matching and hashing never allocate. One-word
//! probes (exact keys, direct pairs, split children) use 8-byte slots
//! (`key::Map32`) whenever the key fits in 32 bits.
//!
//! Every kind's lookup is its own out-of-line function, so that
//! [`Classifier::lookup`] is a small dispatch that inlines into the caller
//! and a cheap kind does not set up the stack frame of an expensive one.
//!
//! Cost on the R2 benchmark tables (release; callgrind instructions per
//! lookup, inclusive of the kind's function, the same from 1 to 100,000
//! flows; `examples/clsf_cost.rs`): table 0 `direct` 33, table 1
//! `partitioned` 159 (a flat split on `metadata` into ten-rule leaves
//! whose filters leave 1.1 rules to compare), table 2 `exact` 57 (the
//! 10,000 routes take 128 KiB); together 249, against 65 + 364 + 140 =
//! 569 before the compact slots, the filters and the four-word trees.
//! Looking up table 2 alone over 100,000 flows with a simulated 512 KiB
//! last level (one core's L2), a packet misses it 1.04 times, about what
//! reading the packet's key costs by itself (1.0), against 2.58 before.
//! Wall-clock times (`benches/classifier.rs`) were 6 ns, 32-44 ns and
//! 11-19 ns before those changes and have not been re-measured since;
//! plain TSS on the ACL's 144 masks took 1.2-3 us.
//!
//! # Threads
//!
//! A `Classifier` is immutable after `build`, holds no interior
//! mutability and no references (`Send + Sync`): the compiled pipeline
//! shares one per table with all workers, read-only.
#![deny(unsafe_code)]

mod direct;
mod exact;
mod key;
mod linear;
mod lpm;
mod partition;
mod tss;

#[cfg(test)]
mod tests;

use crate::openflow::Match;
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

use key::{Groups, PackedRule};
use partition::{Shape, Tree};

pub use partition::LINEAR_MAX;

/// One flow entry of a table, as the classifier sees it.
#[derive(Clone, Copy, Debug)]
pub struct Rule<'a> {
    /// Returned by [`Classifier::lookup`]; also breaks priority ties (the
    /// lowest id wins), so give ids in file order.
    pub id: u32,
    pub priority: u16,
    pub r#match: &'a Match,
}

impl<'a> Rule<'a> {
    /// A table's `(priority, match)` pairs as rules numbered in order.
    pub fn numbered(table: &'a [(u16, Match)]) -> Vec<Rule<'a>> {
        table
            .iter()
            .enumerate()
            .map(|(i, (priority, m))| Rule {
                id: i as u32,
                priority: *priority,
                r#match: m,
            })
            .collect()
    }
}

/// A classifier structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Linear,
    Direct,
    Exact,
    Lpm,
    Tss,
    Partitioned,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Linear,
        Kind::Direct,
        Kind::Exact,
        Kind::Lpm,
        Kind::Tss,
        Kind::Partitioned,
    ];

    /// The name shown by `/metrics` and `sluice check`.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Linear => "linear",
            Kind::Direct => "direct",
            Kind::Exact => "exact",
            Kind::Lpm => "lpm",
            Kind::Tss => "tss",
            Kind::Partitioned => "partitioned",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// [`Classifier::build_as`] was asked for a kind that cannot hold the rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} classifier cannot hold these rules: {reason}")]
pub struct NotApplicable {
    pub kind: Kind,
    pub reason: &'static str,
}

/// Size and shape of a built classifier (for `sluice check` and metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rules: usize,
    /// Hash tables of TSS leaves (0 for other kinds).
    pub tuples: usize,
    /// Split nodes (partitioned) or trie nodes (lpm).
    pub nodes: usize,
    /// Leaves of a partition tree.
    pub leaves: usize,
    /// Longest root-to-leaf path of a partition tree.
    pub depth: u32,
    /// Memory held by the lookup structure, approximately.
    pub bytes: usize,
}

/// The lookup structure of one flow table. See the module documentation.
#[derive(Clone, Debug)]
pub struct Classifier {
    imp: Imp,
    rules: usize,
}

/// `repr(u8)`: a plain tag byte, so that the dispatch in
/// [`Classifier::lookup`] is one load and a jump table (the niche-encoded
/// tag took six instructions to decode on every lookup).
#[derive(Clone, Debug)]
#[repr(u8)]
enum Imp {
    Direct(direct::Direct),
    Exact(exact::Exact),
    Lpm(lpm::Lpm),
    Tree { groups: Groups, tree: Tree },
}

/// The rank of a rule: higher wins; never 0.
#[inline]
fn rank(priority: u16, id: u32) -> u64 {
    ((u64::from(priority) + 1) << 32) | u64::from(!id)
}

#[inline]
fn rank_id(rank: u64) -> Option<u32> {
    (rank != 0).then_some(!(rank as u32))
}

impl Classifier {
    /// The structure that suits `rules` (see the module documentation).
    pub fn build(rules: &[Rule]) -> Classifier {
        // The special kinds first, whatever the size: each costs about
        // one probe, less than the fixed cost of extracting a packed key
        // for even a one-rule linear list.
        for kind in [Kind::Direct, Kind::Exact, Kind::Lpm] {
            if let Ok(c) = Self::build_as(rules, kind) {
                return c;
            }
        }
        Self::tree(rules, Shape::Auto)
    }

    /// A classifier of the given kind, if that kind can hold `rules`.
    /// `Linear`, `Tss` and `Partitioned` hold anything (`Partitioned`
    /// splits as far as it can, to exercise the tree); `Direct` and `Lpm`
    /// only the rule sets described in the module documentation.
    pub fn build_as(rules: &[Rule], kind: Kind) -> Result<Classifier, NotApplicable> {
        let matches = || rules.iter().map(|r| r.r#match);
        match kind {
            Kind::Linear => Ok(Self::tree(rules, Shape::Linear)),
            Kind::Tss => Ok(Self::tree(rules, Shape::Tss)),
            Kind::Partitioned => Ok(Self::tree(rules, Shape::SplitAlways)),
            Kind::Direct => {
                if !direct::eligible(matches()) {
                    return Err(NotApplicable {
                        kind,
                        reason: "a rule matches more than exact in_port and vlan_vid",
                    });
                }
                let d = direct::Direct::build(
                    rules.iter().map(|r| (r.r#match, rank(r.priority, r.id))),
                );
                Ok(Classifier {
                    imp: Imp::Direct(d),
                    rules: rules.len(),
                })
            }
            Kind::Exact => match exact::shape(matches()) {
                Some(shape) => Ok(Classifier {
                    imp: Imp::Exact(exact::Exact::build(
                        &shape,
                        rules.iter().map(|r| (r.r#match, rank(r.priority, r.id))),
                    )),
                    rules: rules.len(),
                }),
                None => Err(NotApplicable {
                    kind,
                    reason: "the rules do not all match the same fields under the same masks",
                }),
            },
            Kind::Lpm => match lpm::shape(matches()) {
                Some(shape) => Ok(Self::lpm(rules, &shape)),
                None => Err(NotApplicable {
                    kind,
                    reason: "the rules do not match one field by prefix under a common exact guard",
                }),
            },
        }
    }

    fn lpm(rules: &[Rule], shape: &lpm::Shape) -> Classifier {
        let l = lpm::Lpm::build(
            shape,
            rules.iter().map(|r| (r.r#match, rank(r.priority, r.id))),
        );
        Classifier {
            imp: Imp::Lpm(l),
            rules: rules.len(),
        }
    }

    fn tree(rules: &[Rule], shape: Shape) -> Classifier {
        let groups = Groups::of_matches(rules.iter().map(|r| r.r#match));
        let mut ranges: Vec<(usize, u64)> = rules
            .iter()
            .flat_map(|r| r.r#match.fields().iter().flat_map(|f| key::ranges(f.field)))
            .collect();
        ranges.sort_unstable();
        ranges.dedup();
        let packed: Vec<PackedRule> = rules
            .iter()
            .filter_map(|r| {
                Some(PackedRule::new(
                    rank(r.priority, r.id),
                    key::pack(r.r#match)?,
                ))
            })
            .collect();
        let tree = Tree::build(packed, &ranges, shape);
        Classifier {
            imp: Imp::Tree { groups, tree },
            rules: rules.len(),
        }
    }

    /// The id of the winning rule for this packet, if any rule matches.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, regs: &Registers) -> Option<u32> {
        match &self.imp {
            Imp::Direct(d) => d.lookup(key),
            Imp::Exact(e) => e.lookup(key, regs),
            Imp::Lpm(l) => Self::lpm_lookup(l, key, regs),
            Imp::Tree { groups, tree } => Self::tree_lookup(tree, *groups, key, regs),
        }
    }

    // Every kind's lookup is out of line, so that this dispatch inlines
    // into its caller and each kind sets up only its own stack frame (the
    // tree's packed key and search state made every lookup pay for
    // theirs).

    #[inline(never)]
    fn lpm_lookup(l: &lpm::Lpm, key: &FlowKey, regs: &Registers) -> Option<u32> {
        rank_id(l.lookup(key, regs))
    }

    #[inline(never)]
    fn tree_lookup(tree: &Tree, groups: Groups, key: &FlowKey, regs: &Registers) -> Option<u32> {
        rank_id(if let Some(used) = tree.common() {
            tree.lookup4(&key::extract_common(key, regs, used))
        } else {
            tree.lookup(&key::extract(key, regs, groups))
        })
    }

    /// [`lookup`](Self::lookup) for each of `keys` with the registers of
    /// the same index, into `out`; stops at the shortest of the three.
    ///
    /// A plain loop: a staged variant (extract a group of keys, touch
    /// their first table words, then look up) measured slower on the R2
    /// tables, whose structures stay in L1/L2 even with 100,000 flows.
    pub fn lookup_batch(&self, keys: &[FlowKey], regs: &[Registers], out: &mut [Option<u32>]) {
        for ((k, r), o) in keys.iter().zip(regs).zip(out.iter_mut()) {
            *o = self.lookup(k, r);
        }
    }

    /// The kind's name ([`Kind::name`]).
    pub fn kind(&self) -> &'static str {
        match &self.imp {
            Imp::Direct(_) => Kind::Direct.name(),
            Imp::Exact(_) => Kind::Exact.name(),
            Imp::Lpm(_) => Kind::Lpm.name(),
            Imp::Tree { tree, .. } => tree.kind(),
        }
    }

    /// Number of rules given to `build`.
    pub fn len(&self) -> usize {
        self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// A human-readable outline of the structure (kind, sizes, and for a
    /// partition tree its first nodes).
    pub fn describe(&self) -> String {
        let s = self.stats();
        let head = format!("{} ({} rules, {} bytes)\n", self.kind(), s.rules, s.bytes);
        match &self.imp {
            Imp::Tree { tree, .. } => head + &tree.describe(),
            _ => head,
        }
    }

    pub fn stats(&self) -> Stats {
        let rules = self.rules;
        match &self.imp {
            Imp::Direct(d) => Stats {
                rules,
                bytes: d.bytes(),
                ..Stats::default()
            },
            Imp::Exact(e) => Stats {
                rules,
                tuples: 1,
                bytes: e.bytes(),
                ..Stats::default()
            },
            Imp::Lpm(l) => Stats {
                rules,
                nodes: l.nodes(),
                bytes: l.bytes(),
                ..Stats::default()
            },
            Imp::Tree { tree, .. } => {
                let s = tree.stats();
                Stats {
                    rules,
                    tuples: s.tuples,
                    nodes: s.splits,
                    leaves: s.leaves,
                    depth: s.depth,
                    bytes: s.bytes,
                }
            }
        }
    }
}
