//! IEEE 802.1ah Provider Backbone Bridging I-TAG view.
//!
//! The view starts right after the 0x88e7 ethertype: a 4-byte tag control
//! field carrying the 24-bit service instance identifier (I-SID), then the
//! encapsulated customer Ethernet header.
//!
//! ```text
//!  0     3   4   5     8                        32
//! +-----+---+---+-----+-------------------------+
//! |I-PCP|DEI|UCA| res |          I-SID          |
//! +-----+---+---+-----+-------------------------+
//! |  customer destination MAC (6) | customer source MAC (6) | ethertype (2)
//! ```
use super::bytes::{array, be16, be32, set_be16, set_be32};
use super::ethernet::MacAddr;
use super::{truncated, Layer, Malformed};

mod field {
    use super::super::bytes::Field;
    pub const TCI: usize = 0;
    pub const C_DST: Field = 4..10;
    pub const C_SRC: Field = 10..16;
    pub const C_ETHERTYPE: usize = 16;
    pub const PAYLOAD: usize = 18;
}

/// Length of the I-TAG plus the customer Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a PBB I-TAG and the customer header it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PbbITag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PbbITag<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        PbbITag { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let t = Self::new_unchecked(buffer);
        t.check_len()?;
        Ok(t)
    }

    /// `Ok` if the tag and the whole customer Ethernet header are present.
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(truncated(Layer::Pbb));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The 32-bit tag control field.
    pub fn tci(&self) -> u32 {
        be32(self.buffer.as_ref(), field::TCI)
    }

    pub fn pcp(&self) -> u8 {
        (self.tci() >> 29) as u8
    }

    pub fn dei(&self) -> bool {
        self.tci() & (1 << 28) != 0
    }

    /// Use customer addresses.
    pub fn uca(&self) -> bool {
        self.tci() & (1 << 27) != 0
    }

    /// Service instance identifier (24 bits).
    pub fn isid(&self) -> u32 {
        self.tci() & 0x00ff_ffff
    }

    pub fn customer_dst(&self) -> MacAddr {
        array(self.buffer.as_ref(), field::C_DST.start)
    }

    pub fn customer_src(&self) -> MacAddr {
        array(self.buffer.as_ref(), field::C_SRC.start)
    }

    pub fn customer_ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::C_ETHERTYPE)
    }

    /// What follows the customer header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PbbITag<T> {
    pub fn set_tci(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), field::TCI, v);
    }

    pub fn set_pcp(&mut self, pcp: u8) {
        let v = (self.tci() & 0x1fff_ffff) | (u32::from(pcp & 7) << 29);
        self.set_tci(v);
    }

    pub fn set_isid(&mut self, isid: u32) {
        let v = (self.tci() & 0xff00_0000) | (isid & 0x00ff_ffff);
        self.set_tci(v);
    }

    pub fn set_customer_dst(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::C_DST].copy_from_slice(&m);
    }

    pub fn set_customer_src(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::C_SRC].copy_from_slice(&m);
    }

    pub fn set_customer_ethertype(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::C_ETHERTYPE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TAG: [u8; 18] = [
        0xa8, 0xab, 0xcd, 0xef, // PCP 5, UCA, I-SID 0xabcdef
        0x02, 0, 0, 0, 0, 0x0a, // customer dst
        0x02, 0, 0, 0, 0, 0x0b, // customer src
        0x08, 0x00, // IPv4
    ];

    #[test]
    fn read_fields() {
        let t = PbbITag::new_checked(&TAG[..]).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(!t.dei());
        assert!(t.uca());
        assert_eq!(t.isid(), 0xabcdef);
        assert_eq!(t.customer_dst(), [2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(t.customer_src(), [2, 0, 0, 0, 0, 0x0b]);
        assert_eq!(t.customer_ethertype(), 0x0800);
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 18];
        let mut t = PbbITag::new_unchecked(&mut buf[..]);
        t.set_tci(1 << 27);
        t.set_pcp(5);
        t.set_isid(0xffabcdef);
        t.set_customer_dst([2, 0, 0, 0, 0, 0x0a]);
        t.set_customer_src([2, 0, 0, 0, 0, 0x0b]);
        t.set_customer_ethertype(0x0800);
        assert_eq!(buf, TAG);
        assert!(PbbITag::new_checked(&buf[..17]).is_err());
    }
}
