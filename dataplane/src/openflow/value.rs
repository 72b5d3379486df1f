//! Field values in ovs-ofctl text: numbers, MAC, IPv4 and IPv6 addresses,
//! masks and prefixes; parsing (error = message text, the caller adds the
//! position) and formatting.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::field::{exthdr, Field, ValueFormat};
use super::model::port;

/// Parse an unsigned integer: decimal or `0x` hex, at most `bits` wide.
pub(crate) fn parse_uint(s: &str, bits: u32) -> Result<u128, String> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b as char).is_digit(radix)) {
        return Err(format!("expected a number, found \"{s}\""));
    }
    let v =
        u128::from_str_radix(digits, radix).map_err(|_| format!("number \"{s}\" is too large"))?;
    let max = max_of(bits);
    if v > max {
        return Err(format!("value {s} is out of range (at most {max})"));
    }
    Ok(v)
}

pub(crate) fn max_of(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

/// Typed integer helpers with a named quantity in the message.
pub(crate) fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    parse_uint(s, 32)
        .map(|v| v as u32)
        .map_err(|e| format!("{what}: {e}"))
}

pub(crate) fn parse_u16(s: &str, what: &str) -> Result<u16, String> {
    parse_uint(s, 16)
        .map(|v| v as u16)
        .map_err(|e| format!("{what}: {e}"))
}

pub(crate) fn parse_u8(s: &str, what: &str) -> Result<u8, String> {
    parse_uint(s, 8)
        .map(|v| v as u8)
        .map_err(|e| format!("{what}: {e}"))
}

pub(crate) fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    parse_uint(s, 64)
        .map(|v| v as u64)
        .map_err(|e| format!("{what}: {e}"))
}

/// `aa:bb:cc:dd:ee:ff` (1 or 2 hex digits per byte).
pub(crate) fn parse_mac(s: &str) -> Result<u128, String> {
    let err = || format!("expected an Ethernet address (aa:bb:cc:dd:ee:ff), found \"{s}\"");
    let mut v: u128 = 0;
    let mut n = 0;
    for part in s.split(':') {
        if n == 6
            || part.is_empty()
            || part.len() > 2
            || !part.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(err());
        }
        v = (v << 8) | u128::from(u8::from_str_radix(part, 16).map_err(|_| err())?);
        n += 1;
    }
    if n != 6 {
        return Err(err());
    }
    Ok(v)
}

/// A dotted-quad IPv4 address (one pass over the bytes: this is on the
/// hot path of loading large rule sets).
pub(crate) fn parse_ipv4(s: &str) -> Option<u32> {
    let mut v: u32 = 0;
    let mut octet: u32 = 0;
    let mut digits = 0;
    let mut dots = 0;
    for &b in s.as_bytes() {
        match b {
            b'0'..=b'9' if digits < 3 => {
                octet = octet * 10 + u32::from(b - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && dots < 3 && octet <= 255 => {
                v = (v << 8) | octet;
                octet = 0;
                digits = 0;
                dots += 1;
            }
            _ => return None,
        }
    }
    (dots == 3 && digits > 0 && octet <= 255).then_some((v << 8) | octet)
}

pub(crate) fn parse_ipv6(s: &str) -> Option<u128> {
    s.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// A contiguous mask of `len` leading ones in a `bits`-wide field.
pub(crate) fn prefix_mask(len: u32, bits: u32) -> u128 {
    if len == 0 {
        0
    } else {
        max_of(bits) & !(max_of(bits - len.min(bits)))
    }
}

/// `Some(len)` if `mask` is `len` leading ones in a `bits`-wide field.
pub(crate) fn prefix_len(mask: u128, bits: u32) -> Option<u32> {
    let ones = mask.count_ones();
    (prefix_mask(ones, bits) == mask).then_some(ones)
}

/// Parse a value (no mask) of `field` in the field's own format; `name`
/// is the field as the user spelled it, for messages. Port fields are
/// handled by the caller.
pub(crate) fn parse_field_value(field: Field, name: &str, s: &str) -> Result<u128, String> {
    match field.format() {
        ValueFormat::Mac => parse_mac(s),
        ValueFormat::Ipv4 => parse_ipv4(s)
            .map(u128::from)
            .ok_or_else(|| format!("expected an IPv4 address or prefix, found \"{s}\"")),
        ValueFormat::Ipv6 => parse_ipv6(s)
            .ok_or_else(|| format!("expected an IPv6 address or prefix, found \"{s}\"")),
        _ => parse_uint(s, 128).and_then(|v| {
            if v > field.full_mask() {
                Err(format!(
                    "value {s} does not fit in {name} ({} bits, at most {})",
                    field.bits(),
                    field.full_mask()
                ))
            } else {
                Ok(v)
            }
        }),
    }
}

/// Parse the mask after `/`: a prefix length for IP fields, else a value
/// in the field's format.
pub(crate) fn parse_field_mask(field: Field, name: &str, s: &str) -> Result<u128, String> {
    let fmt = field.format();
    if matches!(fmt, ValueFormat::Ipv4 | ValueFormat::Ipv6)
        && !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
    {
        let len: u32 = s
            .parse()
            .map_err(|_| format!("bad prefix length \"{s}\""))?;
        if len > field.bits() {
            return Err(format!(
                "prefix length /{len} is longer than {} bits",
                field.bits()
            ));
        }
        return Ok(prefix_mask(len, field.bits()));
    }
    match fmt {
        ValueFormat::Ipv4 => parse_ipv4(s)
            .map(u128::from)
            .ok_or_else(|| format!("expected an IPv4 mask or prefix length, found \"{s}\"")),
        ValueFormat::Ipv6 => parse_ipv6(s)
            .ok_or_else(|| format!("expected an IPv6 mask or prefix length, found \"{s}\"")),
        ValueFormat::Mac => parse_mac(s)
            .map_err(|_| format!("expected an Ethernet mask (ff:ff:ff:00:00:00), found \"{s}\"")),
        _ => parse_uint(s, 128).and_then(|m| {
            if m > field.full_mask() {
                Err(format!(
                    "mask {s} does not fit in {name} ({} bits)",
                    field.bits()
                ))
            } else {
                Ok(m)
            }
        }),
    }
}

/// Parse `ipv6_exthdr` flags: `+name` sets a flag, `-name` requires it
/// clear (`+hop-frag`). Returns (value, mask).
pub(crate) fn parse_exthdr_flags(s: &str) -> Result<(u128, u128), String> {
    let mut value = 0u16;
    let mut mask = 0u16;
    let bytes = s.as_bytes();
    let mut i = 0;
    if bytes.is_empty() {
        return Err("expected ipv6_exthdr flags".into());
    }
    while i < bytes.len() {
        let set = match bytes[i] {
            b'+' => true,
            b'-' => false,
            _ => {
                return Err(format!(
                    "expected +flag or -flag in ipv6_exthdr, found \"{}\"",
                    &s[i..]
                ))
            }
        };
        let start = i + 1;
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'+' && bytes[end] != b'-' {
            end += 1;
        }
        let name = &s[start..end];
        let bit = exthdr::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, b)| b)
            .ok_or_else(|| {
                format!("unknown ipv6_exthdr flag \"{name}\"; expected one of nonext, esp, auth, dest, frag, router, hop, unrep, unseq")
            })?;
        if mask & bit != 0 {
            return Err(format!("ipv6_exthdr flag \"{name}\" given twice"));
        }
        mask |= bit;
        if set {
            value |= bit;
        }
        i = end;
    }
    Ok((u128::from(value), u128::from(mask)))
}

/// Displays a field value (and mask, unless exact) in ovs-ofctl form.
pub struct FieldValue {
    pub field: Field,
    pub value: u128,
    /// `None` = exact.
    pub mask: Option<u128>,
}

fn fmt_ipv6(f: &mut fmt::Formatter<'_>, v: u128) -> fmt::Result {
    let s = Ipv6Addr::from(v).to_string();
    // ovs-ofctl reads "/0:ffff:..." as prefix length 0: write a leading
    // single zero group as "::" (still valid IPv6 text).
    match s.strip_prefix("0:") {
        Some(rest) if !s.contains("::") => write!(f, "::{rest}"),
        _ => f.write_str(&s),
    }
}

fn fmt_mac(f: &mut fmt::Formatter<'_>, v: u128) -> fmt::Result {
    let b = (v as u64).to_be_bytes();
    write!(
        f,
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field;
        match (field.format(), self.mask) {
            (ValueFormat::Port, _) => match port::reserved_name(self.value as u32) {
                Some(name) => f.write_str(name),
                None => write!(f, "{}", self.value),
            },
            (ValueFormat::Mac, m) => {
                fmt_mac(f, self.value)?;
                if let Some(m) = m {
                    f.write_str("/")?;
                    fmt_mac(f, m)?;
                }
                Ok(())
            }
            (ValueFormat::Ipv4, m) => {
                write!(f, "{}", Ipv4Addr::from(self.value as u32))?;
                match m.map(|m| (m, prefix_len(m, 32))) {
                    Some((_, Some(len))) => write!(f, "/{len}"),
                    Some((m, None)) => write!(f, "/{}", Ipv4Addr::from(m as u32)),
                    None => Ok(()),
                }
            }
            (ValueFormat::Ipv6, m) => {
                fmt_ipv6(f, self.value)?;
                match m.map(|m| (m, prefix_len(m, 128))) {
                    Some((_, Some(len))) => write!(f, "/{len}"),
                    Some((m, None)) => {
                        f.write_str("/")?;
                        fmt_ipv6(f, m)
                    }
                    None => Ok(()),
                }
            }
            (ValueFormat::Hex4, None) => write!(f, "0x{:04x}", self.value),
            (ValueFormat::Hex4, Some(m)) => write!(f, "0x{:04x}/0x{:04x}", self.value, m),
            (ValueFormat::Hex, None) => write!(f, "0x{:x}", self.value),
            (ValueFormat::Decimal, None) => write!(f, "{}", self.value),
            (ValueFormat::Hex | ValueFormat::Decimal, Some(m)) => {
                write!(f, "0x{:x}/0x{:x}", self.value, m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_masks() {
        assert_eq!(prefix_mask(0, 32), 0);
        assert_eq!(prefix_mask(8, 32), 0xff00_0000);
        assert_eq!(prefix_mask(32, 32), 0xffff_ffff);
        assert_eq!(prefix_mask(128, 128), u128::MAX);
        assert_eq!(prefix_mask(1, 128), 1u128 << 127);
        assert_eq!(prefix_len(0xffff_ff00, 32), Some(24));
        assert_eq!(prefix_len(0, 32), Some(0));
        assert_eq!(prefix_len(0xff00_ff00, 32), None);
        assert_eq!(prefix_len(u128::MAX, 128), Some(128));
    }

    #[test]
    fn uints() {
        assert_eq!(parse_uint("0", 8), Ok(0));
        assert_eq!(parse_uint("255", 8), Ok(255));
        assert_eq!(parse_uint("0xff", 8), Ok(255));
        assert_eq!(parse_uint("0XFF", 8), Ok(255));
        assert!(parse_uint("256", 8).is_err());
        assert!(parse_uint("0x", 8).is_err());
        assert!(parse_uint("", 8).is_err());
        assert!(parse_uint("12a", 16).is_err());
        assert!(parse_uint("-1", 16).is_err());
        assert!(parse_uint("+1", 16).is_err());
        assert_eq!(
            parse_uint("340282366920938463463374607431768211455", 128),
            Ok(u128::MAX)
        );
        assert!(parse_uint("340282366920938463463374607431768211456", 128).is_err());
    }

    #[test]
    fn macs_and_ips() {
        assert_eq!(parse_mac("00:11:22:33:44:55"), Ok(0x0011_2233_4455));
        assert_eq!(parse_mac("0:1:2:3:4:5"), Ok(0x0001_0203_0405));
        for bad in [
            "00:11:22:33:44",
            "00:11:22:33:44:55:66",
            "00:11:22:33:44:5g",
            "001:1:2:3:4:5",
            "",
            ":::::",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_ipv4("10.0.0.1"), Some(0x0a00_0001));
        for bad in [
            "10.0.0.300",
            "10.0.0",
            "10.0.0.1.2",
            "10..0.1",
            "a.b.c.d",
            "1000.0.0.1",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
        assert_eq!(parse_ipv6("::1"), Some(1));
        assert_eq!(
            parse_ipv6("::ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            Some(u128::MAX >> 16)
        );
        assert_eq!(parse_ipv6("1::2::3"), None);
    }

    #[test]
    fn exthdr_flags() {
        assert_eq!(
            parse_exthdr_flags("+hop-frag"),
            Ok((
                u128::from(exthdr::HOP),
                u128::from(exthdr::HOP | exthdr::FRAG)
            ))
        );
        assert!(parse_exthdr_flags("hop").is_err());
        assert!(parse_exthdr_flags("+hop+hop").is_err());
        assert!(parse_exthdr_flags("+bogus").is_err());
        assert!(parse_exthdr_flags("+").is_err());
    }

    #[test]
    fn formatting() {
        let v = |field, value, mask| FieldValue { field, value, mask }.to_string();
        assert_eq!(
            v(Field::Ipv6Dst, 0x20, Some(u128::MAX >> 16)),
            "::20/::ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(
            v(Field::Ipv6Src, 0x0010 << 112, Some(prefix_mask(112, 128))),
            "10::/112"
        );
        assert_eq!(
            v(Field::Ipv4Dst, 0xc0a8_0014, Some(0xffff_00ff)),
            "192.168.0.20/255.255.0.255"
        );
        assert_eq!(v(Field::VlanVid, 0x60, Some(0xf0)), "0x0060/0x00f0");
        assert_eq!(v(Field::TcpDst, 0x400, Some(0xfc00)), "0x400/0xfc00");
        assert_eq!(v(Field::InPort, u128::from(port::LOCAL), None), "LOCAL");
        assert_eq!(
            v(Field::EthSrc, 0x0011_1111_1111, Some(0x00ff_ffff_ffff)),
            "00:11:11:11:11:11/00:ff:ff:ff:ff:ff"
        );
    }
}
