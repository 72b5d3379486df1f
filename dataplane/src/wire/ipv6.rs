//! IPv6 header view (RFC 8200) and views of the extension headers that
//! `parse` walks: hop-by-hop options, routing, destination options,
//! authentication header (RFC 4302) and fragment.
//!
//! ```text
//!  0       4               12                              32
//! +-------+---------------+-------------------------------+
//! |version| traffic class |          flow label           |
//! +-------+-------+-------+-------+---------------+-------+
//! |        payload length         |  next header  | hop l.|
//! +-------------------------------+---------------+-------+
//! |        source address (16)  |  destination address (16)
//! ```
//! Addresses are host integers: `2001:db8::1` is
//! `0x2001_0db8_0000_0000_0000_0000_0000_0001u128`.
use super::bytes::{array, be16, be32, set_be16, set_be32};
use super::{ip_proto, truncated, Layer, Malformed};

pub(super) mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
    pub const PAYLOAD: usize = 40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// Reads a 16-byte big-endian address at `at` as a host integer.
#[inline(always)]
pub(super) fn read_addr(b: &[u8], at: usize) -> u128 {
    u128::from_be_bytes(array(b, at))
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the fixed header is present and the payload length does
    /// not run past the buffer (a longer buffer is padding). Does not look
    /// at the version nibble.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(truncated(Layer::Ipv6));
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Malformed::BadPayloadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4) as u8
    }

    /// The upper six bits of the traffic class.
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 3
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src(&self) -> u128 {
        read_addr(self.buffer.as_ref(), field::SRC)
    }

    pub fn dst(&self) -> u128 {
        read_addr(self.buffer.as_ref(), field::DST)
    }

    /// The payload as the payload length declares it (padding excluded).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(b.len());
        &b[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    pub fn set_version(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[0] = (b[0] & 0x0f) | (v << 4);
    }

    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = be32(self.buffer.as_ref(), field::VER_TC_FLOW);
        let w = (w & 0xf00f_ffff) | (u32::from(tc) << 20);
        set_be32(self.buffer.as_mut(), field::VER_TC_FLOW, w);
    }

    pub fn set_flow_label(&mut self, fl: u32) {
        let w = be32(self.buffer.as_ref(), field::VER_TC_FLOW);
        let w = (w & 0xfff0_0000) | (fl & 0x000f_ffff);
        set_be32(self.buffer.as_mut(), field::VER_TC_FLOW, w);
    }

    pub fn set_payload_len(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::LENGTH, v);
    }

    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v;
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    pub fn set_src(&mut self, a: u128) {
        self.buffer.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.to_be_bytes());
    }

    pub fn set_dst(&mut self, a: u128) {
        self.buffer.as_mut()[field::DST..field::DST + 16].copy_from_slice(&a.to_be_bytes());
    }
}

/// Is `proto` an extension header whose length `parse` knows how to skip
/// (hop-by-hop, routing, fragment, destination options, AH)?
pub const fn is_skippable_ext(proto: u8) -> bool {
    matches!(
        proto,
        ip_proto::HOPOPT
            | ip_proto::IPV6_ROUTE
            | ip_proto::IPV6_FRAG
            | ip_proto::IPV6_OPTS
            | ip_proto::AH
    )
}

pub(super) mod ext_field {
    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    // Routing header.
    pub const ROUTING_TYPE: usize = 2;
    pub const SEG_LEFT: usize = 3;
    // Fragment header.
    pub const FRAG_OFF: usize = 2;
    pub const IDENT: usize = 4;
}

/// Minimum (and fragment header) extension header length.
pub const EXT_MIN_LEN: usize = 8;

/// A view of a hop-by-hop, routing, destination-options, fragment or
/// authentication header. The header's own protocol number (the `next
/// header` value that announced it) decides how its length is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    kind: u8,
}

/// Length in bytes of an extension header of protocol `kind` whose length
/// byte is `len_byte`: AH counts 4-byte units minus 2, the fragment header
/// is always 8 bytes, the others count 8-byte units minus 1.
#[inline(always)]
pub const fn ext_header_len(kind: u8, len_byte: u8) -> usize {
    match kind {
        ip_proto::AH => (len_byte as usize + 2) * 4,
        ip_proto::IPV6_FRAG => EXT_MIN_LEN,
        _ => (len_byte as usize + 1) * 8,
    }
}

impl<T: AsRef<[u8]>> Ipv6ExtHeader<T> {
    /// `kind` is the protocol number of this header (e.g.
    /// [`ip_proto::IPV6_OPTS`]).
    pub const fn new_unchecked(buffer: T, kind: u8) -> Self {
        Ipv6ExtHeader { buffer, kind }
    }

    pub fn new_checked(buffer: T, kind: u8) -> Result<Self, Malformed> {
        let h = Self::new_unchecked(buffer, kind);
        h.check_len()?;
        Ok(h)
    }

    /// `Ok` if 8 bytes and then the whole declared length are present.
    pub fn check_len(&self) -> Result<(), Malformed> {
        let len = self.buffer.as_ref().len();
        if len < EXT_MIN_LEN || self.header_len() > len {
            return Err(truncated(Layer::Ipv6Ext));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn kind(&self) -> u8 {
        self.kind
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[ext_field::NXT_HDR]
    }

    /// Total length of this header in bytes.
    pub fn header_len(&self) -> usize {
        ext_header_len(self.kind, self.buffer.as_ref()[ext_field::LENGTH])
    }

    /// The header's bytes after next-header and length (options, routing
    /// data, AH SPI/sequence/ICV ...).
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }

    /// Routing header: the routing type.
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[ext_field::ROUTING_TYPE]
    }

    /// Routing header: segments left.
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[ext_field::SEG_LEFT]
    }

    /// What follows this header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6ExtHeader<T> {
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[ext_field::NXT_HDR] = v;
    }

    /// Sets the raw length byte (its unit depends on the kind).
    pub fn set_len_byte(&mut self, v: u8) {
        self.buffer.as_mut()[ext_field::LENGTH] = v;
    }

    pub fn set_routing_type(&mut self, v: u8) {
        self.buffer.as_mut()[ext_field::ROUTING_TYPE] = v;
    }

    pub fn set_segments_left(&mut self, v: u8) {
        self.buffer.as_mut()[ext_field::SEG_LEFT] = v;
    }
}

/// A view of the 8-byte IPv6 fragment header.
///
/// ```text
/// | next header | reserved | fragment offset (13) | res (2) | M | identification (32) |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6FragHeader { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < EXT_MIN_LEN {
            return Err(truncated(Layer::Ipv6Ext));
        }
        Ok(())
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[ext_field::NXT_HDR]
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), ext_field::FRAG_OFF) & 0xfff8
    }

    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), ext_field::FRAG_OFF) & 1 != 0
    }

    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), ext_field::IDENT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragHeader<T> {
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[ext_field::NXT_HDR] = v;
    }

    /// Sets offset (bytes, a multiple of 8) and the M flag.
    pub fn set_frag(&mut self, offset: u16, more: bool) {
        set_be16(
            self.buffer.as_mut(),
            ext_field::FRAG_OFF,
            (offset & 0xfff8) | u16::from(more),
        );
    }

    pub fn set_ident(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), ext_field::IDENT, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2001:db8::1 -> 2001:db8::2, TC 0xb8 (DSCP 46), flow label 0x12345,
    // payload 8 bytes (a hop-by-hop header with PadN) then no next header.
    static PACKET: [u8; 48] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x08, 0x00, 0x40, // ver/tc/fl, len, nh=HBH, hl 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // src
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // dst
        59, 0, 1, 4, 0, 0, 0, 0, // HBH: next 59, len 0, PadN(4)
    ];

    #[test]
    fn read_fields() {
        let p = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.dscp(), 46);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), ip_proto::HOPOPT);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src(), 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(p.dst(), 0x2001_0db8_0000_0000_0000_0000_0000_0002);
        let h = Ipv6ExtHeader::new_checked(p.payload(), p.next_header()).unwrap();
        assert_eq!(h.next_header(), ip_proto::IPV6_NONXT);
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.data(), &[1, 4, 0, 0, 0, 0]);
        assert!(h.payload().is_empty());
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 48];
        let mut p = Ipv6Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_traffic_class(0xb8);
        p.set_flow_label(0xf12345);
        p.set_payload_len(8);
        p.set_next_header(0);
        p.set_hop_limit(64);
        p.set_src(0x2001_0db8_0000_0000_0000_0000_0000_0001);
        p.set_dst(0x2001_0db8_0000_0000_0000_0000_0000_0002);
        let mut h = Ipv6ExtHeader::new_unchecked(&mut buf[40..], ip_proto::HOPOPT);
        h.set_next_header(59);
        h.set_len_byte(0);
        buf[42..44].copy_from_slice(&[1, 4]);
        assert_eq!(buf, PACKET);
    }

    #[test]
    fn lengths_checked() {
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..39]).unwrap_err(),
            truncated(Layer::Ipv6)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..47]).unwrap_err(),
            Malformed::BadPayloadLength
        );
        // Routing header claiming 16 bytes in an 8-byte buffer.
        let rh = [6u8, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Ipv6ExtHeader::new_checked(&rh[..], ip_proto::IPV6_ROUTE).unwrap_err(),
            truncated(Layer::Ipv6Ext)
        );
        // AH with payload length 2 is (2 + 2) * 4 = 16 bytes.
        assert_eq!(ext_header_len(ip_proto::AH, 2), 16);
        assert_eq!(ext_header_len(ip_proto::IPV6_FRAG, 200), 8);
    }

    #[test]
    fn fragment_header() {
        let mut buf = [0u8; 8];
        let mut f = Ipv6FragHeader::new_unchecked(&mut buf[..]);
        f.set_next_header(17);
        f.set_frag(1448, true);
        f.set_ident(0xdead_beef);
        assert_eq!(buf, [17, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef]);
        let f = Ipv6FragHeader::new_checked(&buf[..]).unwrap();
        assert_eq!(f.frag_offset(), 1448);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdead_beef);
        assert_eq!(f.next_header(), 17);
        assert!(Ipv6FragHeader::new_checked(&buf[..7]).is_err());
    }
}
