//! OXM basic-class match fields (OpenFlow 1.3.5 §7.2.3.7, table 12).
//!
//! What: one [`Field`] per OXM field we support, with the facts the parser,
//! the validator and the pipeline need: width, maskability, whether
//! set-field may write it, prerequisites, and how ovs-ofctl spells and
//! formats its value.
//! How: the enum discriminant is the OXM field number, so sorting by
//! `Field` sorts by OXM order (the order ovs-ofctl prints); every fact is a
//! `match` on the variant (no tables to keep in sync).
//! Threads: plain `Copy` data, used by anyone.

use std::fmt;

/// An OXM `OFPXMC_OPENFLOW_BASIC` field. The discriminant is the OXM field
/// number (`OFPXMT_OFB_*`); `IN_PHY_PORT` (1) is not supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Field {
    InPort = 0,
    Metadata = 2,
    EthDst = 3,
    EthSrc = 4,
    EthType = 5,
    /// OXM value: VID | OFPVID_PRESENT (0x1000) when tagged, 0 when untagged.
    VlanVid = 6,
    VlanPcp = 7,
    /// The 6-bit DSCP (not the TOS byte).
    IpDscp = 8,
    IpEcn = 9,
    IpProto = 10,
    Ipv4Src = 11,
    Ipv4Dst = 12,
    TcpSrc = 13,
    TcpDst = 14,
    UdpSrc = 15,
    UdpDst = 16,
    SctpSrc = 17,
    SctpDst = 18,
    Icmpv4Type = 19,
    Icmpv4Code = 20,
    ArpOp = 21,
    ArpSpa = 22,
    ArpTpa = 23,
    ArpSha = 24,
    ArpTha = 25,
    Ipv6Src = 26,
    Ipv6Dst = 27,
    Ipv6Flabel = 28,
    Icmpv6Type = 29,
    Icmpv6Code = 30,
    Ipv6NdTarget = 31,
    Ipv6NdSll = 32,
    Ipv6NdTll = 33,
    MplsLabel = 34,
    MplsTc = 35,
    MplsBos = 36,
    PbbIsid = 37,
    TunnelId = 38,
    /// Pseudo-field: bitmap of `ofp_ipv6exthdr_flags` (see [`exthdr`]).
    Ipv6Exthdr = 39,
}

/// `OFPVID_PRESENT`: set in the OXM VLAN_VID value of a tagged packet.
pub const OFPVID_PRESENT: u16 = 0x1000;
/// `OFPVID_NONE`: the OXM VLAN_VID value of an untagged packet.
pub const OFPVID_NONE: u16 = 0x0000;

/// `ofp_ipv6exthdr_flags` bits of [`Field::Ipv6Exthdr`] and their ovs-style
/// names (as in `ipv6_exthdr=+hop-frag`).
pub mod exthdr {
    pub const NONEXT: u16 = 1 << 0;
    pub const ESP: u16 = 1 << 1;
    pub const AUTH: u16 = 1 << 2;
    pub const DEST: u16 = 1 << 3;
    pub const FRAG: u16 = 1 << 4;
    pub const ROUTER: u16 = 1 << 5;
    pub const HOP: u16 = 1 << 6;
    pub const UNREP: u16 = 1 << 7;
    pub const UNSEQ: u16 = 1 << 8;
    /// Name and bit of every flag.
    pub const NAMES: [(&str, u16); 9] = [
        ("nonext", NONEXT),
        ("esp", ESP),
        ("auth", AUTH),
        ("dest", DEST),
        ("frag", FRAG),
        ("router", ROUTER),
        ("hop", HOP),
        ("unrep", UNREP),
        ("unseq", UNSEQ),
    ];
}

/// Well-known ethertypes used by prerequisites and shorthands.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MCAST: u16 = 0x8848;
    pub const PBB: u16 = 0x88e7;
}

/// IP protocol numbers used by prerequisites and shorthands.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

use ethertype as et;

const IP_ANY: &[u16] = &[et::IPV4, et::IPV6];
const IPV4_ONLY: &[u16] = &[et::IPV4];
const IPV6_ONLY: &[u16] = &[et::IPV6];
const ARP_ONLY: &[u16] = &[et::ARP];
const MPLS_ANY: &[u16] = &[et::MPLS, et::MPLS_MCAST];
const PBB_ONLY: &[u16] = &[et::PBB];

/// What a match (or the packet at a set-field action) must already
/// guarantee before a field may be used (OF1.3.5 table 12; chains such as
/// TCP → IP_PROTO → ETH_TYPE are flattened into one requirement).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    None,
    /// `vlan_vid` matched with OFPVID_PRESENT set in value and mask.
    VlanPresent,
    /// `eth_type` is exactly one of these.
    EthType(&'static [u16]),
    /// `ip_proto` is exactly `proto` and `eth_type` one of `eth_types`.
    IpProto {
        eth_types: &'static [u16],
        proto: u8,
    },
    /// ICMPv6 (`eth_type=0x86dd,ip_proto=58`) with `icmpv6_type` one of these.
    Icmpv6Type(&'static [u8]),
}

impl fmt::Display for Prereq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Prereq::None => f.write_str("nothing"),
            Prereq::VlanPresent => f.write_str(
                "a VLAN tag (vlan_vid with OFPVID_PRESENT, e.g. vlan_vid=0x1000/0x1000 or dl_vlan=N)",
            ),
            Prereq::EthType(types) => {
                f.write_str("eth_type=")?;
                write_ethertypes(f, types)?;
                f.write_str(ethertype_hint(types))
            }
            Prereq::IpProto { eth_types, proto } => {
                write!(f, "ip_proto={proto} and eth_type=")?;
                write_ethertypes(f, eth_types)?;
                f.write_str(match (proto, eth_types.len()) {
                    (ipproto::TCP, 2) => " (tcp or tcp6)",
                    (ipproto::UDP, 2) => " (udp or udp6)",
                    (ipproto::SCTP, 2) => " (sctp or sctp6)",
                    (ipproto::ICMP, _) => " (icmp)",
                    (ipproto::ICMPV6, _) => " (icmp6)",
                    _ => "",
                })
            }
            Prereq::Icmpv6Type(types) => {
                f.write_str("icmp6 and icmpv6_type=")?;
                for (i, t) in types.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{t}")?;
                }
                Ok(())
            }
        }
    }
}

fn write_ethertypes(f: &mut fmt::Formatter<'_>, types: &[u16]) -> fmt::Result {
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            f.write_str(" or ")?;
        }
        write!(f, "0x{t:04x}")?;
    }
    Ok(())
}

fn ethertype_hint(types: &[u16]) -> &'static str {
    match types {
        [et::IPV4] => " (or ip/tcp/udp/sctp/icmp)",
        [et::IPV6] => " (or ipv6/tcp6/udp6/sctp6/icmp6)",
        [et::IPV4, et::IPV6] => " (or ip/ipv6)",
        [et::ARP] => " (or arp)",
        [et::MPLS, et::MPLS_MCAST] => " (or mpls/mplsm)",
        _ => "",
    }
}

/// How ovs-ofctl writes a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueFormat {
    /// Decimal (masked values print as hex).
    Decimal,
    /// `0x` hex, no padding.
    Hex,
    /// `0x` hex padded to 4 digits (`eth_type=0x0800`, `vlan_vid=0x1064`).
    Hex4,
    /// `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// Dotted quad, masks as `/prefix` when contiguous.
    Ipv4,
    /// RFC 5952 text, masks as `/prefix` when contiguous.
    Ipv6,
    /// An OpenFlow port number or reserved port name.
    Port,
}

/// Every supported field, in OXM order.
pub const ALL_FIELDS: [Field; 39] = [
    Field::InPort,
    Field::Metadata,
    Field::EthDst,
    Field::EthSrc,
    Field::EthType,
    Field::VlanVid,
    Field::VlanPcp,
    Field::IpDscp,
    Field::IpEcn,
    Field::IpProto,
    Field::Ipv4Src,
    Field::Ipv4Dst,
    Field::TcpSrc,
    Field::TcpDst,
    Field::UdpSrc,
    Field::UdpDst,
    Field::SctpSrc,
    Field::SctpDst,
    Field::Icmpv4Type,
    Field::Icmpv4Code,
    Field::ArpOp,
    Field::ArpSpa,
    Field::ArpTpa,
    Field::ArpSha,
    Field::ArpTha,
    Field::Ipv6Src,
    Field::Ipv6Dst,
    Field::Ipv6Flabel,
    Field::Icmpv6Type,
    Field::Icmpv6Code,
    Field::Ipv6NdTarget,
    Field::Ipv6NdSll,
    Field::Ipv6NdTll,
    Field::MplsLabel,
    Field::MplsTc,
    Field::MplsBos,
    Field::PbbIsid,
    Field::TunnelId,
    Field::Ipv6Exthdr,
];

impl Field {
    /// The OXM field number (`OFPXMT_OFB_*`).
    pub const fn oxm_id(self) -> u8 {
        self as u8
    }

    /// The field with OXM field number `id`, if supported.
    pub fn from_oxm_id(id: u8) -> Option<Field> {
        ALL_FIELDS.iter().copied().find(|f| f.oxm_id() == id)
    }

    /// The name ovs-ofctl accepts and that [`Display`](fmt::Display) prints
    /// (`nw_src`, `tun_id`, `ipv6_label`, `nd_target`, …).
    pub const fn name(self) -> &'static str {
        use Field::*;
        match self {
            InPort => "in_port",
            Metadata => "metadata",
            EthDst => "eth_dst",
            EthSrc => "eth_src",
            EthType => "eth_type",
            VlanVid => "vlan_vid",
            VlanPcp => "vlan_pcp",
            IpDscp => "ip_dscp",
            IpEcn => "ip_ecn",
            IpProto => "ip_proto",
            Ipv4Src => "nw_src",
            Ipv4Dst => "nw_dst",
            TcpSrc => "tcp_src",
            TcpDst => "tcp_dst",
            UdpSrc => "udp_src",
            UdpDst => "udp_dst",
            SctpSrc => "sctp_src",
            SctpDst => "sctp_dst",
            Icmpv4Type => "icmp_type",
            Icmpv4Code => "icmp_code",
            ArpOp => "arp_op",
            ArpSpa => "arp_spa",
            ArpTpa => "arp_tpa",
            ArpSha => "arp_sha",
            ArpTha => "arp_tha",
            Ipv6Src => "ipv6_src",
            Ipv6Dst => "ipv6_dst",
            Ipv6Flabel => "ipv6_label",
            Icmpv6Type => "icmpv6_type",
            Icmpv6Code => "icmpv6_code",
            Ipv6NdTarget => "nd_target",
            Ipv6NdSll => "nd_sll",
            Ipv6NdTll => "nd_tll",
            MplsLabel => "mpls_label",
            MplsTc => "mpls_tc",
            MplsBos => "mpls_bos",
            PbbIsid => "pbb_isid",
            TunnelId => "tun_id",
            Ipv6Exthdr => "ipv6_exthdr",
        }
    }

    /// The OXM name in lower case (`ipv4_src`, `tunnel_id`, `ipv6_flabel`).
    pub const fn oxm_name(self) -> &'static str {
        use Field::*;
        match self {
            Ipv4Src => "ipv4_src",
            Ipv4Dst => "ipv4_dst",
            Icmpv4Type => "icmpv4_type",
            Icmpv4Code => "icmpv4_code",
            Ipv6Flabel => "ipv6_flabel",
            Ipv6NdTarget => "ipv6_nd_target",
            Ipv6NdSll => "ipv6_nd_sll",
            Ipv6NdTll => "ipv6_nd_tll",
            TunnelId => "tunnel_id",
            other => other.name(),
        }
    }

    /// Width of the OXM value in bits (VLAN_VID: 12 + OFPVID_PRESENT = 13).
    pub const fn bits(self) -> u32 {
        use Field::*;
        match self {
            InPort => 32,
            Metadata | TunnelId => 64,
            EthDst | EthSrc | ArpSha | ArpTha | Ipv6NdSll | Ipv6NdTll => 48,
            EthType | TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc | SctpDst | ArpOp => 16,
            VlanVid => 13,
            VlanPcp | MplsTc => 3,
            IpDscp => 6,
            IpEcn => 2,
            IpProto | Icmpv4Type | Icmpv4Code | Icmpv6Type | Icmpv6Code => 8,
            Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa => 32,
            Ipv6Src | Ipv6Dst | Ipv6NdTarget => 128,
            Ipv6Flabel | MplsLabel => 20,
            MplsBos => 1,
            PbbIsid => 24,
            Ipv6Exthdr => 9,
        }
    }

    /// All value bits set: the mask of an exact match.
    pub const fn full_mask(self) -> u128 {
        let bits = self.bits();
        if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        }
    }

    /// Whether a match may carry a mask. Per OF1.3.5 table 12, plus the
    /// TCP/UDP/SCTP ports, which Open vSwitch lets you mask (the ACL
    /// benchmark matches port blocks as value/mask).
    pub const fn maskable(self) -> bool {
        use Field::*;
        matches!(
            self,
            Metadata
                | EthDst
                | EthSrc
                | VlanVid
                | Ipv4Src
                | Ipv4Dst
                | ArpSpa
                | ArpTpa
                | ArpSha
                | ArpTha
                | Ipv6Src
                | Ipv6Dst
                | Ipv6Flabel
                | PbbIsid
                | TunnelId
                | Ipv6Exthdr
                | TcpSrc
                | TcpDst
                | UdpSrc
                | UdpDst
                | SctpSrc
                | SctpDst
        )
    }

    /// Whether set-field may write it. OF1.3.5 §7.2.5 excludes IN_PORT,
    /// IN_PHY_PORT and METADATA (not header fields); IPV6_EXTHDR is a
    /// computed pseudo-field. Everything else, including eth_type, ip_proto
    /// and mpls_bos (which Open vSwitch refuses), may be set.
    pub const fn writable(self) -> bool {
        !matches!(self, Field::InPort | Field::Metadata | Field::Ipv6Exthdr)
    }

    /// The field's prerequisite (OF1.3.5 table 12, flattened).
    pub const fn prereq(self) -> Prereq {
        use Field::*;
        match self {
            InPort | Metadata | EthDst | EthSrc | EthType | VlanVid | TunnelId => Prereq::None,
            VlanPcp => Prereq::VlanPresent,
            IpDscp | IpEcn | IpProto => Prereq::EthType(IP_ANY),
            Ipv4Src | Ipv4Dst => Prereq::EthType(IPV4_ONLY),
            TcpSrc | TcpDst => Prereq::IpProto {
                eth_types: IP_ANY,
                proto: ipproto::TCP,
            },
            UdpSrc | UdpDst => Prereq::IpProto {
                eth_types: IP_ANY,
                proto: ipproto::UDP,
            },
            SctpSrc | SctpDst => Prereq::IpProto {
                eth_types: IP_ANY,
                proto: ipproto::SCTP,
            },
            Icmpv4Type | Icmpv4Code => Prereq::IpProto {
                eth_types: IPV4_ONLY,
                proto: ipproto::ICMP,
            },
            ArpOp | ArpSpa | ArpTpa | ArpSha | ArpTha => Prereq::EthType(ARP_ONLY),
            Ipv6Src | Ipv6Dst | Ipv6Flabel | Ipv6Exthdr => Prereq::EthType(IPV6_ONLY),
            Icmpv6Type | Icmpv6Code => Prereq::IpProto {
                eth_types: IPV6_ONLY,
                proto: ipproto::ICMPV6,
            },
            Ipv6NdTarget => Prereq::Icmpv6Type(&[135, 136]),
            Ipv6NdSll => Prereq::Icmpv6Type(&[135]),
            Ipv6NdTll => Prereq::Icmpv6Type(&[136]),
            MplsLabel | MplsTc | MplsBos => Prereq::EthType(MPLS_ANY),
            PbbIsid => Prereq::EthType(PBB_ONLY),
        }
    }

    /// How the value is written.
    pub const fn format(self) -> ValueFormat {
        use Field::*;
        match self {
            InPort => ValueFormat::Port,
            Metadata | TunnelId | Ipv6Flabel | PbbIsid | Ipv6Exthdr => ValueFormat::Hex,
            EthType | VlanVid => ValueFormat::Hex4,
            EthDst | EthSrc | ArpSha | ArpTha | Ipv6NdSll | Ipv6NdTll => ValueFormat::Mac,
            Ipv4Src | Ipv4Dst | ArpSpa | ArpTpa => ValueFormat::Ipv4,
            Ipv6Src | Ipv6Dst | Ipv6NdTarget => ValueFormat::Ipv6,
            _ => ValueFormat::Decimal,
        }
    }

    /// A field named exactly by one of its OF / ovs names: the display name,
    /// the OXM name, or a plain ovs alias (`dl_src`, `nw_proto`, `ip_src`,
    /// `tunnel_id`, …). Aliases whose value means something else
    /// (`dl_vlan`, `vlan_tci`, `nw_tos`, `tp_src`) are not fields; the
    /// parser handles them.
    pub fn from_name(name: &str) -> Option<Field> {
        use Field::*;
        Some(match name {
            "in_port" => InPort,
            "metadata" => Metadata,
            "eth_dst" | "dl_dst" => EthDst,
            "eth_src" | "dl_src" => EthSrc,
            "eth_type" | "dl_type" => EthType,
            "vlan_vid" => VlanVid,
            "vlan_pcp" => VlanPcp,
            "ip_dscp" => IpDscp,
            "ip_ecn" | "nw_ecn" => IpEcn,
            "ip_proto" | "nw_proto" => IpProto,
            "nw_src" | "ip_src" | "ipv4_src" => Ipv4Src,
            "nw_dst" | "ip_dst" | "ipv4_dst" => Ipv4Dst,
            "tcp_src" => TcpSrc,
            "tcp_dst" => TcpDst,
            "udp_src" => UdpSrc,
            "udp_dst" => UdpDst,
            "sctp_src" => SctpSrc,
            "sctp_dst" => SctpDst,
            "icmp_type" | "icmpv4_type" => Icmpv4Type,
            "icmp_code" | "icmpv4_code" => Icmpv4Code,
            "arp_op" => ArpOp,
            "arp_spa" => ArpSpa,
            "arp_tpa" => ArpTpa,
            "arp_sha" => ArpSha,
            "arp_tha" => ArpTha,
            "ipv6_src" => Ipv6Src,
            "ipv6_dst" => Ipv6Dst,
            "ipv6_label" | "ipv6_flabel" => Ipv6Flabel,
            "icmpv6_type" => Icmpv6Type,
            "icmpv6_code" => Icmpv6Code,
            "nd_target" | "ipv6_nd_target" => Ipv6NdTarget,
            "nd_sll" | "ipv6_nd_sll" => Ipv6NdSll,
            "nd_tll" | "ipv6_nd_tll" => Ipv6NdTll,
            "mpls_label" => MplsLabel,
            "mpls_tc" => MplsTc,
            "mpls_bos" => MplsBos,
            "pbb_isid" => PbbIsid,
            "tun_id" | "tunnel_id" => TunnelId,
            "ipv6_exthdr" => Ipv6Exthdr,
            _ => return None,
        })
    }

    /// A field named in NXM/OXM register style, as in `load:` destinations:
    /// `OXM_OF_<OXM NAME>` for every field, or one of the `NXM_OF_*` /
    /// `NXM_NX_*` names whose value means the same as the OXM field.
    pub fn from_register_name(name: &str) -> Option<Field> {
        if let Some(rest) = name.strip_prefix("OXM_OF_") {
            return ALL_FIELDS
                .iter()
                .copied()
                .find(|f| f.oxm_name().eq_ignore_ascii_case(rest));
        }
        use Field::*;
        Some(match name {
            "NXM_OF_ETH_DST" => EthDst,
            "NXM_OF_ETH_SRC" => EthSrc,
            "NXM_OF_ETH_TYPE" => EthType,
            "NXM_OF_IP_PROTO" => IpProto,
            "NXM_OF_IP_SRC" => Ipv4Src,
            "NXM_OF_IP_DST" => Ipv4Dst,
            "NXM_OF_TCP_SRC" => TcpSrc,
            "NXM_OF_TCP_DST" => TcpDst,
            "NXM_OF_UDP_SRC" => UdpSrc,
            "NXM_OF_UDP_DST" => UdpDst,
            "NXM_OF_ICMP_TYPE" => Icmpv4Type,
            "NXM_OF_ICMP_CODE" => Icmpv4Code,
            "NXM_OF_ARP_OP" => ArpOp,
            "NXM_OF_ARP_SPA" => ArpSpa,
            "NXM_OF_ARP_TPA" => ArpTpa,
            "NXM_NX_ARP_SHA" => ArpSha,
            "NXM_NX_ARP_THA" => ArpTha,
            "NXM_NX_IPV6_SRC" => Ipv6Src,
            "NXM_NX_IPV6_DST" => Ipv6Dst,
            "NXM_NX_IPV6_LABEL" => Ipv6Flabel,
            "NXM_NX_ICMPV6_TYPE" => Icmpv6Type,
            "NXM_NX_ICMPV6_CODE" => Icmpv6Code,
            "NXM_NX_ND_TARGET" => Ipv6NdTarget,
            "NXM_NX_ND_SLL" => Ipv6NdSll,
            "NXM_NX_ND_TLL" => Ipv6NdTll,
            "NXM_NX_IP_ECN" => IpEcn,
            "NXM_NX_TUN_ID" => TunnelId,
            _ => return None,
        })
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
