//! A builder of valid frames, for tests, traffic generators and tools.
//!
//! # Design
//!
//! What: describe a frame outermost layer first, get its bytes with every
//! length, next-protocol field and checksum filled in.
//!
//! How: [`PacketBuilder`] records a list of layer specs; [`PacketBuilder::build`]
//! lays them out front to back (each header's type/next-header field comes
//! from the layer after it), fills length fields, then computes checksums
//! back to front (L4 over the IP pseudo-header, then IPv4 headers). It
//! writes through the header views' setters, so it exercises them too.
//! Not for the hot path: it allocates.
//!
//! ```
//! # use sluice::wire::build::{PacketBuilder, Tcp};
//! let frame = PacketBuilder::new()
//!     .eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
//!     .vlan(100, 3)
//!     .ipv4(0x0a00_0001, 0x0a00_0002)
//!     .tcp_with(Tcp { src: 1234, dst: 80, flags: 0x002, ..Tcp::default() })
//!     .payload(b"hello")
//!     .pad60()
//!     .build()
//!     .unwrap();
//! assert_eq!(frame.len(), 14 + 4 + 20 + 20 + 5);
//! ```
//!
//! Threads: plain owned data.
use super::ethernet::{ethertype, EthernetFrame, MacAddr};
use super::icmpv6;
use super::ip_proto;
use super::ipv4::Ipv4Packet;
use super::ipv6::Ipv6Packet;
use super::{
    ArpPacket, Icmpv4Packet, Icmpv6Packet, MplsEntry, PbbITag, SctpPacket, TcpPacket, UdpPacket,
    VlanTag,
};

/// Why a layer list cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The first layer is not Ethernet.
    NoEthernet,
    /// A layer that cannot follow the one before it (e.g. TCP right after
    /// Ethernet, or VLAN after IPv4).
    Misplaced {
        layer: &'static str,
        after: &'static str,
    },
    /// IPv4 options longer than 40 bytes or TCP options longer than 40.
    OptionsTooLong { layer: &'static str },
    /// An IP packet longer than its 16-bit length field can say.
    TooLong { layer: &'static str },
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::NoEthernet => write!(f, "a frame must start with an Ethernet layer"),
            BuildError::Misplaced { layer, after } => {
                write!(f, "layer {layer} cannot follow {after}")
            }
            BuildError::OptionsTooLong { layer } => write!(f, "{layer} options exceed 40 bytes"),
            BuildError::TooLong { layer } => write!(f, "{layer} packet exceeds 65535 bytes"),
        }
    }
}

impl std::error::Error for BuildError {}

/// IPv4 header parameters. `protocol` is derived from the next layer; set
/// it for a packet whose upper layer is only payload (default 253, the
/// RFC 3692 experimental value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: u32,
    pub dst: u32,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// Raw option bytes, padded with zeros (end of options) to a multiple
    /// of 4; at most 40.
    pub options: Vec<u8>,
    pub protocol: Option<u8>,
}

impl Default for Ipv4 {
    fn default() -> Self {
        Ipv4 {
            src: 0,
            dst: 0,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
            options: Vec::new(),
            protocol: None,
        }
    }
}

/// IPv6 header parameters. The next header is derived from the next layer
/// (default 59, no next header, when only payload follows, unless
/// `next_header` says otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6 {
    pub src: u128,
    pub dst: u128,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub next_header: Option<u8>,
}

impl Default for Ipv6 {
    fn default() -> Self {
        Ipv6 {
            src: 0,
            dst: 0,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            next_header: None,
        }
    }
}

/// TCP header parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcp {
    pub src: u16,
    pub dst: u16,
    pub seq: u32,
    pub ack: u32,
    /// The 9 flag bits (see [`super::tcp::flags`]).
    pub flags: u16,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes, zero-padded to a multiple of 4; at most 40.
    pub options: Vec<u8>,
}

impl Default for Tcp {
    fn default() -> Self {
        Tcp {
            src: 0,
            dst: 0,
            seq: 0,
            ack: 0,
            flags: super::tcp::flags::ACK,
            window: 65535,
            urgent: 0,
            options: Vec::new(),
        }
    }
}

/// ARP (Ethernet/IPv4) parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sha: MacAddr,
    pub spa: u32,
    pub tha: MacAddr,
    pub tpa: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Layer {
    Eth {
        dst: MacAddr,
        src: MacAddr,
    },
    Vlan {
        tpid: u16,
        tci: u16,
    },
    Mpls {
        label: u32,
        tc: u8,
        ttl: u8,
    },
    Pbb {
        isid: u32,
        pcp: u8,
        c_dst: MacAddr,
        c_src: MacAddr,
    },
    Arp(Arp),
    Ipv4(Ipv4),
    Ipv6(Ipv6),
    /// An IPv6 extension header: kind and full bytes (next header and
    /// length bytes are filled at build time).
    Ext {
        kind: u8,
        bytes: Vec<u8>,
        next: Option<u8>,
    },
    Esp {
        spi: u32,
        seq: u32,
    },
    Tcp(Tcp),
    Udp {
        src: u16,
        dst: u16,
    },
    Sctp {
        src: u16,
        dst: u16,
        vtag: u32,
    },
    Icmpv4 {
        msg_type: u8,
        code: u8,
        rest: [u8; 4],
    },
    /// ICMPv6: type, code and the body after the 4-byte header.
    Icmpv6 {
        msg_type: u8,
        code: u8,
        body: Vec<u8>,
    },
}

impl Layer {
    fn name(&self) -> &'static str {
        match self {
            Layer::Eth { .. } => "ethernet",
            Layer::Vlan { .. } => "vlan",
            Layer::Mpls { .. } => "mpls",
            Layer::Pbb { .. } => "pbb",
            Layer::Arp(_) => "arp",
            Layer::Ipv4(_) => "ipv4",
            Layer::Ipv6(_) => "ipv6",
            Layer::Ext { .. } => "ipv6 extension header",
            Layer::Esp { .. } => "esp",
            Layer::Tcp(_) => "tcp",
            Layer::Udp { .. } => "udp",
            Layer::Sctp { .. } => "sctp",
            Layer::Icmpv4 { .. } => "icmpv4",
            Layer::Icmpv6 { .. } => "icmpv6",
        }
    }

    fn header_len(&self) -> usize {
        match self {
            Layer::Eth { .. } => 14,
            Layer::Vlan { .. } | Layer::Mpls { .. } => 4,
            Layer::Pbb { .. } => 18,
            Layer::Arp(_) => 28,
            Layer::Ipv4(ip) => 20 + ip.options.len().div_ceil(4) * 4,
            Layer::Ipv6(_) => 40,
            Layer::Ext { bytes, .. } => bytes.len(),
            Layer::Esp { .. } => 8,
            Layer::Tcp(t) => 20 + t.options.len().div_ceil(4) * 4,
            Layer::Udp { .. } => 8,
            Layer::Sctp { .. } => 12,
            Layer::Icmpv4 { .. } => 8,
            Layer::Icmpv6 { body, .. } => 4 + body.len(),
        }
    }

    /// The ethertype announcing this layer, if it can follow an L2 layer.
    fn ethertype(&self) -> Option<u16> {
        match self {
            Layer::Vlan { tpid, .. } => Some(*tpid),
            Layer::Mpls { .. } => Some(ethertype::MPLS_UNICAST),
            Layer::Pbb { .. } => Some(ethertype::PBB),
            Layer::Arp(_) => Some(ethertype::ARP),
            Layer::Ipv4(_) => Some(ethertype::IPV4),
            Layer::Ipv6(_) => Some(ethertype::IPV6),
            _ => None,
        }
    }

    /// The IP protocol number announcing this layer, if it can follow IP.
    fn ip_proto(&self) -> Option<u8> {
        match self {
            Layer::Ipv4(_) => Some(4),
            Layer::Ipv6(_) => Some(41),
            Layer::Ext { kind, .. } => Some(*kind),
            Layer::Esp { .. } => Some(ip_proto::ESP),
            Layer::Tcp(_) => Some(ip_proto::TCP),
            Layer::Udp { .. } => Some(ip_proto::UDP),
            Layer::Sctp { .. } => Some(ip_proto::SCTP),
            Layer::Icmpv4 { .. } => Some(ip_proto::ICMP),
            Layer::Icmpv6 { .. } => Some(ip_proto::ICMPV6),
            _ => None,
        }
    }
}

/// Builds a frame layer by layer; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PacketBuilder {
    layers: Vec<Layer>,
    payload: Vec<u8>,
    pad: bool,
    ethertype: Option<u16>,
}

/// Pads an extension header body so that `2 + body` is a multiple of 8,
/// with a PadN option (or Pad1) as options headers require.
fn padded_options(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8, 0];
    v.extend_from_slice(body);
    let pad = (8 - v.len() % 8) % 8;
    match pad {
        0 => {}
        1 => v.push(0), // Pad1
        n => {
            v.push(1); // PadN
            v.push((n - 2) as u8);
            v.resize(v.len() + n - 2, 0);
        }
    }
    v
}

impl PacketBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(mut self, l: Layer) -> Self {
        self.layers.push(l);
        self
    }

    /// Ethernet II header, addresses in wire order (destination first).
    pub fn eth(self, dst: MacAddr, src: MacAddr) -> Self {
        self.push(Layer::Eth { dst, src })
    }

    /// The ethertype written when no known layer follows the L2 headers
    /// (default 0x88b5, IEEE local experimental).
    pub fn ethertype(mut self, t: u16) -> Self {
        self.ethertype = Some(t);
        self
    }

    /// An 802.1Q (0x8100) tag; call again for inner tags.
    pub fn vlan(self, vid: u16, pcp: u8) -> Self {
        self.vlan_tag(ethertype::VLAN, vid, pcp, false)
    }

    /// An 802.1ad (0x88a8) service tag, the outer tag of QinQ.
    pub fn svlan(self, vid: u16, pcp: u8) -> Self {
        self.vlan_tag(ethertype::QINQ, vid, pcp, false)
    }

    /// A tag with any TPID and the DEI bit.
    pub fn vlan_tag(self, tpid: u16, vid: u16, pcp: u8, dei: bool) -> Self {
        let tci = (u16::from(pcp & 7) << 13) | (u16::from(dei) << 12) | (vid & 0x0fff);
        self.push(Layer::Vlan { tpid, tci })
    }

    /// An MPLS label stack entry (ethertype 0x8847); bottom-of-stack is set
    /// on the last consecutive entry.
    pub fn mpls(self, label: u32, tc: u8, ttl: u8) -> Self {
        self.push(Layer::Mpls { label, tc, ttl })
    }

    /// A PBB I-TAG with the customer Ethernet header it carries; the
    /// customer ethertype comes from the next layer.
    pub fn pbb(self, isid: u32, pcp: u8, c_dst: MacAddr, c_src: MacAddr) -> Self {
        self.push(Layer::Pbb {
            isid,
            pcp,
            c_dst,
            c_src,
        })
    }

    /// An Ethernet/IPv4 ARP packet.
    pub fn arp(self, arp: Arp) -> Self {
        self.push(Layer::Arp(arp))
    }

    /// IPv4 with defaults (TTL 64, no options, not fragmented).
    pub fn ipv4(self, src: u32, dst: u32) -> Self {
        self.ipv4_with(Ipv4 {
            src,
            dst,
            ..Ipv4::default()
        })
    }

    pub fn ipv4_with(self, ip: Ipv4) -> Self {
        self.push(Layer::Ipv4(ip))
    }

    /// IPv6 with defaults (hop limit 64, traffic class 0, flow label 0).
    pub fn ipv6(self, src: u128, dst: u128) -> Self {
        self.ipv6_with(Ipv6 {
            src,
            dst,
            ..Ipv6::default()
        })
    }

    pub fn ipv6_with(self, ip: Ipv6) -> Self {
        self.push(Layer::Ipv6(ip))
    }

    /// Hop-by-hop options header carrying `options` (TLV bytes), padded.
    pub fn hop_by_hop(self, options: &[u8]) -> Self {
        self.push(Layer::Ext {
            kind: ip_proto::HOPOPT,
            bytes: padded_options(options),
            next: None,
        })
    }

    /// Destination options header carrying `options`, padded.
    pub fn dest_opts(self, options: &[u8]) -> Self {
        self.push(Layer::Ext {
            kind: ip_proto::IPV6_OPTS,
            bytes: padded_options(options),
            next: None,
        })
    }

    /// Routing header of `routing_type` with `segments_left` and
    /// `addresses` (type 0/2/4 style 16-byte entries after 4 reserved
    /// bytes).
    pub fn routing(self, routing_type: u8, segments_left: u8, addresses: &[u128]) -> Self {
        let mut bytes = vec![0, 0, routing_type, segments_left, 0, 0, 0, 0];
        for a in addresses {
            bytes.extend_from_slice(&a.to_be_bytes());
        }
        self.push(Layer::Ext {
            kind: ip_proto::IPV6_ROUTE,
            bytes,
            next: None,
        })
    }

    /// Fragment header: offset in bytes (multiple of 8), more-fragments flag
    /// and identification.
    pub fn ipv6_fragment(self, offset: u16, more: bool, ident: u32) -> Self {
        let mut bytes = vec![0u8; 8];
        bytes[2..4].copy_from_slice(&((offset & 0xfff8) | u16::from(more)).to_be_bytes());
        bytes[4..8].copy_from_slice(&ident.to_be_bytes());
        self.push(Layer::Ext {
            kind: ip_proto::IPV6_FRAG,
            bytes,
            next: None,
        })
    }

    /// Authentication header with `spi`, `seq` and a 12-byte zero ICV.
    pub fn ah(self, spi: u32, seq: u32) -> Self {
        let mut bytes = vec![0u8; 24];
        bytes[4..8].copy_from_slice(&spi.to_be_bytes());
        bytes[8..12].copy_from_slice(&seq.to_be_bytes());
        self.push(Layer::Ext {
            kind: ip_proto::AH,
            bytes,
            next: None,
        })
    }

    /// ESP header (SPI, sequence); the payload follows as opaque bytes.
    pub fn esp(self, spi: u32, seq: u32) -> Self {
        self.push(Layer::Esp { spi, seq })
    }

    pub fn tcp(self, src: u16, dst: u16) -> Self {
        self.tcp_with(Tcp {
            src,
            dst,
            ..Tcp::default()
        })
    }

    pub fn tcp_with(self, tcp: Tcp) -> Self {
        self.push(Layer::Tcp(tcp))
    }

    pub fn udp(self, src: u16, dst: u16) -> Self {
        self.push(Layer::Udp { src, dst })
    }

    /// SCTP common header; chunks go in the payload.
    pub fn sctp(self, src: u16, dst: u16, vtag: u32) -> Self {
        self.push(Layer::Sctp { src, dst, vtag })
    }

    /// ICMPv4 with the 4-byte rest-of-header zero.
    pub fn icmpv4(self, msg_type: u8, code: u8) -> Self {
        self.push(Layer::Icmpv4 {
            msg_type,
            code,
            rest: [0; 4],
        })
    }

    /// ICMPv4 echo request/reply.
    pub fn icmpv4_echo(self, reply: bool, ident: u16, seq: u16) -> Self {
        let mut rest = [0u8; 4];
        rest[..2].copy_from_slice(&ident.to_be_bytes());
        rest[2..].copy_from_slice(&seq.to_be_bytes());
        let msg_type = if reply {
            super::icmpv4::ECHO_REPLY
        } else {
            super::icmpv4::ECHO_REQUEST
        };
        self.push(Layer::Icmpv4 {
            msg_type,
            code: 0,
            rest,
        })
    }

    /// ICMPv6 with `body` after type, code and checksum.
    pub fn icmpv6(self, msg_type: u8, code: u8, body: &[u8]) -> Self {
        self.push(Layer::Icmpv6 {
            msg_type,
            code,
            body: body.to_vec(),
        })
    }

    /// Neighbor solicitation for `target`, with a source link-layer
    /// address option if `sll` is given.
    pub fn nd_solicit(self, target: u128, sll: Option<MacAddr>) -> Self {
        let body = nd_body(0, target, icmpv6::OPT_SOURCE_LL, sll);
        self.icmpv6(icmpv6::NEIGHBOR_SOLICIT, 0, &body)
    }

    /// Neighbor advertisement for `target` with NA `flags` (router,
    /// solicited, override), with a target link-layer address option if
    /// `tll` is given.
    pub fn nd_advert(self, target: u128, flags: u8, tll: Option<MacAddr>) -> Self {
        let body = nd_body(flags, target, icmpv6::OPT_TARGET_LL, tll);
        self.icmpv6(icmpv6::NEIGHBOR_ADVERT, 0, &body)
    }

    /// The protocol number that the last IPv4 header, IPv6 header or IPv6
    /// extension header announces when only payload follows it (e.g. the
    /// upper layer of a later fragment). Ignored on other layers.
    pub fn announce(mut self, proto: u8) -> Self {
        match self.layers.last_mut() {
            Some(Layer::Ipv4(ip)) => ip.protocol = Some(proto),
            Some(Layer::Ipv6(ip)) => ip.next_header = Some(proto),
            Some(Layer::Ext { next, .. }) => *next = Some(proto),
            _ => {}
        }
        self
    }

    /// Bytes after the last header.
    pub fn payload(mut self, bytes: &[u8]) -> Self {
        self.payload.extend_from_slice(bytes);
        self
    }

    /// Pad the frame with zeros to the 60-byte Ethernet minimum (no FCS).
    pub fn pad60(mut self) -> Self {
        self.pad = true;
        self
    }

    /// Lays out the frame and fills lengths and checksums.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        let layers = &self.layers;
        match layers.first() {
            Some(Layer::Eth { .. }) => {}
            _ => return Err(BuildError::NoEthernet),
        }
        let mut offs = Vec::with_capacity(layers.len() + 1);
        let mut total = 0;
        for l in layers {
            match l {
                Layer::Ipv4(ip) if ip.options.len() > 40 => {
                    return Err(BuildError::OptionsTooLong { layer: "ipv4" })
                }
                Layer::Tcp(t) if t.options.len() > 40 => {
                    return Err(BuildError::OptionsTooLong { layer: "tcp" })
                }
                _ => {}
            }
            offs.push(total);
            total += l.header_len();
        }
        offs.push(total);
        let end = total + self.payload.len();
        let mut buf = vec![0u8; end];
        buf[total..].copy_from_slice(&self.payload);

        // Front to back: headers, with type fields from the next layer.
        for (i, l) in layers.iter().enumerate() {
            let next = layers.get(i + 1);
            let prev = if i == 0 { None } else { layers.get(i - 1) };
            self.check_order(prev, l)?;
            let at = offs[i];
            let h = &mut buf[at..];
            let next_et = || {
                next.and_then(Layer::ethertype)
                    .or(self.ethertype)
                    .unwrap_or(0x88b5)
            };
            match l {
                Layer::Eth { dst, src } => {
                    let mut f = EthernetFrame::new_unchecked(h);
                    f.set_dst(*dst);
                    f.set_src(*src);
                    f.set_ethertype(next_et());
                }
                Layer::Vlan { tci, .. } => {
                    let mut t = VlanTag::new_unchecked(h);
                    t.set_tci(*tci);
                    t.set_ethertype(next_et());
                }
                Layer::Mpls { label, tc, ttl } => {
                    let mut e = MplsEntry::new_unchecked(h);
                    e.set_label(*label);
                    e.set_tc(*tc);
                    e.set_ttl(*ttl);
                    e.set_bos(!matches!(next, Some(Layer::Mpls { .. })));
                }
                Layer::Pbb {
                    isid,
                    pcp,
                    c_dst,
                    c_src,
                } => {
                    let mut t = PbbITag::new_unchecked(h);
                    t.set_isid(*isid);
                    t.set_pcp(*pcp);
                    t.set_customer_dst(*c_dst);
                    t.set_customer_src(*c_src);
                    t.set_customer_ethertype(next_et());
                }
                Layer::Arp(a) => {
                    let mut p = ArpPacket::new_unchecked(h);
                    p.set_htype(super::arp::HTYPE_ETHERNET);
                    p.set_ptype(ethertype::IPV4);
                    p.set_hlen(6);
                    p.set_plen(4);
                    p.set_oper(a.op);
                    p.set_sha(a.sha);
                    p.set_spa(a.spa);
                    p.set_tha(a.tha);
                    p.set_tpa(a.tpa);
                }
                Layer::Ipv4(ip) => {
                    let hlen = l.header_len();
                    let len = u16::try_from(end - at)
                        .map_err(|_| BuildError::TooLong { layer: "ipv4" })?;
                    let proto = next
                        .and_then(Layer::ip_proto)
                        .or(ip.protocol)
                        .unwrap_or(253);
                    let mut p = Ipv4Packet::new_unchecked(&mut h[..hlen]);
                    p.set_version(4);
                    p.set_header_len(hlen);
                    p.set_dscp(ip.dscp);
                    p.set_ecn(ip.ecn);
                    p.set_total_len(len);
                    p.set_ident(ip.ident);
                    p.set_dont_frag(ip.dont_frag);
                    p.set_more_frags(ip.more_frags);
                    p.set_frag_offset(ip.frag_offset);
                    p.set_ttl(ip.ttl);
                    p.set_protocol(proto);
                    p.set_src(ip.src);
                    p.set_dst(ip.dst);
                    p.options_mut()[..ip.options.len()].copy_from_slice(&ip.options);
                }
                Layer::Ipv6(ip) => {
                    let len = u16::try_from(end - at - 40)
                        .map_err(|_| BuildError::TooLong { layer: "ipv6" })?;
                    let nh = next
                        .and_then(Layer::ip_proto)
                        .or(ip.next_header)
                        .unwrap_or(ip_proto::IPV6_NONXT);
                    let mut p = Ipv6Packet::new_unchecked(h);
                    p.set_version(6);
                    p.set_traffic_class(ip.traffic_class);
                    p.set_flow_label(ip.flow_label);
                    p.set_payload_len(len);
                    p.set_next_header(nh);
                    p.set_hop_limit(ip.hop_limit);
                    p.set_src(ip.src);
                    p.set_dst(ip.dst);
                }
                Layer::Ext {
                    kind,
                    bytes,
                    next: announced,
                } => {
                    h[..bytes.len()].copy_from_slice(bytes);
                    h[0] = next
                        .and_then(Layer::ip_proto)
                        .or(*announced)
                        .unwrap_or(ip_proto::IPV6_NONXT);
                    h[1] = match *kind {
                        ip_proto::AH => (bytes.len() / 4 - 2) as u8,
                        ip_proto::IPV6_FRAG => 0,
                        _ => (bytes.len() / 8 - 1) as u8,
                    };
                }
                Layer::Esp { spi, seq } => {
                    h[..4].copy_from_slice(&spi.to_be_bytes());
                    h[4..8].copy_from_slice(&seq.to_be_bytes());
                }
                Layer::Tcp(t) => {
                    let hlen = l.header_len();
                    let mut p = TcpPacket::new_unchecked(&mut h[..hlen]);
                    p.set_src_port(t.src);
                    p.set_dst_port(t.dst);
                    p.set_seq(t.seq);
                    p.set_ack(t.ack);
                    p.set_header_len(hlen);
                    p.set_flags(t.flags);
                    p.set_window(t.window);
                    p.set_urgent(t.urgent);
                    h[20..20 + t.options.len()].copy_from_slice(&t.options);
                }
                Layer::Udp { src, dst } => {
                    let len = u16::try_from(end - at)
                        .map_err(|_| BuildError::TooLong { layer: "udp" })?;
                    let mut p = UdpPacket::new_unchecked(h);
                    p.set_src_port(*src);
                    p.set_dst_port(*dst);
                    p.set_length(len);
                }
                Layer::Sctp { src, dst, vtag } => {
                    let mut p = SctpPacket::new_unchecked(h);
                    p.set_src_port(*src);
                    p.set_dst_port(*dst);
                    p.set_verification_tag(*vtag);
                }
                Layer::Icmpv4 {
                    msg_type,
                    code,
                    rest,
                } => {
                    let mut p = Icmpv4Packet::new_unchecked(&mut h[..]);
                    p.set_msg_type(*msg_type);
                    p.set_code(*code);
                    h[4..8].copy_from_slice(rest);
                }
                Layer::Icmpv6 {
                    msg_type,
                    code,
                    body,
                } => {
                    let mut p = Icmpv6Packet::new_unchecked(&mut h[..]);
                    p.set_msg_type(*msg_type);
                    p.set_code(*code);
                    h[4..4 + body.len()].copy_from_slice(body);
                }
            }
        }

        // Back to front: checksums.
        for i in (0..layers.len()).rev() {
            let at = offs[i];
            let ip = (0..i).rev().find_map(|j| match &layers[j] {
                Layer::Ipv4(ip) => Some(IpAddrs::V4(ip.src, ip.dst)),
                Layer::Ipv6(ip) => Some(IpAddrs::V6(ip.src, ip.dst)),
                _ => None,
            });
            let seg = &mut buf[at..end];
            match (&layers[i], ip) {
                (Layer::Tcp(_), Some(IpAddrs::V4(s, d))) => {
                    TcpPacket::new_unchecked(seg).fill_checksum_v4(s, d)
                }
                (Layer::Tcp(_), Some(IpAddrs::V6(s, d))) => {
                    TcpPacket::new_unchecked(seg).fill_checksum_v6(s, d)
                }
                (Layer::Udp { .. }, Some(IpAddrs::V4(s, d))) => {
                    UdpPacket::new_unchecked(seg).fill_checksum_v4(s, d)
                }
                (Layer::Udp { .. }, Some(IpAddrs::V6(s, d))) => {
                    UdpPacket::new_unchecked(seg).fill_checksum_v6(s, d)
                }
                (Layer::Sctp { .. }, _) => SctpPacket::new_unchecked(seg).fill_checksum(),
                (Layer::Icmpv4 { .. }, _) => Icmpv4Packet::new_unchecked(seg).fill_checksum(),
                (Layer::Icmpv6 { .. }, Some(IpAddrs::V6(s, d))) => {
                    Icmpv6Packet::new_unchecked(seg).fill_checksum(s, d)
                }
                (Layer::Ipv4(_), _) => {
                    let hlen = layers[i].header_len();
                    Ipv4Packet::new_unchecked(&mut seg[..hlen]).fill_checksum()
                }
                _ => {}
            }
        }

        if self.pad && buf.len() < 60 {
            buf.resize(60, 0);
        }
        Ok(buf)
    }

    fn check_order(&self, prev: Option<&Layer>, l: &Layer) -> Result<(), BuildError> {
        use Layer as L;
        let ok = match (prev, l) {
            (None, L::Eth { .. }) => true,
            (None, _) | (Some(_), L::Eth { .. }) => false,
            (Some(p), L::Vlan { .. }) => matches!(p, L::Eth { .. } | L::Vlan { .. }),
            (Some(p), L::Mpls { .. }) => {
                matches!(p, L::Eth { .. } | L::Vlan { .. } | L::Mpls { .. })
            }
            (Some(p), L::Pbb { .. } | L::Arp(_)) => {
                matches!(p, L::Eth { .. } | L::Vlan { .. } | L::Pbb { .. })
            }
            (Some(p), L::Ipv4(_) | L::Ipv6(_)) => {
                !matches!(
                    p,
                    L::Arp(_) | L::Tcp(_) | L::Udp { .. } | L::Sctp { .. } | L::Esp { .. }
                ) && !matches!(p, L::Icmpv4 { .. } | L::Icmpv6 { .. })
            }
            (Some(p), L::Ext { .. } | L::Esp { .. }) => {
                matches!(p, L::Ipv6(_) | L::Ext { .. })
            }
            (Some(p), L::Tcp(_) | L::Udp { .. } | L::Sctp { .. }) => {
                matches!(p, L::Ipv4(_) | L::Ipv6(_) | L::Ext { .. })
            }
            (Some(p), L::Icmpv4 { .. }) => matches!(p, L::Ipv4(_)),
            (Some(p), L::Icmpv6 { .. }) => matches!(p, L::Ipv6(_) | L::Ext { .. }),
        };
        if ok {
            Ok(())
        } else {
            Err(match prev {
                None => BuildError::NoEthernet,
                Some(p) => BuildError::Misplaced {
                    layer: l.name(),
                    after: p.name(),
                },
            })
        }
    }
}

enum IpAddrs {
    V4(u32, u32),
    V6(u128, u128),
}

fn nd_body(flags: u8, target: u128, opt: u8, ll: Option<MacAddr>) -> Vec<u8> {
    let mut b = vec![flags, 0, 0, 0];
    b.extend_from_slice(&target.to_be_bytes());
    if let Some(m) = ll {
        b.extend_from_slice(&[opt, 1]);
        b.extend_from_slice(&m);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{l4_checksum_v4, l4_checksum_v6, verify};

    const A: MacAddr = [2, 0, 0, 0, 0, 1];
    const B: MacAddr = [2, 0, 0, 0, 0, 2];

    /// Recomputes an L4 checksum from scratch over the IPv4 packet at
    /// `l3`, independently of the views.
    fn v4_l4_ok(f: &[u8], l3: usize) -> bool {
        let ihl = usize::from(f[l3] & 15) * 4;
        let total = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
        let src = u32::from_be_bytes(f[l3 + 12..l3 + 16].try_into().unwrap());
        let dst = u32::from_be_bytes(f[l3 + 16..l3 + 20].try_into().unwrap());
        l4_checksum_v4(src, dst, f[l3 + 9], &f[l3 + ihl..l3 + total]) == 0
    }

    #[test]
    fn ipv4_udp_checksums_and_padding() {
        let f = PacketBuilder::new()
            .eth(B, A)
            .ipv4(0x0a00_0001, 0x0a00_0002)
            .udp(1000, 2000)
            .payload(b"xyz")
            .pad60()
            .build()
            .unwrap();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert!(verify(&f[14..34]));
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 20 + 8 + 3);
        assert_eq!(u16::from_be_bytes([f[38], f[39]]), 11);
        assert!(v4_l4_ok(&f, 14));
        assert!(f[45..].iter().all(|&b| b == 0));
    }

    #[test]
    fn ipv4_options_tcp_options() {
        let f = PacketBuilder::new()
            .eth(B, A)
            .vlan(10, 1)
            .svlan(20, 2)
            .ipv4_with(Ipv4 {
                src: 1,
                dst: 2,
                options: vec![0x94, 0x04, 0, 0, 1], // router alert + NOP, padded
                ..Ipv4::default()
            })
            .tcp_with(Tcp {
                src: 5,
                dst: 6,
                options: vec![2, 4, 5, 0xb4, 1, 3, 3, 7],
                ..Tcp::default()
            })
            .build()
            .unwrap();
        let l3 = 14 + 8;
        assert_eq!(&f[12..14], &[0x81, 0x00]);
        assert_eq!(&f[16..18], &[0x88, 0xa8]);
        assert_eq!(&f[20..22], &[0x08, 0x00]);
        assert_eq!(f[l3], 0x47);
        assert!(verify(&f[l3..l3 + 28]));
        assert_eq!(f[l3 + 28 + 12] >> 4, 7);
        assert!(v4_l4_ok(&f, l3));
    }

    #[test]
    fn ipv6_ext_headers_icmpv6() {
        let src = 0xfe80_0000_0000_0000_0000_0000_0000_0001u128;
        let dst = 0xff02_0000_0000_0000_0000_0001_ff00_0002u128;
        let f = PacketBuilder::new()
            .eth(B, A)
            .ipv6(src, dst)
            .hop_by_hop(&[])
            .dest_opts(&[0x1e, 3, 1, 2, 3])
            .routing(4, 0, &[dst])
            .ipv6_fragment(0, true, 7)
            .ah(0x100, 1)
            .nd_solicit(0xfe80_0000_0000_0000_0000_0000_0000_0002, Some(A))
            .build()
            .unwrap();
        let l3 = 14;
        assert_eq!(f[l3 + 6], ip_proto::HOPOPT);
        let mut at = l3 + 40;
        for (kind, len) in [(60u8, 8usize), (43, 8), (44, 24), (51, 8), (58, 24)] {
            assert_eq!(f[at], kind, "next header at {at}");
            at += len;
        }
        let payload_len = usize::from(u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]));
        assert_eq!(l3 + 40 + payload_len, f.len());
        let icmp = &f[f.len() - 32..];
        assert_eq!(icmp[0], 135);
        assert_eq!(l4_checksum_v6(src, dst, 58, icmp), 0);
    }

    #[test]
    fn other_layers() {
        let f = PacketBuilder::new()
            .eth(B, A)
            .mpls(100, 1, 64)
            .mpls(200, 2, 63)
            .ipv4(1, 2)
            .build()
            .unwrap();
        assert_eq!(&f[12..14], &[0x88, 0x47]);
        assert_eq!(f[16] & 1, 0);
        assert_eq!(f[20] & 1, 1);
        assert_eq!(f[22], 0x45);
        assert_eq!(f[22 + 9], 253);

        let f = PacketBuilder::new()
            .eth(B, A)
            .ipv6(1, 2)
            .sctp(1, 2, 3)
            .payload(&[0xff, 0, 0, 4])
            .build()
            .unwrap();
        assert!(SctpPacket::new_checked(&f[54..]).unwrap().verify_checksum());

        let f = PacketBuilder::new()
            .eth(B, A)
            .ipv4(1, 2)
            .icmpv4_echo(false, 9, 1)
            .payload(b"ping")
            .build()
            .unwrap();
        assert!(verify(&f[34..]));

        let f = PacketBuilder::new()
            .eth(B, A)
            .ethertype(0x1234)
            .build()
            .unwrap();
        assert_eq!(
            f,
            [B, A]
                .concat()
                .into_iter()
                .chain([0x12, 0x34])
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn misuse_is_an_error() {
        assert_eq!(
            PacketBuilder::new().ipv4(1, 2).build(),
            Err(BuildError::NoEthernet)
        );
        assert_eq!(
            PacketBuilder::new().eth(A, B).tcp(1, 2).build(),
            Err(BuildError::Misplaced {
                layer: "tcp",
                after: "ethernet"
            })
        );
        assert!(PacketBuilder::new()
            .eth(A, B)
            .ipv4_with(Ipv4 {
                options: vec![1; 41],
                ..Ipv4::default()
            })
            .build()
            .is_err());
        assert!(PacketBuilder::new()
            .eth(A, B)
            .ipv4(1, 2)
            .payload(&vec![0; 70000])
            .build()
            .is_err());
        assert!(!BuildError::NoEthernet.to_string().is_empty());
    }
}
