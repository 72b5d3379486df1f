//! IPv4 header view (RFC 791), options and fragments included.
//!
//! ```text
//!  0       4       8            14  16              32
//! +-------+-------+------------+---+---------------+
//! |version|  IHL  |    DSCP    |ECN| total length  |
//! +-------+-------+------------+---+-+-+-+---------+
//! |        identification        |0|D|M| frag off  |
//! +---------------+--------------+-+-+-+-----------+
//! |      TTL      |   protocol   | header checksum |
//! +---------------+--------------+-----------------+
//! |                 source address                 |
//! |              destination address               |
//! |           options (IHL*4 - 20 bytes)           |
//! ```
use super::bytes::{be16, be32, set_be16, set_be32};
use super::{checksum, truncated, Layer, Malformed};

pub(super) mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    pub const OPTIONS: usize = 20;
}

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;
/// Length of the header with the most options (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Don't-fragment flag in the flags/offset word.
pub const FLAG_DF: u16 = 0x4000;
/// More-fragments flag in the flags/offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask (units of 8 bytes) in the flags/offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the buffer holds the fixed header, IHL is at least 5, the
    /// header with its options fits, and the total length covers the
    /// header and does not exceed the buffer (a longer buffer is padding).
    /// Does not look at the version nibble (see [`Ipv4Packet::version`]).
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(truncated(Layer::Ipv4));
        }
        let hlen = self.header_len();
        if hlen < MIN_HEADER_LEN {
            return Err(Malformed::BadIhl);
        }
        if hlen > len {
            return Err(truncated(Layer::Ipv4));
        }
        let total = usize::from(self.total_len());
        if total < hlen || total > len {
            return Err(Malformed::BadTotalLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 3
    }

    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }

    /// The raw flags/fragment-offset word.
    pub fn flags_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET_MASK) << 3
    }

    /// Is this any fragment (MF set or a non-zero offset)?
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (FLAG_MF | OFFSET_MASK) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address as a host integer (10.0.0.1 is `0x0a00_0001`).
    pub fn src(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SRC)
    }

    pub fn dst(&self) -> u32 {
        be32(self.buffer.as_ref(), field::DST)
    }

    /// The option bytes (between byte 20 and the header length).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// The payload as the total length declares it (padding excluded).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        &b[self.header_len()..end.max(self.header_len())]
    }

    /// Does the header checksum verify?
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.buffer.as_ref()[..self.header_len()])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_version(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[field::VER_IHL] = (b[field::VER_IHL] & 0x0f) | (v << 4);
    }

    /// Sets IHL from a length in bytes (a multiple of 4, 20..=60).
    pub fn set_header_len(&mut self, len: usize) {
        let b = self.buffer.as_mut();
        b[field::VER_IHL] = (b[field::VER_IHL] & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    pub fn set_dscp(&mut self, dscp: u8) {
        let b = self.buffer.as_mut();
        b[field::DSCP_ECN] = (b[field::DSCP_ECN] & 3) | (dscp << 2);
    }

    pub fn set_ecn(&mut self, ecn: u8) {
        let b = self.buffer.as_mut();
        b[field::DSCP_ECN] = (b[field::DSCP_ECN] & !3) | (ecn & 3);
    }

    pub fn set_total_len(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::LENGTH, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::IDENT, v);
    }

    pub fn set_flags_offset(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::FLG_OFF, v);
    }

    pub fn set_dont_frag(&mut self, on: bool) {
        let v = (self.flags_offset() & !FLAG_DF) | if on { FLAG_DF } else { 0 };
        self.set_flags_offset(v);
    }

    pub fn set_more_frags(&mut self, on: bool) {
        let v = (self.flags_offset() & !FLAG_MF) | if on { FLAG_MF } else { 0 };
        self.set_flags_offset(v);
    }

    /// Sets the fragment offset from a byte offset (a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let v = (self.flags_offset() & !OFFSET_MASK) | ((bytes >> 3) & OFFSET_MASK);
        self.set_flags_offset(v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_src(&mut self, a: u32) {
        set_be32(self.buffer.as_mut(), field::SRC, a);
    }

    pub fn set_dst(&mut self, a: u32) {
        set_be32(self.buffer.as_mut(), field::DST, a);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::internet_checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.0.1 -> 192.168.0.199, UDP, DF, TTL 64, total length 0x73.
    static HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    // IHL 6 (one NOP NOP NOP EOL option word), DSCP 46 ECN 1, a middle
    // fragment (MF, offset 1480 bytes), ICMP, total length 28.
    static WITH_OPTIONS: [u8; 28] = [
        0x46, 0xb9, 0x00, 0x1c, 0x12, 0x34, 0x20, 0xb9, 0x01, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0x01, 0x01, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn read_fields() {
        // The header alone has total length 0x73 > 20: not enough buffer.
        assert_eq!(
            Ipv4Packet::new_checked(&HEADER[..]).unwrap_err(),
            Malformed::BadTotalLength
        );
        let mut buf = [0u8; 0x73];
        buf[..20].copy_from_slice(&HEADER);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src(), 0xc0a8_0001);
        assert_eq!(p.dst(), 0xc0a8_00c7);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 0x73 - 20);
        assert!(p.options().is_empty());
    }

    #[test]
    fn options_and_fragment() {
        let p = Ipv4Packet::new_checked(&WITH_OPTIONS[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 1);
        assert!(p.more_frags() && p.is_fragment());
        assert_eq!(p.frag_offset(), 1480);
        assert_eq!(p.ident(), 0x1234);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(!p.verify_checksum());
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_dscp(46);
        p.set_ecn(1);
        p.set_total_len(28);
        p.set_ident(0x1234);
        p.set_more_frags(true);
        p.set_dont_frag(false);
        p.set_frag_offset(1480);
        p.set_ttl(1);
        p.set_protocol(1);
        p.set_src(0x0a00_0001);
        p.set_dst(0x0a00_0002);
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        buf[24..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(buf, WITH_OPTIONS);
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn lengths_checked() {
        let mut b = WITH_OPTIONS;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            truncated(Layer::Ipv4)
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..22]).unwrap_err(),
            truncated(Layer::Ipv4)
        );
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Malformed::BadIhl
        );
        b[0] = 0x46;
        b[3] = 23;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Malformed::BadTotalLength
        );
        b[3] = 24; // header only: fine
        assert!(Ipv4Packet::new_checked(&b[..])
            .unwrap()
            .payload()
            .is_empty());
        b[3] = 29;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err(),
            Malformed::BadTotalLength
        );
    }
}
