//! ICMPv6 header view (RFC 4443) and Neighbor Discovery (RFC 4861)
//! solicitation/advertisement messages with their options.
//!
//! ```text
//! ICMPv6:  | type | code | checksum | message body ...
//! NS / NA: | type | code | checksum | flags (NA) + reserved (4) | target (16) | options ...
//! option:  | type | length (units of 8 bytes, header included) | data ...
//! ```
use super::bytes::{be16, set_be16};
use super::ipv6::read_addr;
use super::{checksum, ip_proto, truncated, Layer, Malformed};

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const BODY: usize = 4;
    // Neighbor solicitation / advertisement.
    pub const ND_FLAGS: usize = 4;
    pub const ND_TARGET: usize = 8;
    pub const ND_OPTIONS: usize = 24;
}

/// Length of the ICMPv6 header (type, code, checksum).
pub const HEADER_LEN: usize = field::BODY;
/// Length of an NS/NA message without options.
pub const ND_LEN: usize = field::ND_OPTIONS;

pub const DEST_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const ROUTER_SOLICIT: u8 = 133;
pub const ROUTER_ADVERT: u8 = 134;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;

/// ND option: source link-layer address.
pub const OPT_SOURCE_LL: u8 = 1;
/// ND option: target link-layer address.
pub const OPT_TARGET_LL: u8 = 2;

/// NA flags (byte 4 of the message).
pub const NA_ROUTER: u8 = 0x80;
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

/// A view of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Ok` if the 4-byte header is present.
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(truncated(Layer::Icmpv6));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The message body after the 4-byte header.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..]
    }

    /// Does the checksum (pseudo-header included) verify? Give the view
    /// exactly the ICMPv6 message.
    pub fn verify_checksum(&self, src: u128, dst: u128) -> bool {
        checksum::l4_checksum_v6(src, dst, ip_proto::ICMPV6, self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_checksum(&mut self, v: u16) {
        set_be16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY..]
    }

    /// Recomputes the checksum over the whole buffer and the pseudo-header.
    pub fn fill_checksum(&mut self, src: u128, dst: u128) {
        self.set_checksum(0);
        let c = checksum::l4_checksum_v6(src, dst, ip_proto::ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A view of a neighbor solicitation or advertisement (the whole ICMPv6
/// message, header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdMessage<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NdMessage<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        NdMessage { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let m = Self::new_unchecked(buffer);
        m.check_len()?;
        Ok(m)
    }

    /// `Ok` if the header, flags and target (24 bytes) are present. The
    /// options are checked while iterating ([`NdMessage::options`]).
    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < ND_LEN {
            return Err(truncated(Layer::Nd));
        }
        Ok(())
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// NA flags (router, solicited, override); zero in an NS.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::ND_FLAGS]
    }

    /// The target address as a host integer.
    pub fn target(&self) -> u128 {
        read_addr(self.buffer.as_ref(), field::ND_TARGET)
    }

    /// An iterator over the options.
    pub fn options(&self) -> NdOptions<'_> {
        NdOptions {
            rest: &self.buffer.as_ref()[field::ND_OPTIONS..],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NdMessage<T> {
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::ND_FLAGS] = v;
    }

    pub fn set_target(&mut self, a: u128) {
        self.buffer.as_mut()[field::ND_TARGET..field::ND_TARGET + 16]
            .copy_from_slice(&a.to_be_bytes());
    }
}

/// One ND option: its type and its bytes after the type/length pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdOption<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

impl NdOption<'_> {
    /// The Ethernet address carried by a source/target link-layer address
    /// option of length 1 (8 bytes), as OpenFlow's `ipv6_nd_sll`/`tll`
    /// reads it.
    pub fn link_layer_addr(&self) -> Option<[u8; 6]> {
        if (self.kind == OPT_SOURCE_LL || self.kind == OPT_TARGET_LL) && self.data.len() == 6 {
            let mut m = [0u8; 6];
            m.copy_from_slice(self.data);
            Some(m)
        } else {
            None
        }
    }
}

/// Iterator over ND options; yields `Err(BadNdOption)` once (and then
/// stops) for an option of length 0 or one that runs past the message.
#[derive(Debug, Clone)]
pub struct NdOptions<'a> {
    rest: &'a [u8],
}

impl<'a> NdOptions<'a> {
    /// Iterates the options in `bytes` (the part of an ND message after
    /// its fixed fields).
    pub fn new(bytes: &'a [u8]) -> Self {
        NdOptions { rest: bytes }
    }
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = Result<NdOption<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let len = match rest {
            [_, l, ..] => usize::from(*l) * 8,
            _ => 0,
        };
        if len == 0 || len > rest.len() {
            self.rest = &[];
            return Some(Err(Malformed::BadNdOption));
        }
        self.rest = &rest[len..];
        Some(Ok(NdOption {
            kind: rest[0],
            data: &rest[2..len],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: u128 = 0xfe80_0000_0000_0000_0000_0000_0000_0001;
    const DST: u128 = 0xff02_0000_0000_0000_0000_0001_ff00_0002;

    // NS for fe80::2 with an SLL option 02:00:00:00:00:01.
    static NS: [u8; 32] = [
        135, 0, 0x00, 0x00, 0, 0, 0, 0, // type, code, checksum, reserved
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // target
        1, 1, 0x02, 0, 0, 0, 0, 0x01, // SLL
    ];

    #[test]
    fn neighbor_solicitation() {
        let m = NdMessage::new_checked(&NS[..]).unwrap();
        assert_eq!(m.msg_type(), NEIGHBOR_SOLICIT);
        assert_eq!(m.code(), 0);
        assert_eq!(m.target(), 0xfe80_0000_0000_0000_0000_0000_0000_0002);
        let opts: Vec<_> = m.options().collect();
        assert_eq!(opts.len(), 1);
        let o = opts[0].unwrap();
        assert_eq!(o.kind, OPT_SOURCE_LL);
        assert_eq!(o.link_layer_addr(), Some([2, 0, 0, 0, 0, 1]));
        assert!(NdMessage::new_checked(&NS[..23]).is_err());
    }

    #[test]
    fn checksum_round_trip() {
        let mut buf = NS;
        let mut p = Icmpv6Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum(SRC, DST);
        let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(SRC, DST + 1));
        assert_eq!(p.body().len(), 28);
    }

    #[test]
    fn bad_options() {
        let zero_len = [1u8, 0, 0, 0, 0, 0, 0, 0];
        let mut it = NdOptions::new(&zero_len);
        assert_eq!(it.next(), Some(Err(Malformed::BadNdOption)));
        assert_eq!(it.next(), None);
        let long = [2u8, 2, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            NdOptions::new(&long).next(),
            Some(Err(Malformed::BadNdOption))
        );
        let one_byte = [2u8];
        assert_eq!(
            NdOptions::new(&one_byte).next(),
            Some(Err(Malformed::BadNdOption))
        );
        // A 16-byte TLL option is well formed but carries no Ethernet MAC.
        let wide = [2u8, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
        let o = NdOptions::new(&wide).next().unwrap().unwrap();
        assert_eq!(o.data.len(), 14);
        assert_eq!(o.link_layer_addr(), None);
    }

    #[test]
    fn write_na() {
        let mut buf = [0u8; 24];
        buf[0] = NEIGHBOR_ADVERT;
        let mut m = NdMessage::new_unchecked(&mut buf[..]);
        m.set_flags(NA_SOLICITED | NA_OVERRIDE);
        m.set_target(SRC);
        let m = NdMessage::new_checked(&buf[..]).unwrap();
        assert_eq!(m.flags(), 0x60);
        assert_eq!(m.target(), SRC);
        assert_eq!(m.options().count(), 0);
    }
}
