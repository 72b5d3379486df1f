//! Direct index: tables that match only exact `in_port` and/or `vlan_vid`.
//!
//! What: the classic port/VLAN steering table (R2's table 0: one rule per
//! tenant VLAN on the uplink port, plus a catch-all).
//! How: every answer is precomputed. A rule fixes both fields, one, or
//! neither (a catch-all), so a packet `(p, v)` is matched by at most one
//! rule shape of each kind and the winner is the best of four. For the
//! pairs `(p, v)` that some rule names, the winner's id is stored in one
//! hash map (a [`Map32`] of 8-byte slots while the ports are below 2^16),
//! so the common case is one probe and no rank comparison; otherwise the
//! answer is
//! the better of "port only" (a hash map whose entries already include the
//! catch-all) and "VLAN only" (an array indexed by the 13-bit OXM
//! `vlan_vid`, present only when such rules exist).
//! Threads: immutable after build.

use std::collections::HashMap;

use super::key::{KeyMap, Map32};
use crate::openflow::{Field, Match};
use crate::wire::FlowKey;

/// `vlan_vid` values are 13 bits (`OFPVID_PRESENT | vid`).
const VIDS: usize = 1 << 13;

#[derive(Clone, Debug)]
pub(crate) struct Direct {
    /// `(in_port << 16 | vlan_vid)` → the winner for that pair.
    both: Both,
    /// `in_port` → best of the port-only rules and the catch-alls.
    port: KeyMap,
    /// `vlan_vid` → best of the VLAN-only rules and the catch-alls; empty
    /// when there are no VLAN-only rules.
    vid: Vec<u64>,
    any: u64,
}

#[derive(Clone, Debug)]
enum Both {
    /// Id + 1 of the winner, every pair fitting in 32 bits (a wider one
    /// is then absent).
    Ids(Map32),
    /// A port of 2^16 or more, or a winner's id `u32::MAX` (id + 1
    /// overflows): its rank, in 16-byte slots (boxed: telling the variants
    /// apart is then one pointer test).
    Ranks(Box<KeyMap>),
}

/// Whether every rule matches only exact `in_port` and/or `vlan_vid`.
pub(crate) fn eligible<'a>(mut matches: impl Iterator<Item = &'a Match>) -> bool {
    matches.all(|m| {
        m.fields()
            .iter()
            .all(|f| matches!(f.field, Field::InPort | Field::VlanVid) && f.is_exact())
    })
}

impl Direct {
    /// `rules`: (match, rank); every match must pass [`eligible`] (others
    /// are ignored, which `build` never asks for).
    pub(crate) fn build<'a>(rules: impl Iterator<Item = (&'a Match, u64)>) -> Direct {
        let mut any = 0u64;
        let mut by_port: HashMap<u32, u64> = HashMap::new();
        let mut by_vid: HashMap<u16, u64> = HashMap::new();
        let mut by_both: HashMap<(u32, u16), u64> = HashMap::new();
        for (m, rank) in rules {
            let port = m.exact(Field::InPort).map(|v| v as u32);
            let vid = m.exact(Field::VlanVid).map(|v| v as u16);
            let slot = match (port, vid) {
                (Some(p), Some(v)) => by_both.entry((p, v)).or_default(),
                (Some(p), None) => by_port.entry(p).or_default(),
                (None, Some(v)) => by_vid.entry(v).or_default(),
                (None, None) => &mut any,
            };
            *slot = (*slot).max(rank);
        }
        let port_best = |p: u32| by_port.get(&p).copied().unwrap_or(0).max(any);
        let vid_best = |v: u16| by_vid.get(&v).copied().unwrap_or(0).max(any);
        let both: Vec<(u64, u64)> = by_both
            .iter()
            .map(|(&(p, v), &r)| (pair(p, v), r.max(port_best(p)).max(vid_best(v))))
            .collect();
        let ids: Option<Vec<(u32, u32)>> = both
            .iter()
            .map(|&(k, r)| Some((u32::try_from(k).ok()?, (!(r as u32)).checked_add(1)?)))
            .collect();
        let both = match ids {
            Some(ids) => Both::Ids(Map32::build(ids, |a, _| a)),
            None => {
                let keys: Vec<([u64; 1], u64)> = both.iter().map(|&(k, r)| ([k], r)).collect();
                Both::Ranks(Box::new(KeyMap::build(
                    1,
                    keys.iter().map(|(k, v)| (&k[..], *v)),
                    u64::max,
                )))
            }
        };
        let ports: Vec<([u64; 1], u64)> = by_port
            .keys()
            .map(|&p| ([u64::from(p)], port_best(p)))
            .collect();
        let vid = if by_vid.is_empty() {
            Vec::new()
        } else {
            (0..VIDS).map(|v| vid_best(v as u16)).collect()
        };
        Direct {
            both,
            port: KeyMap::build(1, ports.iter().map(|(k, v)| (&k[..], *v)), u64::max),
            vid,
            any,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        let both = match &self.both {
            Both::Ids(m) => m.bytes(),
            Both::Ranks(m) => m.bytes(),
        };
        both + self.port.bytes() + self.vid.len() * 8
    }

    /// The id of the winning rule, if any (out of line: a small function
    /// with a small frame).
    #[inline(never)]
    pub(crate) fn lookup(&self, key: &FlowKey) -> Option<u32> {
        let k = pair(key.in_port, key.vlan_vid);
        match &self.both {
            Both::Ids(m) => match u32::try_from(k).map_or(0, |k| m.get(k)) {
                0 => super::rank_id(self.other(key)),
                a => Some(a - 1),
            },
            Both::Ranks(m) => super::rank_id(match m.get1(k) {
                0 => self.other(key),
                r => r,
            }),
        }
    }

    /// The best rank of the rules that do not fix both fields.
    #[inline(never)]
    fn other(&self, key: &FlowKey) -> u64 {
        let p = self.port.get1(u64::from(key.in_port)).max(self.any);
        let v = self.vid.get(key.vlan_vid as usize).copied().unwrap_or(0);
        p.max(v)
    }
}

#[inline]
fn pair(port: u32, vid: u16) -> u64 {
    (u64::from(port) << 16) | u64::from(vid)
}
