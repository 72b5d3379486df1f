//! IEEE 802.1Q / 802.1ad VLAN tag view.
//!
//! The view covers the four bytes that follow a VLAN TPID (0x8100 or
//! 0x88a8, which sits in the preceding ethertype position): the tag control
//! information and the encapsulated ethertype.
//!
//! ```text
//!  0       3   4              16              32
//! +-------+---+---------------+---------------+
//! |  PCP  |DEI|      VID      |   ethertype   |
//! +-------+---+---------------+---------------+
//! ```
use super::bytes::{be16, set_be16};
use super::{truncated, Layer, Malformed};

mod field {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
    pub const PAYLOAD: usize = 4;
}

/// Length of one tag (TCI + inner ethertype).
pub const TAG_LEN: usize = field::PAYLOAD;

/// OpenFlow's `OFPVID_PRESENT`: set in an `OXM_OF_VLAN_VID` value when the
/// packet has a VLAN tag.
pub const OFPVID_PRESENT: u16 = 0x1000;

/// Is this ethertype a VLAN tag protocol identifier that `parse` walks?
#[inline(always)]
pub const fn is_tpid(ethertype: u16) -> bool {
    ethertype == super::ethertype::VLAN || ethertype == super::ethertype::QINQ
}

/// A view of one VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanTag { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let t = Self::new_unchecked(buffer);
        t.check_len()?;
        Ok(t)
    }

    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < TAG_LEN {
            return Err(truncated(Layer::Vlan));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole 16-bit tag control information.
    pub fn tci(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TCI)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (formerly CFI).
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The ethertype of what follows the tag (possibly another TPID).
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    pub fn set_tci(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::TCI, v);
    }

    pub fn set_pcp(&mut self, pcp: u8) {
        let t = (self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13);
        self.set_tci(t);
    }

    pub fn set_dei(&mut self, dei: bool) {
        let t = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(t);
    }

    pub fn set_vid(&mut self, vid: u16) {
        let t = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(t);
    }

    pub fn set_ethertype(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::ETHERTYPE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // PCP 5, DEI 1, VID 0x123, then IPv4.
    static TAG: [u8; 4] = [0xb1, 0x23, 0x08, 0x00];

    #[test]
    fn read_fields() {
        let t = VlanTag::new_checked(&TAG[..]).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 0x123);
        assert_eq!(t.ethertype(), 0x0800);
        assert!(t.payload().is_empty());
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 4];
        let mut t = VlanTag::new_unchecked(&mut buf[..]);
        t.set_vid(0xf123); // high bits ignored
        t.set_pcp(5);
        t.set_dei(true);
        t.set_ethertype(0x0800);
        assert_eq!(buf, TAG);
        let mut t = VlanTag::new_unchecked(&mut buf[..]);
        t.set_dei(false);
        assert_eq!(t.tci(), 0xa123);
    }

    #[test]
    fn short_is_truncated() {
        assert!(VlanTag::new_checked(&TAG[..3]).is_err());
        assert!(is_tpid(0x8100) && is_tpid(0x88a8) && !is_tpid(0x0800));
    }
}
