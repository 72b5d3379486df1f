//! Packed lookup keys shared by the linear, TSS and partitioned kinds.
//!
//! What: every OXM field has a fixed place in an array of [`WORDS`] `u64`
//! words; a packet's key and each rule's value/mask are packed the same
//! way, so matching is `key[i] & mask[i] == value[i]` over the few words a
//! rule uses, and hashing is a few multiplications.
//!
//! How: the places are fixed (see [`place`]), chosen so that the fields
//! ACLs match most share few words; extraction is straight-line code with
//! no per-field dispatch. Fields that share storage in the `FlowKey`
//! share a place (`udp_dst`, `sctp_dst` are `tcp_dst`; the ICMPv6 type and
//! code are the ICMPv4 ones). A table extracts only the [`Groups`] of
//! words its rules use ([`extract_common`]: the first four alone, into a
//! four-word array). [`KeyMap`] is an open-addressing table (linear
//! probing, load <= 1/2) from packed keys to a non-zero `u64` (a rule rank
//! or a node index); [`Map32`] the same for 32-bit keys and `u32` values
//! in 8-byte slots, and [`IdMap`] picks one of the two for a one-word key.
//! [`Read`] reads one of the common fields of at most 64 bits as a `u64`.
//!
//! Threads: built by the compiler, then read-only.

use crate::openflow::{Field, Match};
use crate::pipeline::fields::Registers;
use crate::wire::FlowKey;

/// Words of a packed key.
pub(crate) const WORDS: usize = 20;

/// A packed key.
pub(crate) type Words = [u64; WORDS];

/// Where a field lives: word, bit shift (0 for 128-bit fields, which take
/// words `word` (high half) and `word + 1`).
///
/// The densest words hold what ACLs match most: word 0 the IPv4
/// addresses, word 1 the L4 ports, `eth_type`, `ip_proto` and DSCP/ECN,
/// word 2 `in_port` and the VLAN, word 3 `metadata`; so an IPv4 5-tuple
/// rule is two words and a tenant ACL rule three.
pub(crate) const fn place(f: Field) -> (usize, u32) {
    use Field::*;
    match f {
        Ipv4Src => (0, 0),
        Ipv4Dst => (0, 32),
        TcpSrc | UdpSrc | SctpSrc => (1, 0),
        TcpDst | UdpDst | SctpDst => (1, 16),
        EthType => (1, 32),
        IpProto => (1, 48),
        IpDscp => (1, 56),
        IpEcn => (1, 62),
        InPort => (2, 0),
        VlanVid => (2, 32),
        VlanPcp => (2, 48),
        Icmpv4Type | Icmpv6Type => (2, 56),
        Metadata => (3, 0),
        EthDst => (4, 0),
        Icmpv4Code | Icmpv6Code => (4, 48),
        MplsTc => (4, 56),
        MplsBos => (4, 60),
        EthSrc => (5, 0),
        Ipv6Exthdr => (5, 48),
        MplsLabel => (6, 0),
        PbbIsid => (6, 32),
        TunnelId => (7, 0),
        Ipv6Src => (8, 0),
        Ipv6Dst => (10, 0),
        Ipv6Flabel => (12, 0),
        ArpOp => (12, 32),
        ArpSpa => (13, 0),
        ArpTpa => (13, 32),
        ArpSha => (14, 0),
        ArpTha => (15, 0),
        Ipv6NdTarget => (16, 0),
        Ipv6NdSll => (18, 0),
        Ipv6NdTll => (19, 0),
    }
}

/// The (word, mask) bit ranges of a field (two for a 128-bit field).
pub(crate) fn ranges(f: Field) -> impl Iterator<Item = (usize, u64)> {
    let (w, sh) = place(f);
    let bits = f.bits();
    let pair = if bits > 64 {
        [(w, u64::MAX), (w + 1, u64::MAX)]
    } else {
        [(w, (u64::MAX >> (64 - bits)) << sh), (w, 0)]
    };
    pair.into_iter().filter(|r| r.1 != 0)
}

/// Which groups of words a table reads (bit set of the `G_*` constants).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Groups(u8);

/// Words 0..4: IPv4, L4, eth_type, in_port, VLAN, metadata.
const G_COMMON: u8 = 1;
/// Words 4..8: MACs, MPLS, PBB, tunnel id.
const G_L2: u8 = 2;
/// Words 8..12: IPv6 addresses.
const G_IPV6: u8 = 4;
/// Words 12..20: IPv6 label, ARP, ND.
const G_REST: u8 = 8;

impl Groups {
    pub(crate) fn of_words(words: impl IntoIterator<Item = usize>) -> Groups {
        Groups(words.into_iter().fold(0, |g, w| {
            g | match w {
                0..=3 => G_COMMON,
                4..=7 => G_L2,
                8..=11 => G_IPV6,
                _ => G_REST,
            }
        }))
    }

    /// Every word a rule of `matches` masks.
    pub(crate) fn of_matches<'a>(matches: impl IntoIterator<Item = &'a Match>) -> Groups {
        Groups::of_words(
            matches
                .into_iter()
                .flat_map(|m| m.fields().iter().flat_map(|f| ranges(f.field).map(|r| r.0))),
        )
    }
}

/// The packet's key; words outside `groups` are 0.
#[inline]
pub(crate) fn extract(key: &FlowKey, regs: &Registers, groups: Groups) -> Words {
    let mut k = [0u64; WORDS];
    let g = groups.0;
    if g & G_COMMON != 0 {
        k[0] = u64::from(key.ipv4_src) | u64::from(key.ipv4_dst) << 32;
        k[1] = u64::from(key.tp_src)
            | u64::from(key.tp_dst) << 16
            | u64::from(key.eth_type) << 32
            | u64::from(key.ip_proto) << 48
            | u64::from(key.ip_dscp) << 56
            | u64::from(key.ip_ecn) << 62;
        k[2] = u64::from(key.in_port)
            | u64::from(key.vlan_vid) << 32
            | u64::from(key.vlan_pcp) << 48
            | u64::from(key.icmp_type) << 56;
        k[3] = regs.metadata;
    }
    if g & G_L2 != 0 {
        k[4] = key.eth_dst
            | u64::from(key.icmp_code) << 48
            | u64::from(key.mpls_tc) << 56
            | u64::from(key.mpls_bos) << 60;
        k[5] = key.eth_src | u64::from(key.ipv6_exthdr) << 48;
        k[6] = u64::from(key.mpls_label) | u64::from(key.pbb_isid) << 32;
        k[7] = regs.tunnel_id;
    }
    if g & G_IPV6 != 0 {
        k[8] = (key.ipv6_src >> 64) as u64;
        k[9] = key.ipv6_src as u64;
        k[10] = (key.ipv6_dst >> 64) as u64;
        k[11] = key.ipv6_dst as u64;
    }
    if g & G_REST != 0 {
        k[12] = u64::from(key.ipv6_flabel) | u64::from(key.arp_op) << 32;
        k[13] = u64::from(key.arp_spa) | u64::from(key.arp_tpa) << 32;
        k[14] = key.arp_sha;
        k[15] = key.arp_tha;
        k[16] = (key.ipv6_nd_target >> 64) as u64;
        k[17] = key.ipv6_nd_target as u64;
        k[18] = key.ipv6_nd_sll;
        k[19] = key.ipv6_nd_tll;
    }
    k
}

/// The first four words of the packet's key (IPv4, L4, `eth_type`,
/// `in_port`, VLAN, `metadata`): all that a tree whose rules mask only
/// those words reads; word `w` is left 0 unless bit `w` of `used` is set
/// (word 2, port and VLAN, is rarely matched by ACLs that split on
/// metadata, and costs the most to assemble after word 1).
#[inline]
pub(crate) fn extract_common(key: &FlowKey, regs: &Registers, used: u8) -> [u64; 4] {
    [
        u64::from(key.ipv4_src) | u64::from(key.ipv4_dst) << 32,
        u64::from(key.tp_src)
            | u64::from(key.tp_dst) << 16
            | u64::from(key.eth_type) << 32
            | u64::from(key.ip_proto) << 48
            | u64::from(key.ip_dscp) << 56
            | u64::from(key.ip_ecn) << 62,
        if used & 4 != 0 {
            u64::from(key.in_port)
                | u64::from(key.vlan_vid) << 32
                | u64::from(key.vlan_pcp) << 48
                | u64::from(key.icmp_type) << 56
        } else {
            0
        },
        regs.metadata,
    ]
}

/// `fields::raw` with the fields that exact and prefix tables use most
/// read inline (the rest through `fields::raw`).
#[inline(always)]
pub(crate) fn read_field(key: &FlowKey, regs: &Registers, f: Field) -> u128 {
    match f {
        Field::EthType => u128::from(key.eth_type),
        Field::Ipv4Dst => u128::from(key.ipv4_dst),
        Field::Ipv4Src => u128::from(key.ipv4_src),
        Field::Ipv6Dst => key.ipv6_dst,
        Field::Ipv6Src => key.ipv6_src,
        Field::InPort => u128::from(key.in_port),
        Field::VlanVid => u128::from(key.vlan_vid),
        Field::IpProto => u128::from(key.ip_proto),
        Field::TcpDst | Field::UdpDst | Field::SctpDst => u128::from(key.tp_dst),
        Field::TcpSrc | Field::UdpSrc | Field::SctpSrc => u128::from(key.tp_src),
        Field::EthDst => u128::from(key.eth_dst),
        Field::Metadata => u128::from(regs.metadata),
        other => crate::pipeline::fields::raw(key, regs, other),
    }
}

/// A field of at most 64 bits that tables read straight from the
/// `FlowKey` or the registers (the ones exact tables use most), so that a
/// reader is one jump-table entry and one load, with no `u128` and no
/// call out for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    InPort,
    EthDst,
    EthSrc,
    EthType,
    VlanVid,
    IpProto,
    Ipv4Src,
    Ipv4Dst,
    TpSrc,
    TpDst,
    Metadata,
    TunnelId,
}

impl Read {
    pub(crate) fn of(f: Field) -> Option<Read> {
        Some(match f {
            Field::InPort => Read::InPort,
            Field::EthDst => Read::EthDst,
            Field::EthSrc => Read::EthSrc,
            Field::EthType => Read::EthType,
            Field::VlanVid => Read::VlanVid,
            Field::IpProto => Read::IpProto,
            Field::Ipv4Src => Read::Ipv4Src,
            Field::Ipv4Dst => Read::Ipv4Dst,
            Field::TcpSrc | Field::UdpSrc | Field::SctpSrc => Read::TpSrc,
            Field::TcpDst | Field::UdpDst | Field::SctpDst => Read::TpDst,
            Field::Metadata => Read::Metadata,
            Field::TunnelId => Read::TunnelId,
            _ => return None,
        })
    }

    #[inline(always)]
    pub(crate) fn get(self, key: &FlowKey, regs: &Registers) -> u64 {
        match self {
            Read::InPort => u64::from(key.in_port),
            Read::EthDst => key.eth_dst,
            Read::EthSrc => key.eth_src,
            Read::EthType => u64::from(key.eth_type),
            Read::VlanVid => u64::from(key.vlan_vid),
            Read::IpProto => u64::from(key.ip_proto),
            Read::Ipv4Src => u64::from(key.ipv4_src),
            Read::Ipv4Dst => u64::from(key.ipv4_dst),
            Read::TpSrc => u64::from(key.tp_src),
            Read::TpDst => u64::from(key.tp_dst),
            Read::Metadata => regs.metadata,
            Read::TunnelId => regs.tunnel_id,
        }
    }
}

/// `m` packed as value and mask words, or `None` when two of its fields
/// share storage and contradict each other (it matches nothing).
pub(crate) fn pack(m: &Match) -> Option<Packed> {
    let mut value = [0u64; WORDS];
    let mut mask = [0u64; WORDS];
    for f in m.fields() {
        let (w, sh) = place(f.field);
        let parts: [(usize, u64, u64); 2] = if f.field.bits() > 64 {
            [
                (w, (f.value >> 64) as u64, (f.mask >> 64) as u64),
                (w + 1, f.value as u64, f.mask as u64),
            ]
        } else {
            [
                (w, (f.value as u64) << sh, (f.mask as u64) << sh),
                (w, 0, 0),
            ]
        };
        for (w, v, mk) in parts {
            if (value[w] ^ v) & mask[w] & mk != 0 {
                return None;
            }
            value[w] |= v;
            mask[w] |= mk;
        }
    }
    Some(Packed { value, mask })
}

/// A rule's packed value and mask (`value & !mask == 0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Packed {
    pub value: Words,
    pub mask: Words,
}

/// A packed rule with its rank (see `super::rank`) and facts about its
/// mask that the partition builder's cost model reads often.
#[derive(Clone, Debug)]
pub(crate) struct PackedRule {
    pub rank: u64,
    pub key: Packed,
    /// [`mask_fp`] of the mask.
    pub fp: u64,
    /// Set bits of the mask.
    pub bits: u32,
    /// Bit `i` set when word `i` of the mask is not 0.
    pub nonzero: u32,
}

impl PackedRule {
    pub(crate) fn new(rank: u64, key: Packed) -> PackedRule {
        let mut r = PackedRule {
            rank,
            key,
            fp: 0,
            bits: 0,
            nonzero: 0,
        };
        for (i, &m) in r.key.mask.iter().enumerate() {
            r.fp = r.fp.wrapping_add(word_fp(i, m));
            r.bits += m.count_ones();
            r.nonzero |= u32::from(m != 0) << i;
        }
        r
    }

    /// The rule with the bits `mask` of word `w` (which its mask has)
    /// removed from its value and mask.
    pub(crate) fn strip(&mut self, w: usize, mask: u64) {
        let old = self.key.mask[w];
        let new = old & !mask;
        self.key.mask[w] = new;
        self.key.value[w] &= !mask;
        self.fp = self
            .fp
            .wrapping_sub(word_fp(w, old))
            .wrapping_add(word_fp(w, new));
        self.bits -= (old & mask).count_ones();
        if new == 0 {
            self.nonzero &= !(1 << w);
        }
    }
}

/// A fingerprint of mask word `m` at index `i`; a mask's fingerprint is the
/// wrapping sum over its words, so removing bits updates it in O(1). Only
/// the cost model and build-time dedupe hints use it (never matching).
pub(crate) fn word_fp(i: usize, m: u64) -> u64 {
    if m == 0 {
        0
    } else {
        finish(mix(HASH_SEED ^ (i as u64 + 1), m))
    }
}

/// A fast deterministic hasher for build-time maps (multiply-xorshift;
/// the keys are rule values, not traffic).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        finish(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = mix(self.0, u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.0 = mix(self.0, u64::from(b));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = mix(self.0, i);
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = mix(self.0, u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.0 = mix(self.0, u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.0 = mix(self.0, i as u64);
    }
}

/// Build-time hash map and set with [`FastHasher`].
pub(crate) type FastMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;
pub(crate) type FastSet<K> =
    std::collections::HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;

/// Multiply-xorshift over the words (fast, not cryptographic; keys come
/// from packets, so the table's load factor, not the hash, bounds probes).
#[inline]
pub(crate) fn hash_words(words: &[u64]) -> u64 {
    finish(words.iter().fold(HASH_SEED, |h, &w| mix(h, w)))
}

const HASH_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    let h = (h ^ w).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^ (h >> 32)
}

#[inline(always)]
fn finish(h: u64) -> u64 {
    let h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 29)
}

/// Open-addressing map from `words`-word keys to non-zero `u64` values.
///
/// Slot `i` is `table[i*stride ..][..words]` (key) and
/// `table[i*stride + words]` (value, 0 = empty); `stride = words + 1`.
/// At most half the slots are used, so a probe sequence always ends.
#[derive(Clone, Debug)]
pub(crate) struct KeyMap {
    words: usize,
    stride: usize,
    slot_mask: usize,
    len: usize,
    table: Vec<u64>,
}

impl KeyMap {
    /// A map of `entries`; for a repeated key, `combine(old, new)` decides.
    /// Values must be non-zero.
    pub(crate) fn build<'a>(
        words: usize,
        entries: impl ExactSizeIterator<Item = (&'a [u64], u64)>,
        combine: impl Fn(u64, u64) -> u64,
    ) -> KeyMap {
        let slots = (entries.len() * 2).next_power_of_two().max(2);
        let stride = words + 1;
        let mut map = KeyMap {
            words,
            stride,
            slot_mask: slots - 1,
            len: 0,
            table: vec![0; slots * stride],
        };
        for (k, v) in entries {
            debug_assert!(v != 0 && k.len() == words);
            let mut i = hash_words(k) as usize & map.slot_mask;
            loop {
                let s = &mut map.table[i * stride..(i + 1) * stride];
                if s[words] == 0 {
                    s[..words].copy_from_slice(k);
                    s[words] = v;
                    map.len += 1;
                    break;
                }
                if s[..words] == *k {
                    s[words] = combine(s[words], v);
                    break;
                }
                i = (i + 1) & map.slot_mask;
            }
        }
        map
    }

    /// The value of `key` (`key.len() == words`), or 0.
    #[inline]
    #[cfg(test)]
    pub(crate) fn get(&self, key: &[u64]) -> u64 {
        let mut i = hash_words(key) as usize & self.slot_mask;
        loop {
            let s = &self.table[i * self.stride..(i + 1) * self.stride];
            let v = s[self.words];
            if v == 0 || s[..self.words] == *key {
                return v;
            }
            i = (i + 1) & self.slot_mask;
        }
    }

    /// The value of the key `k[words[i]] & mask[i]` (for `i` in
    /// `0..words.len()`, which must equal the map's width), or 0.
    #[inline]
    pub(crate) fn get_masked(&self, k: &Words, words: &[u8], mask: &[u64]) -> u64 {
        let mut h: u64 = HASH_SEED;
        for (&w, &m) in words.iter().zip(mask) {
            h = mix(h, k[w as usize] & m);
        }
        let mut i = finish(h) as usize & self.slot_mask;
        loop {
            let s = &self.table[i * self.stride..(i + 1) * self.stride];
            let v = s[self.words];
            if v == 0 {
                return 0;
            }
            if s.iter()
                .zip(words.iter().zip(mask))
                .all(|(&x, (&w, &m))| x == k[w as usize] & m)
            {
                return v;
            }
            i = (i + 1) & self.slot_mask;
        }
    }

    /// The value of an `N`-word key (`N` must be the map's width), or 0.
    #[inline]
    pub(crate) fn get_n<const N: usize>(&self, key: &[u64; N]) -> u64 {
        let mut i = finish(key.iter().fold(HASH_SEED, |h, &w| mix(h, w))) as usize & self.slot_mask;
        loop {
            let Some(s) = self.table.get(i * (N + 1)..(i + 1) * (N + 1)) else {
                return 0;
            };
            let v = s[N];
            if v == 0 || s[..N] == key[..] {
                return v;
            }
            i = (i + 1) & self.slot_mask;
        }
    }

    /// The value of a one-word key, or 0 (`words` must be 1).
    #[inline]
    pub(crate) fn get1(&self, key: u64) -> u64 {
        let mut i = hash_words(&[key]) as usize & self.slot_mask;
        loop {
            let v = self.table[2 * i + 1];
            if v == 0 || self.table[2 * i] == key {
                return v;
            }
            i = (i + 1) & self.slot_mask;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> usize {
        self.table.len() * 8
    }

    /// All (key, value) pairs, in table order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u64], u64)> {
        self.table
            .chunks_exact(self.stride)
            .filter(|s| s[self.words] != 0)
            .map(|s| (&s[..self.words], s[self.words]))
    }
}

/// Multipliers [`IdMap`] tries, in order (odd; the first is 2^64 / phi).
const ID_MULS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xFF51_AFD7_ED55_8CCD,
    0xC4CE_B9FE_1A85_EC53,
    0xD6E8_FEB8_6659_FD93,
];

/// A probe run this long or shorter is good enough: stop trying
/// multipliers.
const ID_RUN_OK: usize = 16;

/// Map from 32-bit keys to non-zero `u32` values (answers, child
/// indices), for the one-word probes of the hot path: exact keys, direct
/// pairs, split children.
///
/// A slot is one `u64`, `value << 32 | key` (0 = empty), so a probe reads
/// 8 bytes and key and value share a cache line. The table has 1.5-3 home
/// slots per key (at most 2/3 full: denser than [`KeyMap`], since a big
/// table's misses cost more than its slightly longer probes) (`(key * mul) >> shift`, multiply-shift hashing) and is
/// probed linearly *without wrapping*: it ends at its last occupied slot,
/// so a probe stops at the first empty slot or at the end of the table
/// (no wrap-around arithmetic). `build`
/// tries a few multipliers and keeps the one with the shortest longest
/// run of occupied slots, which bounds every probe, hit or miss.
#[derive(Clone, Debug, Default)]
pub(crate) struct Map32 {
    slots: Box<[u64]>,
    mul: u64,
    shift: u32,
    len: usize,
}

impl Map32 {
    /// A map of `entries` (values non-zero); for a repeated key,
    /// `combine(old, new)` decides.
    pub(crate) fn build(
        entries: impl IntoIterator<Item = (u32, u32)>,
        combine: impl Fn(u32, u32) -> u32,
    ) -> Map32 {
        let mut merged: FastMap<u32, u32> = FastMap::default();
        for (k, v) in entries {
            debug_assert!(v != 0);
            merged
                .entry(k)
                .and_modify(|o| *o = combine(*o, v))
                .or_insert(v);
        }
        let mut merged: Vec<(u32, u32)> = merged.into_iter().collect();
        merged.sort_unstable();
        let bits = (merged.len() * 3 / 2)
            .next_power_of_two()
            .max(2)
            .trailing_zeros();
        let shift = 64 - bits;
        let mut best: Option<(usize, Vec<u64>, u64)> = None;
        for mul in ID_MULS {
            let mut slots = vec![0u64; 1 << bits];
            for &(k, v) in &merged {
                let mut i = (u64::from(k).wrapping_mul(mul) >> shift) as usize;
                while slots.get(i).is_some_and(|&s| s != 0) {
                    i += 1;
                }
                if i == slots.len() {
                    slots.push(0);
                }
                slots[i] = u64::from(v) << 32 | u64::from(k);
            }
            while slots.last() == Some(&0) {
                slots.pop();
            }
            let run = slots
                .split(|&s| s == 0)
                .map(<[u64]>::len)
                .max()
                .unwrap_or(0);
            if best.as_ref().map_or(true, |b| run < b.0) {
                best = Some((run, slots, mul));
            }
            if run <= ID_RUN_OK {
                break;
            }
        }
        let (_, slots, mul) = best.unwrap_or_default();
        Map32 {
            slots: slots.into_boxed_slice(),
            mul,
            shift,
            len: merged.len(),
        }
    }

    /// The value of `k`, or 0.
    #[inline]
    pub(crate) fn get(&self, k: u32) -> u32 {
        let mut i = (u64::from(k).wrapping_mul(self.mul) >> self.shift) as usize;
        while let Some(&s) = self.slots.get(i) {
            let v = (s >> 32) as u32;
            if v == 0 || s as u32 == k {
                return v;
            }
            i += 1;
        }
        0
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn bytes(&self) -> usize {
        self.slots.len() * 8
    }

    /// The longest run of occupied slots (a probe reads at most one more).
    #[cfg(test)]
    pub(crate) fn longest_run(&self) -> usize {
        self.slots
            .split(|&s| s == 0)
            .map(<[u64]>::len)
            .max()
            .unwrap_or(0)
    }

    /// All (key, value) pairs, in table order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|&&s| s != 0)
            .map(|&s| (s as u32, (s >> 32) as u32))
    }
}

/// Map from `u64` keys to non-zero `u32` values: a [`Map32`] when every
/// key fits in 32 bits (a wider key is then absent without a probe),
/// else the 16-byte slots of a [`KeyMap`].
#[derive(Clone, Debug)]
pub(crate) enum IdMap {
    Compact(Map32),
    Wide(KeyMap),
}

impl IdMap {
    /// A map of `entries` (values non-zero); for a repeated key,
    /// `combine(old, new)` decides.
    pub(crate) fn build(entries: &[(u64, u32)], combine: impl Fn(u32, u32) -> u32) -> IdMap {
        if entries.iter().all(|e| e.0 <= u64::from(u32::MAX)) {
            return IdMap::Compact(Map32::build(
                entries.iter().map(|&(k, v)| (k as u32, v)),
                combine,
            ));
        }
        let keys: Vec<([u64; 1], u64)> =
            entries.iter().map(|&(k, v)| ([k], u64::from(v))).collect();
        IdMap::Wide(KeyMap::build(
            1,
            keys.iter().map(|(k, v)| (&k[..], *v)),
            |a, b| u64::from(combine(a as u32, b as u32)),
        ))
    }

    /// The value of `key`, or 0.
    #[inline]
    pub(crate) fn get(&self, key: u64) -> u32 {
        match self {
            IdMap::Compact(m) => u32::try_from(key).map_or(0, |k| m.get(k)),
            IdMap::Wide(m) => m.get1(key) as u32,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            IdMap::Compact(m) => m.len(),
            IdMap::Wide(m) => m.len(),
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        match self {
            IdMap::Compact(m) => m.bytes(),
            IdMap::Wide(m) => m.bytes(),
        }
    }

    /// Whether the map has the 8-byte slots.
    #[cfg(test)]
    pub(crate) fn is_compact(&self) -> bool {
        matches!(self, IdMap::Compact(_))
    }

    /// All (key, value) pairs, in table order.
    pub(crate) fn pairs(&self) -> Vec<(u64, u32)> {
        match self {
            IdMap::Compact(m) => m.iter().map(|(k, v)| (u64::from(k), v)).collect(),
            IdMap::Wide(m) => m.iter().map(|(k, v)| (k[0], v as u32)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::ALL_FIELDS;
    use crate::pipeline::fields;
    use crate::rng::XorShift64;

    fn matches(k: &Words, p: &Packed) -> bool {
        (0..WORDS).all(|i| k[i] & p.mask[i] == p.value[i])
    }

    #[test]
    fn places_do_not_overlap() {
        let mut seen = [0u64; WORDS];
        let mut fields: Vec<Field> = ALL_FIELDS.to_vec();
        // Fields sharing storage share a place; count each place once.
        fields.retain(|f| {
            !matches!(
                f,
                Field::UdpSrc | Field::SctpSrc | Field::UdpDst | Field::SctpDst
            )
        });
        fields.retain(|f| !matches!(f, Field::Icmpv6Type | Field::Icmpv6Code));
        for f in fields {
            for (w, m) in ranges(f) {
                assert_eq!(seen[w] & m, 0, "{f:?}");
                seen[w] |= m;
            }
        }
    }

    /// Packing and extraction agree with `fields::raw` for every field.
    #[test]
    fn every_field_extracts_as_raw() {
        let mut rng = XorShift64::new(5);
        for _ in 0..50 {
            let mut bytes = [0u8; 160];
            rng.fill(&mut bytes);
            let w = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
            let wide = |i: usize| u128::from(w(i)) | u128::from(w(i + 8)) << 64;
            let key = FlowKey {
                eth_dst: w(0) & 0xffff_ffff_ffff,
                eth_src: w(8) & 0xffff_ffff_ffff,
                in_port: w(16) as u32,
                ipv4_src: w(20) as u32,
                ipv4_dst: w(24) as u32,
                eth_type: w(30) as u16,
                vlan_vid: w(32) as u16 & 0x1fff,
                vlan_pcp: w(34) as u8 & 7,
                tp_src: w(36) as u16,
                tp_dst: w(38) as u16,
                icmp_type: w(40) as u8,
                icmp_code: w(41) as u8,
                ip_dscp: w(42) as u8 & 63,
                ip_ecn: w(43) as u8 & 3,
                ip_proto: w(44) as u8,
                mpls_tc: w(45) as u8 & 7,
                mpls_bos: w(46) as u8 & 1,
                mpls_label: w(47) as u32 & 0xfffff,
                pbb_isid: w(51) as u32 & 0xff_ffff,
                ipv6_src: wide(60),
                ipv6_dst: wide(76),
                ipv6_flabel: w(92) as u32 & 0xfffff,
                ipv6_exthdr: w(96) as u16 & 0x1ff,
                arp_op: w(98) as u16,
                arp_spa: w(100) as u32,
                arp_tpa: w(104) as u32,
                arp_sha: w(108) & 0xffff_ffff_ffff,
                arp_tha: w(116) & 0xffff_ffff_ffff,
                ipv6_nd_target: wide(124),
                ipv6_nd_sll: w(140) & 0xffff_ffff_ffff,
                ipv6_nd_tll: w(148) & 0xffff_ffff_ffff,
                ..FlowKey::default()
            };
            let regs = Registers {
                metadata: w(1),
                tunnel_id: w(3),
            };
            for f in ALL_FIELDS {
                let v = fields::raw(&key, &regs, f);
                let mut m = Match::new();
                m.insert(f, v, None).unwrap();
                let p = pack(&m).unwrap();
                let groups = Groups::of_matches([&m]);
                assert!(matches(&extract(&key, &regs, groups), &p), "{f:?}");
                let mut other = Match::new();
                other
                    .insert(f, v ^ 1 << rng.below(u64::from(f.bits())), None)
                    .unwrap();
                assert!(
                    !matches(&extract(&key, &regs, groups), &pack(&other).unwrap()),
                    "{f:?}"
                );
            }
        }
    }

    #[test]
    fn shared_storage_contradiction_matches_nothing() {
        let mut m = Match::new();
        m.insert(Field::TcpDst, 80, None).unwrap();
        m.insert(Field::UdpDst, 81, None).unwrap();
        assert_eq!(pack(&m), None);
        let mut ok = Match::new();
        ok.insert(Field::TcpDst, 80, None).unwrap();
        ok.insert(Field::UdpDst, 80, Some(0xff)).unwrap();
        assert!(pack(&ok).is_some());
    }

    #[test]
    fn keymap_roundtrip() {
        let keys: Vec<[u64; 2]> = (0..1000u64).map(|i| [i * 7, i ^ 0x55]).collect();
        let map = KeyMap::build(
            2,
            keys.iter().enumerate().map(|(i, k)| (&k[..], i as u64 + 1)),
            |a, _| a,
        );
        assert_eq!(map.len(), 1000);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(k), i as u64 + 1);
        }
        assert_eq!(map.get(&[3, 3]), 0);
        let one: Vec<[u64; 1]> = (0..100u64).map(|i| [i << 40]).collect();
        let m1 = KeyMap::build(1, one.iter().map(|k| (&k[..], 9)), |a, b| a.max(b));
        assert!(one.iter().all(|k| m1.get1(k[0]) == 9));
        assert_eq!(m1.get1(1), 0);
    }

    /// A `Map32` answers like a `HashMap` for hits and misses: empty and
    /// one-entry maps, key 0 and `u32::MAX`, dense and clustered keys
    /// (runs of neighbours whose home slots collide), repeated keys.
    #[test]
    fn map32_equals_hashmap() {
        let mut rng = XorShift64::new(11);
        let sets: Vec<Vec<u32>> = vec![
            vec![],
            vec![0],
            vec![u32::MAX],
            vec![0, u32::MAX, 1, u32::MAX - 1],
            (0..1000).collect(),
            (0..1000).map(|i| i << 20).collect(),
            (0..5000).map(|_| rng.next_u32()).collect(),
            (0..300).map(|_| rng.next_u32() & 0xff).collect(),
        ];
        for keys in sets {
            let mut want = std::collections::HashMap::new();
            let entries: Vec<(u32, u32)> = keys
                .iter()
                .enumerate()
                .map(|(i, &k)| (k, i as u32 % 7 + 1))
                .collect();
            for &(k, v) in &entries {
                let e = want.entry(k).or_insert(v);
                *e = (*e).max(v);
            }
            let m = Map32::build(entries.iter().copied(), u32::max);
            assert_eq!(m.len(), want.len());
            assert!(m.longest_run() <= 64, "{}", m.longest_run());
            for (&k, &v) in &want {
                assert_eq!(m.get(k), v, "{k}");
            }
            let mut pairs: Vec<(u32, u32)> = m.iter().collect();
            pairs.sort_unstable();
            let mut expect: Vec<(u32, u32)> = want.iter().map(|(&k, &v)| (k, v)).collect();
            expect.sort_unstable();
            assert_eq!(pairs, expect);
            for _ in 0..2000 {
                let k = rng.next_u32();
                assert_eq!(m.get(k), want.get(&k).copied().unwrap_or(0));
            }
            for k in [0, 1, u32::MAX, 0x8000_0000] {
                assert_eq!(m.get(k), want.get(&k).copied().unwrap_or(0));
            }
        }
    }

    /// An `IdMap` is compact while every key fits in 32 bits (a wider key
    /// then misses), wide otherwise.
    #[test]
    fn idmap_compact_and_wide() {
        let small = IdMap::build(&[(0, 1), (7, 2), (u64::from(u32::MAX), 3)], |a, _| a);
        assert!(small.is_compact());
        assert_eq!(small.len(), 3);
        assert_eq!(
            (small.get(0), small.get(7), small.get(u64::from(u32::MAX))),
            (1, 2, 3)
        );
        assert_eq!(small.get(7 | 1 << 32), 0);
        assert_eq!(small.get(u64::MAX), 0);
        let wide = IdMap::build(&[(0, 1), (1 << 40, 2), (u64::MAX, 3)], |a, _| a);
        assert!(!wide.is_compact());
        assert_eq!(
            (wide.get(0), wide.get(1 << 40), wide.get(u64::MAX)),
            (1, 2, 3)
        );
        assert_eq!(wide.get(5), 0);
        let mut pairs = wide.pairs();
        pairs.sort_unstable();
        assert_eq!(pairs, [(0, 1), (1 << 40, 2), (u64::MAX, 3)]);
    }
}
