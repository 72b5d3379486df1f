//! Warnings for flow entries of equal priority in one table whose matches
//! overlap (some packet matches both): OpenFlow leaves the winner
//! undefined; Sluice, like the reference, takes the one added first.
//!
//! # Design
//!
//! What: [`warn_overlaps`] finds overlapping pairs among each table's
//! entries of equal priority without comparing all pairs (10,000 /32
//! routes at one priority would be 50 million comparisons).
//!
//! How: two matches overlap iff every field both name agrees on the bits
//! both masks cover. For a set of entries, pick a field that every entry
//! names and take the AND of their masks for it: entries whose values
//! differ under that common mask cannot overlap, so the set splits by that
//! masked value and each part is checked on its own (recursively, with
//! the next such field). Parts small enough, or that no field splits, are
//! compared pairwise, within a budget; when the budget runs out the rest is
//! reported as unchecked instead of taking long.
//!
//! Threads: compile time only.

use std::collections::{BTreeMap, HashMap};

use super::compile::{Diagnostic, Site};
use crate::openflow::{FlowEntry, Match};

/// Parts of at most this many entries are compared pairwise.
const PAIRWISE: usize = 24;
/// Most pairwise comparisons per build.
const BUDGET: u64 = 4_000_000;
/// Most overlap warnings listed (the rest are summarised).
const MAX_WARNINGS: usize = 50;

/// Whether some packet matches both.
pub(crate) fn overlaps(a: &Match, b: &Match) -> bool {
    let (fa, fb) = (a.fields(), b.fields());
    let (mut i, mut j) = (0, 0);
    while i < fa.len() && j < fb.len() {
        let (x, y) = (&fa[i], &fb[j]);
        match x.field.cmp(&y.field) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                if (x.value ^ y.value) & x.mask & y.mask != 0 {
                    return false;
                }
                i += 1;
                j += 1;
            }
        }
    }
    true
}

struct Search<'a> {
    flows: &'a [FlowEntry],
    budget: u64,
    found: Vec<(usize, usize)>,
    unchecked: Vec<(u8, u16, usize)>,
}

impl Search<'_> {
    /// Checks `set` (flow indices in add order), splitting on fields not
    /// in `used` (a bitmask of OXM ids).
    fn check(&mut self, set: &[usize], used: u64) {
        if set.len() < 2 {
            return;
        }
        if set.len() > PAIRWISE {
            if let Some((field, mask)) = self.splitter(set, used) {
                let mut parts: HashMap<u128, Vec<usize>> = HashMap::new();
                for &i in set {
                    let v = self.flows[i]
                        .r#match
                        .get(field)
                        .map_or(0, |f| f.value & mask);
                    parts.entry(v).or_default().push(i);
                }
                let used = used | 1u64 << field.oxm_id();
                let mut parts: Vec<Vec<usize>> = parts.into_values().collect();
                parts.sort_unstable_by_key(|p| p[0]);
                for p in parts {
                    self.check(&p, used);
                }
                return;
            }
        }
        let n = set.len() as u64;
        let cost = n * (n - 1) / 2;
        if cost > self.budget {
            let f = &self.flows[set[0]];
            self.unchecked.push((f.table, f.priority, set.len()));
            return;
        }
        self.budget -= cost;
        for (k, &a) in set.iter().enumerate() {
            for &b in &set[k + 1..] {
                if overlaps(&self.flows[a].r#match, &self.flows[b].r#match) {
                    self.found.push((a, b));
                }
            }
        }
    }

    /// A field every entry of `set` names, not yet used, with a non-zero
    /// common mask that splits the set (prefers the one that splits it
    /// most evenly, judged on a sample).
    fn splitter(&self, set: &[usize], used: u64) -> Option<(crate::openflow::Field, u128)> {
        let first = &self.flows[set[0]].r#match;
        let mut best: Option<(crate::openflow::Field, u128, usize)> = None;
        for f in first.fields() {
            if used & (1u64 << f.field.oxm_id()) != 0 {
                continue;
            }
            let mut mask = f.mask;
            let mut all = true;
            for &i in set {
                match self.flows[i].r#match.get(f.field) {
                    Some(g) => mask &= g.mask,
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if !all || mask == 0 {
                continue;
            }
            // Distinct values among a sample spread over the set.
            let step = (set.len() / 256).max(1);
            let mut sample: Vec<u128> = set
                .iter()
                .step_by(step)
                .filter_map(|&i| self.flows[i].r#match.get(f.field).map(|g| g.value & mask))
                .collect();
            sample.sort_unstable();
            sample.dedup();
            let distinct = sample.len();
            let better = match best {
                Some((_, _, d)) => distinct > d,
                None => true,
            };
            if distinct > 1 && better {
                best = Some((f.field, mask, distinct));
            }
        }
        best.map(|(f, m, _)| (f, m))
    }
}

/// Appends a warning per overlapping pair of equal-priority entries (the
/// later flow of the pair is the site), at most [`MAX_WARNINGS`] and a
/// summary. `by_table` holds flow indices per table, priority descending
/// and in add order within a priority.
pub(crate) fn warn_overlaps(
    flows: &[FlowEntry],
    by_table: &BTreeMap<u8, Vec<usize>>,
    warnings: &mut Vec<Diagnostic>,
) {
    let mut s = Search {
        flows,
        budget: BUDGET,
        found: Vec::new(),
        unchecked: Vec::new(),
    };
    for list in by_table.values() {
        let mut start = 0;
        while start < list.len() {
            let prio = flows[list[start]].priority;
            let end = start
                + list[start..]
                    .iter()
                    .take_while(|&&i| flows[i].priority == prio)
                    .count();
            s.check(&list[start..end], 0);
            start = end;
        }
    }
    s.found.sort_unstable_by_key(|&(a, b)| (b, a));
    let total = s.found.len();
    for &(a, b) in s.found.iter().take(MAX_WARNINGS) {
        let (fa, fb) = (&flows[a], &flows[b]);
        let at = if fa.source.line > 0 {
            format!("the flow at {}:{}", fa.source.line, fa.source.col)
        } else {
            format!("flow #{}", a + 1)
        };
        warnings.push(Diagnostic {
            site: Site::Flow(b),
            source: fb.source,
            message: format!(
                "overlaps {at} (table {}, same priority {}): packets matching both take the earlier one",
                fb.table, fb.priority
            ),
        });
    }
    if total > MAX_WARNINGS {
        let (a, b) = s.found[MAX_WARNINGS];
        warnings.push(Diagnostic {
            site: Site::Flow(b),
            source: flows[b].source,
            message: format!(
                "{} more overlapping pairs of equal-priority flows (first: with flow #{})",
                total - MAX_WARNINGS,
                a + 1
            ),
        });
    }
    for (table, priority, n) in s.unchecked {
        if let Some(&i) = by_table
            .get(&table)
            .and_then(|l| l.iter().find(|&&i| flows[i].priority == priority))
        {
            warnings.push(Diagnostic {
                site: Site::Flow(i),
                source: flows[i].source,
                message: format!(
                    "overlap check skipped for {n} flows of table {table} at priority {priority} (too many to compare)"
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::{parse_flow, NoPortNames};

    fn m(text: &str) -> Match {
        parse_flow(&format!("{text},actions=drop"), &NoPortNames)
            .unwrap()
            .r#match
    }

    #[test]
    fn overlap_is_agreement_on_common_bits() {
        assert!(overlaps(&m("in_port=1"), &m("ip")));
        assert!(overlaps(&m(""), &m("ip,nw_dst=10.0.0.1")));
        assert!(overlaps(
            &m("ip,nw_dst=10.0.0.0/8"),
            &m("ip,nw_dst=10.1.0.0/16")
        ));
        assert!(!overlaps(
            &m("ip,nw_dst=10.0.0.0/8"),
            &m("ip,nw_dst=11.1.0.0/16")
        ));
        assert!(!overlaps(&m("tcp,tp_dst=80"), &m("udp,tp_dst=80")));
        assert!(!overlaps(&m("ip"), &m("arp")));
    }

    fn flows(lines: &[String]) -> Vec<FlowEntry> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut f = parse_flow(l, &NoPortNames).unwrap();
                f.source.line = i as u32 + 1;
                f
            })
            .collect()
    }

    fn run(fl: &[FlowEntry]) -> Vec<Diagnostic> {
        let mut by_table: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        for (i, f) in fl.iter().enumerate() {
            by_table.entry(f.table).or_default().push(i);
        }
        for l in by_table.values_mut() {
            l.sort_by_key(|&i| std::cmp::Reverse(fl[i].priority));
        }
        let mut w = Vec::new();
        warn_overlaps(fl, &by_table, &mut w);
        w
    }

    #[test]
    fn many_exact_routes_split_instead_of_pairwise() {
        let mut lines: Vec<String> = (0..20_000u32)
            .map(|i| {
                format!(
                    "table=2,priority=100,ip,nw_dst=10.{}.{}.{},actions=output:2",
                    i >> 16,
                    (i >> 8) & 255,
                    i & 255
                )
            })
            .collect();
        // One /16 at the same priority overlaps 256 of them.
        lines.push("table=2,priority=100,ip,nw_dst=10.0.3.0/24,actions=drop".into());
        let fl = flows(&lines);
        let t = std::time::Instant::now();
        let w = run(&fl);
        assert!(t.elapsed().as_secs() < 5);
        // 50 listed + the summary, nothing skipped.
        assert_eq!(w.len(), MAX_WARNINGS + 1, "{w:?}");
        assert!(
            w[0].message.contains("overlaps the flow at 769:1"),
            "{}",
            w[0].message
        );
        assert!(w.iter().all(|d| d.site == Site::Flow(20_000)));
        assert!(w[MAX_WARNINGS].message.starts_with("206 more"));
    }

    #[test]
    fn different_priorities_and_tables_do_not_count() {
        let fl = flows(&[
            "table=0,priority=10,ip,actions=drop".into(),
            "table=0,priority=11,ip,actions=drop".into(),
            "table=1,priority=10,ip,actions=drop".into(),
            "table=0,priority=10,ip,nw_src=1.2.3.4,actions=drop".into(),
        ]);
        let w = run(&fl);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].site, Site::Flow(3));
        assert!(w[0].message.contains("the flow at 1:1"));
    }
}
