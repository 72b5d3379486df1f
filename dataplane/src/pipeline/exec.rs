//! The action executor: OpenFlow 1.3 header actions on a packet and its
//! flow key.
//!
//! # Design
//!
//! What: [`execute`] carries out one header-changing [`Action`] (set-field
//! on every writable field, push/pop VLAN, MPLS and PBB, the TTL actions)
//! on a [`PacketBuf`] and keeps the packet's [`FlowKey`] describing the
//! packet as it now is, so that later tables match on the rewritten
//! headers. Output, group and set-queue belong to the pipeline and come
//! back as [`Applied::Deferred`].
//!
//! How: the key's layer offsets (`l3_offset`, `l4_offset`) and `present`
//! bits locate the bytes to change; every access is bounds-checked (a
//! header the key says is there but that is too short is skipped, never a
//! panic). Checksums are kept valid incrementally (RFC 1624):
//!
//! | change | checksums updated |
//! | --- | --- |
//! | IPv4 DSCP/ECN, TTL, protocol, addresses | IPv4 header |
//! | IPv4/IPv6 addresses, protocol (pseudo-header) | TCP, UDP (a zero UDP checksum stays zero), ICMPv6 |
//! | TCP/UDP ports | TCP, UDP |
//! | SCTP ports | CRC32c recomputed over the SCTP packet (not for fragments) |
//! | ICMPv4/ICMPv6 type, code, ND target and link-layer options | ICMPv4, ICMPv6 |
//!
//! Field rewrites that leave the packet's structure alone update the key
//! field directly. Rewrites that change how the packet parses (eth_type,
//! ip_proto, ICMPv6 type/code, every push and pop) re-run
//! [`wire::parse`] (keeping `in_port`). When the rewritten packet no longer
//! parses (set-field can produce anything), the key keeps only its
//! Ethernet and VLAN fields, everything else zero, and the action reports
//! [`Applied::Unparseable`]: the packet still goes on, as the bytes the
//! controller asked for.
//!
//! Semantics chosen where OpenFlow 1.3.5 leaves room:
//! * push_vlan copies VID, PCP and DEI from the outer tag, 0 without one;
//!   the new tag goes right after the MAC addresses.
//! * push_mpls goes after the VLAN tags (before any PBB I-TAG). Onto an
//!   MPLS packet it copies label, TC and TTL of the top entry (BoS 0);
//!   otherwise label 0, TC 0, BoS 1 and the TTL of the IP header (0 when
//!   not IP).
//! * push_pbb puts a new backbone header in front of the whole frame:
//!   B-DA and B-SA copied from the frame's addresses, an I-TAG with
//!   PCP/DEI/UCA 0 and the I-SID of the frame's own I-TAG (0 when the frame
//!   is not PBB). pop_pbb removes everything up to the customer addresses
//!   (backbone addresses, B-TAG, I-TAG).
//! * dec_ttl and dec_mpls_ttl on a TTL of 0 or 1 fail with
//!   [`Fault::TtlExpired`] and leave the packet alone (OF1.3 would send an
//!   `OFPR_INVALID_TTL` packet-in if the controller asked; we drop and
//!   count).
//! * copy_ttl_in/out work between the top MPLS entry and the next entry,
//!   or the IP header under a bottom-of-stack entry (recognised by its
//!   version nibble).
//! * An action whose header is absent (set_field:ipv4_src on ARP, pop_vlan
//!   untagged, dec_ttl on non-IP) does nothing: [`Applied::Skipped`].
//!
//! Nothing here allocates. Threads: pure functions on buffers the caller
//! owns.

use super::fields::{self, Registers};
use super::packet::PacketBuf;
use crate::openflow::{Action, Field};
use crate::wire::checksum::{
    checksum_update128, checksum_update16, checksum_update32, checksum_update_bytes, crc32c_update,
};
use crate::wire::ipv6::ext_header_len;
use crate::wire::{self, icmpv6, ip_proto, present, FlowKey, Malformed};

/// What an action did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The packet's headers changed (or were rewritten with the value
    /// they already had); the key describes the new packet.
    Modified,
    /// Only a pipeline register changed (`tunnel_id`).
    Register,
    /// The packet lacks the header the action works on: nothing done.
    Skipped(&'static str),
    /// Headers changed and the new packet no longer parses: the key keeps
    /// only its Ethernet and VLAN fields.
    Unparseable(Malformed),
    /// Output, group and set_queue: the pipeline carries them out.
    Deferred,
}

/// Why an action stopped the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Fault {
    /// dec_ttl or dec_mpls_ttl on a TTL of 0 or 1.
    #[error("TTL expired")]
    TtlExpired,
    /// Not enough headroom in the buffer for a push.
    #[error("no headroom to push a header")]
    NoHeadroom,
}

/// Executes one action on `pkt`, keeping `key` (and `regs`, for
/// `tunnel_id`) in step with it.
pub fn execute<P: PacketBuf + ?Sized>(
    action: &Action,
    pkt: &mut P,
    key: &mut FlowKey,
    regs: &mut Registers,
) -> Result<Applied, Fault> {
    match *action {
        Action::SetField { field, value, mask } => {
            Ok(set_field(field, value, mask, pkt, key, regs))
        }
        Action::PushVlan(tpid) => push_vlan(tpid, pkt, key),
        Action::PopVlan => Ok(pop_vlan(pkt, key)),
        Action::PushMpls(et) => push_mpls(et, pkt, key),
        Action::PopMpls(et) => Ok(pop_mpls(et, pkt, key)),
        Action::PushPbb(et) => push_pbb(et, pkt, key),
        Action::PopPbb => Ok(pop_pbb(pkt, key)),
        Action::SetMplsTtl(t) => set_mpls_ttl(pkt, key, |_| Ok(t)),
        Action::DecMplsTtl => set_mpls_ttl(pkt, key, dec),
        Action::SetNwTtl(t) => set_nw_ttl(pkt, key, |_| Ok(t)),
        Action::DecNwTtl => set_nw_ttl(pkt, key, dec),
        Action::CopyTtlOut => Ok(copy_ttl_out(pkt, key)),
        Action::CopyTtlIn => Ok(copy_ttl_in(pkt, key)),
        Action::Output(_) | Action::Group(_) | Action::SetQueue(_) => Ok(Applied::Deferred),
    }
}

fn dec(ttl: u8) -> Result<u8, Fault> {
    if ttl <= 1 {
        Err(Fault::TtlExpired)
    } else {
        Ok(ttl - 1)
    }
}

/// The DSCP after a meter's `dscp_remark` band raised the drop precedence
/// by `prec_level` (OF1.3.5 §7.3.4.5): for an Assured Forwarding code
/// point (AFxy = 8x + 2y, class x 1..=4, precedence y 1..=3) the precedence
/// rises, saturating at 3; any other DSCP has no drop precedence and stays.
pub const fn raise_drop_precedence(dscp: u8, prec_level: u8) -> u8 {
    let dscp = dscp & 0x3f;
    let class = dscp >> 3;
    let low = dscp & 7;
    if class < 1 || class > 4 || !matches!(low, 2 | 4 | 6) {
        return dscp;
    }
    let prec = (low >> 1).saturating_add(prec_level);
    let prec = if prec > 3 { 3 } else { prec };
    (class << 3) | (prec << 1)
}

/// Applies a meter's `dscp_remark` band: raises the drop precedence of the
/// packet's DSCP (IPv4 or IPv6) by `prec_level`.
pub fn remark_dscp<P: PacketBuf + ?Sized>(
    prec_level: u8,
    pkt: &mut P,
    key: &mut FlowKey,
    regs: &mut Registers,
) -> Applied {
    if !key.is_ip() {
        return Applied::Skipped("not IP");
    }
    let new = raise_drop_precedence(key.ip_dscp, prec_level);
    set_field(Field::IpDscp, u128::from(new), 0x3f, pkt, key, regs)
}

// ---- byte helpers (bounds-checked; `None` = header too short) ----

fn get16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn get32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn get128(b: &[u8], at: usize) -> Option<u128> {
    let s = b.get(at..at.checked_add(16)?)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(s);
    Some(u128::from_be_bytes(a))
}

fn put(b: &mut [u8], at: usize, bytes: &[u8]) -> Option<()> {
    b.get_mut(at..at.checked_add(bytes.len())?)?
        .copy_from_slice(bytes);
    Some(())
}

fn put16(b: &mut [u8], at: usize, v: u16) -> Option<()> {
    put(b, at, &v.to_be_bytes())
}

fn put32(b: &mut [u8], at: usize, v: u32) -> Option<()> {
    put(b, at, &v.to_be_bytes())
}

fn mac_bytes(v: u128) -> [u8; 6] {
    wire::mac_from_u64(v as u64)
}

/// Rewrites the 16-bit checksum at `at` with `f`. `udp`: a zero checksum
/// means "none" and stays zero, and a computed zero is sent as 0xffff
/// (RFC 768).
fn update_sum(b: &mut [u8], at: usize, udp: bool, f: impl FnOnce(u16) -> u16) -> Option<()> {
    let old = get16(b, at)?;
    if udp && old == 0 {
        return Some(());
    }
    let mut new = f(old);
    if udp && new == 0 {
        new = 0xffff;
    }
    put16(b, at, new)
}

/// Where the checksum that covers the IP pseudo-header sits: `(offset,
/// is_udp)`, for TCP, UDP and ICMPv6 whose header was read.
fn pseudo_sum_at(key: &FlowKey) -> Option<(usize, bool)> {
    if key.has(present::LATER_FRAG) {
        return None;
    }
    let l4 = usize::from(key.l4_offset);
    match key.ip_proto {
        ip_proto::TCP if key.has(present::L4) => Some((l4 + 16, false)),
        ip_proto::UDP if key.has(present::L4) => Some((l4 + 6, true)),
        ip_proto::ICMPV6 if key.has(present::IPV6 | present::ICMP) => Some((l4 + 2, false)),
        _ => None,
    }
}

/// Where the checksum of the transport header itself sits (ports, ICMP
/// fields): as [`pseudo_sum_at`], plus ICMPv4.
fn l4_sum_at(key: &FlowKey) -> Option<(usize, bool)> {
    match key.ip_proto {
        ip_proto::ICMP if key.has(present::IPV4 | present::ICMP) => {
            Some((usize::from(key.l4_offset) + 2, false))
        }
        _ => pseudo_sum_at(key),
    }
}

/// End of the IP packet (IPv4 total length, IPv6 payload length), clamped
/// to the frame.
fn ip_end(b: &[u8], key: &FlowKey) -> usize {
    let l3 = usize::from(key.l3_offset);
    let end = if key.has(present::IPV4) {
        get16(b, l3 + 2).map_or(0, |t| l3 + usize::from(t))
    } else if key.has(present::IPV6) {
        get16(b, l3 + 4).map_or(0, |p| l3 + 40 + usize::from(p))
    } else {
        0
    };
    end.min(b.len())
}

/// Recomputes the SCTP CRC32c (whole, unfragmented packets only).
fn fix_sctp(b: &mut [u8], key: &FlowKey) {
    if key.ip_proto != ip_proto::SCTP || !key.has(present::L4) || key.has(present::FRAG) {
        return;
    }
    let l4 = usize::from(key.l4_offset);
    let end = ip_end(b, key);
    if end < l4 + 12 {
        return;
    }
    let mut crc = crc32c_update(0, &b[l4..l4 + 8]);
    crc = crc32c_update(crc, &[0; 4]);
    crc = crc32c_update(crc, &b[l4 + 12..end]);
    b[l4 + 8..l4 + 12].copy_from_slice(&crc.to_le_bytes());
}

/// Walks the IPv6 extension headers from the fixed header to `l4`:
/// returns the offset of the last next-header field (the one that names
/// `ip_proto`) and whether a routing header with segments left was seen
/// (then the pseudo-header uses the final destination, not `ipv6_dst`).
fn ipv6_walk(b: &[u8], key: &FlowKey) -> Option<(usize, bool)> {
    let l3 = usize::from(key.l3_offset);
    let l4 = usize::from(key.l4_offset);
    let mut nh_at = l3 + 6;
    let mut at = l3 + 40;
    let mut routed = false;
    while at < l4 {
        let kind = *b.get(nh_at)?;
        if kind == ip_proto::IPV6_ROUTE && *b.get(at + 3)? != 0 {
            routed = true;
        }
        nh_at = at;
        at += ext_header_len(kind, *b.get(at + 1)?);
    }
    (at == l4).then_some((nh_at, routed))
}

/// Re-parses after a structural change; on failure the key keeps only L2.
fn reparse<P: PacketBuf + ?Sized>(pkt: &P, key: &mut FlowKey) -> Applied {
    match wire::parse(pkt.data(), key.in_port, key) {
        Ok(()) => Applied::Modified,
        Err(m) => {
            l2_only(pkt.data(), key);
            Applied::Unparseable(m)
        }
    }
}

/// Fills the key with the Ethernet and VLAN fields of `frame` and zeroes
/// the rest (for a frame that `parse` rejects).
fn l2_only(frame: &[u8], key: &mut FlowKey) {
    let in_port = key.in_port;
    *key = FlowKey {
        in_port,
        ..FlowKey::default()
    };
    let (Some(dst), Some(src), Some(mut et)) =
        (frame.get(0..6), frame.get(6..12), get16(frame, 12))
    else {
        return;
    };
    let mut a = [0u8; 6];
    a.copy_from_slice(dst);
    key.eth_dst = wire::mac_to_u64(a);
    a.copy_from_slice(src);
    key.eth_src = wire::mac_to_u64(a);
    let mut off = 14;
    let mut n = 0u8;
    while wire::vlan::is_tpid(et) && usize::from(n) < wire::MAX_VLAN_TAGS {
        let (Some(tci), Some(inner)) = (get16(frame, off), get16(frame, off + 2)) else {
            break;
        };
        if n == 0 {
            key.vlan_vid = wire::vlan::OFPVID_PRESENT | (tci & 0x0fff);
            key.vlan_pcp = (tci >> 13) as u8;
            key.present = present::VLAN;
        }
        n += 1;
        off += 4;
        et = inner;
    }
    key.vlan_count = n;
    key.eth_type = et;
    key.l3_offset = off as u16;
}

// ---- set_field ----

/// Whether the packet has the header `field` lives in.
fn writable_here(key: &FlowKey, field: Field) -> Result<(), &'static str> {
    let ok = match field {
        Field::VlanVid | Field::VlanPcp => key.vlan_count > 0,
        f => fields::has(key, f),
    };
    if ok {
        return Ok(());
    }
    Err(match field {
        Field::VlanVid | Field::VlanPcp => "no VLAN tag",
        Field::IpDscp | Field::IpEcn | Field::IpProto => "not IP",
        Field::Ipv4Src | Field::Ipv4Dst => "not IPv4",
        Field::TcpSrc | Field::TcpDst => "no TCP header",
        Field::UdpSrc | Field::UdpDst => "no UDP header",
        Field::SctpSrc | Field::SctpDst => "no SCTP header",
        Field::Icmpv4Type | Field::Icmpv4Code => "no ICMPv4 header",
        Field::Icmpv6Type | Field::Icmpv6Code => "no ICMPv6 header",
        Field::ArpOp | Field::ArpSpa | Field::ArpTpa | Field::ArpSha | Field::ArpTha => {
            "no Ethernet/IPv4 ARP header"
        }
        Field::Ipv6Src | Field::Ipv6Dst | Field::Ipv6Flabel => "not IPv6",
        Field::Ipv6NdTarget => "not a neighbor solicitation/advertisement",
        Field::Ipv6NdSll => "no ND source link-layer address option",
        Field::Ipv6NdTll => "no ND target link-layer address option",
        Field::MplsLabel | Field::MplsTc | Field::MplsBos => "no MPLS header",
        Field::PbbIsid => "no PBB I-TAG",
        _ => "field not in this packet",
    })
}

/// Writes `value` into the bits of `field` selected by `mask` (OF1.3
/// set-field; partial masks for ovs `load`/masked set-field).
pub fn set_field<P: PacketBuf + ?Sized>(
    field: Field,
    value: u128,
    mask: u128,
    pkt: &mut P,
    key: &mut FlowKey,
    regs: &mut Registers,
) -> Applied {
    if !field.writable() {
        return Applied::Skipped("field is read-only");
    }
    let mask = mask & field.full_mask();
    if field == Field::TunnelId {
        let m = mask as u64;
        regs.tunnel_id = (regs.tunnel_id & !m) | (value as u64 & m);
        return Applied::Register;
    }
    if let Err(why) = writable_here(key, field) {
        return Applied::Skipped(why);
    }
    let old = fields::raw(key, regs, field);
    let new = (old & !mask) | (value & mask);
    match write_field(field, old, new, pkt.data_mut(), key) {
        Some(Structure::Same) => Applied::Modified,
        Some(Structure::Changed) => reparse(pkt, key),
        None => Applied::Skipped("header too short"),
    }
}

/// Whether a field write changed how the packet parses.
enum Structure {
    Same,
    Changed,
}

/// Writes the new value of `field` into the packet and the key (checksums
/// included). `None` when the header is shorter than the key claims.
fn write_field(
    field: Field,
    old: u128,
    new: u128,
    b: &mut [u8],
    key: &mut FlowKey,
) -> Option<Structure> {
    use Field::*;
    let l3 = usize::from(key.l3_offset);
    let l4 = usize::from(key.l4_offset);
    match field {
        EthDst => {
            put(b, 0, &mac_bytes(new))?;
            key.eth_dst = new as u64;
        }
        EthSrc => {
            put(b, 6, &mac_bytes(new))?;
            key.eth_src = new as u64;
        }
        EthType => {
            put16(b, l3.checked_sub(2)?, new as u16)?;
            return Some(if old == new {
                Structure::Same
            } else {
                Structure::Changed
            });
        }
        VlanVid => {
            let tci = get16(b, 14)?;
            let vid = new as u16 & 0x0fff;
            put16(b, 14, (tci & 0xf000) | vid)?;
            key.vlan_vid = wire::vlan::OFPVID_PRESENT | vid;
        }
        VlanPcp => {
            let tci = get16(b, 14)?;
            put16(b, 14, (tci & 0x1fff) | ((new as u16 & 7) << 13))?;
            key.vlan_pcp = new as u8 & 7;
        }
        IpDscp | IpEcn => {
            let (dscp, ecn) = if field == IpDscp {
                (new as u8 & 0x3f, key.ip_ecn)
            } else {
                (key.ip_dscp, new as u8 & 3)
            };
            let tos = (dscp << 2) | ecn;
            if key.has(present::IPV4) {
                let w = get16(b, l3)?;
                let nw = (w & 0xff00) | u16::from(tos);
                update_sum(b, l3 + 10, false, |s| checksum_update16(s, w, nw))?;
                put16(b, l3, nw)?;
            } else {
                let w = get32(b, l3)?;
                put32(b, l3, (w & 0xf00f_ffff) | (u32::from(tos) << 20))?;
            }
            key.ip_dscp = dscp;
            key.ip_ecn = ecn;
        }
        IpProto => {
            let (old_p, new_p) = (old as u8, new as u8);
            if key.has(present::IPV4) {
                let w = get16(b, l3 + 8)?;
                let nw = (w & 0xff00) | u16::from(new_p);
                update_sum(b, l3 + 10, false, |s| checksum_update16(s, w, nw))?;
                put16(b, l3 + 8, nw)?;
            } else {
                let (nh_at, _) = ipv6_walk(b, key)?;
                *b.get_mut(nh_at)? = new_p;
            }
            // The pseudo-header carries the protocol number: fix the
            // checksum of the header that is there (as the old protocol).
            if let Some((at, udp)) = pseudo_sum_at(key) {
                update_sum(b, at, udp, |s| {
                    checksum_update16(s, old_p.into(), new_p.into())
                })?;
            }
            return Some(if old == new {
                Structure::Same
            } else {
                Structure::Changed
            });
        }
        Ipv4Src | Ipv4Dst => {
            let at = if field == Ipv4Src { l3 + 12 } else { l3 + 16 };
            let (o, n) = (old as u32, new as u32);
            get32(b, at)?;
            update_sum(b, l3 + 10, false, |s| checksum_update32(s, o, n))?;
            if let Some((sum_at, udp)) = pseudo_sum_at(key) {
                update_sum(b, sum_at, udp, |s| checksum_update32(s, o, n))?;
            }
            put32(b, at, n)?;
            if field == Ipv4Src {
                key.ipv4_src = n;
            } else {
                key.ipv4_dst = n;
            }
        }
        TcpSrc | TcpDst | UdpSrc | UdpDst | SctpSrc | SctpDst => {
            let src = matches!(field, TcpSrc | UdpSrc | SctpSrc);
            let at = if src { l4 } else { l4 + 2 };
            let (o, n) = (old as u16, new as u16);
            get16(b, at)?;
            if key.ip_proto != ip_proto::SCTP {
                if let Some((sum_at, udp)) = l4_sum_at(key) {
                    update_sum(b, sum_at, udp, |s| checksum_update16(s, o, n))?;
                }
            }
            put16(b, at, n)?;
            fix_sctp(b, key);
            if src {
                key.tp_src = n;
            } else {
                key.tp_dst = n;
            }
        }
        Icmpv4Type | Icmpv4Code | Icmpv6Type | Icmpv6Code => {
            let w = get16(b, l4)?;
            let nw = match field {
                Icmpv4Type | Icmpv6Type => (w & 0x00ff) | ((new as u16) << 8),
                _ => (w & 0xff00) | new as u16,
            };
            update_sum(b, l4 + 2, false, |s| checksum_update16(s, w, nw))?;
            put16(b, l4, nw)?;
            key.icmp_type = (nw >> 8) as u8;
            key.icmp_code = nw as u8;
            // ND fields depend on the ICMPv6 type and code.
            let v6 = matches!(field, Icmpv6Type | Icmpv6Code);
            return Some(if v6 && old != new {
                Structure::Changed
            } else {
                Structure::Same
            });
        }
        ArpOp => {
            put16(b, l3 + 6, new as u16)?;
            key.arp_op = new as u16;
        }
        ArpSpa | ArpTpa => {
            put32(
                b,
                if field == ArpSpa { l3 + 14 } else { l3 + 24 },
                new as u32,
            )?;
            if field == ArpSpa {
                key.arp_spa = new as u32;
            } else {
                key.arp_tpa = new as u32;
            }
        }
        ArpSha | ArpTha => {
            put(
                b,
                if field == ArpSha { l3 + 8 } else { l3 + 18 },
                &mac_bytes(new),
            )?;
            if field == ArpSha {
                key.arp_sha = new as u64;
            } else {
                key.arp_tha = new as u64;
            }
        }
        Ipv6Src | Ipv6Dst => {
            let at = if field == Ipv6Src { l3 + 8 } else { l3 + 24 };
            get128(b, at)?;
            let routed = field == Ipv6Dst && ipv6_walk(b, key).is_some_and(|(_, r)| r);
            if !routed {
                if let Some((sum_at, udp)) = pseudo_sum_at(key) {
                    update_sum(b, sum_at, udp, |s| checksum_update128(s, old, new))?;
                }
            }
            put(b, at, &new.to_be_bytes())?;
            if field == Ipv6Src {
                key.ipv6_src = new;
            } else {
                key.ipv6_dst = new;
            }
        }
        Ipv6Flabel => {
            let w = get32(b, l3)?;
            put32(b, l3, (w & 0xfff0_0000) | (new as u32 & 0x000f_ffff))?;
            key.ipv6_flabel = new as u32 & 0x000f_ffff;
        }
        Ipv6NdTarget => {
            get128(b, l4 + 8)?;
            update_sum(b, l4 + 2, false, |s| checksum_update128(s, old, new))?;
            put(b, l4 + 8, &new.to_be_bytes())?;
            key.ipv6_nd_target = new;
        }
        Ipv6NdSll | Ipv6NdTll => {
            let kind = if field == Ipv6NdSll {
                icmpv6::OPT_SOURCE_LL
            } else {
                icmpv6::OPT_TARGET_LL
            };
            let at = nd_option(b, l4, ip_end(b, key), kind)?;
            let mut old_mac = [0u8; 6];
            old_mac.copy_from_slice(b.get(at..at + 6)?);
            let new_mac = mac_bytes(new);
            update_sum(b, l4 + 2, false, |s| {
                checksum_update_bytes(s, &old_mac, &new_mac)
            })?;
            put(b, at, &new_mac)?;
            if field == Ipv6NdSll {
                key.ipv6_nd_sll = new as u64;
            } else {
                key.ipv6_nd_tll = new as u64;
            }
        }
        MplsLabel | MplsTc | MplsBos => {
            let e = get32(b, l3)?;
            let n = new as u32;
            let e = match field {
                MplsLabel => (e & 0x0000_0fff) | (n << 12),
                MplsTc => (e & !0x0000_0e00) | ((n & 7) << 9),
                _ => (e & !0x0000_0100) | ((n & 1) << 8),
            };
            put32(b, l3, e)?;
            key.mpls_label = e >> 12;
            key.mpls_tc = ((e >> 9) & 7) as u8;
            key.mpls_bos = ((e >> 8) & 1) as u8;
        }
        PbbIsid => {
            let t = get32(b, l3)?;
            put32(b, l3, (t & 0xff00_0000) | (new as u32 & 0x00ff_ffff))?;
            key.pbb_isid = new as u32 & 0x00ff_ffff;
        }
        InPort | Metadata | TunnelId | Ipv6Exthdr => return None,
    }
    Some(Structure::Same)
}

/// Offset of the 6-byte address in the first ND link-layer option of
/// `kind` with an Ethernet address (length 1), the one `parse` reads.
fn nd_option(b: &[u8], l4: usize, end: usize, kind: u8) -> Option<usize> {
    let mut o = l4 + 24;
    while o + 2 <= end {
        let len = usize::from(*b.get(o + 1)?) * 8;
        if len == 0 {
            return None;
        }
        if *b.get(o)? == kind && len == 8 {
            return Some(o + 2);
        }
        o += len;
    }
    None
}

// ---- push / pop ----

fn push_vlan<P: PacketBuf + ?Sized>(
    tpid: u16,
    pkt: &mut P,
    key: &mut FlowKey,
) -> Result<Applied, Fault> {
    let tci = if key.vlan_count > 0 {
        get16(pkt.data(), 14).unwrap_or(0)
    } else {
        0
    };
    if pkt.len() < 14 {
        return Ok(Applied::Skipped("frame too short"));
    }
    if !pkt.insert_gap(12, 4) {
        return Err(Fault::NoHeadroom);
    }
    let b = pkt.data_mut();
    b[12..14].copy_from_slice(&tpid.to_be_bytes());
    b[14..16].copy_from_slice(&tci.to_be_bytes());
    Ok(reparse(pkt, key))
}

fn pop_vlan<P: PacketBuf + ?Sized>(pkt: &mut P, key: &mut FlowKey) -> Applied {
    if key.vlan_count == 0 {
        return Applied::Skipped("no VLAN tag");
    }
    if !pkt.remove_range(12, 4) {
        return Applied::Skipped("VLAN tag truncated");
    }
    reparse(pkt, key)
}

fn push_mpls<P: PacketBuf + ?Sized>(
    et: u16,
    pkt: &mut P,
    key: &mut FlowKey,
) -> Result<Applied, Fault> {
    let l3 = usize::from(key.l3_offset);
    let entry = if key.has(present::MPLS) {
        (key.mpls_label << 12) | (u32::from(key.mpls_tc) << 9) | u32::from(key.mpls_ttl)
    } else {
        let ttl = if key.is_ip() { key.ip_ttl } else { 0 };
        (1 << 8) | u32::from(ttl)
    };
    if l3 < 14 || l3 > pkt.len() {
        return Ok(Applied::Skipped("frame too short"));
    }
    if !pkt.insert_gap(l3, 4) {
        return Err(Fault::NoHeadroom);
    }
    let b = pkt.data_mut();
    b[l3 - 2..l3].copy_from_slice(&et.to_be_bytes());
    b[l3..l3 + 4].copy_from_slice(&entry.to_be_bytes());
    Ok(reparse(pkt, key))
}

fn pop_mpls<P: PacketBuf + ?Sized>(et: u16, pkt: &mut P, key: &mut FlowKey) -> Applied {
    if !key.has(present::MPLS) {
        return Applied::Skipped("no MPLS header");
    }
    let l3 = usize::from(key.l3_offset);
    if l3 < 14 || l3 + 4 > pkt.len() {
        return Applied::Skipped("MPLS header truncated");
    }
    if put16(pkt.data_mut(), l3 - 2, et).is_none() || !pkt.remove_range(l3, 4) {
        return Applied::Skipped("MPLS header truncated");
    }
    reparse(pkt, key)
}

fn push_pbb<P: PacketBuf + ?Sized>(
    et: u16,
    pkt: &mut P,
    key: &mut FlowKey,
) -> Result<Applied, Fault> {
    let isid = if key.has(present::PBB) {
        key.pbb_isid
    } else {
        0
    };
    let mut addrs = [0u8; 12];
    match pkt.data().get(..12) {
        Some(a) => addrs.copy_from_slice(a),
        None => return Ok(Applied::Skipped("frame too short")),
    }
    if !pkt.prepend(18) {
        return Err(Fault::NoHeadroom);
    }
    let b = pkt.data_mut();
    b[..12].copy_from_slice(&addrs);
    b[12..14].copy_from_slice(&et.to_be_bytes());
    b[14..18].copy_from_slice(&(isid & 0x00ff_ffff).to_be_bytes());
    Ok(reparse(pkt, key))
}

fn pop_pbb<P: PacketBuf + ?Sized>(pkt: &mut P, key: &mut FlowKey) -> Applied {
    if !key.has(present::PBB) {
        return Applied::Skipped("no PBB I-TAG");
    }
    // Backbone addresses, B-TAGs and the I-TAG: up to the customer DA.
    let n = usize::from(key.l3_offset) + 4;
    if n + 14 > pkt.len() || !pkt.adj(n) {
        return Applied::Skipped("PBB header truncated");
    }
    reparse(pkt, key)
}

// ---- TTL ----

fn set_mpls_ttl<P: PacketBuf + ?Sized>(
    pkt: &mut P,
    key: &mut FlowKey,
    f: impl FnOnce(u8) -> Result<u8, Fault>,
) -> Result<Applied, Fault> {
    if !key.has(present::MPLS) {
        return Ok(Applied::Skipped("no MPLS header"));
    }
    let at = usize::from(key.l3_offset) + 3;
    let Some(&old) = pkt.data().get(at) else {
        return Ok(Applied::Skipped("MPLS header truncated"));
    };
    let new = f(old)?;
    pkt.data_mut()[at] = new;
    key.mpls_ttl = new;
    Ok(Applied::Modified)
}

/// Offset of the TTL byte of an IPv4 header at `at` (with its header
/// checksum) or of the hop limit of an IPv6 header.
enum IpTtl {
    V4(usize),
    V6(usize),
}

impl IpTtl {
    fn at(b: &[u8], l3: usize, v4: bool) -> Option<IpTtl> {
        if v4 {
            b.get(l3..l3 + 20)?;
            Some(IpTtl::V4(l3))
        } else {
            b.get(l3..l3 + 40)?;
            Some(IpTtl::V6(l3))
        }
    }

    fn get(&self, b: &[u8]) -> u8 {
        match *self {
            IpTtl::V4(l3) => b[l3 + 8],
            IpTtl::V6(l3) => b[l3 + 7],
        }
    }

    fn set(&self, b: &mut [u8], ttl: u8) {
        match *self {
            IpTtl::V4(l3) => {
                let w = u16::from_be_bytes([b[l3 + 8], b[l3 + 9]]);
                let nw = (w & 0x00ff) | (u16::from(ttl) << 8);
                let _ = update_sum(b, l3 + 10, false, |s| checksum_update16(s, w, nw));
                b[l3 + 8] = ttl;
            }
            IpTtl::V6(l3) => b[l3 + 7] = ttl,
        }
    }
}

fn set_nw_ttl<P: PacketBuf + ?Sized>(
    pkt: &mut P,
    key: &mut FlowKey,
    f: impl FnOnce(u8) -> Result<u8, Fault>,
) -> Result<Applied, Fault> {
    if !key.is_ip() {
        return Ok(Applied::Skipped("not IP"));
    }
    let Some(ip) = IpTtl::at(pkt.data(), key.l3_offset.into(), key.has(present::IPV4)) else {
        return Ok(Applied::Skipped("IP header truncated"));
    };
    let new = f(ip.get(pkt.data()))?;
    ip.set(pkt.data_mut(), new);
    key.ip_ttl = new;
    Ok(Applied::Modified)
}

/// Where the TTL under the top MPLS entry lives: the next entry's TTL
/// byte, or the IP header under a bottom-of-stack entry.
enum InnerTtl {
    Mpls(usize),
    Ip(IpTtl),
}

fn inner_ttl(b: &[u8], key: &FlowKey) -> Option<InnerTtl> {
    let next = usize::from(key.l3_offset) + 4;
    if key.mpls_bos == 0 {
        b.get(next..next + 4)?;
        return Some(InnerTtl::Mpls(next + 3));
    }
    let first = *b.get(next)?;
    match first >> 4 {
        4 if first & 0x0f >= 5 => IpTtl::at(b, next, true).map(InnerTtl::Ip),
        6 => IpTtl::at(b, next, false).map(InnerTtl::Ip),
        _ => None,
    }
}

fn copy_ttl_out<P: PacketBuf + ?Sized>(pkt: &mut P, key: &mut FlowKey) -> Applied {
    if !key.has(present::MPLS) {
        return Applied::Skipped("no MPLS header");
    }
    let b = pkt.data_mut();
    let ttl = match inner_ttl(b, key) {
        Some(InnerTtl::Mpls(at)) => b[at],
        Some(InnerTtl::Ip(ip)) => ip.get(b),
        None => return Applied::Skipped("no TTL under the MPLS header"),
    };
    b[usize::from(key.l3_offset) + 3] = ttl;
    key.mpls_ttl = ttl;
    Applied::Modified
}

fn copy_ttl_in<P: PacketBuf + ?Sized>(pkt: &mut P, key: &mut FlowKey) -> Applied {
    if !key.has(present::MPLS) {
        return Applied::Skipped("no MPLS header");
    }
    let b = pkt.data_mut();
    let ttl = key.mpls_ttl;
    match inner_ttl(b, key) {
        Some(InnerTtl::Mpls(at)) => b[at] = ttl,
        Some(InnerTtl::Ip(ip)) => ip.set(b, ttl),
        None => return Applied::Skipped("no TTL under the MPLS header"),
    }
    // The inner header is not part of the key (parsing stops at MPLS).
    Applied::Modified
}
