//! `FlowKey`: every OpenFlow 1.3 basic-class match field of one packet,
//! plus the layer offsets that header rewriting needs.
//!
//! See [`FlowKey`] for the design and the field representation.
use super::ethernet::mac_from_u64;

/// Bits of [`FlowKey::present`]: which layers `parse` found.
pub mod present {
    /// At least one 802.1Q/802.1ad tag (`vlan_vid`, `vlan_pcp` are the
    /// outermost).
    pub const VLAN: u16 = 1 << 0;
    /// MPLS label stack entry (the top one) in the `mpls_*` fields.
    pub const MPLS: u16 = 1 << 1;
    /// PBB I-TAG (`pbb_isid`).
    pub const PBB: u16 = 1 << 2;
    /// ARP packet (`arp_op`).
    pub const ARP: u16 = 1 << 3;
    /// ARP addresses are Ethernet/IPv4 (`arp_spa` ... `arp_tha`).
    pub const ARP_ETH_IPV4: u16 = 1 << 4;
    pub const IPV4: u16 = 1 << 5;
    pub const IPV6: u16 = 1 << 6;
    /// A TCP, UDP or SCTP header was read (`tp_src`, `tp_dst`).
    pub const L4: u16 = 1 << 7;
    /// An ICMPv4 or ICMPv6 header was read (`icmp_type`, `icmp_code`).
    pub const ICMP: u16 = 1 << 8;
    /// ND solicitation/advertisement with code 0 (`ipv6_nd_target`).
    pub const ND: u16 = 1 << 9;
    /// ND source link-layer address option (in an NS).
    pub const ND_SLL: u16 = 1 << 10;
    /// ND target link-layer address option (in an NA).
    pub const ND_TLL: u16 = 1 << 11;
    /// An IP fragment: IPv4 MF or offset, or an IPv6 fragment header.
    pub const FRAG: u16 = 1 << 12;
    /// A fragment other than the first: no L4 header, ports are 0.
    pub const LATER_FRAG: u16 = 1 << 13;
}

/// OpenFlow 1.3 `ofp_ipv6exthdr_flags` (the `OXM_OF_IPV6_EXTHDR` value).
///
/// `parse` sets a bit for each extension header it walks. `UNSEQ` is set
/// when the headers depart from RFC 8200's recommended order (hop-by-hop
/// first; then destination options, routing, fragment, AH, ESP,
/// destination options); `UNREP` when one occurs more often than allowed
/// (each once, destination options twice: once before a routing header and
/// once after it).
pub mod exthdr {
    /// "No next header" encountered.
    pub const NONEXT: u16 = 1 << 0;
    /// Encrypted security payload header present.
    pub const ESP: u16 = 1 << 1;
    /// Authentication header present.
    pub const AUTH: u16 = 1 << 2;
    /// One or two destination options headers present.
    pub const DEST: u16 = 1 << 3;
    /// Fragment header present.
    pub const FRAG: u16 = 1 << 4;
    /// Routing header present.
    pub const ROUTER: u16 = 1 << 5;
    /// Hop-by-hop options header present.
    pub const HOP: u16 = 1 << 6;
    /// Unexpected repeats encountered.
    pub const UNREP: u16 = 1 << 7;
    /// Unexpected sequencing encountered.
    pub const UNSEQ: u16 = 1 << 8;
}

/// The match fields and layer offsets of one packet.
///
/// # Design
///
/// What: the output of [`parse`](super::parse), the input of the
/// classifier and of the action executor. One key per packet in flight; a
/// worker keeps an array of them for its burst and reuses it, so the key
/// is never reset as a whole.
///
/// How: a flat `repr(C)` struct of host-order integers (160 bytes, 16-byte
/// aligned). The first 64-byte cache line holds what most lookups read
/// (in_port, Ethernet, VLAN, IPv4, ports, ICMP, MPLS, PBB); the second
/// and third hold IPv6, ARP and ND. `parse` writes only the fields of the
/// layers it finds and records those layers in [`FlowKey::present`]; the
/// others keep whatever an earlier packet left there (*stale*).
///
/// The guarantee: **every field whose OpenFlow 1.3 prerequisites are met by
/// this key's own fields has been written for this packet** (zero when the
/// packet lacks it). A classifier that honours the prerequisites (as every
/// valid OpenFlow match does: `tcp_src` requires `ip_proto=6`, which
/// requires `eth_type=0x0800` or `0x86dd`) therefore never reads a stale
/// byte. Concretely:
///
/// | written | fields |
/// | --- | --- |
/// | always | `in_port`, `eth_dst`, `eth_src`, `eth_type`, `vlan_vid`, `vlan_pcp`, `vlan_count`, `present`, `l3_offset`, `l4_offset` |
/// | `eth_type` is MPLS | `mpls_label`, `mpls_tc`, `mpls_bos`, `mpls_ttl` |
/// | `eth_type` is PBB | `pbb_isid` |
/// | `eth_type` is ARP | `arp_op`, `arp_spa`, `arp_tpa`, `arp_sha`, `arp_tha` (addresses zero unless Ethernet/IPv4) |
/// | IPv4 or IPv6 | `ip_dscp`, `ip_ecn`, `ip_proto`, `ip_ttl`, `tp_src`, `tp_dst`, `tcp_flags`, `icmp_type`, `icmp_code` (L4 ones zero unless that header was read) |
/// | IPv4 | `ipv4_src`, `ipv4_dst` |
/// | IPv6 | `ipv6_src`, `ipv6_dst`, `ipv6_flabel`, `ipv6_exthdr` |
/// | ICMPv6 type 135 or 136 | `ipv6_nd_target`, `ipv6_nd_sll`, `ipv6_nd_tll` (zero when absent, or when the code is not 0) |
///
/// [`FlowKey::normalized`] zeroes every field not written, for comparisons
/// and printing.
///
/// Threads: a key belongs to the worker that parsed the packet; it is
/// `Copy` and holds no references.
///
/// # Representation
///
/// All integers are host order, the value a person writes: `ipv4_src` of
/// 10.0.0.1 is `0x0a00_0001`; a MAC `00:11:22:33:44:55` is
/// `0x0000_0011_2233_4455` (low 48 bits, first wire byte most significant,
/// see [`mac_to_u64`](super::mac_to_u64)); IPv6 addresses are `u128` the
/// same way. Fields follow the OXM value formats of OpenFlow 1.3 §7.2.3.7:
/// `vlan_vid` is `OFPVID_PRESENT | vid` (0x1000 | vid) or 0 without a tag;
/// `ip_dscp` is the 6-bit DSCP (not the ToS byte); `mpls_label` is 20
/// bits, `pbb_isid` 24 bits, `ipv6_flabel` 20 bits; `ipv6_exthdr` holds
/// the [`exthdr`] bits.
///
/// OXM fields that share storage because their prerequisites exclude each
/// other: `tcp_src`/`udp_src`/`sctp_src` are `tp_src` (and `*_dst` are
/// `tp_dst`), told apart by `ip_proto`; `icmpv4_type`/`icmpv6_type` are
/// `icmp_type` (and the codes `icmp_code`), told apart by `eth_type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct FlowKey {
    // ---- cache line 0 ----
    // (Fields that parse writes together sit side by side, so that their
    // stores merge.)
    /// `OXM_OF_ETH_DST`, low 48 bits.
    pub eth_dst: u64,
    /// `OXM_OF_ETH_SRC`, low 48 bits.
    pub eth_src: u64,
    /// `OXM_OF_IN_PORT`: as given to `parse`.
    pub in_port: u32,
    /// `OXM_OF_IPV4_SRC`.
    pub ipv4_src: u32,
    /// `OXM_OF_IPV4_DST`.
    pub ipv4_dst: u32,
    /// [`present`] bits.
    pub present: u16,
    /// `OXM_OF_ETH_TYPE`: the ethertype after all VLAN tags (MPLS and PBB
    /// ethertypes included; parsing stops there). Values below 0x0600 are
    /// 802.3 length fields, passed through unchanged.
    pub eth_type: u16,
    /// Byte offset of the header after the Ethernet header and VLAN tags
    /// (IPv4, IPv6, ARP, the top MPLS entry, the PBB I-TAG, or an unknown
    /// payload).
    pub l3_offset: u16,
    /// Byte offset of the header that `ip_proto` names, after all IPv6
    /// extension headers that were skipped (for a later fragment: of the
    /// fragment data); 0 when the packet is not IP.
    pub l4_offset: u16,
    /// `OXM_OF_VLAN_VID` of the outer tag: `0x1000 | vid`, or 0 untagged.
    pub vlan_vid: u16,
    /// `OXM_OF_VLAN_PCP` of the outer tag (0 untagged).
    pub vlan_pcp: u8,
    /// Number of VLAN tags (0 ..= `MAX_VLAN_TAGS`).
    pub vlan_count: u8,
    /// `OXM_OF_{TCP,UDP,SCTP}_SRC`.
    pub tp_src: u16,
    /// `OXM_OF_{TCP,UDP,SCTP}_DST`.
    pub tp_dst: u16,
    /// TCP flags (9 bits; not an OF 1.3 field, kept for OF 1.5's
    /// `tcp_flags`); 0 unless TCP.
    pub tcp_flags: u16,
    /// `OXM_OF_ICMPV4_TYPE` / `OXM_OF_ICMPV6_TYPE`.
    pub icmp_type: u8,
    /// `OXM_OF_ICMPV4_CODE` / `OXM_OF_ICMPV6_CODE`.
    pub icmp_code: u8,
    /// `OXM_OF_IP_DSCP` (6 bits).
    pub ip_dscp: u8,
    /// `OXM_OF_IP_ECN` (2 bits).
    pub ip_ecn: u8,
    /// `OXM_OF_IP_PROTO`: IPv4 protocol, or the IPv6 next header after the
    /// extension headers (50 after ESP, 59 for none, the fragment header's
    /// next header in a later fragment).
    pub ip_proto: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ip_ttl: u8,
    /// `OXM_OF_MPLS_TC` (3 bits) of the top entry.
    pub mpls_tc: u8,
    /// `OXM_OF_MPLS_BOS` (0 or 1) of the top entry.
    pub mpls_bos: u8,
    /// TTL of the top MPLS entry.
    pub mpls_ttl: u8,
    /// `OXM_OF_MPLS_LABEL` (20 bits) of the top entry.
    pub mpls_label: u32,
    /// `OXM_OF_PBB_ISID` (24 bits).
    pub pbb_isid: u32,
    // ---- cache lines 1 and 2 ----
    /// `OXM_OF_IPV6_SRC`.
    pub ipv6_src: u128,
    /// `OXM_OF_IPV6_DST`.
    pub ipv6_dst: u128,
    /// `OXM_OF_IPV6_FLABEL` (20 bits).
    pub ipv6_flabel: u32,
    /// `OXM_OF_IPV6_EXTHDR`: [`exthdr`] bits.
    pub ipv6_exthdr: u16,
    /// `OXM_OF_ARP_OP`.
    pub arp_op: u16,
    /// `OXM_OF_ARP_SPA`.
    pub arp_spa: u32,
    /// `OXM_OF_ARP_TPA`.
    pub arp_tpa: u32,
    /// `OXM_OF_ARP_SHA`, low 48 bits.
    pub arp_sha: u64,
    /// `OXM_OF_ARP_THA`, low 48 bits.
    pub arp_tha: u64,
    /// `OXM_OF_IPV6_ND_TARGET`.
    pub ipv6_nd_target: u128,
    /// `OXM_OF_IPV6_ND_SLL`, low 48 bits.
    pub ipv6_nd_sll: u64,
    /// `OXM_OF_IPV6_ND_TLL`, low 48 bits.
    pub ipv6_nd_tll: u64,
}

impl FlowKey {
    /// Does the key have all these [`present`] bits?
    #[inline(always)]
    pub const fn has(&self, bits: u16) -> bool {
        self.present & bits == bits
    }

    /// Is this an IPv4 or IPv6 packet?
    #[inline(always)]
    pub const fn is_ip(&self) -> bool {
        self.present & (present::IPV4 | present::IPV6) != 0
    }

    /// A copy with every field that `parse` did not write for this packet
    /// (see the table in [`FlowKey`]) set to zero, so that two keys of the same
    /// packet compare equal whatever their history.
    pub fn normalized(&self) -> FlowKey {
        let mut k = FlowKey {
            in_port: self.in_port,
            eth_dst: self.eth_dst,
            eth_src: self.eth_src,
            eth_type: self.eth_type,
            vlan_vid: self.vlan_vid,
            vlan_pcp: self.vlan_pcp,
            vlan_count: self.vlan_count,
            present: self.present,
            l3_offset: self.l3_offset,
            l4_offset: self.l4_offset,
            ..FlowKey::default()
        };
        if self.has(present::MPLS) {
            k.mpls_label = self.mpls_label;
            k.mpls_tc = self.mpls_tc;
            k.mpls_bos = self.mpls_bos;
            k.mpls_ttl = self.mpls_ttl;
        }
        if self.has(present::PBB) {
            k.pbb_isid = self.pbb_isid;
        }
        if self.has(present::ARP) {
            k.arp_op = self.arp_op;
            k.arp_spa = self.arp_spa;
            k.arp_tpa = self.arp_tpa;
            k.arp_sha = self.arp_sha;
            k.arp_tha = self.arp_tha;
        }
        if self.is_ip() {
            k.ip_dscp = self.ip_dscp;
            k.ip_ecn = self.ip_ecn;
            k.ip_proto = self.ip_proto;
            k.ip_ttl = self.ip_ttl;
            k.tp_src = self.tp_src;
            k.tp_dst = self.tp_dst;
            k.tcp_flags = self.tcp_flags;
            k.icmp_type = self.icmp_type;
            k.icmp_code = self.icmp_code;
        }
        if self.has(present::IPV4) {
            k.ipv4_src = self.ipv4_src;
            k.ipv4_dst = self.ipv4_dst;
        }
        if self.has(present::IPV6) {
            k.ipv6_src = self.ipv6_src;
            k.ipv6_dst = self.ipv6_dst;
            k.ipv6_flabel = self.ipv6_flabel;
            k.ipv6_exthdr = self.ipv6_exthdr;
            if self.has(present::ICMP)
                && self.ip_proto == super::ip_proto::ICMPV6
                && (self.icmp_type == super::icmpv6::NEIGHBOR_SOLICIT
                    || self.icmp_type == super::icmpv6::NEIGHBOR_ADVERT)
            {
                k.ipv6_nd_target = self.ipv6_nd_target;
                k.ipv6_nd_sll = self.ipv6_nd_sll;
                k.ipv6_nd_tll = self.ipv6_nd_tll;
            }
        }
        k
    }

    /// `eth_dst` as wire bytes.
    pub fn eth_dst_bytes(&self) -> [u8; 6] {
        mac_from_u64(self.eth_dst)
    }

    /// `eth_src` as wire bytes.
    pub fn eth_src_bytes(&self) -> [u8; 6] {
        mac_from_u64(self.eth_src)
    }

    /// The VLAN id of the outer tag, if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.has(present::VLAN).then_some(self.vlan_vid & 0x0fff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_compact() {
        assert_eq!(core::mem::size_of::<FlowKey>(), 160);
        assert_eq!(core::mem::offset_of!(FlowKey, pbb_isid), 60);
        assert_eq!(core::mem::offset_of!(FlowKey, vlan_count), 39);
        assert_eq!(core::mem::offset_of!(FlowKey, icmp_code), 47);
        assert_eq!(core::mem::offset_of!(FlowKey, ipv6_src), 64);
    }

    #[test]
    fn normalized_drops_stale_fields() {
        let k = FlowKey {
            present: present::IPV4,
            ipv4_src: 1,
            ipv6_src: 99,
            arp_op: 2,
            mpls_label: 5,
            tp_src: 80,
            ..FlowKey::default()
        };
        let n = k.normalized();
        assert_eq!(n.ipv4_src, 1);
        assert_eq!(n.tp_src, 80);
        assert_eq!((n.ipv6_src, n.arp_op, n.mpls_label), (0, 0, 0));
        assert_eq!(n.vlan_id(), None);
    }
}
