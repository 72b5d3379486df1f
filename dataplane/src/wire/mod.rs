//! Packet headers on byte slices: zero-copy views, one-pass flow-key
//! extraction, checksums, a frame builder and a pcap reader/writer.
//!
//! # Views
//!
//! Every header has a view type generic over its buffer, in the manner of
//! smoltcp: `Ipv4Packet<T: AsRef<[u8]>>` wraps a byte slice (or a `Vec`,
//! or a `&mut [u8]`) without copying. Byte positions live in a private
//! `mod field` of each file. Each view has
//!
//! * `new_unchecked(buffer)`: wraps without looking at the bytes;
//! * `check_len()`: returns `Err(Malformed)` unless the buffer is long
//!   enough for the fixed header *and* every length the header itself
//!   declares (IPv4 IHL and total length, TCP data offset, ...) is
//!   consistent with the buffer;
//! * `new_checked(buffer)`: `new_unchecked` followed by `check_len`;
//! * getters (on `T: AsRef<[u8]>`) and setters (on `T: AsMut<[u8]>`) that
//!   take and return host-order integers.
//!
//! **The rule: after `check_len` has returned `Ok`, no accessor of that view
//! panics.** Accessors called on a view made with `new_unchecked` whose
//! buffer is too short may panic (they index the slice); that is the price
//! of not checking twice. `payload()`-style accessors return the bytes that
//! the header declares, clamped to the buffer.
//!
//! # The hot path
//!
//! [`parse`] fills a [`FlowKey`] with every OpenFlow 1.3 basic-class match
//! field in one pass over the frame. It never allocates and never panics: any
//! truncated or inconsistent header yields a [`Malformed`] reason, which the
//! worker turns into a counted drop (see [`Malformed::index`]).
//!
//! # Off the hot path
//!
//! [`checksum`] (RFC 1071 sums, pseudo-headers, RFC 1624 incremental
//! updates, CRC32c for SCTP), [`build`] (a builder of valid frames for tests
//! and traffic generators) and [`pcap`] (classic libpcap files) may allocate.
#![deny(unsafe_code)]

pub mod arp;
pub mod build;
pub mod checksum;
pub mod ethernet;
mod flow_key;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
mod parse;
pub mod pbb;
pub mod pcap;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;

#[cfg(test)]
mod tests;

pub use arp::ArpPacket;
pub use ethernet::{ethertype, mac_from_u64, mac_to_u64, EthernetFrame, MacAddr};
pub use flow_key::{exthdr, present, FlowKey};
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::{Icmpv6Packet, NdMessage, NdOption, NdOptions};
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6ExtHeader, Ipv6FragHeader, Ipv6Packet};
pub use mpls::MplsEntry;
pub use parse::{parse, MAX_IPV6_EXT_HEADERS, MAX_VLAN_TAGS};
pub use pbb::PbbITag;
pub use sctp::SctpPacket;
pub use tcp::TcpPacket;
pub use udp::UdpPacket;
pub use vlan::VlanTag;

/// IP protocol numbers (IPv4 `protocol`, IPv6 `next header`) that this
/// module knows by name.
pub mod ip_proto {
    pub const HOPOPT: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6_ROUTE: u8 = 43;
    pub const IPV6_FRAG: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NONXT: u8 = 59;
    pub const IPV6_OPTS: u8 = 60;
    pub const SCTP: u8 = 132;
}

/// The header in which a [`Malformed::Truncated`] frame ran out of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    Mpls,
    Pbb,
    Arp,
    Ipv4,
    Ipv6,
    Ipv6Ext,
    Icmpv4,
    Icmpv6,
    Nd,
    Tcp,
    Udp,
    Sctp,
}

impl Layer {
    /// Every layer, in [`Layer::index`] order.
    pub const ALL: [Layer; 14] = [
        Layer::Ethernet,
        Layer::Vlan,
        Layer::Mpls,
        Layer::Pbb,
        Layer::Arp,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Ipv6Ext,
        Layer::Icmpv4,
        Layer::Icmpv6,
        Layer::Nd,
        Layer::Tcp,
        Layer::Udp,
        Layer::Sctp,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::Mpls => "mpls",
            Layer::Pbb => "pbb",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Ipv6Ext => "ipv6_ext",
            Layer::Icmpv4 => "icmpv4",
            Layer::Icmpv6 => "icmpv6",
            Layer::Nd => "nd",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Sctp => "sctp",
        }
    }
}

/// Why a frame (or a header view) was rejected.
///
/// Each reason has a stable snake_case name ([`Malformed::as_str`], usable
/// as a metrics label) and a dense index ([`Malformed::index`], below
/// [`Malformed::COUNT`]) for per-reason drop counters kept in a flat array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// The frame ended inside this header (or inside what its length
    /// fields declare).
    Truncated { layer: Layer },
    /// More than [`MAX_VLAN_TAGS`] stacked 802.1Q/802.1ad tags.
    TooManyVlanTags,
    /// The IP version nibble disagrees with the ethertype.
    BadIpVersion,
    /// IPv4 IHL below 5.
    BadIhl,
    /// IPv4 total length below the header length, or beyond the frame.
    BadTotalLength,
    /// IPv6 payload length beyond the frame.
    BadPayloadLength,
    /// More than [`MAX_IPV6_EXT_HEADERS`] IPv6 extension headers.
    TooManyExtHeaders,
    /// TCP data offset below 5.
    BadTcpDataOffset,
    /// UDP length below 8 or beyond the IP payload.
    BadUdpLength,
    /// A Neighbor Discovery option of length 0 or running past the message.
    BadNdOption,
    /// ARP hardware/protocol address lengths that do not fit the packet.
    BadArpLength,
}

impl Malformed {
    /// Number of distinct reasons; [`Malformed::index`] is below this.
    pub const COUNT: usize = Layer::ALL.len() + 10;

    /// A dense index for per-reason counters: truncations first (by
    /// [`Layer::index`]), then the other reasons in declaration order.
    pub const fn index(self) -> usize {
        const T: usize = Layer::ALL.len();
        match self {
            Malformed::Truncated { layer } => layer.index(),
            Malformed::TooManyVlanTags => T,
            Malformed::BadIpVersion => T + 1,
            Malformed::BadIhl => T + 2,
            Malformed::BadTotalLength => T + 3,
            Malformed::BadPayloadLength => T + 4,
            Malformed::TooManyExtHeaders => T + 5,
            Malformed::BadTcpDataOffset => T + 6,
            Malformed::BadUdpLength => T + 7,
            Malformed::BadNdOption => T + 8,
            Malformed::BadArpLength => T + 9,
        }
    }

    /// The reason with this [`Malformed::index`], if any.
    pub const fn from_index(i: usize) -> Option<Malformed> {
        const T: usize = Layer::ALL.len();
        if i < T {
            return Some(Malformed::Truncated {
                layer: Layer::ALL[i],
            });
        }
        Some(match i - T {
            0 => Malformed::TooManyVlanTags,
            1 => Malformed::BadIpVersion,
            2 => Malformed::BadIhl,
            3 => Malformed::BadTotalLength,
            4 => Malformed::BadPayloadLength,
            5 => Malformed::TooManyExtHeaders,
            6 => Malformed::BadTcpDataOffset,
            7 => Malformed::BadUdpLength,
            8 => Malformed::BadNdOption,
            9 => Malformed::BadArpLength,
            _ => return None,
        })
    }

    /// A stable snake_case name, e.g. `truncated_ipv4`, `bad_ihl`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Malformed::Truncated { layer } => match layer {
                Layer::Ethernet => "truncated_ethernet",
                Layer::Vlan => "truncated_vlan",
                Layer::Mpls => "truncated_mpls",
                Layer::Pbb => "truncated_pbb",
                Layer::Arp => "truncated_arp",
                Layer::Ipv4 => "truncated_ipv4",
                Layer::Ipv6 => "truncated_ipv6",
                Layer::Ipv6Ext => "truncated_ipv6_ext",
                Layer::Icmpv4 => "truncated_icmpv4",
                Layer::Icmpv6 => "truncated_icmpv6",
                Layer::Nd => "truncated_nd",
                Layer::Tcp => "truncated_tcp",
                Layer::Udp => "truncated_udp",
                Layer::Sctp => "truncated_sctp",
            },
            Malformed::TooManyVlanTags => "too_many_vlan_tags",
            Malformed::BadIpVersion => "bad_ip_version",
            Malformed::BadIhl => "bad_ihl",
            Malformed::BadTotalLength => "bad_total_length",
            Malformed::BadPayloadLength => "bad_payload_length",
            Malformed::TooManyExtHeaders => "too_many_ext_headers",
            Malformed::BadTcpDataOffset => "bad_tcp_data_offset",
            Malformed::BadUdpLength => "bad_udp_length",
            Malformed::BadNdOption => "bad_nd_option",
            Malformed::BadArpLength => "bad_arp_length",
        }
    }
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Malformed {}

/// Shorthand used by the views.
pub(crate) const fn truncated(layer: Layer) -> Malformed {
    Malformed::Truncated { layer }
}

/// Big-endian field access shared by the views. Each takes a slice and a
/// start index and panics only if the slice is too short, which `check_len`
/// rules out.
pub(crate) mod bytes {
    use core::ops::Range;

    /// A byte range inside a header.
    pub type Field = Range<usize>;

    #[inline(always)]
    pub fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    #[inline(always)]
    pub fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    #[inline(always)]
    pub fn set_be16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    #[inline(always)]
    pub fn set_be32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    #[inline(always)]
    pub fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&b[at..at + N]);
        out
    }
}
