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
///
/// # Fast path
///
/// What: most traffic is Ethernet, at most one VLAN tag, IPv4 without
/// options and not fragmented, then UDP or TCP. `parse` takes that shape
/// through straight-line code and everything else through the general
/// walk, with the same outcome for every input: the same `Ok` or `Err`,
/// the same fields written with the same values (tests compare the two on
/// every frame they parse).
///
/// How: frames of at least 58 bytes (Ethernet, a tag, IPv4 and TCP
/// headers without options; every frame on the wire has 60) start with
/// one length check, after which the L2 header, the IPv4 header and the
/// first 20 bytes of the L4 header are one array read at constant
/// offsets, without bounds checks. The L2 fields are written as the
/// general walk writes them. The IPv4 part (`ipv4_fast`, one copy per L3
/// offset, 14 or 18, so that every offset is a constant) first makes
/// every check the general code would make for such a packet, folded
/// into as few compares as possible, and writes only when all pass:
/// adjacent fields then merge into wide stores. When it declines (any
/// other IPv4 packet, malformed ones included) nothing has been written
/// and the general code continues at L3 (`parse_l3`, out of line, so the
/// fast path pays for no register saves); other ethertypes go there
/// directly. Shorter frames take the general walk from the start
/// (`parse_general`), stacked tags from the second tag (`parse_stacked`).
#[inline]
pub fn parse(frame: &[u8], in_port: u32, key: &mut FlowKey) -> Result<(), Malformed> {
    let Some(b) = frame.first_chunk::<FAST_LEN>() else {
        return parse_general(frame, in_port, key);
    };
    key.in_port = in_port;
    // Two overlapping 8-byte loads give both 6-byte addresses.
    key.eth_dst = be64(b, 0) >> 16;
    key.eth_src = be64(b, 4) & 0xffff_ffff_ffff;
    let et = be16(b, 12);
    // (The IPv4 cases end in their own tail calls with constant
    // arguments, which keeps the general call's argument set-up off the
    // fast path.)
    let (et, off, pres) = if is_tpid(et) {
        let tci = be16(b, 14);
        key.vlan_vid = OFPVID_PRESENT | (tci & 0x0fff);
        key.vlan_pcp = (tci >> 13) as u8;
        let inner = be16(b, 16);
        if inner == ethertype::IPV4 {
            key.vlan_count = 1;
            if ipv4_fast::<18>(b, frame.len(), present::VLAN, key) {
                return Ok(());
            }
            return parse_l3(frame, 18, key, ethertype::IPV4, present::VLAN);
        }
        if is_tpid(inner) {
            return parse_stacked(frame, key);
        }
        key.vlan_count = 1;
        (inner, 18, present::VLAN)
    } else {
        key.vlan_vid = 0;
        key.vlan_pcp = 0;
        key.vlan_count = 0;
        if et == ethertype::IPV4 {
            if ipv4_fast::<14>(b, frame.len(), 0, key) {
                return Ok(());
            }
            return parse_l3(frame, 14, key, ethertype::IPV4, 0);
        }
        (et, 14, 0)
    };
    parse_l3(frame, off, key, et, pres)
}

/// Bytes the fast path of [`parse`] reads: Ethernet, one VLAN tag, an
/// IPv4 header and a TCP header, neither with options.
const FAST_LEN: usize = 14 + 4 + 20 + 20;

/// The fast path for an IPv4 packet at offset `L3` (14 or 18) of `b`, the
/// first [`FAST_LEN`] bytes of a frame of `len` bytes; `pres` holds the L2
/// present bits, and the caller has written the L2 fields.
///
/// Takes IHL 5, neither MF nor a fragment offset, and a UDP header or a
/// TCP header (which ends within `b`) that the general code accepts:
/// writes every other field the general code writes for the packet and
/// returns `true`. For any other packet, malformed ones included, returns
/// `false` having written nothing, and the general code parses it (and
/// finds the same error).
#[inline(always)]
fn ipv4_fast<const L3: usize>(
    b: &[u8; FAST_LEN],
    len: usize,
    pres: u16,
    key: &mut FlowKey,
) -> bool {
    // The IPv4 header and 20 bytes after it; with L3 a constant this
    // costs no run-time check.
    let Some(ip) = b.get(L3..).and_then(|s| s.first_chunk::<40>()) else {
        return false;
    };
    // Version 4 and IHL 5; MF clear and fragment offset 0 (DF and the
    // reserved bit do not matter to the general code either).
    if ip[0] != 0x45 || be16(ip, 6) & 0x3fff != 0 {
        return false;
    }
    let total = usize::from(be16(ip, 2));
    let avail = len - L3;
    let ttl = ip[8];
    // The general code's checks, in the order it makes them: 20 <= total
    // <= avail (else BadTotalLength), the L4 header within the IP packet
    // (else Truncated), then the UDP length or TCP data offset. Here
    // `within(total, 20 + header, avail)` covers the first two, and
    // `8 <= UDP length <= total - 20` or `20 <= data offset <= total - 20`
    // the last one.
    match ip[9] {
        ip_proto::UDP => {
            let ulen = usize::from(be16(ip, 24));
            if !within(total, 28, avail) || !within(ulen, 8, total - 20) {
                return false;
            }
            ipv4_fast_commit::<L3>(ip, ttl, ip_proto::UDP, 0, pres, key);
            true
        }
        ip_proto::TCP => {
            let doff = usize::from(ip[32] >> 4) * 4;
            if !within(total, 40, avail) || !within(doff, 20, total - 20) {
                return false;
            }
            let flags = be16(ip, 32) & 0x01ff;
            ipv4_fast_commit::<L3>(ip, ttl, ip_proto::TCP, flags, pres, key);
            true
        }
        _ => false,
    }
}

/// The stores of [`ipv4_fast`], once its checks have passed (one call per
/// protocol, so that `tcp_flags` is a constant for UDP).
#[inline(always)]
fn ipv4_fast_commit<const L3: usize>(
    ip: &[u8; 40],
    ttl: u8,
    proto: u8,
    tcp_flags: u16,
    pres: u16,
    key: &mut FlowKey,
) {
    key.eth_type = ethertype::IPV4;
    key.l3_offset = L3 as u16;
    key.ip_dscp = ip[1] >> 2;
    key.ip_ecn = ip[1] & 3;
    key.ip_ttl = ttl;
    key.ip_proto = proto;
    // One 8-byte load for both addresses, one 4-byte load for both ports
    // (rotated so that their two stores become one).
    let addrs = be64(ip, 12);
    key.ipv4_src = (addrs >> 32) as u32;
    key.ipv4_dst = addrs as u32;
    key.l4_offset = (L3 + 20) as u16;
    let ports = be32(ip, 20).rotate_left(16);
    key.tp_src = ports as u16;
    key.tp_dst = (ports >> 16) as u16;
    key.tcp_flags = tcp_flags;
    key.icmp_type = 0;
    key.icmp_code = 0;
    key.present = pres | present::IPV4 | present::L4;
}

/// `lo <= x <= hi`, given `lo <= hi`, in one compare: below `lo` the
/// subtraction wraps around to a large number.
#[inline(always)]
fn within(x: usize, lo: usize, hi: usize) -> bool {
    x.wrapping_sub(lo) <= hi - lo
}

/// The general walk from the start, for frames shorter than [`FAST_LEN`]:
/// [`parse`] without its fast path, correct for any frame (tests compare
/// the two). The L3 walk is inlined here rather than called: short frames
/// are few on the wire but not from virtual ports, which need not pad.
#[inline(never)]
pub(super) fn parse_general(
    frame: &[u8],
    in_port: u32,
    key: &mut FlowKey,
) -> Result<(), Malformed> {
    let eth: &[u8; 14] = header(frame, 0, Layer::Ethernet)?;
    key.in_port = in_port;
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
    l3(frame, off, key, et, pres)
}

/// A frame of at least [`FAST_LEN`] bytes whose first two ethertypes are
/// TPIDs, from the second tag on ([`parse`] has written the L2 fields and
/// the outer tag's). The L3 walk is inlined as in [`parse_general`].
#[inline(never)]
fn parse_stacked(frame: &[u8], key: &mut FlowKey) -> Result<(), Malformed> {
    let (et, off) = parse_inner_vlans(frame, key)?;
    l3(frame, off, key, et, present::VLAN)
}

/// The general walk from L3 on, where [`parse`] goes after writing the L2
/// fields when its fast path does not apply: `et` is the ethertype after
/// the tags, `off` where its header starts, `pres` the L2 present bits.
/// Out of line, so that the fast path pays for none of the register
/// saves the general walk needs. (`key` is the third argument, as in
/// [`parse`], so that the tail calls from there need not move it.)
#[inline(never)]
fn parse_l3(
    frame: &[u8],
    off: usize,
    key: &mut FlowKey,
    et: u16,
    pres: u16,
) -> Result<(), Malformed> {
    l3(frame, off, key, et, pres)
}

/// The body of [`parse_l3`], also inlined into [`parse_general`] and
/// [`parse_stacked`].
#[inline(always)]
fn l3(frame: &[u8], off: usize, key: &mut FlowKey, et: u16, pres: u16) -> Result<(), Malformed> {
    key.eth_type = et;
    key.l3_offset = off as u16;
    let bits = match et {
        ethertype::IPV4 => parse_ipv4(frame, off, key)?,
        ethertype::IPV6 => parse_ipv6(frame, off, key)?,
        _ => parse_other_l3(frame, off, et, key)?,
    };
    key.present = pres | bits;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build::{Ipv4, PacketBuilder};

    fn ipv4_fast_on(frame: &[u8], key: &mut FlowKey) -> bool {
        let b = frame.first_chunk::<FAST_LEN>().unwrap();
        if is_tpid(be16(b, 12)) {
            ipv4_fast::<18>(b, frame.len(), present::VLAN, key)
        } else {
            ipv4_fast::<14>(b, frame.len(), 0, key)
        }
    }

    /// The common shapes take the fast path (the tests in `wire::tests`
    /// compare `parse` with the general walk; this one makes sure that
    /// they compare something), and the fast path writes nothing when it
    /// declines.
    #[test]
    fn fast_path_takes_the_common_shapes() {
        let eth = || PacketBuilder::new().eth([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
        let df = Ipv4 {
            src: 1,
            dst: 2,
            dont_frag: true,
            ..Ipv4::default()
        };
        let taken = [
            eth()
                .vlan(100, 0)
                .ipv4_with(df.clone())
                .udp(1, 2)
                .payload(&[0; 14]),
            eth().svlan(100, 0).ipv4(1, 2).tcp(1, 2),
            eth().ipv4_with(df.clone()).udp(1, 2).pad60(),
            eth().ipv4(1, 2).tcp(1, 2).pad60(),
        ];
        for b in taken {
            let f = b.build().unwrap();
            let mut k = FlowKey::default();
            assert!(ipv4_fast_on(&f, &mut k), "{f:02x?}");
            let mut g = FlowKey::default();
            parse_general(&f, 0, &mut g).unwrap();
            // The L2 fields are the caller's.
            g.eth_dst = 0;
            g.eth_src = 0;
            g.vlan_vid = 0;
            g.vlan_pcp = 0;
            g.vlan_count = 0;
            assert_eq!(k, g);
        }
        // One change each to a frame that is taken: MF, a fragment
        // offset, IHL 6, ICMP, total length 27 and 47 (beyond the frame),
        // UDP length 7.
        let base = eth()
            .ipv4_with(df.clone())
            .udp(1, 2)
            .pad60()
            .build()
            .unwrap();
        let edits: [(usize, &[u8]); 7] = [
            (20, &[0x60]),
            (21, &[1]),
            (14, &[0x46]),
            (23, &[ip_proto::ICMP]),
            (16, &[0, 27]),
            (16, &[0, 47]),
            (38, &[0, 7]),
        ];
        for (at, bytes) in edits {
            let mut f = base.clone();
            f[at..at + bytes.len()].copy_from_slice(bytes);
            let junk = FlowKey {
                present: 0xffff,
                ipv4_src: 0xdead,
                tp_src: 99,
                ..FlowKey::default()
            };
            let mut k = junk;
            assert!(!ipv4_fast_on(&f, &mut k), "byte {at} = {bytes:?}");
            assert_eq!(k, junk);
        }
    }
}
