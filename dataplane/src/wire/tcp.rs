//! TCP header view (RFC 9293).
//!
//! ```text
//! | src port | dst port | sequence (4) | acknowledgment (4) |
//! | data offset (4) | reserved (3) | flags (9) | window | checksum | urgent | options ...
//! ```
use super::bytes::{be16, be32, set_be16, set_be32};
use super::{checksum, ip_proto, truncated, Layer, Malformed};

pub(super) mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
    pub const OPTIONS: usize = 20;
}

pub const MIN_HEADER_LEN: usize = field::OPTIONS;

/// TCP flag bits as in the low 9 bits of the offset/flags word.
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
}

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the fixed header is present, the data offset is at least 5
    /// and the header with its options fits.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(truncated(Layer::Tcp));
        }
        let hlen = self.header_len();
        if hlen < MIN_HEADER_LEN {
            return Err(Malformed::BadTcpDataOffset);
        }
        if hlen > len {
            return Err(truncated(Layer::Tcp));
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

    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ)
    }

    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK)
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFF_FLAGS] >> 4) * 4
    }

    /// The 9 flag bits (see [`flags`]).
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OFF_FLAGS) & 0x01ff
    }

    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT)
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Does the checksum verify over IPv4? Give the view exactly the
    /// segment (the IP payload).
    pub fn verify_checksum_v4(&self, src: u32, dst: u32) -> bool {
        checksum::l4_checksum_v4(src, dst, ip_proto::TCP, self.buffer.as_ref()) == 0
    }

    pub fn verify_checksum_v6(&self, src: u128, dst: u128) -> bool {
        checksum::l4_checksum_v6(src, dst, ip_proto::TCP, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_seq(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), field::SEQ, v);
    }

    pub fn set_ack(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), field::ACK, v);
    }

    /// Sets the data offset from a length in bytes (multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.buffer.as_mut();
        b[field::OFF_FLAGS] = (b[field::OFF_FLAGS] & 0x0f) | (((len / 4) as u8) << 4);
    }

    pub fn set_flags(&mut self, f: u16) {
        let w = be16(self.buffer.as_ref(), field::OFF_FLAGS);
        set_be16(
            self.buffer.as_mut(),
            field::OFF_FLAGS,
            (w & 0xfe00) | (f & 0x01ff),
        );
    }

    pub fn set_window(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::WINDOW, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_urgent(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::URGENT, v);
    }

    pub fn fill_checksum_v4(&mut self, src: u32, dst: u32) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v4(src, dst, ip_proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: u128, dst: u128) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, ip_proto::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 49152 -> 80, seq 1, ack 0, SYN, window 65535, MSS 1460 option.
    static SYN: [u8; 24] = [
        0xc0, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4,
        0x05, 0xb4,
    ];

    #[test]
    fn read_fields() {
        let p = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 49152);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq(), 1);
        assert_eq!(p.ack(), 0);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window(), 0xffff);
        assert_eq!(p.urgent(), 0);
        assert_eq!(p.options(), &[2, 4, 0x05, 0xb4]);
        assert!(p.payload().is_empty());
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 24];
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(49152);
        p.set_dst_port(80);
        p.set_seq(1);
        p.set_ack(0);
        p.set_header_len(24);
        p.set_flags(flags::SYN);
        p.set_window(0xffff);
        p.set_urgent(0);
        buf[20..].copy_from_slice(&[2, 4, 0x05, 0xb4]);
        assert_eq!(buf, SYN);
        let mut p = TcpPacket::new_unchecked(&mut buf[..]);
        p.fill_checksum_v4(0x0a00_0001, 0x0a00_0002);
        assert!(p.verify_checksum_v4(0x0a00_0001, 0x0a00_0002));
        p.fill_checksum_v6(1, 2);
        assert!(p.verify_checksum_v6(1, 2));
        assert!(!p.verify_checksum_v6(1, 3));
    }

    #[test]
    fn lengths_checked() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            truncated(Layer::Tcp)
        );
        assert_eq!(
            TcpPacket::new_checked(&SYN[..23]).unwrap_err(),
            truncated(Layer::Tcp)
        );
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            Malformed::BadTcpDataOffset
        );
    }
}
