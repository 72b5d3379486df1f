//! Classic libpcap files (not pcapng): a writer and a reader, for tests
//! and tools.
//!
//! # Design
//!
//! What: [`PcapWriter`] writes the 24-byte global header (little-endian,
//! microsecond timestamps, version 2.4) and then one 16-byte record header
//! plus data per packet; [`PcapReader`] reads files of either byte order
//! and either timestamp resolution (magic `a1b2c3d4` µs, `a1b23c4d` ns)
//! and iterates their records.
//!
//! How: straight `Read`/`Write` of fixed headers; a record longer than
//! [`MAX_RECORD_LEN`] is refused before anything is allocated, so a corrupt
//! file cannot make the reader allocate gigabytes.
//!
//! Threads: plain owned values; not for the hot path (each record read is
//! a `Vec`).
use std::io::{self, Read, Write};
use std::time::Duration;

/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Default snapshot length written by [`PcapWriter::new`].
pub const DEFAULT_SNAPLEN: u32 = 65535;
/// Largest record the reader accepts (libpcap's own ceiling).
pub const MAX_RECORD_LEN: u32 = 262_144;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;

/// What went wrong reading or writing a pcap file.
#[derive(Debug)]
pub enum PcapError {
    Io(io::Error),
    /// The file does not start with a pcap magic number.
    BadMagic(u32),
    /// Major version other than 2.
    UnsupportedVersion {
        major: u16,
        minor: u16,
    },
    /// The file ends inside the global header.
    TruncatedHeader,
    /// The file ends inside record `index` (counting from 0).
    TruncatedRecord {
        index: u64,
    },
    /// A record claims more bytes than [`MAX_RECORD_LEN`].
    RecordTooLong {
        index: u64,
        len: u32,
    },
    /// A packet given to the writer is longer than the snapshot length.
    PacketTooLong {
        len: usize,
        snaplen: u32,
    },
}

impl core::fmt::Display for PcapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "pcap i/o error: {e}"),
            PcapError::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
            PcapError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported pcap version {major}.{minor}")
            }
            PcapError::TruncatedHeader => write!(f, "pcap file ends inside its header"),
            PcapError::TruncatedRecord { index } => {
                write!(f, "pcap file ends inside record {index}")
            }
            PcapError::RecordTooLong { index, len } => {
                write!(f, "pcap record {index} claims {len} bytes")
            }
            PcapError::PacketTooLong { len, snaplen } => {
                write!(f, "packet of {len} bytes exceeds snaplen {snaplen}")
            }
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PcapError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

/// Writes a classic pcap stream.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header for Ethernet with snaplen 65535.
    pub fn new(out: W) -> Result<Self, PcapError> {
        Self::with_linktype(out, LINKTYPE_ETHERNET, DEFAULT_SNAPLEN)
    }

    pub fn with_linktype(mut out: W, linktype: u32, snaplen: u32) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Writes one packet with timestamp 0 (deterministic output, so that
    /// files can be compared byte for byte).
    pub fn write_packet(&mut self, data: &[u8]) -> Result<(), PcapError> {
        self.write_packet_at(Duration::ZERO, data)
    }

    /// Writes one packet with a timestamp (since the Unix epoch; whole
    /// microseconds are kept, seconds beyond `u32::MAX` wrap).
    pub fn write_packet_at(&mut self, ts: Duration, data: &[u8]) -> Result<(), PcapError> {
        let len = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= self.snaplen)
            .ok_or(PcapError::PacketTooLong {
                len: data.len(),
                snaplen: self.snaplen,
            })?;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        h[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)?;
        Ok(())
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One record of a pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    /// Timestamp since the Unix epoch.
    pub ts: Duration,
    /// Length of the packet on the wire (may exceed `data.len()` if the
    /// capture was cut at the snapshot length).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Reads a classic pcap stream; iterate it for the records.
#[derive(Debug)]
pub struct PcapReader<R: Read> {
    input: R,
    swapped: bool,
    nanos: bool,
    linktype: u32,
    snaplen: u32,
    index: u64,
    done: bool,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on EOF before the first
/// byte, `Err(None)` on EOF after it.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, Option<io::Error>> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(None),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    Ok(true)
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the global header.
    pub fn new(mut input: R) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        match read_full(&mut input, &mut h) {
            Ok(true) => {}
            Ok(false) | Err(None) => return Err(PcapError::TruncatedHeader),
            Err(Some(e)) => return Err(PcapError::Io(e)),
        }
        let le = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, nanos) = match le {
            MAGIC_USEC => (false, false),
            MAGIC_NSEC => (false, true),
            m if m.swap_bytes() == MAGIC_USEC => (true, false),
            m if m.swap_bytes() == MAGIC_NSEC => (true, true),
            m => return Err(PcapError::BadMagic(m)),
        };
        let u16_at = |i: usize| {
            let v = u16::from_le_bytes([h[i], h[i + 1]]);
            if swapped {
                v.swap_bytes()
            } else {
                v
            }
        };
        let u32_at = |i: usize| {
            let v = u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
            if swapped {
                v.swap_bytes()
            } else {
                v
            }
        };
        let (major, minor) = (u16_at(4), u16_at(6));
        if major != 2 {
            return Err(PcapError::UnsupportedVersion { major, minor });
        }
        Ok(PcapReader {
            input,
            swapped,
            nanos,
            snaplen: u32_at(16),
            linktype: u32_at(20) & 0x0fff_ffff,
            index: 0,
            done: false,
        })
    }

    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Are timestamps in nanoseconds (rather than microseconds)?
    pub fn nanosecond_timestamps(&self) -> bool {
        self.nanos
    }

    fn word(&self, b: &[u8]) -> u32 {
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if self.swapped {
            v.swap_bytes()
        } else {
            v
        }
    }

    /// The next record, `None` at a clean end of file.
    pub fn next_record(&mut self) -> Option<Result<PcapRecord, PcapError>> {
        if self.done {
            return None;
        }
        let r = self.read_record();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }

    fn read_record(&mut self) -> Option<Result<PcapRecord, PcapError>> {
        let index = self.index;
        let mut h = [0u8; 16];
        match read_full(&mut self.input, &mut h) {
            Ok(true) => {}
            Ok(false) => return None,
            Err(None) => return Some(Err(PcapError::TruncatedRecord { index })),
            Err(Some(e)) => return Some(Err(PcapError::Io(e))),
        }
        let (sec, frac) = (self.word(&h[0..4]), self.word(&h[4..8]));
        let (incl, orig) = (self.word(&h[8..12]), self.word(&h[12..16]));
        if incl > MAX_RECORD_LEN {
            return Some(Err(PcapError::RecordTooLong { index, len: incl }));
        }
        let mut data = vec![0u8; incl as usize];
        match read_full(&mut self.input, &mut data) {
            Ok(true) => {}
            Ok(false) if incl == 0 => {}
            Ok(false) | Err(None) => return Some(Err(PcapError::TruncatedRecord { index })),
            Err(Some(e)) => return Some(Err(PcapError::Io(e))),
        }
        let nanos = if self.nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        self.index += 1;
        Some(Ok(PcapRecord {
            ts: Duration::from_secs(u64::from(sec)) + Duration::from_nanos(nanos),
            orig_len: orig,
            data,
        }))
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = Result<PcapRecord, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_round_trip() {
        let pkts: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        for (i, p) in pkts.iter().enumerate() {
            w.write_packet_at(Duration::new(1_700_000_000 + i as u64, 123_456_000), p)
                .unwrap();
        }
        w.write_packet(&[]).unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(
            bytes.len(),
            24 + 6 * 16 + pkts.iter().map(Vec::len).sum::<usize>()
        );
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);

        let mut r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.linktype(), LINKTYPE_ETHERNET);
        assert_eq!(r.snaplen(), DEFAULT_SNAPLEN);
        assert!(!r.nanosecond_timestamps());
        for (i, p) in pkts.iter().enumerate() {
            let rec = r.next().unwrap().unwrap();
            assert_eq!(&rec.data, p);
            assert_eq!(rec.orig_len as usize, p.len());
            assert_eq!(rec.ts, Duration::new(1_700_000_000 + i as u64, 123_456_000));
        }
        let empty = r.next().unwrap().unwrap();
        assert!(empty.data.is_empty() && empty.ts == Duration::ZERO);
        assert!(r.next().is_none());
    }

    #[test]
    fn big_endian_nanosecond_file() {
        let mut f = Vec::new();
        f.extend_from_slice(&MAGIC_NSEC.to_be_bytes());
        f.extend_from_slice(&2u16.to_be_bytes());
        f.extend_from_slice(&4u16.to_be_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&1500u32.to_be_bytes());
        f.extend_from_slice(&1u32.to_be_bytes());
        for v in [7u32, 999, 3, 64] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&[1, 2, 3]);
        let mut r = PcapReader::new(&f[..]).unwrap();
        assert!(r.nanosecond_timestamps());
        assert_eq!(r.snaplen(), 1500);
        let rec = r.next().unwrap().unwrap();
        assert_eq!(rec.ts, Duration::new(7, 999));
        assert_eq!(rec.orig_len, 64);
        assert_eq!(rec.data, [1, 2, 3]);
        assert!(r.next().is_none());
    }

    #[test]
    fn errors_are_typed() {
        assert!(matches!(
            PcapReader::new(&[0u8; 10][..]),
            Err(PcapError::TruncatedHeader)
        ));
        assert!(matches!(
            PcapReader::new(&[0u8; 24][..]),
            Err(PcapError::BadMagic(0))
        ));
        let mut w = PcapWriter::with_linktype(Vec::new(), 1, 100).unwrap();
        assert!(matches!(
            w.write_packet(&[0; 101]),
            Err(PcapError::PacketTooLong { len: 101, .. })
        ));
        w.write_packet(&[9; 10]).unwrap();
        let bytes = w.into_inner().unwrap();

        let mut v = bytes.clone();
        v[4] = 3;
        assert!(matches!(
            PcapReader::new(&v[..]),
            Err(PcapError::UnsupportedVersion { major: 3, .. })
        ));
        // Cut inside the record data, then inside the record header.
        for cut in [bytes.len() - 1, 24 + 5] {
            let mut r = PcapReader::new(&bytes[..cut]).unwrap();
            assert!(matches!(
                r.next(),
                Some(Err(PcapError::TruncatedRecord { index: 0 }))
            ));
            assert!(r.next().is_none());
        }
        let mut huge = bytes[..24].to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
        let mut r = PcapReader::new(&huge[..]).unwrap();
        assert!(matches!(
            r.next(),
            Some(Err(PcapError::RecordTooLong { index: 0, .. }))
        ));
        assert!(!PcapError::TruncatedHeader.to_string().is_empty());
    }
}
