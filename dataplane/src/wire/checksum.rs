//! Checksums: the Internet checksum (RFC 1071) over slices, IPv4 and IPv6
//! pseudo-header sums, RFC 1624 incremental updates for header rewrites,
//! and CRC32c (Castagnoli) for SCTP.
//!
//! Vocabulary: a *sum* is the folded 16-bit one's-complement sum of
//! big-endian words (not complemented); a *checksum* is the complement of a
//! sum, the value stored in a header. All values are host-order integers;
//! store them with `to_be_bytes` (SCTP's CRC32c with `to_le_bytes`, see
//! [`crc32c`]).

/// Folds a 32-bit accumulator of 16-bit words into 16 bits.
#[inline]
pub const fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The one's-complement sum of `data` taken as big-endian 16-bit words; an
/// odd trailing byte is padded with zero on the right.
pub fn sum(data: &[u8]) -> u16 {
    fold(sum_raw(data))
}

/// Unfolded accumulator over `data` (for combining several pieces whose
/// lengths, except the last, are even).
fn sum_raw(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// One's-complement addition of already folded sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The Internet checksum of `data`: the complement of [`sum`]. A header
/// whose checksum field holds this value sums to `0xffff`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !sum(data)
}

/// Does `data` (with its checksum field in place) verify?
pub fn verify(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// Sum of the IPv4 pseudo-header (RFC 793/768): addresses, protocol and
/// the upper-layer length.
pub fn pseudo_header_v4(src: u32, dst: u32, proto: u8, len: u16) -> u16 {
    let acc = u64::from(src >> 16)
        + u64::from(src & 0xffff)
        + u64::from(dst >> 16)
        + u64::from(dst & 0xffff)
        + u64::from(proto)
        + u64::from(len);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): addresses, 32-bit
/// upper-layer length and next header.
pub fn pseudo_header_v6(src: u128, dst: u128, next_header: u8, len: u32) -> u16 {
    let mut acc = u64::from(next_header) + u64::from(len >> 16) + u64::from(len & 0xffff);
    for a in [src, dst] {
        for i in 0..8 {
            acc += ((a >> (16 * i)) & 0xffff) as u64;
        }
    }
    fold(acc)
}

/// Checksum of an upper-layer segment over IPv4: pseudo-header plus
/// `segment` (whose checksum field must be zero, or be the field to
/// verify).
pub fn l4_checksum_v4(src: u32, dst: u32, proto: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u16;
    !fold(u64::from(pseudo_header_v4(src, dst, proto, len)) + sum_raw(segment))
}

/// As [`l4_checksum_v4`], over IPv6.
pub fn l4_checksum_v6(src: u128, dst: u128, next_header: u8, segment: &[u8]) -> u16 {
    let len = segment.len() as u32;
    !fold(u64::from(pseudo_header_v6(src, dst, next_header, len)) + sum_raw(segment))
}

/// RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered
/// data changes from `old_word` to `new_word`:
/// `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn checksum_update16(old_csum: u16, old_word: u16, new_word: u16) -> u16 {
    let acc = u64::from(!old_csum) + u64::from(!old_word) + u64::from(new_word);
    !fold(acc)
}

/// As [`checksum_update16`], for a 32-bit field (two words), e.g. an IPv4
/// address.
#[inline]
pub fn checksum_update32(old_csum: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!old_csum)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from((new >> 16) as u16)
        + u64::from(new as u16);
    !fold(acc)
}

/// As [`checksum_update16`], for a 128-bit field (eight words), e.g. an
/// IPv6 address.
#[inline]
pub fn checksum_update128(old_csum: u16, old: u128, new: u128) -> u16 {
    let mut acc = u64::from(!old_csum);
    for i in 0..8 {
        acc += u64::from(!((old >> (16 * i)) as u16));
        acc += u64::from((new >> (16 * i)) as u16);
    }
    !fold(acc)
}

/// As [`checksum_update16`], for a field of any even length given as the
/// old and new bytes (e.g. a MAC address inside ND options). Lengths must
/// match; an odd last byte is treated as the high half of a word.
pub fn checksum_update_bytes(old_csum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    let acc = u64::from(!old_csum) + u64::from(!sum(old)) + u64::from(sum(new));
    !fold(acc)
}

/// CRC32c lookup table (reflected polynomial 0x82F63B78), built at compile
/// time.
const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continues a CRC32c computation: `crc` is the value returned by a
/// previous call (start with [`crc32c`] or with 0 via this function).
pub fn crc32c_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// CRC32c (Castagnoli) of `data`, as SCTP (RFC 9260 appendix A) uses it.
/// Compute it over the SCTP packet with its checksum field zeroed and
/// store it with `to_le_bytes()` (the reflected CRC goes out least
/// significant byte first). `crc32c(b"123456789") == 0xe306_9283`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64;

    // RFC 1071 §3 example words: 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(internet_checksum(&data), !0xddf2);
        assert_eq!(sum(&data[..7]), fold(0x0001 + 0xf203 + 0xf4f5 + 0xf600));
    }

    #[test]
    fn known_ipv4_header() {
        // A classic example header with checksum 0xb861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verify(&hdr));
        let mut z = hdr;
        z[10] = 0;
        z[11] = 0;
        assert_eq!(internet_checksum(&z), 0xb861);
    }

    #[test]
    fn crc32c_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        let data: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&data), 0x46dd_794e);
        let split = crc32c_update(crc32c(&data[..10]), &data[10..]);
        assert_eq!(split, crc32c(&data));
    }

    /// Incremental updates agree with recomputing from scratch, for random
    /// data and random edits at random even offsets.
    #[test]
    fn incremental_matches_full() {
        let mut rng = XorShift64::new(7);
        for _ in 0..2000 {
            let mut data = vec![0u8; 40];
            rng.fill(&mut data);
            data[10] = 0;
            data[11] = 0;
            let c = internet_checksum(&data);
            data[10..12].copy_from_slice(&c.to_be_bytes());
            assert!(verify(&data));

            let at = 2 * rng.below(4) as usize + 12; // 12..20, clear of the checksum
            let old16 = u16::from_be_bytes([data[at], data[at + 1]]);
            let new16 = rng.next_u32() as u16;
            let c16 = checksum_update16(c, old16, new16);
            let mut d16 = data.clone();
            d16[at..at + 2].copy_from_slice(&new16.to_be_bytes());
            d16[10..12].copy_from_slice(&c16.to_be_bytes());
            assert!(verify(&d16), "update16");

            let old32 = u32::from_be_bytes(data[12..16].try_into().unwrap());
            let new32 = rng.next_u32();
            let c32 = checksum_update32(c, old32, new32);
            let mut d32 = data.clone();
            d32[12..16].copy_from_slice(&new32.to_be_bytes());
            d32[10..12].copy_from_slice(&c32.to_be_bytes());
            assert!(verify(&d32), "update32");

            let old128 = u128::from_be_bytes(data[16..32].try_into().unwrap());
            let new128 = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
            let c128 = checksum_update128(c, old128, new128);
            let mut d128 = data.clone();
            d128[16..32].copy_from_slice(&new128.to_be_bytes());
            d128[10..12].copy_from_slice(&c128.to_be_bytes());
            assert!(verify(&d128), "update128");

            let mut mac = [0u8; 6];
            rng.fill(&mut mac);
            let cb = checksum_update_bytes(c, &data[32..38], &mac);
            let mut db = data.clone();
            db[32..38].copy_from_slice(&mac);
            db[10..12].copy_from_slice(&cb.to_be_bytes());
            assert!(verify(&db), "update_bytes");
        }
    }

    #[test]
    fn pseudo_headers_match_byte_layout() {
        let (s4, d4) = (0xc0a8_0001u32, 0x0a00_00feu32);
        let mut ph = Vec::new();
        ph.extend_from_slice(&s4.to_be_bytes());
        ph.extend_from_slice(&d4.to_be_bytes());
        ph.extend_from_slice(&[0, 17, 0x01, 0x23]);
        assert_eq!(pseudo_header_v4(s4, d4, 17, 0x0123), sum(&ph));

        let (s6, d6) = (0x2001_0db8_0000_0000_0000_0000_0000_0001u128, u128::MAX - 5);
        let mut ph = Vec::new();
        ph.extend_from_slice(&s6.to_be_bytes());
        ph.extend_from_slice(&d6.to_be_bytes());
        ph.extend_from_slice(&0x0001_0203u32.to_be_bytes());
        ph.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(s6, d6, 58, 0x0001_0203), sum(&ph));
        assert_eq!(combine(&[0xffff, 1]), 1);
    }
}
