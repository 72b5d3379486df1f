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
//! * source prefixes: two [`Classifier`]s from the pipeline (a poptrie
//!   once there are more than a few prefixes), one per address family,
//!   each rule `eth_type=0x0800,ipv4_src=P` (or `0x86dd`/`ipv6_src`),
//!   chosen by the packet's `eth_type` (the one after VLAN tags). Claims
//!   are disjoint, so at most one rule matches and priorities are moot;
//! * metadata: a [`Classifier`] over `metadata=V/M` rules (one hash probe
//!   per distinct mask).
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
    /// Per address family: the prefix classifier and the tenant of each
    /// of its rule ids.
    Src {
        v4: Option<(Classifier, Box<[u32]>)>,
        v6: Option<(Classifier, Box<[u32]>)>,
    },
    Metadata {
        classifier: Classifier,
        tenant_of: Box<[u32]>,
    },
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
                let mut v4 = Family::default();
                let mut v6 = Family::default();
                for (t, cfg) in tenants.iter().enumerate() {
                    if let TenantMatch::Src(prefixes) = &cfg.selector {
                        for p in prefixes {
                            let (eth, field, fam) = if p.is_v4() {
                                (ETH_IPV4, Field::Ipv4Src, &mut v4)
                            } else {
                                (ETH_IPV6, Field::Ipv6Src, &mut v6)
                            };
                            fam.matches.push(rule_match(&[
                                (Field::EthType, u128::from(eth), None),
                                (field, p.addr(), Some(p.mask())),
                            ]));
                            fam.tenants.push(t as u32);
                        }
                    }
                }
                Imp::Src {
                    v4: v4.build(),
                    v6: v6.build(),
                }
            }
            MatchKind::Metadata => {
                let mut matches = Vec::new();
                let mut tenant_of = Vec::new();
                for (t, cfg) in tenants.iter().enumerate() {
                    if let TenantMatch::Metadata { value, mask } = cfg.selector {
                        matches.push(rule_match(&[(
                            Field::Metadata,
                            u128::from(value),
                            Some(u128::from(mask)),
                        )]));
                        tenant_of.push(t as u32);
                    }
                }
                Imp::Metadata {
                    classifier: classifier(&matches),
                    tenant_of: tenant_of.into(),
                }
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

    /// True when classification needs the pipeline's final metadata (so
    /// the worker classifies after the tables instead of at ingress).
    pub fn needs_metadata(&self) -> bool {
        matches!(self.imp, Imp::Metadata { .. })
    }

    /// The tenant of a packet received on port index `in_port` with flow
    /// key `key` (as parsed at ingress) and pipeline registers `regs`.
    #[inline]
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
            Imp::Src { v4, v6 } => {
                let fam = match key.eth_type {
                    ETH_IPV4 => v4.as_ref(),
                    ETH_IPV6 => v6.as_ref(),
                    _ => None,
                };
                fam.and_then(|(c, tenant_of)| {
                    c.lookup(key, regs)
                        .and_then(|id| tenant_of.get(id as usize).copied())
                })
                .unwrap_or(NONE)
            }
            Imp::Metadata {
                classifier,
                tenant_of,
            } => classifier
                .lookup(key, regs)
                .and_then(|id| tenant_of.get(id as usize).copied())
                .unwrap_or(NONE),
        };
        (t != NONE).then_some(t as usize)
    }
}

/// The prefix rules of one address family while building.
#[derive(Default)]
struct Family {
    matches: Vec<Match>,
    tenants: Vec<u32>,
}

impl Family {
    fn build(self) -> Option<(Classifier, Box<[u32]>)> {
        (!self.matches.is_empty()).then(|| (classifier(&self.matches), self.tenants.into()))
    }
}
