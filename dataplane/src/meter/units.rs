//! Rates, sizes and packet rates as operators write them.
//!
//! * [`parse_rate`]: `"2.5Gbit"`, `"100 Mbps"` → bits per second. Units
//!   `bit`, `kbit`, `Mbit`, `Gbit`, `Tbit` and `bps`, `kbps`, `Mbps`,
//!   `Gbps`, `Tbps` (also `bit/s` forms). Decimal prefixes (k = 1000), the
//!   prefix letter in either case; `bps` means **bits** per second, as in
//!   networking gear. A bare number is refused: a rate must say its unit.
//! * [`parse_size`]: `"256KiB"`, `"1.5MB"`, `"9000"` → bytes. Units `B`,
//!   `KB`/`MB`/`GB`/`TB` (powers of 1000) and `KiB`/`MiB`/`GiB`/`TiB`
//!   (powers of 1024), case-insensitive; a bare number is bytes.
//! * [`parse_pps`]: `"1Mpps"`, `"250kpps"`, `"1000"` → packets per second.
//!
//! Numbers may have a decimal fraction and `_` digit separators; the value
//! is computed in integers and rounded to the nearest whole bit, byte or
//! packet (halves up). Zero and values beyond `u64` are errors, as are
//! negative numbers, exponents and unknown units; each error names the
//! input and, for units, lists what is accepted.

use std::fmt;

/// Which kind of quantity was being parsed (for error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Rate,
    Size,
    PacketRate,
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantity::Rate => "rate",
            Quantity::Size => "size",
            Quantity::PacketRate => "packet rate",
        })
    }
}

/// Why a rate, size or packet rate did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("empty {quantity}")]
    Empty { quantity: Quantity },
    #[error("invalid {quantity} {input:?}: expected a number and a unit, e.g. {example:?}")]
    InvalidNumber {
        quantity: Quantity,
        input: String,
        example: &'static str,
    },
    #[error("unknown unit {unit:?} in {quantity} {input:?}; expected one of {expected}")]
    UnknownUnit {
        quantity: Quantity,
        input: String,
        unit: String,
        expected: &'static str,
    },
    #[error("missing unit in {quantity} {input:?}; expected one of {expected}")]
    MissingUnit {
        quantity: Quantity,
        input: String,
        expected: &'static str,
    },
    #[error("{quantity} {input:?} is zero")]
    Zero { quantity: Quantity, input: String },
    #[error("{quantity} {input:?} is too large (the limit is {max})")]
    TooLarge {
        quantity: Quantity,
        input: String,
        max: u64,
    },
}

const RATE_UNITS: &str = "bit, kbit, Mbit, Gbit, Tbit, bps, kbps, Mbps, Gbps, Tbps";
const SIZE_UNITS: &str = "B, KB, KiB, MB, MiB, GB, GiB, TB, TiB";
const PPS_UNITS: &str = "pps, kpps, Mpps, Gpps";

/// Default bucket depth is this much time at the configured rate...
pub const DEFAULT_BURST_MILLIS: u64 = 10;
/// ...but at least this many bytes (two 9000-byte jumbo frames), so that a
/// slow tenant can still send back-to-back MTU-sized packets.
pub const MIN_DEFAULT_BURST_BYTES: u64 = 2 * 9000;
/// ...or, in packet mode, at least this many packets (one rx burst).
pub const MIN_DEFAULT_BURST_PACKETS: u64 = 32;

/// Parses a bit rate; returns bits per second.
pub fn parse_rate(input: &str) -> Result<u64, UnitError> {
    parse(input, Quantity::Rate, "2.5Gbit", |unit| {
        let tail = ["bit/s", "bit", "bps"]
            .into_iter()
            .find(|t| unit.ends_with(t))?;
        decimal_prefix(&unit[..unit.len() - tail.len()])
    })
}

/// Parses a size; returns bytes.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    parse(input, Quantity::Size, "256KiB", |unit| {
        let lower = unit.to_ascii_lowercase();
        Some(match lower.as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "tib" => 1 << 40,
            _ => return None,
        })
    })
}

/// Parses a packet rate; returns packets per second.
pub fn parse_pps(input: &str) -> Result<u64, UnitError> {
    parse(input, Quantity::PacketRate, "1Mpps", |unit| {
        if unit.is_empty() {
            return Some(1);
        }
        decimal_prefix(unit.strip_suffix("pps")?)
    })
}

/// The bucket depth in bytes used when a byte-mode limit gives no burst:
/// `max(rate × 10 ms, 2 × 9000 B)`.
pub fn default_burst_bytes(rate_bits_per_sec: u64) -> u64 {
    (rate_bits_per_sec / 8 / (1000 / DEFAULT_BURST_MILLIS)).max(MIN_DEFAULT_BURST_BYTES)
}

/// The bucket depth in packets used when a packet-mode limit gives no
/// burst: `max(rate × 10 ms, 32 packets)`.
pub fn default_burst_packets(pps: u64) -> u64 {
    (pps / (1000 / DEFAULT_BURST_MILLIS)).max(MIN_DEFAULT_BURST_PACKETS)
}

fn decimal_prefix(p: &str) -> Option<u64> {
    Some(match p {
        "" => 1,
        "k" | "K" => 1_000,
        "m" | "M" => 1_000_000,
        "g" | "G" => 1_000_000_000,
        "t" | "T" => 1_000_000_000_000,
        _ => return None,
    })
}

fn expected(quantity: Quantity) -> &'static str {
    match quantity {
        Quantity::Rate => RATE_UNITS,
        Quantity::Size => SIZE_UNITS,
        Quantity::PacketRate => PPS_UNITS,
    }
}

/// Splits `input` into number and unit, looks the unit up with `unit_mult`
/// and computes `number × multiplier` exactly, rounded to nearest.
fn parse(
    input: &str,
    quantity: Quantity,
    example: &'static str,
    unit_mult: impl Fn(&str) -> Option<u64>,
) -> Result<u64, UnitError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(UnitError::Empty { quantity });
    }
    let invalid = || UnitError::InvalidNumber {
        quantity,
        input: input.to_owned(),
        example,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start();
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    let int_digits = digits(int_part).ok_or_else(invalid)?;
    let frac_digits = match frac_part {
        Some(f) => digits(f).ok_or_else(invalid)?,
        None => Vec::new(),
    };
    if int_digits.is_empty() || (frac_part.is_some() && frac_digits.is_empty()) {
        return Err(invalid());
    }
    if unit.is_empty() && quantity == Quantity::Rate {
        return Err(UnitError::MissingUnit {
            quantity,
            input: input.to_owned(),
            expected: RATE_UNITS,
        });
    }
    let mult = unit_mult(unit).ok_or_else(|| UnitError::UnknownUnit {
        quantity,
        input: input.to_owned(),
        unit: unit.to_owned(),
        expected: expected(quantity),
    })?;
    let too_large = || UnitError::TooLarge {
        quantity,
        input: input.to_owned(),
        max: u64::MAX,
    };
    // Integer part: any digit count, but it must fit u64 before scaling.
    let mut int: u128 = 0;
    for d in int_digits {
        int = int * 10 + u128::from(d);
        if int > u128::from(u64::MAX) {
            return Err(too_large());
        }
    }
    // Fraction: 19 digits resolve 1e-7 of a unit even with the largest
    // multiplier (2^40); further digits are ignored.
    let mut frac: u128 = 0;
    let mut scale: u128 = 1;
    for &d in frac_digits.iter().take(19) {
        frac = frac * 10 + u128::from(d);
        scale *= 10;
    }
    let mult = u128::from(mult);
    let frac_scaled = frac * mult;
    // Round half up.
    let frac_value = (frac_scaled + scale / 2) / scale;
    let value = int * mult + frac_value;
    if value > u128::from(u64::MAX) {
        return Err(too_large());
    }
    if value == 0 {
        return Err(UnitError::Zero {
            quantity,
            input: input.to_owned(),
        });
    }
    Ok(value as u64)
}

/// Digits of `s` with `_` separators removed; `None` if a separator leads,
/// trails or doubles, or if `s` holds anything else.
fn digits(s: &str) -> Option<Vec<u8>> {
    if s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    s.bytes()
        .filter(|&b| b != b'_')
        .map(|b| b.is_ascii_digit().then(|| b - b'0'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("2.5Gbit"), Ok(2_500_000_000));
        assert_eq!(parse_rate("100 Mbps"), Ok(100_000_000));
        assert_eq!(parse_rate("1bit"), Ok(1));
        assert_eq!(parse_rate("64kbit"), Ok(64_000));
        assert_eq!(parse_rate("64Kbit"), Ok(64_000));
        assert_eq!(parse_rate("10mbit"), Ok(10_000_000));
        assert_eq!(parse_rate("400Gbps"), Ok(400_000_000_000));
        assert_eq!(parse_rate("1.6Tbit"), Ok(1_600_000_000_000));
        assert_eq!(parse_rate("9600bps"), Ok(9600));
        assert_eq!(parse_rate("1_000_000bit"), Ok(1_000_000));
        assert_eq!(parse_rate("  2 Gbit/s "), Ok(2_000_000_000));
        assert_eq!(parse_rate("0.001kbit"), Ok(1));
        assert_eq!(parse_rate("1.0005kbit"), Ok(1001)); // 1000.5 -> nearest, ties up
        assert_eq!(parse_rate("1.0004kbit"), Ok(1000));
        assert_eq!(parse_rate("1.0006kbit"), Ok(1001));
    }

    #[test]
    fn rate_errors() {
        let e = parse_rate("2.5Gbits").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown unit \"Gbits\" in rate \"2.5Gbits\"; expected one of bit, kbit, Mbit, \
             Gbit, Tbit, bps, kbps, Mbps, Gbps, Tbps"
        );
        assert!(matches!(
            parse_rate("1MBps"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_rate("1 MiB"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_rate("1000"),
            Err(UnitError::MissingUnit { .. })
        ));
        assert!(matches!(parse_rate(""), Err(UnitError::Empty { .. })));
        assert!(matches!(parse_rate("   "), Err(UnitError::Empty { .. })));
        assert!(matches!(
            parse_rate("Gbit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate("-5Mbit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate("1.Mbit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate(".5Mbit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate("1.2.3Mbit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate("1__0bit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate("_10bit"),
            Err(UnitError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_rate("1e9bit"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(parse_rate("0Gbit"), Err(UnitError::Zero { .. })));
        assert!(matches!(
            parse_rate("0.0001bit"),
            Err(UnitError::Zero { .. })
        ));
        assert!(matches!(
            parse_rate("18446744073709551616bit"),
            Err(UnitError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_rate("20000000Tbit"),
            Err(UnitError::TooLarge { .. })
        ));
        assert_eq!(parse_rate("18446744073709551615bit"), Ok(u64::MAX));
        assert!(parse_rate("99999999999999999999999999999999999999999bit").is_err());
        let e = parse_rate("0Mbit").unwrap_err();
        assert_eq!(e.to_string(), "rate \"0Mbit\" is zero");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256KiB"), Ok(256 * 1024));
        assert_eq!(parse_size("256kib"), Ok(256 * 1024));
        assert_eq!(parse_size("1500"), Ok(1500));
        assert_eq!(parse_size("1500B"), Ok(1500));
        assert_eq!(parse_size("1.5KB"), Ok(1500));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("2 MB"), Ok(2_000_000));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("0.1KiB"), Ok(102)); // 102.4
        assert_eq!(parse_size("16777215TiB"), Ok(u64::MAX - (1 << 40) + 1));
    }

    #[test]
    fn size_errors() {
        let e = parse_size("3 furlongs").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown unit \"furlongs\" in size \"3 furlongs\"; expected one of B, KB, KiB, MB, \
             MiB, GB, GiB, TB, TiB"
        );
        assert!(matches!(
            parse_size("1Mbit"),
            Err(UnitError::UnknownUnit { .. })
        ));
        assert!(matches!(parse_size("0KiB"), Err(UnitError::Zero { .. })));
        assert!(matches!(
            parse_size("16777216TiB"),
            Err(UnitError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_size("KiB"),
            Err(UnitError::InvalidNumber { .. })
        ));
    }

    #[test]
    fn packet_rates() {
        assert_eq!(parse_pps("1Mpps"), Ok(1_000_000));
        assert_eq!(parse_pps("250kpps"), Ok(250_000));
        assert_eq!(parse_pps("1.5 Mpps"), Ok(1_500_000));
        assert_eq!(parse_pps("1000"), Ok(1000));
        assert_eq!(parse_pps("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_pps("2Gpps"), Ok(2_000_000_000));
        let e = parse_pps("1Mbit").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown unit \"Mbit\" in packet rate \"1Mbit\"; expected one of pps, kpps, Mpps, Gpps"
        );
        assert!(matches!(parse_pps("0pps"), Err(UnitError::Zero { .. })));
        assert!(matches!(
            parse_pps("x"),
            Err(UnitError::InvalidNumber { .. })
        ));
    }

    #[test]
    fn default_bursts() {
        // 10 ms of 2.5 Gbit/s = 3.125 MB.
        assert_eq!(default_burst_bytes(2_500_000_000), 3_125_000);
        // Slow rates get two jumbo frames.
        assert_eq!(default_burst_bytes(1_000_000), 18_000);
        assert_eq!(default_burst_bytes(u64::MAX), u64::MAX / 800);
        assert_eq!(default_burst_packets(1_000_000), 10_000);
        assert_eq!(default_burst_packets(100), 32);
    }
}
