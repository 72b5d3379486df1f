//! SCTP common header view (RFC 9260 §3.1).
//!
//! ```text
//! | src port | dst port | verification tag (4) | checksum (CRC32c, 4) | chunks ...
//! ```
use super::bytes::{be16, be32, set_be16, set_be32};
use super::{checksum, truncated, Layer, Malformed};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const VTAG: usize = 4;
    pub const CHECKSUM: usize = 8;
    pub const CHUNKS: usize = 12;
}

pub const HEADER_LEN: usize = field::CHUNKS;

/// A view of an SCTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> SctpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        SctpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the 12-byte common header is present.
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(truncated(Layer::Sctp));
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

    pub fn verification_tag(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VTAG)
    }

    /// The checksum as the CRC32c value (the field is little-endian).
    pub fn checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_le_bytes([b[8], b[9], b[10], b[11]])
    }

    pub fn chunks(&self) -> &[u8] {
        &self.buffer.as_ref()[field::CHUNKS..]
    }

    /// CRC32c of the whole buffer with the checksum field taken as zero.
    pub fn compute_checksum(&self) -> u32 {
        let b = self.buffer.as_ref();
        let c = checksum::crc32c_update(0, &b[..field::CHECKSUM]);
        let c = checksum::crc32c_update(c, &[0; 4]);
        checksum::crc32c_update(c, &b[field::CHUNKS..])
    }

    /// Does the CRC32c verify? Give the view exactly the SCTP packet.
    pub fn verify_checksum(&self) -> bool {
        self.compute_checksum() == self.checksum()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> SctpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    pub fn set_verification_tag(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), field::VTAG, v);
    }

    pub fn set_checksum(&mut self, crc: u32) {
        self.buffer.as_mut()[field::CHECKSUM..field::CHUNKS].copy_from_slice(&crc.to_le_bytes());
    }

    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 5000 -> 6000, vtag 0xdeadbeef, checksum to be filled, one
    // 4-byte chunk header (type 0xff, flags 0, length 4).
    static PKT: [u8; 16] = [
        0x13, 0x88, 0x17, 0x70, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0xff, 0, 0, 4,
    ];

    #[test]
    fn read_write() {
        let mut buf = PKT;
        let mut p = SctpPacket::new_unchecked(&mut buf[..]);
        p.set_src_port(5000);
        p.set_dst_port(6000);
        p.set_verification_tag(0xdead_beef);
        assert_eq!(p.checksum(), 0);
        p.fill_checksum();
        let p = SctpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.src_port(), 5000);
        assert_eq!(p.dst_port(), 6000);
        assert_eq!(p.verification_tag(), 0xdead_beef);
        assert_eq!(p.chunks(), &[0xff, 0, 0, 4]);
        assert!(p.verify_checksum());
        // The stored field is the CRC32c of the packet with a zero field.
        let mut zeroed = buf;
        zeroed[8..12].fill(0);
        assert_eq!(buf[8..12], checksum::crc32c(&zeroed).to_le_bytes());
        let mut bad = buf;
        bad[13] ^= 1;
        assert!(!SctpPacket::new_checked(&bad[..]).unwrap().verify_checksum());
        assert!(SctpPacket::new_checked(&buf[..11]).is_err());
    }
}
