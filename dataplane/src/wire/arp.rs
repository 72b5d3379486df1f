//! ARP packet view (RFC 826), general layout with Ethernet/IPv4 shortcuts.
//!
//! ```text
//!  0        2        4    5    6        8
//! +--------+--------+----+----+--------+------------------------------+
//! | htype  | ptype  |hlen|plen|  oper  | sha[hlen] spa[plen]          |
//! +--------+--------+----+----+--------+ tha[hlen] tpa[plen]          |
//! ```
//! For Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4) the packet is
//! 28 bytes: sha 8..14, spa 14..18, tha 18..24, tpa 24..28. The
//! `sha`/`spa`/`tha`/`tpa` getters work for any address sizes (they read
//! the declared addresses, truncated or zero-padded); the matching setters
//! write the Ethernet/IPv4 positions only.
use super::bytes::{be16, set_be16, set_be32};
use super::ethernet::MacAddr;
use super::{truncated, Layer, Malformed};

mod field {
    use super::super::bytes::Field;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const ADDRS: usize = 8;
    // Ethernet/IPv4 positions (setters).
    pub const SHA: Field = 8..14;
    pub const SPA: usize = 14;
    pub const THA: Field = 18..24;
    pub const TPA: usize = 24;
}

/// Length of the fixed part (before the addresses).
pub const FIXED_LEN: usize = field::ADDRS;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETH_IPV4_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// A view of an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the fixed part and the four addresses it declares are
    /// present, and an Ethernet or IPv4 address type has its natural length
    /// (6 and 4 bytes, otherwise [`Malformed::BadArpLength`]).
    pub fn check_len(&self) -> Result<(), Malformed> {
        let b = self.buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(truncated(Layer::Arp));
        }
        let (hlen, plen) = (b[field::HLEN], b[field::PLEN]);
        if (self.htype() == HTYPE_ETHERNET && hlen != 6)
            || (self.ptype() == super::ethertype::IPV4 && plen != 4)
        {
            return Err(Malformed::BadArpLength);
        }
        if b.len() < FIXED_LEN + 2 * (usize::from(hlen) + usize::from(plen)) {
            return Err(truncated(Layer::Arp));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::HTYPE)
    }

    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PTYPE)
    }

    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }

    /// Is this the Ethernet/IPv4 flavour (so the fixed-position accessors
    /// below are meaningful)?
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.htype() == HTYPE_ETHERNET
            && self.ptype() == super::ethertype::IPV4
            && self.hlen() == 6
            && self.plen() == 4
    }

    fn addr(&self, index: usize) -> &[u8] {
        let (h, p) = (usize::from(self.hlen()), usize::from(self.plen()));
        let (start, len) = match index {
            0 => (field::ADDRS, h),
            1 => (field::ADDRS + h, p),
            2 => (field::ADDRS + h + p, h),
            _ => (field::ADDRS + 2 * h + p, p),
        };
        &self.buffer.as_ref()[start..start + len]
    }

    /// Sender hardware address (any length).
    pub fn sender_hw(&self) -> &[u8] {
        self.addr(0)
    }

    /// Sender protocol address (any length).
    pub fn sender_proto(&self) -> &[u8] {
        self.addr(1)
    }

    pub fn target_hw(&self) -> &[u8] {
        self.addr(2)
    }

    pub fn target_proto(&self) -> &[u8] {
        self.addr(3)
    }

    /// Ethernet/IPv4 sender hardware address. For other address sizes,
    /// the first 6 bytes of the sender hardware address, zero-padded.
    pub fn sha(&self) -> MacAddr {
        fixed(self.sender_hw())
    }

    /// Ethernet/IPv4 sender IPv4 address as a host integer. For other
    /// sizes, the first 4 bytes of the sender protocol address,
    /// zero-padded.
    pub fn spa(&self) -> u32 {
        u32::from_be_bytes(fixed(self.sender_proto()))
    }

    pub fn tha(&self) -> MacAddr {
        fixed(self.target_hw())
    }

    pub fn tpa(&self) -> u32 {
        u32::from_be_bytes(fixed(self.target_proto()))
    }
}

/// The first `N` bytes of `s`, zero-padded if shorter.
fn fixed<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N);
    out[..n].copy_from_slice(&s[..n]);
    out
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    pub fn set_htype(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::HTYPE, v);
    }

    pub fn set_ptype(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::PTYPE, v);
    }

    pub fn set_hlen(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    pub fn set_plen(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    pub fn set_oper(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::OPER, v);
    }

    pub fn set_sha(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&m);
    }

    pub fn set_spa(&mut self, a: u32) {
        set_be32(self.buffer.as_mut(), field::SPA, a);
    }

    pub fn set_tha(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&m);
    }

    pub fn set_tpa(&mut self, a: u32) {
        set_be32(self.buffer.as_mut(), field::TPA, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // who-has 10.0.0.2 tell 10.0.0.1 (02:00:00:00:00:01)
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // fixed
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // target
    ];

    #[test]
    fn read_fields() {
        let p = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.oper(), OP_REQUEST);
        assert_eq!(p.sha(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(p.spa(), 0x0a00_0001);
        assert_eq!(p.tha(), [0; 6]);
        assert_eq!(p.tpa(), 0x0a00_0002);
        assert_eq!(p.sender_hw(), &REQUEST[8..14]);
        assert_eq!(p.sender_proto(), &REQUEST[14..18]);
        assert_eq!(p.target_hw(), &REQUEST[18..24]);
        assert_eq!(p.target_proto(), &REQUEST[24..28]);
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 28];
        let mut p = ArpPacket::new_unchecked(&mut buf[..]);
        p.set_htype(1);
        p.set_ptype(0x0800);
        p.set_hlen(6);
        p.set_plen(4);
        p.set_oper(OP_REQUEST);
        p.set_sha([2, 0, 0, 0, 0, 1]);
        p.set_spa(0x0a00_0001);
        p.set_tha([0; 6]);
        p.set_tpa(0x0a00_0002);
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn lengths_checked() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            truncated(Layer::Arp)
        );
        let mut bad = REQUEST;
        bad[4] = 8;
        assert_eq!(
            ArpPacket::new_checked(&bad[..]).unwrap_err(),
            Malformed::BadArpLength
        );
        // A non-Ethernet hardware type with 8-byte addresses and 4-byte
        // protocol addresses needs 8 + 24 bytes.
        let mut other = [0u8; 32];
        other[..8].copy_from_slice(&[0, 6, 0x08, 0x00, 8, 4, 0, 2]);
        let p = ArpPacket::new_checked(&other[..]).unwrap();
        assert!(!p.is_ethernet_ipv4());
        assert_eq!(p.target_proto().len(), 4);
        assert!(ArpPacket::new_checked(&other[..31]).is_err());
    }
}
