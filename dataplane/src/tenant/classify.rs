//! Which tenant a packet belongs to.
//!
//! # Design
//!
//! What: [`TenantClassifier`] maps a packet to at most one tenant index,
//! by the one match kind all tenants share (config validation guarantees
//! one kind and disjoint claims; see [`crate::config::tenant`]).
//!
//! How, per kind, with no allocation per packet:
//! * ports: an array indexed by ingress port index, one probe;
//! * VLANs: a 4096-entry array indexed by the outer VID (16 KiB), one
//!   probe; untagged packets belong to no VLAN tenant;
//! * source prefixes, per address family (chosen by the packet's
//!   `eth_type`, the one after VLAN tags): up to [`SCAN_MAX`] prefixes are
//!   scanned as `[first, last]` address ranges (a few ns); more go into
//!   the pipeline's [`Classifier`] (a poptrie over rules
//!   `eth_type=0x0800,ipv4_src=P`, or `0x86dd`/`ipv6_src`). Claims are
//!   disjoint, so at most one rule matches and priorities are moot;
//! * metadata: when every tenant has the same contiguous mask of at most
//!   [`DIRECT_BITS`] bits (`0x10/0xff`, `0x300/0xff00`), an array indexed
//!   by the masked bits, one probe; otherwise up to [`SCAN_MAX`]
//!   `value/mask` pairs scanned, more in a [`Classifier`] over
//!   `metadata=V/M` rules (one hash probe per distinct mask).
//!
//! Measured (`benches/tenant.rs`, this 2-core VM, release): VLAN 4 ns per
//! packet; with the pipeline classifier alone, one prefix or metadata
//! tenant cost about 20 ns (its generic key packing), hence the scans for
//! small tables.
//!
//! Threads: immutable after build; shared read-only (`Arc`) by every
//! worker's [`super::WorkerTenants`].

use crate::config::tenant::{MatchKind, TenantConfig, TenantMatch};
use crate::openflow::{Field, Match};
use crate::pipeline::classifier::{Classifier, Rule};
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

/// "No tenant" in the direct arrays.
const NONE: u32 = u32::MAX;

/// Widest common metadata mask classified by a direct array (64K
/// entries, 256 KiB).
pub const DIRECT_BITS: u32 = 16;

/// Tables with at most this many prefixes (per family) or metadata pairs
/// are scanned instead of classified.
pub const SCAN_MAX: usize = 8;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
/// `OFPVID_PRESENT` in [`FlowKey::vlan_vid`].
const VID_PRESENT: u16 = 0x1000;

/// The lookup structure for one set of tenants (see the module docs).
#[derive(Clone, Debug)]
pub struct TenantClassifier {
    imp: Imp,
}

#[derive(Clone, Debug)]
enum Imp {
    Empty,
    Ports(Box<[u32]>),
    Vlans(Box<[u32]>),
    /// Per address family.
    Src {
        v4: Lookup,
        v6: Lookup,
    },
    Metadata(Lookup),
}

/// Prefixes of one family, or metadata pairs (see the module docs).
#[derive(Clone, Debug)]
enum Lookup {
    None,
    /// `(first, last, tenant)` address ranges, or `(value, mask, tenant)`
    /// metadata pairs.
    Scan(Box<[(u128, u128, u32)]>),
    /// Metadata under one contiguous mask: `table[(md & mask) >> shift]`.
    Direct {
        mask: u128,
        shift: u32,
        table: Box<[u32]>,
    },
    /// The classifier and the tenant of each of its rule ids.
    Classifier(Classifier, Box<[u32]>),
}

/// Why tenants could not become a classifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("tenant #{later} matches by {} but tenant #{earlier} by {}; all tenants must match by the same kind", .later_kind.as_str(), .earlier_kind.as_str())]
    MixedKinds {
        earlier: usize,
        earlier_kind: MatchKind,
        later: usize,
        later_kind: MatchKind,
    },
    #[error("{later_claim} of tenant #{later} overlaps {earlier_claim} of tenant #{earlier}")]
    Overlap {
        earlier: usize,
        earlier_claim: String,
        later: usize,
        later_claim: String,
    },
    #[error("tenant #{tenant} claims port #{port}, but there are only {nports} ports")]
    PortOutOfRange {
        tenant: usize,
        port: usize,
        nports: usize,
    },
    #[error("tenant #{tenant} claims VLAN {vid}, outside 1..=4094")]
    VlanOutOfRange { tenant: usize, vid: u16 },
    #[error("too many tenants ({0})")]
    TooMany(usize),
}

fn rule_match(fields: &[(Field, u128, Option<u128>)]) -> Match {
    let mut m = Match::new();
    for &(f, v, mask) in fields {
        // Values come from validated configs and fit their fields.
        let _ = m.insert(f, v, mask);
    }
    m
}

fn classifier(matches: &[Match]) -> Classifier {
    let rules: Vec<Rule> = matches
        .iter()
        .enumerate()
        .map(|(i, m)| Rule {
            id: i as u32,
            priority: 1,
            r#match: m,
        })
        .collect();
    Classifier::build(&rules)
}

impl TenantClassifier {
    /// A classifier for `tenants` (tenant `i` is `tenants[i]`) on a switch
    /// with `nports` ports. Rechecks what config validation guarantees
    /// (one kind, disjoint claims, ports and VLANs in range), so a table
    /// built by hand cannot be ambiguous either.
    pub fn new(tenants: &[TenantConfig], nports: usize) -> Result<Self, ClassifyError> {
        if u32::try_from(tenants.len()).map_or(true, |n| n == NONE) {
            return Err(ClassifyError::TooMany(tenants.len()));
        }
        match crate::config::tenant::check_claims(tenants) {
            Ok(_) => {}
            Err(crate::config::tenant::ClaimConflict::MixedKinds { earlier, later }) => {
                return Err(ClassifyError::MixedKinds {
                    earlier,
                    earlier_kind: tenants[earlier].selector.kind(),
                    later,
                    later_kind: tenants[later].selector.kind(),
                })
            }
            Err(crate::config::tenant::ClaimConflict::Overlap { earlier, later }) => {
                return Err(ClassifyError::Overlap {
                    earlier: earlier.0,
                    earlier_claim: tenants[earlier.0].selector.describe(earlier.1),
                    later: later.0,
                    later_claim: tenants[later.0].selector.describe(later.1),
                })
            }
        }
        let Some(first) = tenants.first() else {
            return Ok(Self { imp: Imp::Empty });
        };
        let imp = match first.selector.kind() {
            MatchKind::Ports => {
                let mut by_port = vec![NONE; nports];
                for (t, cfg) in tenants.iter().enumerate() {
                    if let TenantMatch::Ports(ports) = &cfg.selector {
                        for &p in ports {
                            let slot = by_port.get_mut(p).ok_or(ClassifyError::PortOutOfRange {
                                tenant: t,
                                port: p,
                                nports,
                            })?;
                            *slot = t as u32;
                        }
                    }
                }
                Imp::Ports(by_port.into())
            }
            MatchKind::Vlans => {
                let mut by_vid = vec![NONE; 4096];
                for (t, cfg) in tenants.iter().enumerate() {
                    if let TenantMatch::Vlans(vids) = &cfg.selector {
                        for &vid in vids {
                            if !(1..=4094).contains(&vid) {
                                return Err(ClassifyError::VlanOutOfRange { tenant: t, vid });
                            }
                            by_vid[usize::from(vid)] = t as u32;
                        }
                    }
                }
                Imp::Vlans(by_vid.into())
            }
            MatchKind::Src => {
                let mut v4 = Rules::default();
                let mut v6 = Rules::default();
                for (t, cfg) in tenants.iter().enumerate() {
                    if let TenantMatch::Src(prefixes) = &cfg.selector {
                        for p in prefixes {
                            let (eth, field, rules) = if p.is_v4() {
                                (ETH_IPV4, Field::Ipv4Src, &mut v4)
                            } else {
                                (ETH_IPV6, Field::Ipv6Src, &mut v6)
                            };
                            let (first, last) = p.range();
                            rules.scan.push((first, last, t as u32));
                            rules.matches.push(rule_match(&[
                                (Field::EthType, u128::from(eth), None),
                                (field, p.addr(), Some(p.mask())),
                            ]));
                        }
                    }
                }
                Imp::Src {
                    v4: v4.build(),
                    v6: v6.build(),
                }
            }
            MatchKind::Metadata => {
                let mut rules = Rules::default();
                for (t, cfg) in tenants.iter().enumerate() {
                    if let TenantMatch::Metadata { value, mask } = cfg.selector {
                        let (value, mask) = (u128::from(value), u128::from(mask));
                        rules.scan.push((value, mask, t as u32));
                        rules
                            .matches
                            .push(rule_match(&[(Field::Metadata, value, Some(mask))]));
                    }
                }
                Imp::Metadata(rules.direct().unwrap_or_else(|| rules.build()))
            }
        };
        Ok(Self { imp })
    }

    /// The match kind of the tenants, `None` without tenants. Ports, VLANs
    /// and prefixes classify the packet as received; metadata after the
    /// pipeline ([`TenantClassifier::needs_metadata`]).
    pub fn kind(&self) -> Option<MatchKind> {
        match self.imp {
            Imp::Empty => None,
            Imp::Ports(_) => Some(MatchKind::Ports),
            Imp::Vlans(_) => Some(MatchKind::Vlans),
            Imp::Src { .. } => Some(MatchKind::Src),
            Imp::Metadata { .. } => Some(MatchKind::Metadata),
        }
    }

    /// The structure chosen, for `sluice check` and tests, e.g.
    /// `src: ipv4 scan of 3, ipv6 classifier lpm (40 rules)`.
    pub fn describe(&self) -> String {
        match &self.imp {
            Imp::Empty => "no tenants".into(),
            Imp::Ports(p) => format!("ports: direct array of {}", p.len()),
            Imp::Vlans(_) => "vlans: direct array of 4096".into(),
            Imp::Src { v4, v6 } => format!("src: ipv4 {}, ipv6 {}", v4.describe(), v6.describe()),
            Imp::Metadata(l) => format!("metadata: {}", l.describe()),
        }
    }

    /// True when classification needs the pipeline's final metadata (so
    /// the worker classifies after the tables instead of at ingress).
    pub fn needs_metadata(&self) -> bool {
        matches!(self.imp, Imp::Metadata { .. })
    }

    /// The tenant of a packet received on port index `in_port` with flow
    /// key `key` (as parsed at ingress) and pipeline registers `regs`.
    /// Port and VLAN tenants (one array load) are decided inline; prefix
    /// and metadata lookups out of line.
    #[inline(always)]
    pub fn classify(&self, in_port: usize, key: &FlowKey, regs: &Registers) -> Option<usize> {
        let t = match &self.imp {
            Imp::Empty => NONE,
            Imp::Ports(by_port) => by_port.get(in_port).copied().unwrap_or(NONE),
            Imp::Vlans(by_vid) => {
                if key.vlan_vid & VID_PRESENT == 0 {
                    NONE
                } else {
                    by_vid[usize::from(key.vlan_vid & 0xfff)]
                }
            }
            _ => self.classify_lookup(key, regs),
        };
        (t != NONE).then_some(t as usize)
    }

    #[inline(never)]
    fn classify_lookup(&self, key: &FlowKey, regs: &Registers) -> u32 {
        match &self.imp {
            Imp::Src { v4, v6 } => match key.eth_type {
                ETH_IPV4 => v4.range(u128::from(key.ipv4_src), key, regs),
                ETH_IPV6 => v6.range(key.ipv6_src, key, regs),
                _ => NONE,
            },
            Imp::Metadata(l) => l.masked(u128::from(regs.metadata), key, regs),
            Imp::Empty | Imp::Ports(_) | Imp::Vlans(_) => NONE,
        }
    }
}

/// The rules of one lookup while building: both forms, one is kept.
#[derive(Default)]
struct Rules {
    scan: Vec<(u128, u128, u32)>,
    matches: Vec<Match>,
}

impl Rules {
    /// The direct array for metadata pairs that share one contiguous mask
    /// of at most [`DIRECT_BITS`] bits.
    fn direct(&self) -> Option<Lookup> {
        let &(_, mask, _) = self.scan.first()?;
        if self.scan.iter().any(|&(_, m, _)| m != mask) || mask == 0 {
            return None;
        }
        let shift = mask.trailing_zeros();
        let width = (mask >> shift).count_ones();
        if width > DIRECT_BITS || (mask >> shift) != (1u128 << width) - 1 {
            return None;
        }
        let mut table = vec![NONE; 1 << width];
        for &(value, _, t) in &self.scan {
            table[(value >> shift) as usize] = t;
        }
        Some(Lookup::Direct {
            mask,
            shift,
            table: table.into(),
        })
    }

    fn build(self) -> Lookup {
        if self.scan.is_empty() {
            Lookup::None
        } else if self.scan.len() <= SCAN_MAX {
            Lookup::Scan(self.scan.into())
        } else {
            let tenants: Vec<u32> = self.scan.iter().map(|&(_, _, t)| t).collect();
            Lookup::Classifier(classifier(&self.matches), tenants.into())
        }
    }
}

impl Lookup {
    fn describe(&self) -> String {
        match self {
            Lookup::None => "none".into(),
            Lookup::Scan(s) => format!("scan of {}", s.len()),
            Lookup::Direct { mask, table, .. } => {
                format!("direct array of {} under mask {mask:#x}", table.len())
            }
            Lookup::Classifier(c, _) => format!("classifier {} ({} rules)", c.kind(), c.len()),
        }
    }

    /// The tenant whose `[first, last]` range holds `v`.
    #[inline]
    fn range(&self, v: u128, key: &FlowKey, regs: &Registers) -> u32 {
        match self {
            Lookup::None => NONE,
            Lookup::Scan(s) => s
                .iter()
                .find(|&&(first, last, _)| first <= v && v <= last)
                .map_or(NONE, |&(_, _, t)| t),
            Lookup::Direct { .. } => NONE,
            Lookup::Classifier(c, tenants) => Self::classified(c, tenants, key, regs),
        }
    }

    /// The tenant whose `value/mask` pair `v` satisfies.
    #[inline]
    fn masked(&self, v: u128, key: &FlowKey, regs: &Registers) -> u32 {
        match self {
            Lookup::None => NONE,
            Lookup::Scan(s) => s
                .iter()
                .find(|&&(value, mask, _)| v & mask == value)
                .map_or(NONE, |&(_, _, t)| t),
            Lookup::Direct { mask, shift, table } => table
                .get(((v & mask) >> shift) as usize)
                .copied()
                .unwrap_or(NONE),
            Lookup::Classifier(c, tenants) => Self::classified(c, tenants, key, regs),
        }
    }

    #[inline]
    fn classified(c: &Classifier, tenants: &[u32], key: &FlowKey, regs: &Registers) -> u32 {
        c.lookup(key, regs)
            .and_then(|id| tenants.get(id as usize).copied())
            .unwrap_or(NONE)
    }
}
