//! Reading OXM field values out of a packet's [`FlowKey`].
//!
//! What: the one place that maps an OpenFlow [`Field`] to the `FlowKey`
//! member that holds it, in the OXM value format the parser produces
//! (host order, `vlan_vid` with `OFPVID_PRESENT`, 6-bit DSCP ...).
//! Fields that are not in the packet (metadata, tunnel id) come from the
//! pipeline's [`Registers`].
//!
//! Stale fields: `wire::parse` only writes the fields of the layers it
//! finds. A field is read here only when a match names it, and every valid
//! match also names the field's prerequisites (checked when the flow is
//! parsed), which the packet must satisfy first; so [`matches()`] checks
//! fields in OXM order (prerequisites come first: eth_type before
//! ip_proto before tcp_src) and stops at the first mismatch.
//! [`value`] additionally reports `None` for a field whose layer the
//! packet lacks, for the tools that print packets.

use crate::openflow::{Field, Match};
use crate::wire::{present, FlowKey};

/// Pipeline state that OpenFlow matches but that is not in the packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Registers {
    /// `OXM_OF_METADATA`, written by `write_metadata`.
    pub metadata: u64,
    /// `OXM_OF_TUNNEL_ID` (0 for packets that did not arrive on a tunnel).
    pub tunnel_id: u64,
}

/// The field's value in `key`, without checking that the packet has it.
#[inline]
pub fn raw(key: &FlowKey, regs: &Registers, field: Field) -> u128 {
    match field {
        Field::InPort => key.in_port as u128,
        Field::Metadata => regs.metadata as u128,
        Field::EthDst => key.eth_dst as u128,
        Field::EthSrc => key.eth_src as u128,
        Field::EthType => key.eth_type as u128,
        Field::VlanVid => key.vlan_vid as u128,
        Field::VlanPcp => key.vlan_pcp as u128,
        Field::IpDscp => key.ip_dscp as u128,
        Field::IpEcn => key.ip_ecn as u128,
        Field::IpProto => key.ip_proto as u128,
        Field::Ipv4Src => key.ipv4_src as u128,
        Field::Ipv4Dst => key.ipv4_dst as u128,
        Field::TcpSrc | Field::UdpSrc | Field::SctpSrc => key.tp_src as u128,
        Field::TcpDst | Field::UdpDst | Field::SctpDst => key.tp_dst as u128,
        Field::Icmpv4Type | Field::Icmpv6Type => key.icmp_type as u128,
        Field::Icmpv4Code | Field::Icmpv6Code => key.icmp_code as u128,
        Field::ArpOp => key.arp_op as u128,
        Field::ArpSpa => key.arp_spa as u128,
        Field::ArpTpa => key.arp_tpa as u128,
        Field::ArpSha => key.arp_sha as u128,
        Field::ArpTha => key.arp_tha as u128,
        Field::Ipv6Src => key.ipv6_src,
        Field::Ipv6Dst => key.ipv6_dst,
        Field::Ipv6Flabel => key.ipv6_flabel as u128,
        Field::Ipv6NdTarget => key.ipv6_nd_target,
        Field::Ipv6NdSll => key.ipv6_nd_sll as u128,
        Field::Ipv6NdTll => key.ipv6_nd_tll as u128,
        Field::MplsLabel => key.mpls_label as u128,
        Field::MplsTc => key.mpls_tc as u128,
        Field::MplsBos => key.mpls_bos as u128,
        Field::PbbIsid => key.pbb_isid as u128,
        Field::TunnelId => regs.tunnel_id as u128,
        Field::Ipv6Exthdr => key.ipv6_exthdr as u128,
    }
}

/// Whether the packet has the layer that carries `field`.
pub fn has(key: &FlowKey, field: Field) -> bool {
    let p = key.present;
    let ip = p & (present::IPV4 | present::IPV6) != 0;
    let l4 = |proto: u8| ip && p & present::L4 != 0 && key.ip_proto == proto;
    match field {
        Field::InPort | Field::Metadata | Field::TunnelId => true,
        Field::EthDst | Field::EthSrc | Field::EthType | Field::VlanVid => true,
        Field::VlanPcp => p & present::VLAN != 0,
        Field::IpDscp | Field::IpEcn | Field::IpProto => ip,
        Field::Ipv4Src | Field::Ipv4Dst => p & present::IPV4 != 0,
        Field::TcpSrc | Field::TcpDst => l4(6),
        Field::UdpSrc | Field::UdpDst => l4(17),
        Field::SctpSrc | Field::SctpDst => l4(132),
        Field::Icmpv4Type | Field::Icmpv4Code => p & present::IPV4 != 0 && p & present::ICMP != 0,
        Field::Icmpv6Type | Field::Icmpv6Code => p & present::IPV6 != 0 && p & present::ICMP != 0,
        Field::ArpOp => p & present::ARP != 0,
        Field::ArpSpa | Field::ArpTpa | Field::ArpSha | Field::ArpTha => {
            p & present::ARP_ETH_IPV4 != 0
        }
        Field::Ipv6Src | Field::Ipv6Dst | Field::Ipv6Flabel | Field::Ipv6Exthdr => {
            p & present::IPV6 != 0
        }
        Field::Ipv6NdTarget => p & present::ND != 0,
        Field::Ipv6NdSll => p & present::ND_SLL != 0,
        Field::Ipv6NdTll => p & present::ND_TLL != 0,
        Field::MplsLabel | Field::MplsTc | Field::MplsBos => p & present::MPLS != 0,
        Field::PbbIsid => p & present::PBB != 0,
    }
}

/// The field's value, or `None` when the packet does not have it.
pub fn value(key: &FlowKey, regs: &Registers, field: Field) -> Option<u128> {
    has(key, field).then(|| raw(key, regs, field))
}

/// Whether the packet matches `m` (straight from the spec: every field
/// given must match under its mask).
pub fn matches(m: &Match, key: &FlowKey, regs: &Registers) -> bool {
    m.fields()
        .iter()
        .all(|f| f.matches(raw(key, regs, f.field)))
}
