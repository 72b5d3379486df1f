//! One-pass flow-key extraction: the per-packet hot path (see [`parse`]).
use super::ethernet::ethertype;
use super::flow_key::{exthdr, present};
use super::ipv6::ext_header_len;
use super::vlan::{is_tpid, OFPVID_PRESENT};
use super::{icmpv6, ip_proto, truncated, FlowKey, Layer, Malformed};

/// Most VLAN tags `parse` walks; one more is [`Malformed::TooManyVlanTags`].
pub const MAX_VLAN_TAGS: usize = 8;

/// Most IPv6 extension headers `parse` walks; one more is
/// [`Malformed::TooManyExtHeaders`]. With at most 2 KiB each this also
/// keeps every offset below 64 KiB, so the `u16` offsets are exact.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;

#[inline(always)]
fn header<const N: usize>(b: &[u8], off: usize, layer: Layer) -> Result<&[u8; N], Malformed> {
    match b.get(off..) {
        Some(rest) => rest.first_chunk::<N>().ok_or(truncated(layer)),
        None => Err(truncated(layer)),
    }
}

#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([h[at], h[at + 1]])
}

#[inline(always)]
fn be32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

#[inline(always)]
fn addr6<const N: usize>(h: &[u8; N], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&h[at..at + 16]);
    u128::from_be_bytes(a)
}

/// Parses `frame` (starting at the Ethernet destination address, without
/// FCS) received on `in_port` into `key`.
///
/// On `Ok`, `key` holds every field the docs of [`FlowKey`] promise
/// for this packet; on `Err` its contents are unspecified. Overwrites
/// rather than resets: a key reused across packets keeps stale values only
/// in fields whose prerequisites this packet does not meet.
///
/// `parse` walks Ethernet → VLAN tags → (MPLS | PBB | ARP | IPv4 | IPv6 →
/// extension headers) → (TCP | UDP | SCTP | ICMPv4 | ICMPv6 → ND), writing
/// each field of the [`FlowKey`] once. Each header is taken as a fixed-size
/// array reference (`&[u8; N]`) after one length check, so the field reads
/// that follow compile without bounds checks. Nothing allocates; every
/// truncated or inconsistent header returns a [`Malformed`] reason (the
/// key's contents are then unspecified). Unknown ethertypes and IP
/// protocols are not errors: the key just ends at that layer.
///
/// Lengths: the IPv4 total length and the IPv6 payload length bound
/// everything above L3, so Ethernet padding (frames padded to 60 bytes) is
/// never read as a header; a length that runs past the frame is
/// malformed. The header-length rules are the same as the views'
/// `check_len` (a test holds them to it).
#[inline]
pub fn parse(frame: &[u8], in_port: u32, key: &mut FlowKey) -> Result<(), Malformed> {
    let eth: &[u8; 14] = header(frame, 0, Layer::Ethernet)?;
    key.in_port = in_port;
    // Two overlapping 8-byte loads give both 6-byte addresses.
    key.eth_dst = be64(eth, 0) >> 16;
    key.eth_src = be64(eth, 4) & 0xffff_ffff_ffff;
    let mut et = be16(eth, 12);
    let mut off = 14;
    let mut pres = 0;
    if is_tpid(et) {
        (et, off) = parse_vlans(frame, key)?;
        pres = present::VLAN;
    } else {
        key.vlan_vid = 0;
        key.vlan_pcp = 0;
        key.vlan_count = 0;
    }
    key.eth_type = et;
    key.l3_offset = off as u16;
    pres |= match et {
        ethertype::IPV4 => parse_ipv4(frame, off, key)?,
        ethertype::IPV6 => parse_ipv6(frame, off, key)?,
        _ => parse_other_l3(frame, off, et, key)?,
    };
    key.present = pres;
    Ok(())
}

#[inline(always)]
fn be64<const N: usize>(h: &[u8; N], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    u64::from_be_bytes(b)
}

/// The tag stack (the frame's ethertype is a TPID); returns the inner
/// ethertype and the offset after the tags.
#[inline(always)]
fn parse_vlans(frame: &[u8], key: &mut FlowKey) -> Result<(u16, usize), Malformed> {
    let tag: &[u8; 4] = header(frame, 14, Layer::Vlan)?;
    let tci = be16(tag, 0);
    key.vlan_vid = OFPVID_PRESENT | (tci & 0x0fff);
    key.vlan_pcp = (tci >> 13) as u8;
    let et = be16(tag, 2);
    if !is_tpid(et) {
        key.vlan_count = 1;
        return Ok((et, 18));
    }
    parse_inner_vlans(frame, key)
}

/// Tags after the first one.
#[inline(never)]
fn parse_inner_vlans(frame: &[u8], key: &mut FlowKey) -> Result<(u16, usize), Malformed> {
    let mut n = 1;
    let mut off = 18;
    loop {
        if n == MAX_VLAN_TAGS {
            return Err(Malformed::TooManyVlanTags);
        }
        let tag: &[u8; 4] = header(frame, off, Layer::Vlan)?;
        let et = be16(tag, 2);
        off += 4;
        n += 1;
        if !is_tpid(et) {
            key.vlan_count = n as u8;
            return Ok((et, off));
        }
    }
}

/// ARP, MPLS, PBB and unknown ethertypes.
#[inline(never)]
fn parse_other_l3(frame: &[u8], off: usize, et: u16, key: &mut FlowKey) -> Result<u16, Malformed> {
    key.l4_offset = 0;
    match et {
        ethertype::ARP => parse_arp(frame, off, key),
        ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => {
            let e: &[u8; 4] = header(frame, off, Layer::Mpls)?;
            let v = be32(e, 0);
            key.mpls_label = v >> 12;
            key.mpls_tc = ((v >> 9) & 7) as u8;
            key.mpls_bos = ((v >> 8) & 1) as u8;
            key.mpls_ttl = v as u8;
            Ok(present::MPLS)
        }
        ethertype::PBB => {
            // The I-TAG and the customer Ethernet header it announces.
            let t: &[u8; 18] = header(frame, off, Layer::Pbb)?;
            key.pbb_isid = be32(t, 0) & 0x00ff_ffff;
            Ok(present::PBB)
        }
        _ => Ok(0),
    }
}

#[inline(always)]
fn parse_ipv4(frame: &[u8], off: usize, key: &mut FlowKey) -> Result<u16, Malformed> {
    let ip: &[u8; 20] = header(frame, off, Layer::Ipv4)?;
    let avail = frame.len() - off;
    let total = usize::from(be16(ip, 2));
    let ver_ihl = ip[0];
    let hlen = if ver_ihl == 0x45 {
        // The common case: no options, and 20 bytes are known present.
        if !(20..=avail).contains(&total) {
            return Err(Malformed::BadTotalLength);
        }
        20
    } else {
        if ver_ihl >> 4 != 4 {
            return Err(Malformed::BadIpVersion);
        }
        let hlen = usize::from(ver_ihl & 0x0f) * 4;
        if hlen < 20 {
            return Err(Malformed::BadIhl);
        }
        if hlen > avail {
            return Err(truncated(Layer::Ipv4));
        }
        if total < hlen || total > avail {
            return Err(Malformed::BadTotalLength);
        }
        hlen
    };
    key.ip_dscp = ip[1] >> 2;
    key.ip_ecn = ip[1] & 3;
    key.ip_ttl = ip[8];
    let proto = ip[9];
    key.ip_proto = proto;
    key.ipv4_src = be32(ip, 12);
    key.ipv4_dst = be32(ip, 16);
    let l4 = off + hlen;
    key.l4_offset = l4 as u16;

    let frag = be16(ip, 6);
    let mut pres = present::IPV4;
    if frag & 0x3fff != 0 {
        pres |= present::FRAG;
        if frag & 0x1fff != 0 {
            set_l4(key, L4::default());
            return Ok(pres | present::LATER_FRAG);
        }
    }
    let (l4, bits) = parse_l4(&frame[..off + total], l4, proto, false, key)?;
    set_l4(key, l4);
    Ok(pres | bits)
}

/// The L4 fields of the key, gathered in registers and stored once.
#[derive(Default, Clone, Copy)]
struct L4 {
    src: u16,
    dst: u16,
    tcp_flags: u16,
    icmp_type: u8,
    icmp_code: u8,
}

#[inline(always)]
fn set_l4(key: &mut FlowKey, l4: L4) {
    key.tp_src = l4.src;
    key.tp_dst = l4.dst;
    key.tcp_flags = l4.tcp_flags;
    key.icmp_type = l4.icmp_type;
    key.icmp_code = l4.icmp_code;
}

#[inline(always)]
fn parse_ipv6(frame: &[u8], off: usize, key: &mut FlowKey) -> Result<u16, Malformed> {
    let ip: &[u8; 40] = header(frame, off, Layer::Ipv6)?;
    let w0 = be32(ip, 0);
    if w0 >> 28 != 6 {
        return Err(Malformed::BadIpVersion);
    }
    let end = off + 40 + usize::from(be16(ip, 4));
    if end > frame.len() {
        return Err(Malformed::BadPayloadLength);
    }
    let tc = (w0 >> 20) as u8;
    key.ip_dscp = tc >> 2;
    key.ip_ecn = tc & 3;
    key.ipv6_flabel = w0 & 0x000f_ffff;
    key.ip_ttl = ip[7];
    key.ipv6_src = addr6(ip, 8);
    key.ipv6_dst = addr6(ip, 24);
    let frame = &frame[..end];
    let (nh, at, pres) = if is_ext(ip[6]) {
        let w = walk_ext_headers(frame, ip[6], off + 40, key)?;
        if !w.upper {
            // ESP, no next header, or a later fragment.
            key.ip_proto = w.nh;
            key.l4_offset = w.at as u16;
            set_l4(key, L4::default());
            return Ok(present::IPV6 | w.pres);
        }
        (w.nh, w.at, present::IPV6 | w.pres)
    } else {
        key.ipv6_exthdr = 0;
        (ip[6], off + 40, present::IPV6)
    };
    key.ip_proto = nh;
    key.l4_offset = at as u16;
    let (l4, bits) = parse_l4(frame, at, nh, true, key)?;
    set_l4(key, l4);
    Ok(pres | bits)
}

/// Does this next-header value start the extension-header walk?
#[inline(always)]
const fn is_ext(nh: u8) -> bool {
    matches!(
        nh,
        ip_proto::HOPOPT
            | ip_proto::IPV6_ROUTE
            | ip_proto::IPV6_FRAG
            | ip_proto::IPV6_OPTS
            | ip_proto::AH
            | ip_proto::ESP
            | ip_proto::IPV6_NONXT
    )
}

/// Where the extension-header walk ended.
struct ExtWalk {
    /// The last next-header value (ESP, 59, the upper-layer protocol, or
    /// a later fragment's next header).
    nh: u8,
    /// Offset of the header `nh` names.
    at: usize,
    /// FRAG / LATER_FRAG present bits.
    pres: u16,
    /// Is there an upper-layer header to parse at `at`?
    upper: bool,
}

/// Rank of an extension header in RFC 8200's recommended order.
const RANK_HOP: u8 = 0;
const RANK_DEST1: u8 = 1;
const RANK_ROUTER: u8 = 2;
const RANK_FRAG: u8 = 3;
const RANK_AUTH: u8 = 4;
const RANK_ESP: u8 = 5;
const RANK_DEST2: u8 = 6;

/// Walks IPv6 extension headers from `at` (where header `nh` starts),
/// sets `ipv6_exthdr`. `frame` ends where the IPv6 payload ends.
#[inline(never)]
fn walk_ext_headers(
    frame: &[u8],
    mut nh: u8,
    mut at: usize,
    key: &mut FlowKey,
) -> Result<ExtWalk, Malformed> {
    let mut flags = 0u16;
    let mut pres = 0u16;
    let mut count = 0;
    let mut last_rank = 0u8;
    let mut dest_before = 0u8;
    let mut dest_after = 0u8;
    let upper = loop {
        let (bit, rank) = match nh {
            ip_proto::HOPOPT => (exthdr::HOP, RANK_HOP),
            ip_proto::IPV6_OPTS => {
                if flags & (exthdr::ROUTER | exthdr::FRAG | exthdr::AUTH) != 0 {
                    dest_after += 1;
                    (exthdr::DEST, RANK_DEST2)
                } else {
                    dest_before += 1;
                    (exthdr::DEST, RANK_DEST1)
                }
            }
            ip_proto::IPV6_ROUTE => (exthdr::ROUTER, RANK_ROUTER),
            ip_proto::IPV6_FRAG => (exthdr::FRAG, RANK_FRAG),
            ip_proto::AH => (exthdr::AUTH, RANK_AUTH),
            ip_proto::ESP => (exthdr::ESP, RANK_ESP),
            ip_proto::IPV6_NONXT => {
                flags |= exthdr::NONEXT;
                break false;
            }
            _ => break true,
        };
        if count == MAX_IPV6_EXT_HEADERS {
            return Err(Malformed::TooManyExtHeaders);
        }
        if (bit == exthdr::HOP && count != 0) || rank < last_rank {
            flags |= exthdr::UNSEQ;
        }
        let repeated = if bit == exthdr::DEST {
            dest_before > 1 || dest_after > 1
        } else {
            flags & bit != 0
        };
        if repeated {
            flags |= exthdr::UNREP;
        }
        flags |= bit;
        last_rank = last_rank.max(rank);
        count += 1;
        if nh == ip_proto::ESP {
            // The rest is encrypted: ip_proto stays ESP.
            break false;
        }
        let h: &[u8; 8] = header(frame, at, Layer::Ipv6Ext)?;
        let hlen = ext_header_len(nh, h[1]);
        if hlen > frame.len() - at {
            return Err(truncated(Layer::Ipv6Ext));
        }
        let is_frag = nh == ip_proto::IPV6_FRAG;
        nh = h[0];
        at += hlen;
        if is_frag {
            pres |= present::FRAG;
            if be16(h, 2) & 0xfff8 != 0 {
                // A later fragment: no upper-layer header here.
                pres |= present::LATER_FRAG;
                break false;
            }
        }
    };
    key.ipv6_exthdr = flags;
    Ok(ExtWalk {
        nh,
        at,
        pres,
        upper,
    })
}

/// Parses the upper-layer header at `at`; `frame` ends where the IP
/// packet ends. Returns the L4 fields and the present bits they add.
#[inline(always)]
fn parse_l4(
    frame: &[u8],
    at: usize,
    proto: u8,
    v6: bool,
    key: &mut FlowKey,
) -> Result<(L4, u16), Malformed> {
    let mut l4 = L4::default();
    let bits = match proto {
        ip_proto::UDP => {
            let h: &[u8; 8] = header(frame, at, Layer::Udp)?;
            let len = usize::from(be16(h, 4));
            if len < 8 || len > frame.len() - at {
                return Err(Malformed::BadUdpLength);
            }
            l4.src = be16(h, 0);
            l4.dst = be16(h, 2);
            present::L4
        }
        ip_proto::TCP => {
            let h: &[u8; 20] = header(frame, at, Layer::Tcp)?;
            let doff = usize::from(h[12] >> 4) * 4;
            if doff < 20 {
                return Err(Malformed::BadTcpDataOffset);
            }
            if doff > frame.len() - at {
                return Err(truncated(Layer::Tcp));
            }
            l4.src = be16(h, 0);
            l4.dst = be16(h, 2);
            l4.tcp_flags = be16(h, 12) & 0x01ff;
            present::L4
        }
        ip_proto::SCTP => {
            let h: &[u8; 12] = header(frame, at, Layer::Sctp)?;
            l4.src = be16(h, 0);
            l4.dst = be16(h, 2);
            present::L4
        }
        ip_proto::ICMP if !v6 => {
            let h: &[u8; 8] = header(frame, at, Layer::Icmpv4)?;
            l4.icmp_type = h[0];
            l4.icmp_code = h[1];
            present::ICMP
        }
        ip_proto::ICMPV6 if v6 => {
            let h: &[u8; 4] = header(frame, at, Layer::Icmpv6)?;
            l4.icmp_type = h[0];
            l4.icmp_code = h[1];
            if h[0] == icmpv6::NEIGHBOR_SOLICIT || h[0] == icmpv6::NEIGHBOR_ADVERT {
                present::ICMP | parse_nd(frame, at, h[0], h[1], key)?
            } else {
                present::ICMP
            }
        }
        _ => 0,
    };
    Ok((l4, bits))
}

/// Neighbor solicitation/advertisement: target and link-layer options.
/// Returns the ND present bits.
#[inline(never)]
fn parse_nd(
    frame: &[u8],
    at: usize,
    msg_type: u8,
    code: u8,
    key: &mut FlowKey,
) -> Result<u16, Malformed> {
    key.ipv6_nd_target = 0;
    key.ipv6_nd_sll = 0;
    key.ipv6_nd_tll = 0;
    if code != 0 {
        return Ok(0);
    }
    let m: &[u8; 24] = header(frame, at, Layer::Nd)?;
    key.ipv6_nd_target = addr6(m, 8);
    let mut pres = present::ND;
    let (want, bit) = if msg_type == icmpv6::NEIGHBOR_SOLICIT {
        (icmpv6::OPT_SOURCE_LL, present::ND_SLL)
    } else {
        (icmpv6::OPT_TARGET_LL, present::ND_TLL)
    };
    let mut o = at + 24;
    while o < frame.len() {
        let Some(&[kind, len8]) = frame.get(o..o + 2).and_then(|s| s.first_chunk::<2>()) else {
            return Err(Malformed::BadNdOption);
        };
        let len = usize::from(len8) * 8;
        if len == 0 || len > frame.len() - o {
            return Err(Malformed::BadNdOption);
        }
        // The first link-layer option of the right kind with an Ethernet
        // address (length 1) wins; others are skipped.
        if kind == want && len == 8 && pres & bit == 0 {
            let opt: &[u8; 8] = header(frame, o, Layer::Nd)?;
            let v = be64(opt, 0) & 0xffff_ffff_ffff;
            if bit == present::ND_SLL {
                key.ipv6_nd_sll = v;
            } else {
                key.ipv6_nd_tll = v;
            }
            pres |= bit;
        }
        o += len;
    }
    Ok(pres)
}

fn parse_arp(frame: &[u8], off: usize, key: &mut FlowKey) -> Result<u16, Malformed> {
    let h: &[u8; 8] = header(frame, off, Layer::Arp)?;
    let (htype, ptype, hlen, plen) = (be16(h, 0), be16(h, 2), h[4], h[5]);
    if (htype == super::arp::HTYPE_ETHERNET && hlen != 6) || (ptype == ethertype::IPV4 && plen != 4)
    {
        return Err(Malformed::BadArpLength);
    }
    let need = 8 + 2 * (usize::from(hlen) + usize::from(plen));
    if need > frame.len() - off {
        return Err(truncated(Layer::Arp));
    }
    key.arp_op = be16(h, 6);
    if htype == super::arp::HTYPE_ETHERNET && ptype == ethertype::IPV4 {
        let a: &[u8; 28] = header(frame, off, Layer::Arp)?;
        key.arp_sha = be64(a, 6) & 0xffff_ffff_ffff;
        key.arp_spa = be32(a, 14);
        key.arp_tha = be64(a, 16) & 0xffff_ffff_ffff;
        key.arp_tpa = be32(a, 24);
        Ok(present::ARP | present::ARP_ETH_IPV4)
    } else {
        key.arp_sha = 0;
        key.arp_spa = 0;
        key.arp_tha = 0;
        key.arp_tpa = 0;
        Ok(present::ARP)
    }
}
