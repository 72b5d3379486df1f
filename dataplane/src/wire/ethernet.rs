//! Ethernet II header view.
//!
//! ```text
//!  0                   6                  12       14
//! +-------------------+-------------------+--------+-------
//! |  destination MAC  |    source MAC     |  type  | payload
//! +-------------------+-------------------+--------+-------
//! ```
use super::bytes::{array, be16, set_be16};
use super::{truncated, Layer, Malformed};

/// A MAC address in wire order.
pub type MacAddr = [u8; 6];

/// The MAC as a host integer in its low 48 bits, first wire byte most
/// significant: `00:11:22:33:44:55` is `0x0011_2233_4455`.
#[inline(always)]
pub const fn mac_to_u64(m: MacAddr) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// Inverse of [`mac_to_u64`]; the top 16 bits are ignored.
pub const fn mac_from_u64(v: u64) -> MacAddr {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Ethertypes this module knows by name.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag (C-TAG).
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// 802.1ad service VLAN tag (S-TAG, QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// 802.1ah Provider Backbone Bridging service instance tag (I-TAG).
    pub const PBB: u16 = 0x88e7;
}

mod field {
    use super::super::bytes::Field;
    pub const DST: Field = 0..6;
    pub const SRC: Field = 6..12;
    pub const ETHERTYPE: usize = 12;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// `Ok` if the buffer holds the 14-byte header.
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(truncated(Layer::Ethernet));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst(&self) -> MacAddr {
        array(self.buffer.as_ref(), field::DST.start)
    }

    pub fn src(&self) -> MacAddr {
        array(self.buffer.as_ref(), field::SRC.start)
    }

    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Everything after the 14-byte header (VLAN tags included, if any).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    pub fn set_dst(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m);
    }

    pub fn set_src(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m);
    }

    pub fn set_ethertype(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::ETHERTYPE, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A broadcast ARP request frame header from 02:00:00:00:00:01.
    static FRAME: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0xab,
        0xcd,
    ];

    #[test]
    fn read_fields() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst(), [0xff; 6]);
        assert_eq!(f.src(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(f.ethertype(), ethertype::ARP);
        assert_eq!(f.payload(), &[0xab, 0xcd]);
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 16];
        let mut f = EthernetFrame::new_unchecked(&mut buf[..]);
        f.set_dst([0xff; 6]);
        f.set_src([2, 0, 0, 0, 0, 1]);
        f.set_ethertype(ethertype::ARP);
        f.payload_mut().copy_from_slice(&[0xab, 0xcd]);
        assert_eq!(buf, FRAME);
    }

    #[test]
    fn short_is_truncated() {
        assert_eq!(
            EthernetFrame::new_checked(&FRAME[..13]).unwrap_err(),
            Malformed::Truncated {
                layer: Layer::Ethernet
            }
        );
    }

    #[test]
    fn mac_u64_round_trip() {
        let m = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        assert_eq!(mac_to_u64(m), 0x0011_2233_4455);
        assert_eq!(mac_from_u64(0xffff_0011_2233_4455), m);
    }
}
