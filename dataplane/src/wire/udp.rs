//! UDP header view (RFC 768).
//!
//! ```text
//! | src port | dst port | length | checksum | payload ...
//! ```
use super::bytes::{be16, set_be16};
use super::{checksum, ip_proto, truncated, Layer, Malformed};

pub(super) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
    pub const PAYLOAD: usize = 8;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the header is present and the length field is between 8
    /// and the buffer length.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(truncated(Layer::Udp));
        }
        let l = usize::from(self.length());
        if l < HEADER_LEN || l > len {
            return Err(Malformed::BadUdpLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field (header included).
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The payload as the length field declares it, clamped to the buffer.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.length()).clamp(HEADER_LEN, b.len());
        &b[HEADER_LEN..end]
    }

    /// Does the checksum verify over IPv4 (zero means "not computed" and
    /// verifies)? The sum covers `len()` bytes.
    pub fn verify_checksum_v4(&self, src: u32, dst: u32) -> bool {
        self.checksum() == 0
            || checksum::l4_checksum_v4(src, dst, ip_proto::UDP, self.datagram()) == 0
    }

    /// Over IPv6 the checksum is mandatory.
    pub fn verify_checksum_v6(&self, src: u128, dst: u128) -> bool {
        checksum::l4_checksum_v6(src, dst, ip_proto::UDP, self.datagram()) == 0
    }

    fn datagram(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[..usize::from(self.length()).min(b.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_length(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::LENGTH, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }

    /// Fills the checksum over IPv4; a computed 0 is sent as 0xffff.
    pub fn fill_checksum_v4(&mut self, src: u32, dst: u32) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v4(src, dst, ip_proto::UDP, self.datagram());
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    pub fn fill_checksum_v6(&mut self, src: u128, dst: u128) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, ip_proto::UDP, self.datagram());
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 53 -> 1024, length 12, checksum 0, payload "abcd".
    static DGRAM: [u8; 12] = [
        0x00, 0x35, 0x04, 0x00, 0x00, 0x0c, 0, 0, b'a', b'b', b'c', b'd',
    ];

    #[test]
    fn read_fields() {
        let p = UdpPacket::new_checked(&DGRAM[..]).unwrap();
        assert_eq!(p.src_port(), 53);
        assert_eq!(p.dst_port(), 1024);
        assert_eq!(p.length(), 12);
        assert_eq!(p.checksum(), 0);
        assert_eq!(p.payload(), b"abcd");
        assert!(p.verify_checksum_v4(1, 2));
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 12];
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(53);
        p.set_dst_port(1024);
        p.set_length(12);
        p.payload_mut().copy_from_slice(b"abcd");
        assert_eq!(buf, DGRAM);
        let mut p = UdpPacket::new_unchecked(&mut buf[..]);
        p.fill_checksum_v4(0x0a00_0001, 0x0a00_0002);
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum_v4(0x0a00_0001, 0x0a00_0002));
        assert!(!p.verify_checksum_v4(0x0a00_0001, 0x0a00_0003));
        p.fill_checksum_v6(5, 6);
        assert!(p.verify_checksum_v6(5, 6));
    }

    #[test]
    fn lengths_checked() {
        assert_eq!(
            UdpPacket::new_checked(&DGRAM[..7]).unwrap_err(),
            truncated(Layer::Udp)
        );
        assert_eq!(
            UdpPacket::new_checked(&DGRAM[..11]).unwrap_err(),
            Malformed::BadUdpLength
        );
        let mut b = DGRAM;
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            Malformed::BadUdpLength
        );
    }
}
