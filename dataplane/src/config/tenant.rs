//! `[[tenant]]`: per-tenant rate limits in the config file.
//!
//! What: the schema of a tenant (who it is, `match`, and its limits) and
//! [`validate_tenants`], which resolves port names, parses units, fills in
//! the defaults of [`TenantLimits::spec`] and rejects overlapping tenants,
//! every error located at the offending value and naming the other tenant.
//!
//! ```toml
//! [[tenant]]
//! name = "acme"
//! match = { ports = ["vf1", "vf2"] }  # or vlans = [100, 101]
//!                                     # or src = ["10.1.0.0/16", "2001:db8::/32"]
//!                                     # or metadata = "0x10/0xff"
//! rate = "2.5Gbit"         # bits/s: bit kbit Mbit Gbit Tbit (or bps kbps ...)
//! pps = 1_000_000          # and/or packets/s: an integer, or "1Mpps"
//! burst = "256KiB"         # bucket depth; default 10 ms of the rate, >= 18,000 B
//! color = "srtcm"          # "police" (default, one bucket) | "srtcm" (RFC 2697)
//!                          # | "trtcm" (RFC 2698)
//! excess_burst = "512KiB"  # srtcm only: EBS (default: the burst)
//! peak_rate = "5Gbit"      # trtcm only, required: PIR, at least the rate
//! peak_burst = "512KiB"    # trtcm only: PBS (default 10 ms of the PIR, >= burst)
//! exceed = "drop"          # "drop" (default) | "remark" | "pass", for yellow and
//!                          # red alike, or per color: { yellow = "remark", red = "drop" }
//! remark_dscp = 10         # the DSCP a remark writes, or { yellow = 10, red = 12 }
//! ```
//!
//! # Limits and units
//!
//! * `rate` given: the buckets count bytes. `burst`, `excess_burst` and
//!   `peak_burst` are sizes (`"256KiB"`, `"1.5MB"`, or an integer number of
//!   bytes, at least 64), `peak_rate` a bit rate. With `pps` as well, the
//!   tenant also gets a packets-per-second cap (depth 10 ms of it, at
//!   least 32 packets); a packet over either limit is red.
//! * Only `pps`: the buckets count packets; the bursts are integers
//!   (packets) and `peak_rate` is a packet rate.
//! * Neither: an error. Unit errors quote the parser's message
//!   ([`crate::meter::units`]).
//! * `exceed` says what happens to packets over the limit: `police` has
//!   only red packets; `srtcm`/`trtcm` mark yellow (over the committed
//!   rate, within the excess or peak bucket) and red. The string form
//!   applies to both colors; the table form names each color the marker
//!   produces (`police`: only `red`). Every remarked color needs a DSCP
//!   (0..=63) in `remark_dscp`, and `remark_dscp` may give no DSCP for a
//!   color that is not remarked.
//!
//! # Classification rule
//!
//! A packet belongs to at most one tenant, so claims may not overlap: the
//! same port or VLAN in two tenants (or twice in one), nested or equal
//! prefixes, and metadata value/mask pairs that one value satisfies both,
//! are errors naming both tenants. **All tenants match by the same kind**
//! (all by ports, all by VLANs, all by source prefixes, or all by
//! metadata). Mixing kinds is refused rather than given a precedence
//! because a port tenant and a VLAN tenant always overlap (that VLAN on
//! that port), and a precedence would make one tenant's traffic depend on
//! another tenant's config. Metadata is the way to combine criteria: table
//! 0 can write it from any match (`in_port=1,dl_vlan=100,
//! actions=write_metadata:0x10/0xff,goto_table:1`). Ports, VLANs (the
//! outer tag's VID) and source addresses are those of the packet as
//! received; metadata is the pipeline's at the end of its tables.
//!
//! Threads: parsed on the admin thread; the result is plain data.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, SourceMap};
use crate::meter::units::{parse_pps, parse_rate, parse_size};
use crate::meter::{
    Action, ChunkPolicy, Marker, PolicerSpec, TenantLimits, TenantPolicers, TickScale,
    MAX_QUANTA_PER_SEC, MAX_RATE,
};

/// Smallest bucket in byte mode: a bucket below one minimal Ethernet frame
/// never passes a packet.
pub const MIN_BURST_BYTES: u64 = 64;

// ---------------------------------------------------------------------------
// Raw schema
// ---------------------------------------------------------------------------

/// One `[[tenant]]` table as serde reads it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    name: Spanned<String>,
    #[serde(rename = "match")]
    selector: Option<Spanned<RawMatch>>,
    rate: Option<Spanned<Quantity>>,
    pps: Option<Spanned<Quantity>>,
    burst: Option<Spanned<Quantity>>,
    color: Option<Spanned<String>>,
    excess_burst: Option<Spanned<Quantity>>,
    peak_rate: Option<Spanned<Quantity>>,
    peak_burst: Option<Spanned<Quantity>>,
    exceed: Option<Spanned<PerColor<String>>>,
    remark_dscp: Option<Spanned<PerColor<i64>>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    ports: Option<Spanned<Vec<Spanned<String>>>>,
    vlans: Option<Spanned<Vec<Spanned<i64>>>>,
    src: Option<Spanned<Vec<Spanned<String>>>>,
    metadata: Option<Spanned<String>>,
}

/// A number or a string with a unit.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Quantity {
    Int(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a positive integer or a string with a unit, such as \"2.5Gbit\" or \"256KiB\"",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                u64::try_from(v).map(Quantity::Int).map_err(|_| {
                    E::custom(format!(
                        "{v} is negative; expected a positive integer or a string with a unit"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity::Int(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value for yellow and red alike, or a `{ yellow, red }` table.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PerColor<T> {
    Both(T),
    Each { yellow: Option<T>, red: Option<T> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Each<T> {
    yellow: Option<T>,
    red: Option<T>,
}

impl<'de> Deserialize<'de> for PerColor<String> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PerColor<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"drop\", \"remark\", \"pass\" or a table { yellow = ..., red = ... }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PerColor::Both(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let e = Each::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PerColor::Each {
                    yellow: e.yellow,
                    red: e.red,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for PerColor<i64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PerColor<i64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a DSCP (0..=63) or a table { yellow = N, red = N }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(PerColor::Both(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(PerColor::Both(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let e = Each::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PerColor::Each {
                    yellow: e.yellow,
                    red: e.red,
                })
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------
// Validated tenants
// ---------------------------------------------------------------------------

/// A tenant, validated: its traffic and its policer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantConfig {
    pub name: String,
    pub selector: TenantMatch,
    /// The limits as configured (rates in bits/s or packets/s).
    pub limits: TenantLimits,
    /// The policer that enforces them (defaults filled in, per-color
    /// actions applied), valid for any tick frequency.
    pub policer: PolicerSpec,
}

/// Which packets a tenant owns (see the module docs for the rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantMatch {
    /// Ingress port indices (into `Config::ports`).
    Ports(Vec<usize>),
    /// Outer VLAN IDs, 1..=4094.
    Vlans(Vec<u16>),
    /// Source address prefixes (host bits zero).
    Src(Vec<IpPrefix>),
    /// Pipeline metadata `value/mask` (value within the mask).
    Metadata { value: u64, mask: u64 },
}

/// The kind of a [`TenantMatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Ports,
    Vlans,
    Src,
    Metadata,
}

impl MatchKind {
    /// The key in the config file.
    pub const fn as_str(self) -> &'static str {
        match self {
            MatchKind::Ports => "ports",
            MatchKind::Vlans => "vlans",
            MatchKind::Src => "src",
            MatchKind::Metadata => "metadata",
        }
    }
}

impl TenantMatch {
    pub fn kind(&self) -> MatchKind {
        match self {
            TenantMatch::Ports(_) => MatchKind::Ports,
            TenantMatch::Vlans(_) => MatchKind::Vlans,
            TenantMatch::Src(_) => MatchKind::Src,
            TenantMatch::Metadata { .. } => MatchKind::Metadata,
        }
    }

    /// Number of claims (ports, VLANs, prefixes; 1 for metadata).
    pub fn len(&self) -> usize {
        match self {
            TenantMatch::Ports(p) => p.len(),
            TenantMatch::Vlans(v) => v.len(),
            TenantMatch::Src(s) => s.len(),
            TenantMatch::Metadata { .. } => 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Claim `i` as text (a port by index: `port #3`).
    pub fn describe(&self, i: usize) -> String {
        match self {
            TenantMatch::Ports(p) => p.get(i).map_or("?".into(), |p| format!("port #{p}")),
            TenantMatch::Vlans(v) => v.get(i).map_or("?".into(), |v| format!("VLAN {v}")),
            TenantMatch::Src(s) => s.get(i).map_or("?".into(), |s| format!("prefix {s}")),
            TenantMatch::Metadata { value, mask } => format!("metadata {value:#x}/{mask:#x}"),
        }
    }
}

/// An IPv4 or IPv6 prefix with its host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpPrefix {
    V4 { addr: u32, len: u8 },
    V6 { addr: u128, len: u8 },
}

impl IpPrefix {
    /// Parses `ADDR/LEN` or a bare address (a host prefix). Host bits must
    /// be zero.
    pub fn parse(s: &str) -> Result<IpPrefix, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.trim().parse().map_err(|_| {
            format!("bad prefix {s:?}: {addr:?} is not an IPv4 or IPv6 address; expected e.g. \"10.1.0.0/16\" or \"2001:db8::/32\"")
        })?;
        let width: u8 = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => width,
            Some(l) => match l.trim().parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => {
                    return Err(format!(
                        "bad prefix {s:?}: the length must be a number within 0..={width}"
                    ))
                }
            },
        };
        let p = match ip {
            IpAddr::V4(a) => IpPrefix::V4 {
                addr: u32::from(a),
                len,
            },
            IpAddr::V6(a) => IpPrefix::V6 {
                addr: u128::from(a),
                len,
            },
        };
        let net = p.network();
        if net != p {
            return Err(format!(
                "prefix {s:?} has host bits set; did you mean \"{net}\"?"
            ));
        }
        Ok(p)
    }

    /// The prefix with its host bits cleared.
    pub fn network(self) -> IpPrefix {
        match self {
            IpPrefix::V4 { addr, len } => IpPrefix::V4 {
                addr: addr & self.mask() as u32,
                len,
            },
            IpPrefix::V6 { addr, len } => IpPrefix::V6 {
                addr: addr & self.mask(),
                len,
            },
        }
    }

    pub fn is_v4(self) -> bool {
        matches!(self, IpPrefix::V4 { .. })
    }

    pub fn prefix_len(self) -> u8 {
        match self {
            IpPrefix::V4 { len, .. } | IpPrefix::V6 { len, .. } => len,
        }
    }

    /// The address as a `u128` (IPv4 in the low 32 bits).
    pub fn addr(self) -> u128 {
        match self {
            IpPrefix::V4 { addr, .. } => u128::from(addr),
            IpPrefix::V6 { addr, .. } => addr,
        }
    }

    /// The prefix mask in the family's width (IPv4 in the low 32 bits).
    pub fn mask(self) -> u128 {
        let (width, len) = match self {
            IpPrefix::V4 { len, .. } => (32u32, u32::from(len)),
            IpPrefix::V6 { len, .. } => (128, u32::from(len)),
        };
        let full = if width == 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        full & !(full.checked_shr(len).unwrap_or(0))
    }

    /// First and last address covered.
    pub fn range(self) -> (u128, u128) {
        let full = match self {
            IpPrefix::V4 { .. } => u128::from(u32::MAX),
            IpPrefix::V6 { .. } => u128::MAX,
        };
        (self.addr(), self.addr() | (full & !self.mask()))
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpPrefix::V4 { addr, len } => write!(f, "{}/{len}", std::net::Ipv4Addr::from(addr)),
            IpPrefix::V6 { addr, len } => write!(f, "{}/{len}", std::net::Ipv6Addr::from(addr)),
        }
    }
}

// ---------------------------------------------------------------------------
// Claims: one kind, no overlaps
// ---------------------------------------------------------------------------

/// Why a set of tenants cannot classify packets unambiguously. Tenants and
/// claims are indices (tenant, claim within its match); `later` comes
/// after `earlier` in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimConflict {
    /// Tenant `later` matches by another kind than tenant `earlier`.
    MixedKinds { earlier: usize, later: usize },
    /// Some packet would belong to both claims.
    Overlap {
        earlier: (usize, usize),
        later: (usize, usize),
    },
}

/// The match kind all `tenants` share (`None` if there are none), or the
/// first conflict: mixed kinds, or overlapping claims (for metadata, the
/// pair of value/masks some value satisfies both).
pub fn check_claims(tenants: &[TenantConfig]) -> Result<Option<MatchKind>, ClaimConflict> {
    let Some(first) = tenants.first() else {
        return Ok(None);
    };
    let kind = first.selector.kind();
    if let Some(later) = tenants.iter().position(|t| t.selector.kind() != kind) {
        return Err(ClaimConflict::MixedKinds { earlier: 0, later });
    }
    let pair = |a: (usize, usize), b: (usize, usize)| {
        let (earlier, later) = if a <= b { (a, b) } else { (b, a) };
        ClaimConflict::Overlap { earlier, later }
    };
    match kind {
        MatchKind::Ports | MatchKind::Vlans => {
            let mut owner: HashMap<usize, (usize, usize)> = HashMap::new();
            for (t, tenant) in tenants.iter().enumerate() {
                let claims: Vec<usize> = match &tenant.selector {
                    TenantMatch::Ports(p) => p.clone(),
                    TenantMatch::Vlans(v) => v.iter().map(|&v| usize::from(v)).collect(),
                    _ => Vec::new(),
                };
                for (i, c) in claims.into_iter().enumerate() {
                    if let Some(&prev) = owner.get(&c) {
                        return Err(pair(prev, (t, i)));
                    }
                    owner.insert(c, (t, i));
                }
            }
        }
        MatchKind::Src => {
            // Prefixes are nested or disjoint. Sorted by start (longest
            // first on ties), a prefix overlaps an earlier one exactly when
            // it starts at or before the furthest end seen so far.
            for v4 in [true, false] {
                let mut all: Vec<(u128, u128, (usize, usize))> = Vec::new();
                for (t, tenant) in tenants.iter().enumerate() {
                    if let TenantMatch::Src(list) = &tenant.selector {
                        for (i, p) in list.iter().enumerate().filter(|(_, p)| p.is_v4() == v4) {
                            let (lo, hi) = p.range();
                            all.push((lo, hi, (t, i)));
                        }
                    }
                }
                all.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
                // No overlap so far: the last prefix reaches furthest.
                let mut reach: Option<(u128, (usize, usize))> = None;
                for &(lo, hi, who) in &all {
                    if let Some((end, prev)) = reach {
                        if lo <= end {
                            return Err(pair(prev, who));
                        }
                    }
                    reach = Some((hi, who));
                }
            }
        }
        MatchKind::Metadata => {
            // Two value/masks overlap when they agree on the bits both
            // masks fix. Per pair of distinct masks, hash the common bits
            // (n probes per pair); with many distinct masks, compare all
            // pairs instead (n²/2 cheap tests, ~50 ms for 10,000 tenants).
            let mut groups: Vec<(u64, Vec<(u64, usize)>)> = Vec::new();
            let mut group_of: HashMap<u64, usize> = HashMap::new();
            let mut all: Vec<(u64, u64)> = Vec::with_capacity(tenants.len());
            for (t, tenant) in tenants.iter().enumerate() {
                if let TenantMatch::Metadata { value, mask } = tenant.selector {
                    let g = *group_of.entry(mask).or_insert_with(|| {
                        groups.push((mask, Vec::new()));
                        groups.len() - 1
                    });
                    groups[g].1.push((value, t));
                    all.push((value, mask));
                }
            }
            // Report the conflict whose later claim comes first in the file.
            let mut best: Option<((usize, usize), (usize, usize))> = None;
            if groups.len() > 64 {
                'outer: for (t, &(v, m)) in all.iter().enumerate() {
                    for (u, &(w, n)) in all[..t].iter().enumerate() {
                        if (v ^ w) & m & n == 0 {
                            best = Some(((t, 0), (u, 0)));
                            break 'outer;
                        }
                    }
                }
            }
            for a in 0..groups.len() {
                if groups.len() > 64 {
                    break;
                }
                for b in a..groups.len() {
                    let common = groups[a].0 & groups[b].0;
                    let mut seen: HashMap<u64, usize> = HashMap::new();
                    for &(v, t) in &groups[a].1 {
                        seen.entry(v & common).or_insert(t);
                    }
                    for &(v, t) in &groups[b].1 {
                        let Some(&u) = seen.get(&(v & common)) else {
                            continue;
                        };
                        if u == t {
                            continue;
                        }
                        let c = ((u.max(t), 0), (u.min(t), 0));
                        if best.is_none() || best.is_some_and(|b| c < b) {
                            best = Some(c);
                        }
                    }
                }
            }
            if let Some((later, earlier)) = best {
                return Err(ClaimConflict::Overlap { earlier, later });
            }
        }
    }
    Ok(Some(kind))
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Where each claim of a tenant was written, and how.
struct Located {
    name_span: Range<usize>,
    match_span: Range<usize>,
    claims: Vec<(Range<usize>, String)>,
}

/// Validates the `[[tenant]]` tables. `port_index` resolves a port name to
/// its index (below `nports`).
pub fn validate_tenants(
    raw: &[RawTenant],
    map: &SourceMap,
    port_index: &dyn Fn(&str) -> Option<usize>,
    nports: usize,
) -> Result<Vec<TenantConfig>, ConfigError> {
    let mut out: Vec<TenantConfig> = Vec::with_capacity(raw.len());
    let mut located: Vec<Located> = Vec::with_capacity(raw.len());
    let mut names: HashMap<&str, usize> = HashMap::new();
    for r in raw {
        let name = r.name.get_ref();
        if !super::valid_name(name) {
            return Err(map.error(
                r.name.span(),
                format!("bad tenant name {name:?}; use letters, digits, '_', '-' and '.', starting with a letter, at most 32 characters"),
            ));
        }
        if let Some(&prev) = names.get(name.as_str()) {
            let first = map.error(raw[prev].name.span(), "");
            return Err(map.error(
                r.name.span(),
                format!(
                    "duplicate tenant name {name:?} (first defined at line {})",
                    first.line
                ),
            ));
        }
        names.insert(name, out.len());
        let Some(sel) = &r.selector else {
            return Err(map.error(
                r.name.span(),
                format!("tenant {name:?} has no match; give match = {{ ports = [...] }}, {{ vlans = [...] }}, {{ src = [...] }} or {{ metadata = \"V/M\" }}"),
            ));
        };
        let (selector, claims) = selector(sel, map, port_index, nports)?;
        let (limits, policer) = limits(r, map)?;
        out.push(TenantConfig {
            name: name.clone(),
            selector,
            limits,
            policer,
        });
        located.push(Located {
            name_span: r.name.span(),
            match_span: sel.span(),
            claims,
        });
    }
    match check_claims(&out) {
        Ok(_) => Ok(out),
        Err(ClaimConflict::MixedKinds { earlier, later }) => {
            let (e, l) = (&out[earlier], &out[later]);
            Err(map.error(
                located[later].match_span.clone(),
                format!(
                    "tenant {:?} matches by {} but tenant {:?} matches by {}; all tenants must match by the same kind \
                     (to combine criteria, write metadata in table 0 and match every tenant by metadata)",
                    l.name,
                    l.selector.kind().as_str(),
                    e.name,
                    e.selector.kind().as_str()
                ),
            ))
        }
        Err(ClaimConflict::Overlap { earlier, later }) => {
            let (et, ei) = earlier;
            let (lt, li) = later;
            let text = |t: usize, i: usize| {
                located[t]
                    .claims
                    .get(i)
                    .map_or_else(|| out[t].selector.describe(i), |c| c.1.clone())
            };
            let (what, other) = (text(lt, li), text(et, ei));
            let span = located[lt]
                .claims
                .get(li)
                .map_or(located[lt].name_span.clone(), |c| c.0.clone());
            let msg = if et == lt {
                if what == other {
                    format!("{what} is listed twice")
                } else {
                    format!("{what} overlaps {other}, listed earlier in this tenant")
                }
            } else {
                let example = match (&out[et].selector, &out[lt].selector) {
                    (
                        TenantMatch::Metadata { value: a, .. },
                        TenantMatch::Metadata { value: b, .. },
                    ) => format!(" (metadata {:#x} matches both)", a | b),
                    _ => String::new(),
                };
                let verb = if what == other {
                    "is already claimed by"
                } else {
                    "overlaps"
                };
                let other = if what == other {
                    String::new()
                } else {
                    format!("{other} of ")
                };
                format!(
                    "{what} {verb} {other}tenant {:?}{example}; a packet belongs to at most one tenant",
                    out[et].name
                )
            };
            Err(map.error(span, msg))
        }
    }
}

type Claims = Vec<(Range<usize>, String)>;

fn selector(
    sel: &Spanned<RawMatch>,
    map: &SourceMap,
    port_index: &dyn Fn(&str) -> Option<usize>,
    nports: usize,
) -> Result<(TenantMatch, Claims), ConfigError> {
    let m = sel.get_ref();
    let given: Vec<&str> = [
        m.ports.as_ref().map(|_| "ports"),
        m.vlans.as_ref().map(|_| "vlans"),
        m.src.as_ref().map(|_| "src"),
        m.metadata.as_ref().map(|_| "metadata"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none".to_string()
        } else {
            given.join(" and ")
        };
        return Err(map.error(
            sel.span(),
            format!("match needs exactly one of ports, vlans, src or metadata (found {found})"),
        ));
    }
    let empty = |span: Range<usize>, what: &str| {
        map.error(
            span,
            format!("match.{what} is empty; a tenant needs at least one"),
        )
    };
    if let Some(ports) = &m.ports {
        if ports.get_ref().is_empty() {
            return Err(empty(ports.span(), "ports"));
        }
        let mut idx = Vec::new();
        let mut claims = Vec::new();
        for p in ports.get_ref() {
            let i = port_index(p.get_ref())
                .filter(|&i| i < nports)
                .ok_or_else(|| {
                    map.error(
                        p.span(),
                        format!(
                            "unknown port {:?} (not the name of a [[port]])",
                            p.get_ref()
                        ),
                    )
                })?;
            idx.push(i);
            claims.push((p.span(), format!("port {:?}", p.get_ref())));
        }
        return Ok((TenantMatch::Ports(idx), claims));
    }
    if let Some(vlans) = &m.vlans {
        if vlans.get_ref().is_empty() {
            return Err(empty(vlans.span(), "vlans"));
        }
        let mut ids = Vec::new();
        let mut claims = Vec::new();
        for v in vlans.get_ref() {
            let id = *v.get_ref();
            if !(1..=4094).contains(&id) {
                return Err(map.error(
                    v.span(),
                    format!("VLAN {id} is out of range; VLAN IDs are 1..=4094 (0 is a priority tag, 4095 reserved)"),
                ));
            }
            ids.push(id as u16);
            claims.push((v.span(), format!("VLAN {id}")));
        }
        return Ok((TenantMatch::Vlans(ids), claims));
    }
    if let Some(src) = &m.src {
        if src.get_ref().is_empty() {
            return Err(empty(src.span(), "src"));
        }
        let mut prefixes = Vec::new();
        let mut claims = Vec::new();
        for s in src.get_ref() {
            let p = IpPrefix::parse(s.get_ref()).map_err(|e| map.error(s.span(), e))?;
            prefixes.push(p);
            claims.push((s.span(), format!("prefix {p}")));
        }
        return Ok((TenantMatch::Src(prefixes), claims));
    }
    let md = m
        .metadata
        .as_ref()
        .ok_or_else(|| map.error(sel.span(), "empty match"))?;
    let (value, mask) = parse_metadata(md.get_ref()).map_err(|e| map.error(md.span(), e))?;
    let claim = (md.span(), format!("metadata {value:#x}/{mask:#x}"));
    Ok((TenantMatch::Metadata { value, mask }, vec![claim]))
}

/// `V/M` or `V` (all 64 bits), each hex (`0x`) or decimal.
pub fn parse_metadata(s: &str) -> Result<(u64, u64), String> {
    let num = |t: &str| -> Result<u64, String> {
        let t = t.trim();
        let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
            None => t.replace('_', "").parse::<u64>(),
        };
        r.map_err(|_| {
            format!("bad metadata {s:?}: {t:?} is not a 64-bit number; expected VALUE/MASK such as \"0x10/0xff\"")
        })
    };
    let (value, mask) = match s.split_once('/') {
        Some((v, m)) => (num(v)?, num(m)?),
        None => (num(s)?, u64::MAX),
    };
    if value & !mask != 0 {
        return Err(format!(
            "bad metadata {s:?}: value {value:#x} has bits outside mask {mask:#x}"
        ));
    }
    Ok((value, mask))
}

/// The tick scale with the most quanta per second, on which bucket limits
/// are tightest: a policer valid here is valid at any TSC frequency.
fn strictest_scale() -> Result<TickScale, crate::meter::MeterError> {
    TickScale::new(MAX_QUANTA_PER_SEC)
}

fn limits(r: &RawTenant, map: &SourceMap) -> Result<(TenantLimits, PolicerSpec), ConfigError> {
    let name = r.name.get_ref();
    let unit_err =
        |s: &Spanned<Quantity>, key: &str, e: String| map.error(s.span(), format!("{key}: {e}"));
    let text = |q: &Quantity| match q {
        Quantity::Int(n) => n.to_string(),
        Quantity::Text(s) => s.clone(),
    };
    let bit_rate = |s: &Spanned<Quantity>, key: &str| -> Result<u64, ConfigError> {
        parse_rate(&text(s.get_ref())).map_err(|e| unit_err(s, key, e.to_string()))
    };
    let packet_rate = |s: &Spanned<Quantity>, key: &str| -> Result<u64, ConfigError> {
        match s.get_ref() {
            Quantity::Int(0) => Err(unit_err(s, key, "must be above 0".into())),
            Quantity::Int(n) => Ok(*n),
            Quantity::Text(t) => parse_pps(t).map_err(|e| unit_err(s, key, e.to_string())),
        }
    };
    let scale =
        strictest_scale().map_err(|e| map.error(r.name.span(), format!("tenant {name:?}: {e}")))?;
    let max_tokens = scale.max_burst_tokens();
    let rate = r.rate.as_ref().map(|s| bit_rate(s, "rate")).transpose()?;
    let pps = r.pps.as_ref().map(|s| packet_rate(s, "pps")).transpose()?;
    let bytes_mode = rate.is_some();
    if rate.is_none() && pps.is_none() {
        return Err(map.error(
            r.name.span(),
            format!("tenant {name:?} has no limit: give rate (e.g. rate = \"1Gbit\") and/or pps"),
        ));
    }
    let check_rate = |s: &Spanned<Quantity>, key: &str, v: u64| {
        if v > MAX_RATE {
            Err(unit_err(
                s,
                key,
                format!("{v} per second is above the supported maximum {MAX_RATE}"),
            ))
        } else {
            Ok(v)
        }
    };
    if let (Some(s), Some(v)) = (&r.rate, rate) {
        check_rate(s, "rate", v)?;
    }
    if let (Some(s), Some(v)) = (&r.pps, pps) {
        check_rate(s, "pps", v)?;
    }
    let burst_of = |s: &Spanned<Quantity>, key: &str| -> Result<u64, ConfigError> {
        if bytes_mode {
            let b = match s.get_ref() {
                Quantity::Int(0) => return Err(unit_err(s, key, "must be above 0".into())),
                Quantity::Int(n) => *n,
                Quantity::Text(t) => parse_size(t).map_err(|e| unit_err(s, key, e.to_string()))?,
            };
            if b < MIN_BURST_BYTES {
                return Err(unit_err(
                    s,
                    key,
                    format!(
                        "{b} bytes can never pass a packet; give at least {MIN_BURST_BYTES} bytes"
                    ),
                ));
            }
            if b > max_tokens / 8 {
                return Err(unit_err(
                    s,
                    key,
                    format!(
                        "{b} bytes is above the supported maximum {} bytes",
                        max_tokens / 8
                    ),
                ));
            }
            Ok(b)
        } else {
            match s.get_ref() {
                Quantity::Int(0) => Err(unit_err(s, key, "must be above 0".into())),
                Quantity::Int(n) if *n > max_tokens => Err(unit_err(
                    s,
                    key,
                    format!("{n} packets is above the supported maximum {max_tokens}"),
                )),
                Quantity::Int(n) => Ok(*n),
                Quantity::Text(t) => Err(unit_err(
                    s,
                    key,
                    format!("{t:?}: with only pps (no rate) the buckets count packets; give a number of packets, e.g. {key} = 64"),
                )),
            }
        }
    };
    let marker = match &r.color {
        None => Marker::Police,
        Some(c) => match c.get_ref().as_str() {
            "police" => Marker::Police,
            "srtcm" => Marker::SrTcm,
            "trtcm" => Marker::TrTcm,
            other => {
                return Err(map.error(
                    c.span(),
                    format!("unknown color {other:?}; expected \"police\" (one bucket), \"srtcm\" (RFC 2697) or \"trtcm\" (RFC 2698)"),
                ))
            }
        },
    };
    let marker_name = match marker {
        Marker::Police => "police",
        Marker::SrTcm => "srtcm",
        Marker::TrTcm => "trtcm",
    };
    let only = |s: &Option<Spanned<Quantity>>, key: &str, for_: &str| -> Result<(), ConfigError> {
        match s {
            Some(s) => Err(map.error(
                s.span(),
                format!("{key} applies only to color = \"{for_}\" (this tenant is {marker_name})"),
            )),
            None => Ok(()),
        }
    };
    if marker != Marker::SrTcm {
        only(&r.excess_burst, "excess_burst", "srtcm")?;
    }
    if marker != Marker::TrTcm {
        only(&r.peak_rate, "peak_rate", "trtcm")?;
        only(&r.peak_burst, "peak_burst", "trtcm")?;
    }
    let burst = r.burst.as_ref().map(|s| burst_of(s, "burst")).transpose()?;
    let excess = match marker {
        Marker::SrTcm => r.excess_burst.as_ref(),
        Marker::TrTcm => r.peak_burst.as_ref(),
        Marker::Police => None,
    };
    let excess_burst = match excess {
        Some(s) => Some(burst_of(
            s,
            if marker == Marker::SrTcm {
                "excess_burst"
            } else {
                "peak_burst"
            },
        )?),
        None => None,
    };
    let peak_rate = match (&r.peak_rate, marker) {
        (Some(s), _) => {
            let v = if bytes_mode {
                bit_rate(s, "peak_rate")?
            } else {
                packet_rate(s, "peak_rate")?
            };
            check_rate(s, "peak_rate", v)?;
            let cir = rate.or(pps).unwrap_or(0);
            if v < cir {
                return Err(unit_err(
                    s,
                    "peak_rate",
                    format!("the peak rate ({v} per second) must be at least the rate ({cir} per second)"),
                ));
            }
            Some(v)
        }
        (None, Marker::TrTcm) => {
            return Err(map.error(
                r.color.as_ref().map_or(r.name.span(), |c| c.span()),
                "color = \"trtcm\" needs peak_rate (the PIR, at least the rate) and optionally peak_burst",
            ))
        }
        (None, _) => None,
    };
    let (yellow, red) = actions(r, map, marker)?;
    let tl = TenantLimits {
        rate,
        pps,
        burst,
        peak_rate,
        excess_burst,
        marker,
        exceed: red,
    };
    let mut spec = tl
        .spec()
        .map_err(|e| map.error(r.name.span(), format!("tenant {name:?}: {e}")))?;
    spec.yellow = yellow;
    spec.red = red;
    // Everything the engine checks, at the strictest tick scale.
    TenantPolicers::new(scale, ChunkPolicy::DEFAULT, &[spec], 0).map_err(|e| {
        let e = match e {
            crate::meter::MeterError::Entry { error, .. } => *error,
            e => e,
        };
        map.error(r.name.span(), format!("tenant {name:?}: {e}"))
    })?;
    Ok((tl, spec))
}

/// The yellow and red actions from `exceed` and `remark_dscp`.
fn actions(
    r: &RawTenant,
    map: &SourceMap,
    marker: Marker,
) -> Result<(Action, Action), ConfigError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        Pass,
        Drop,
        Remark,
    }
    let two_color = marker != Marker::Police;
    let (yellow, red, exceed_span) = match &r.exceed {
        None => (Kind::Drop, Kind::Drop, None),
        Some(e) => {
            let parse = |s: &str| {
                match s {
                "pass" => Ok(Kind::Pass),
                "drop" => Ok(Kind::Drop),
                "remark" => Ok(Kind::Remark),
                other => Err(map.error(
                    e.span(),
                    format!("unknown exceed action {other:?}; expected \"drop\", \"remark\" or \"pass\""),
                )),
            }
            };
            match e.get_ref() {
                PerColor::Both(s) => {
                    let k = parse(s)?;
                    (k, k, Some(e.span()))
                }
                PerColor::Each { yellow, red } => {
                    if !two_color && yellow.is_some() {
                        return Err(map.error(
                            e.span(),
                            "exceed.yellow: color = \"police\" marks no packet yellow (only srtcm and trtcm do)",
                        ));
                    }
                    if two_color && yellow.is_none() {
                        return Err(map.error(
                            e.span(),
                            "exceed needs both yellow and red for srtcm/trtcm, e.g. { yellow = \"remark\", red = \"drop\" }",
                        ));
                    }
                    let Some(red) = red else {
                        return Err(
                            map.error(e.span(), "exceed needs red (e.g. { red = \"drop\" })")
                        );
                    };
                    let red = parse(red)?;
                    let yellow = match yellow {
                        Some(y) => parse(y)?,
                        None => red,
                    };
                    (yellow, red, Some(e.span()))
                }
            }
        }
    };
    let remark_yellow = two_color && yellow == Kind::Remark;
    let remark_red = red == Kind::Remark;
    let dscp_span = r.remark_dscp.as_ref().map(|d| d.span());
    let (dy, dr) = match r.remark_dscp.as_ref().map(|d| d.get_ref()) {
        None => (None, None),
        Some(PerColor::Both(d)) => (Some(*d), Some(*d)),
        Some(PerColor::Each { yellow, red }) => {
            let span = dscp_span.clone().unwrap_or(0..0);
            if yellow.is_some() && !remark_yellow {
                return Err(map.error(
                    span,
                    "remark_dscp.yellow is given but yellow packets are not remarked (see exceed)",
                ));
            }
            if red.is_some() && !remark_red {
                return Err(map.error(
                    span,
                    "remark_dscp.red is given but red packets are not remarked (see exceed)",
                ));
            }
            (*yellow, *red)
        }
    };
    if let Some(span) = &dscp_span {
        if !remark_yellow && !remark_red {
            return Err(map.error(
                span.clone(),
                "remark_dscp is given but exceed does not remark (use exceed = \"remark\")",
            ));
        }
    }
    let dscp = |d: Option<i64>, color: &str| -> Result<u8, ConfigError> {
        let span = dscp_span
            .clone()
            .or_else(|| exceed_span.clone())
            .unwrap_or_else(|| r.name.span());
        match d {
            None => Err(map.error(
                span,
                format!("exceed remarks {color} packets but remark_dscp gives no DSCP for {color} (e.g. remark_dscp = 10)"),
            )),
            Some(v) if !(0..=63).contains(&v) => Err(map.error(
                span,
                format!("remark_dscp {v} is out of range; a DSCP is 0..=63"),
            )),
            Some(v) => Ok(v as u8),
        }
    };
    let act = |k: Kind, d: Option<i64>, color: &str| -> Result<Action, ConfigError> {
        Ok(match k {
            Kind::Pass => Action::Forward,
            Kind::Drop => Action::Drop,
            Kind::Remark => Action::SetDscp(dscp(d, color)?),
        })
    };
    let red_action = act(red, dr, "red")?;
    let yellow_action = if two_color {
        act(yellow, dy, "yellow")?
    } else {
        red_action
    };
    Ok((yellow_action, red_action))
}

#[cfg(test)]
#[path = "tenant_tests.rs"]
mod tests;
