//! MPLS label stack entry view (RFC 3032).
//!
//! ```text
//!  0                   20    23  24        32
//! +---------------------+-----+--+---------+
//! |        label        | TC  |S |   TTL   |
//! +---------------------+-----+--+---------+
//! ```
use super::bytes::{be32, set_be32};
use super::{truncated, Layer, Malformed};

mod field {
    pub const ENTRY: usize = 0;
    pub const PAYLOAD: usize = 4;
}

/// Length of one label stack entry.
pub const ENTRY_LEN: usize = field::PAYLOAD;

/// A view of one MPLS label stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MplsEntry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MplsEntry<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        MplsEntry { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self, Malformed> {
        let e = Self::new_unchecked(buffer);
        e.check_len()?;
        Ok(e)
    }

    pub fn check_len(&self) -> Result<(), Malformed> {
        if self.buffer.as_ref().len() < ENTRY_LEN {
            return Err(truncated(Layer::Mpls));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole entry as a host integer.
    pub fn raw(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ENTRY)
    }

    /// Label (20 bits).
    pub fn label(&self) -> u32 {
        self.raw() >> 12
    }

    /// Traffic class (3 bits, formerly EXP).
    pub fn tc(&self) -> u8 {
        ((self.raw() >> 9) & 7) as u8
    }

    /// Bottom of stack.
    pub fn bos(&self) -> bool {
        self.raw() & 0x100 != 0
    }

    pub fn ttl(&self) -> u8 {
        self.raw() as u8
    }

    /// The next entry (if not bottom of stack) or the payload.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MplsEntry<T> {
    pub fn set_raw(&mut self, v: u32) {
        set_be32(self.buffer.as_mut(), field::ENTRY, v);
    }

    pub fn set_label(&mut self, label: u32) {
        let v = (self.raw() & 0xfff) | ((label & 0xf_ffff) << 12);
        self.set_raw(v);
    }

    pub fn set_tc(&mut self, tc: u8) {
        let v = (self.raw() & !0xe00) | (u32::from(tc & 7) << 9);
        self.set_raw(v);
    }

    pub fn set_bos(&mut self, bos: bool) {
        let v = (self.raw() & !0x100) | if bos { 0x100 } else { 0 };
        self.set_raw(v);
    }

    pub fn set_ttl(&mut self, ttl: u8) {
        let v = (self.raw() & !0xff) | u32::from(ttl);
        self.set_raw(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Label 0x12345, TC 5, BoS, TTL 64.
    static ENTRY: [u8; 4] = [0x12, 0x34, 0x5b, 0x40];

    #[test]
    fn read_fields() {
        let e = MplsEntry::new_checked(&ENTRY[..]).unwrap();
        assert_eq!(e.label(), 0x12345);
        assert_eq!(e.tc(), 5);
        assert!(e.bos());
        assert_eq!(e.ttl(), 64);
    }

    #[test]
    fn write_round_trip() {
        let mut buf = [0u8; 4];
        let mut e = MplsEntry::new_unchecked(&mut buf[..]);
        e.set_label(0xf12345);
        e.set_tc(5);
        e.set_bos(true);
        e.set_ttl(64);
        assert_eq!(buf, ENTRY);
        assert!(MplsEntry::new_checked(&buf[..3]).is_err());
    }
}
