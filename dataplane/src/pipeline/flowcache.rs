//! A per-worker exact-match cache of table lookups (like Open vSwitch's
//! EMC): packets of a flow seen before skip the classifiers.
//!
//! # Design
//!
//! What: [`FlowCache`] maps a packet's *lookup key* — the values of every
//! field that any flow of the pipeline matches, plus the initial
//! registers — to the *path* its lookups took: the entries matched, up to
//! and including the first entry that does more than write metadata and go
//! to another table, or the table where it missed.
//!
//! Why that is exact: classifiers read nothing but the raw values of the
//! fields their rules match ([`fields::raw`]), so two packets equal on all
//! of those fields and on the registers find the same entry in table 0;
//! an entry that only writes metadata and goes on changes nothing but the
//! metadata, by a constant, so they find the same entry in the next table
//! too, and so on. The path stops at the first entry that may change the
//! packet or depend on anything else (actions, meters, write/clear
//! actions): from there processing is not cached. Stale fields (values an
//! earlier packet left in fields this packet lacks) are part of the key, so
//! they can cost a miss, never a wrong answer.
//!
//! A path of gotos (write_metadata at most, or a meter: an entry that only
//! meters, writes metadata and goes on) that ends in an entry whose only
//! instruction is one output to a port is also stored as its result: that
//! port, the composed metadata write and the meters to call
//! ([`Slot::out`]), so that a hit costs the key, one probe, the path's
//! counters and its meters.
//!
//! Packets of one flow often come in a row (a burst of a bulk transfer):
//! the slot of the previous fast hit is tried before the hash, and the
//! hits of one slot that follow its first are counted into its path's
//! entries once, when the run ends: at the next packet that is not one of
//! them, or when the worker settles the cache after its burst
//! ([`HitRun`]).
//!
//! How: a two-way set-associative table of a power-of-two number of
//! slots, indexed by a multiplicative hash of the key words; a slot holds
//! the key (at most [`KEY_WORDS`] words, packed by [`KeySpec`] at compile
//! time) and a path of at most [`PATH_MAX`] entry indices. A miss fills an
//! empty slot of its pair or replaces one (by a hash bit). With more flows
//! than slots the cache only costs (a hash, a probe that misses the CPU
//! cache, a store): it measures its hit rate over windows of [`WINDOW`]
//! lookups and, below one in four, is bypassed for the next [`BYPASS`]
//! packets, so that it costs about 1/128 of a probe per packet on such
//! traffic — unless it is still filling (a quarter of the window's
//! lookups recorded a path in an empty slot): a cold cache big enough for
//! its traffic fills at the traffic's rate instead of a window's worth
//! per bypass. A cache belongs to one pipeline generation; with another
//! pipeline it is ignored.
//!
//! A cache holding more paths than a core's caches
//! ([`FlowCache::PREFETCH_FILLED`]) misses them on most hits: the worker
//! then parses a whole burst first and prefetches every packet's slots,
//! so that those misses overlap.
//!
//! Threads: one cache per worker, owned and mutated by it (`&mut`); the
//! [`KeySpec`] is part of the shared, immutable pipeline.

#[cfg(test)]
use super::fields;
use super::fields::Registers;
use super::program::NONE;
use crate::openflow::Field;
use crate::wire::FlowKey;

/// Most key words (a pipeline matching more field bits is not cached).
pub const KEY_WORDS: usize = 8;
/// Most entries of a cached path.
pub const PATH_MAX: usize = 4;

/// Reads one field's raw value (a function per field, chosen at compile
/// time, so packing a key is a few direct loads).
type Reader = fn(&FlowKey, &Registers) -> u128;

/// Where one field goes in the key words.
#[derive(Clone, Copy, Debug)]
struct Part {
    field: Field,
    read: Reader,
    word: u8,
    shift: u8,
    /// The field's bits (all ones for a wide field).
    mask: u64,
    /// Two whole words (a 128-bit field).
    wide: bool,
}

/// The reader of `f` (what [`fields::raw`] does for it; the tests check
/// that they agree).
fn reader(f: Field) -> Reader {
    use Field::*;
    match f {
        InPort => |k, _| u128::from(k.in_port),
        Metadata => |_, r| u128::from(r.metadata),
        EthDst => |k, _| u128::from(k.eth_dst),
        EthSrc => |k, _| u128::from(k.eth_src),
        EthType => |k, _| u128::from(k.eth_type),
        VlanVid => |k, _| u128::from(k.vlan_vid),
        VlanPcp => |k, _| u128::from(k.vlan_pcp),
        IpDscp => |k, _| u128::from(k.ip_dscp),
        IpEcn => |k, _| u128::from(k.ip_ecn),
        IpProto => |k, _| u128::from(k.ip_proto),
        Ipv4Src => |k, _| u128::from(k.ipv4_src),
        Ipv4Dst => |k, _| u128::from(k.ipv4_dst),
        TcpSrc | UdpSrc | SctpSrc => |k, _| u128::from(k.tp_src),
        TcpDst | UdpDst | SctpDst => |k, _| u128::from(k.tp_dst),
        TunnelId => |_, r| u128::from(r.tunnel_id),
        Ipv6Src => |k, _| k.ipv6_src,
        Ipv6Dst => |k, _| k.ipv6_dst,
        Icmpv4Type | Icmpv6Type => |k, _| u128::from(k.icmp_type),
        Icmpv4Code | Icmpv6Code => |k, _| u128::from(k.icmp_code),
        ArpOp => |k, _| u128::from(k.arp_op),
        ArpSpa => |k, _| u128::from(k.arp_spa),
        ArpTpa => |k, _| u128::from(k.arp_tpa),
        ArpSha => |k, _| u128::from(k.arp_sha),
        ArpTha => |k, _| u128::from(k.arp_tha),
        Ipv6Flabel => |k, _| u128::from(k.ipv6_flabel),
        Ipv6NdTarget => |k, _| k.ipv6_nd_target,
        Ipv6NdSll => |k, _| u128::from(k.ipv6_nd_sll),
        Ipv6NdTll => |k, _| u128::from(k.ipv6_nd_tll),
        MplsLabel => |k, _| u128::from(k.mpls_label),
        MplsTc => |k, _| u128::from(k.mpls_tc),
        MplsBos => |k, _| u128::from(k.mpls_bos),
        PbbIsid => |k, _| u128::from(k.pbb_isid),
        Ipv6Exthdr => |k, _| u128::from(k.ipv6_exthdr),
    }
}

/// The fixed layout of the most matched fields (field, word, shift): read
/// with straight-line code, then masked to the fields the pipeline matches.
const FIXED: [(Field, u8, u8); 12] = [
    (Field::InPort, 0, 0),
    (Field::EthType, 0, 32),
    (Field::VlanVid, 0, 48),
    (Field::Ipv4Src, 1, 0),
    (Field::Ipv4Dst, 1, 32),
    (Field::TcpSrc, 2, 0),
    (Field::TcpDst, 2, 16),
    (Field::IpProto, 2, 32),
    (Field::IpDscp, 2, 40),
    (Field::VlanPcp, 2, 48),
    (Field::IpEcn, 2, 56),
    (Field::Metadata, 3, 0),
];
/// Words of the fixed layout.
const FIXED_WORDS: usize = 4;

impl PartialEq for Part {
    /// The reader is a function of the field.
    fn eq(&self, o: &Self) -> bool {
        (self.field, self.word, self.shift, self.mask, self.wide)
            == (o.field, o.word, o.shift, o.mask, o.wide)
    }
}

/// How to pack a packet's lookup key: the fields of all matches.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KeySpec {
    /// With the fixed layout: the mask of each of its words (the fields
    /// matched); the other fields follow in `parts` from word 4.
    fixed: Option<[u64; FIXED_WORDS]>,
    parts: Vec<Part>,
    /// Key words in use (the rest are always 0).
    words: usize,
}

/// The field whose `FlowKey` storage `f` shares (tcp/udp/sctp ports,
/// ICMPv4/v6 type and code), so that each value is packed once.
fn storage(f: Field) -> Field {
    match f {
        Field::UdpSrc | Field::SctpSrc => Field::TcpSrc,
        Field::UdpDst | Field::SctpDst => Field::TcpDst,
        Field::Icmpv6Type => Field::Icmpv4Type,
        Field::Icmpv6Code => Field::Icmpv4Code,
        other => other,
    }
}

impl KeySpec {
    /// The spec for these matched fields; `None` when they do not fit in
    /// [`KEY_WORDS`] words.
    pub(crate) fn new(fields: impl IntoIterator<Item = Field>) -> Option<KeySpec> {
        let mut fs: Vec<Field> = fields.into_iter().map(storage).collect();
        fs.sort_unstable();
        fs.dedup();
        let mut masks = [0u64; FIXED_WORDS];
        let rest: Vec<Field> = fs
            .iter()
            .copied()
            .filter(|f| match FIXED.iter().find(|(g, _, _)| g == f) {
                Some(&(_, w, sh)) => {
                    masks[usize::from(w)] |= mask(f.bits()) << sh;
                    false
                }
                None => true,
            })
            .collect();
        if let Some(mut spec) = Self::generic(rest, FIXED_WORDS) {
            spec.fixed = Some(masks);
            return Some(spec);
        }
        Self::generic(fs, 0)
    }

    /// `fs` packed greedily from word `first`.
    fn generic(mut fs: Vec<Field>, first: usize) -> Option<KeySpec> {
        // Wide fields first, then narrow ones.
        fs.sort_by_key(|f| std::cmp::Reverse(f.bits()));
        let mut parts = Vec::with_capacity(fs.len());
        let (mut word, mut used) = (first, 0u32);
        for f in fs {
            let bits = f.bits();
            if bits > 64 {
                if used > 0 {
                    word += 1;
                    used = 0;
                }
                parts.push(Part {
                    field: f,
                    read: reader(f),
                    word: word as u8,
                    shift: 0,
                    mask: u64::MAX,
                    wide: true,
                });
                word += 2;
                continue;
            }
            if used + bits > 64 {
                word += 1;
                used = 0;
            }
            parts.push(Part {
                field: f,
                read: reader(f),
                word: word as u8,
                shift: used as u8,
                mask: mask(bits),
                wide: false,
            });
            used += bits;
        }
        let words = word + usize::from(used > 0);
        (words <= KEY_WORDS).then_some(KeySpec {
            fixed: None,
            parts,
            words,
        })
    }

    /// Key words in use.
    #[inline]
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// The packed key of a packet.
    #[inline]
    #[cfg(test)]
    pub(crate) fn pack(&self, key: &FlowKey, regs: &Registers) -> [u64; KEY_WORDS] {
        let mut w = [0u64; KEY_WORDS];
        self.pack_into(key, regs, &mut w);
        w
    }

    /// [`pack`](Self::pack) into `w` (all zeros), in place: a returned
    /// array is copied with vector moves that stall on the word stores
    /// just made (store forwarding), measurable per packet.
    #[inline]
    pub(crate) fn pack_into(&self, key: &FlowKey, regs: &Registers, w: &mut [u64; KEY_WORDS]) {
        if let Some(m) = &self.fixed {
            w[0] = (u64::from(key.in_port)
                | u64::from(key.eth_type) << 32
                | u64::from(key.vlan_vid) << 48)
                & m[0];
            w[1] = (u64::from(key.ipv4_src) | u64::from(key.ipv4_dst) << 32) & m[1];
            w[2] = (u64::from(key.tp_src)
                | u64::from(key.tp_dst) << 16
                | u64::from(key.ip_proto) << 32
                | u64::from(key.ip_dscp) << 40
                | u64::from(key.vlan_pcp) << 48
                | u64::from(key.ip_ecn) << 56)
                & m[2];
            w[3] = regs.metadata & m[3];
        }
        for p in &self.parts {
            let v = (p.read)(key, regs);
            let i = usize::from(p.word);
            if p.wide {
                if let [lo, hi, ..] = &mut w[i.min(KEY_WORDS - 2)..] {
                    *lo = v as u64;
                    *hi = (v >> 64) as u64;
                }
            } else if let Some(x) = w.get_mut(i) {
                *x |= ((v as u64) & p.mask) << p.shift;
            }
        }
    }
}

#[inline]
fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// One cached path: two cache lines, the key in the first (what a probe
/// compares), the path in the second.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub key: [u64; KEY_WORDS],
    /// Global entry indices.
    pub path: [u32; PATH_MAX],
    /// Entries in `path`; 0: the slot is empty.
    pub len: u8,
    /// After the path, a miss in this table index + 1 (0: no miss, the
    /// last entry of the path is where caching stopped).
    pub miss: u32,
    /// When the path is gotos (or meter-only entries) ending in a plain
    /// output (the common forwarding case): that output's port index and
    /// OpenFlow port, and the metadata write the path composes; a hit then
    /// needs nothing else but the meters below. `NONE` otherwise.
    pub out: u32,
    pub out_ofport: u32,
    pub metadata_value: u64,
    pub metadata_mask: u64,
    /// With `out`: the meter of each path entry (`NONE`: none), called in
    /// path order on a hit.
    pub meters: [u32; PATH_MAX],
}

const _: () = assert!(std::mem::size_of::<Slot>() == 128);

impl Default for Slot {
    /// Empty, and not a fast path.
    fn default() -> Self {
        Slot {
            key: [0; KEY_WORDS],
            path: [0; PATH_MAX],
            len: 0,
            miss: 0,
            out: NONE,
            out_ofport: NONE,
            metadata_value: 0,
            metadata_mask: 0,
            meters: [NONE; PATH_MAX],
        }
    }
}

/// Lookups per hit-rate measurement (a power of two).
pub const WINDOW: u32 = 1024;
const _: () = assert!(WINDOW.is_power_of_two());
/// Packets that bypass the cache after a window with fewer than one hit in
/// four.
pub const BYPASS: u32 = 128 * 1024;

/// A worker's cache of lookup paths (see the module docs).
#[derive(Clone, Debug)]
pub struct FlowCache {
    pub(crate) generation: u64,
    shift: u32,
    pub(crate) slots: Box<[Slot]>,
    /// Lookups served from the cache, and those that were not.
    pub hits: u64,
    pub misses: u64,
    /// Hits that were a plain output (no entry or action consulted).
    pub fast_hits: u64,
    /// Packets that did not consult the cache (hit rate too low).
    pub bypassed: u64,
    skip: u32,
    /// `hits` when the current window began.
    window_start_hits: u64,
    /// Slots holding a path.
    filled: usize,
    /// `filled` when the current window began.
    window_start_filled: usize,
    /// Consecutive fast hits of one slot whose path is not counted yet.
    pub(crate) run: HitRun,
}

/// The slot of the last fast hit, and the hits of it that followed
/// (consecutive packets of a flow, as a burst of a bulk transfer
/// arrives): the first hit of a run counts its path's entries, the rest
/// are added to them once, when the run is settled
/// ([`CompiledPipeline::settle`]). Every write of a slot is preceded by a
/// settle, so the path counted is the one the hits took.
///
/// [`CompiledPipeline::settle`]: super::CompiledPipeline::settle
#[derive(Clone, Copy, Debug)]
pub(crate) struct HitRun {
    /// `usize::MAX`: none.
    pub slot: usize,
    /// The last hit was `slot` again: the next lookup tries it first.
    pub hot: bool,
    /// Hits of `slot` not counted yet.
    pub packets: u64,
    pub bytes: u64,
}

impl Default for HitRun {
    fn default() -> Self {
        HitRun {
            slot: usize::MAX,
            hot: false,
            packets: 0,
            bytes: 0,
        }
    }
}

impl FlowCache {
    /// A cache of `slots` entries (rounded up to a power of two, at least
    /// 2) for the pipeline of `generation`.
    pub(crate) fn new(generation: u64, slots: usize) -> FlowCache {
        let n = slots.clamp(2, 1 << 24).next_power_of_two();
        FlowCache {
            generation,
            shift: 64 - n.trailing_zeros(),
            slots: vec![Slot::default(); n].into_boxed_slice(),
            hits: 0,
            misses: 0,
            fast_hits: 0,
            bypassed: 0,
            skip: 0,
            window_start_hits: 0,
            filled: 0,
            window_start_filled: 0,
            run: HitRun::default(),
        }
    }

    /// Writes slot `i` (an index [`find`](Self::find) returned).
    #[inline]
    pub(crate) fn put(&mut self, i: usize, slot: Slot) {
        if let Some(s) = self.slots.get_mut(i) {
            self.filled = self.filled + usize::from(slot.len != 0) - usize::from(s.len != 0);
            *s = slot;
        }
    }

    /// Slots holding a path.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Whether the cache is bypassed (for the next packet at least).
    #[inline]
    pub(crate) fn bypassing(&self) -> bool {
        self.skip > 0
    }

    /// Whether this packet consults the cache (not while bypassed).
    #[inline]
    pub(crate) fn admit(&mut self) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            self.bypassed += 1;
            return false;
        }
        true
    }

    /// Counts a lookup; every [`WINDOW`] lookups, decides about bypassing
    /// (out of line: a hit costs an increment and a test).
    #[inline(always)]
    pub(crate) fn account(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        if (self.hits + self.misses) % u64::from(WINDOW) == 0 {
            self.end_window();
        }
    }

    #[cold]
    #[inline(never)]
    fn end_window(&mut self) {
        // A cache still filling (a quarter of the window's lookups
        // recorded new paths) is not bypassed: those paths may hit later.
        let filling = self.filled >= self.window_start_filled + WINDOW as usize / 4;
        if (self.hits - self.window_start_hits) * 4 < u64::from(WINDOW) && !filling {
            self.skip = BYPASS;
        }
        self.window_start_hits = self.hits;
        self.window_start_filled = self.filled;
    }

    /// The slot holding `key` (`Ok`), or the slot to record it in (`Err`).
    /// While packets of one flow come in a row, their slot is tried first.
    /// `hash`: the key's [`hash`](Self::hash) if known.
    #[inline]
    pub(crate) fn find(
        &self,
        key: &[u64; KEY_WORDS],
        words: usize,
        hash: Option<u64>,
    ) -> Result<usize, usize> {
        if self.run.hot {
            if let Some(s) = self.slots.get(self.run.slot) {
                if s.len != 0 && same_key(&s.key, key, words) {
                    return Ok(self.run.slot);
                }
            }
        }
        let h = hash.unwrap_or_else(|| self.hash(key, words));
        let base = ((h >> self.shift) as usize) & !1;
        let mut empty = None;
        for i in [base, base | 1] {
            match self.slots.get(i) {
                // The key first: a way that does not match is read in its
                // first line only (`len` is in the second).
                Some(s) if same_key(&s.key, key, words) && s.len != 0 => return Ok(i),
                Some(s) if s.len == 0 && empty.is_none() => empty = Some(i),
                _ => {}
            }
        }
        Err(empty.unwrap_or(base | (h & 1) as usize))
    }

    /// Hints the CPU to load the two slots [`find`](Self::find) reads for
    /// a key of hash `h`, both lines of each.
    #[inline]
    pub(crate) fn prefetch(&self, h: u64) {
        let base = ((h >> self.shift) as usize) & !1;
        for s in self.slots.get(base..base + 2).unwrap_or_default() {
            crate::dpdk::prefetch(&s.key);
            crate::dpdk::prefetch(&s.path);
        }
    }

    /// From this many filled slots (512 KiB, a core's L2 cache) the slots
    /// a packet stream hits do not stay in the core's caches: workers
    /// prefetch a burst's slots before they process it
    /// ([`CompiledPipeline::prefetches_cache`](super::CompiledPipeline::prefetches_cache)).
    /// Below it the slots are hot and the prefetch would only cost.
    pub const PREFETCH_FILLED: usize = 4096;

    /// Bytes of one slot.
    pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every path (and a run of hits not yet counted).
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| s.len = 0);
        (self.filled, self.window_start_filled) = (0, 0);
        self.run = HitRun::default();
    }

    /// Two words per multiply (the 128-bit product of the words, each
    /// XORed with a constant, folded to 64 bits: every output bit depends
    /// on every input bit), so a fixed-layout key of 4 words costs two
    /// multiplies and no loop. The slot index takes the top bits.
    #[inline]
    pub(crate) fn hash(&self, key: &[u64; KEY_WORDS], words: usize) -> u64 {
        let h = fold(
            key[0] ^ 0x243f_6a88_85a3_08d3,
            key[1] ^ 0x1319_8a2e_0370_7344,
        ) ^ fold(
            key[2] ^ 0xa409_3822_299f_31d0,
            key[3] ^ 0x082e_fa98_ec4e_6c89,
        );
        if words <= 4 {
            return fold(h, 0x9e37_79b9_7f4a_7c15);
        }
        let g = fold(
            key[4] ^ 0x4528_21e6_38d0_1377,
            key[5] ^ 0xbe54_66cf_34e9_0c6c,
        ) ^ fold(
            key[6] ^ 0xc0ac_29b7_c97c_50dd,
            key[7] ^ 0x3f84_d5b5_b547_0917,
        );
        fold(h ^ g.rotate_left(32), 0x9e37_79b9_7f4a_7c15)
    }
}

/// Whether two keys of `words` words are equal (the words after them are
/// zero in both). XOR-OR compiles to a few vector ops (`==` calls memcmp);
/// a fixed-layout key compares half the array.
#[inline(always)]
fn same_key(a: &[u64; KEY_WORDS], b: &[u64; KEY_WORDS], words: usize) -> bool {
    let diff = |r: std::ops::Range<usize>| {
        a[r.clone()]
            .iter()
            .zip(&b[r])
            .fold(0, |acc, (x, y)| acc | (x ^ y))
    };
    if words <= 4 {
        diff(0..4) == 0
    } else {
        diff(0..KEY_WORDS) == 0
    }
}

/// The 128-bit product of `a` and `b`, high half XOR low half.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p >> 64) as u64 ^ p as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pack_every_field_once_and_apart() {
        let spec = KeySpec::new([
            Field::InPort,
            Field::VlanVid,
            Field::EthType,
            Field::Ipv4Src,
            Field::Ipv4Dst,
            Field::UdpDst,
            Field::TcpDst,
            Field::Metadata,
        ])
        .unwrap();
        assert!(spec.fixed.is_some());
        assert!(spec.parts.is_empty(), "all in the fixed layout");
        let m = spec.fixed.unwrap();
        assert_eq!(
            m[2],
            0xffff << 16,
            "tcp_dst and udp_dst share tp_dst; tp_src is not matched"
        );
        let mut k = FlowKey {
            in_port: 1,
            vlan_vid: 0x1064,
            eth_type: 0x0800,
            ipv4_src: 5,
            ipv4_dst: 6,
            tp_dst: 80,
            ..FlowKey::default()
        };
        let r = Registers::default();
        let a = spec.pack(&k, &r);
        for f in [
            |k: &mut FlowKey| k.in_port = 2,
            |k: &mut FlowKey| k.vlan_vid = 0,
            |k: &mut FlowKey| k.ipv4_dst = 7,
            |k: &mut FlowKey| k.tp_dst = 81,
        ] {
            let mut k2 = k;
            f(&mut k2);
            assert_ne!(spec.pack(&k2, &r), a);
        }
        assert_ne!(
            spec.pack(
                &k,
                &Registers {
                    metadata: 1,
                    tunnel_id: 0
                }
            ),
            a
        );
        // A field no flow matches is not part of the key.
        k.tp_src = 9;
        assert_eq!(spec.pack(&k, &r), a);
    }

    #[test]
    fn readers_agree_with_raw() {
        let mut rng = crate::rng::XorShift64::new(5);
        for _ in 0..50 {
            let mut bytes = [0u8; 8];
            rng.fill(&mut bytes);
            let x = u64::from_le_bytes(bytes);
            let key = FlowKey {
                in_port: x as u32,
                eth_dst: x >> 3,
                eth_src: x >> 5,
                eth_type: (x >> 7) as u16,
                vlan_vid: (x >> 9) as u16,
                vlan_pcp: (x >> 11) as u8,
                ip_dscp: (x >> 13) as u8,
                ip_ecn: (x >> 15) as u8,
                ip_proto: (x >> 17) as u8,
                ipv4_src: (x >> 19) as u32,
                ipv4_dst: (x >> 21) as u32,
                tp_src: (x >> 23) as u16,
                tp_dst: (x >> 25) as u16,
                icmp_type: (x >> 27) as u8,
                icmp_code: (x >> 29) as u8,
                arp_op: (x >> 31) as u16,
                arp_spa: (x >> 33) as u32,
                arp_tpa: (x >> 2) as u32,
                arp_sha: x >> 4,
                arp_tha: x >> 6,
                ipv6_src: u128::from(x) << 7,
                ipv6_dst: u128::from(x) << 9,
                ipv6_flabel: (x >> 8) as u32,
                ipv6_nd_target: u128::from(x) << 11,
                ipv6_nd_sll: x >> 10,
                ipv6_nd_tll: x >> 12,
                mpls_label: (x >> 14) as u32,
                mpls_tc: (x >> 16) as u8,
                mpls_bos: (x >> 18) as u8,
                pbb_isid: (x >> 20) as u32,
                ipv6_exthdr: (x >> 22) as u16,
                ..FlowKey::default()
            };
            let regs = Registers {
                metadata: x.rotate_left(17),
                tunnel_id: x.rotate_left(33),
            };
            for &f in crate::openflow::ALL_FIELDS.iter() {
                assert_eq!(reader(f)(&key, &regs), fields::raw(&key, &regs, f), "{f}");
            }
        }
    }

    #[test]
    fn the_fixed_layout_packs_like_the_generic_one() {
        let all: Vec<Field> = FIXED.iter().map(|&(f, _, _)| f).collect();
        let fixed =
            KeySpec::new(all.iter().copied().chain([Field::EthDst, Field::ArpTpa])).unwrap();
        let generic = KeySpec::generic(vec![Field::EthDst, Field::ArpTpa], FIXED_WORDS).unwrap();
        assert_eq!(fixed.parts, generic.parts);
        assert_eq!(fixed.words, FIXED_WORDS + 2);
        let mut rng = crate::rng::XorShift64::new(9);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let key = FlowKey {
                in_port: rng.below(3) as u32,
                eth_type: rng.below(3) as u16,
                vlan_vid: rng.below(3) as u16,
                ipv4_src: rng.below(3) as u32,
                ipv4_dst: rng.below(3) as u32,
                tp_src: rng.below(3) as u16,
                tp_dst: rng.below(3) as u16,
                ip_proto: rng.below(3) as u8,
                ip_dscp: rng.below(3) as u8,
                vlan_pcp: rng.below(3) as u8,
                ip_ecn: rng.below(3) as u8,
                eth_dst: rng.below(3),
                arp_tpa: rng.below(3) as u32,
                ..FlowKey::default()
            };
            let regs = Registers {
                metadata: rng.below(3),
                tunnel_id: 0,
            };
            let values: Vec<u128> = all
                .iter()
                .chain(&[Field::EthDst, Field::ArpTpa])
                .map(|&f| fields::raw(&key, &regs, f))
                .collect();
            // Equal keys exactly when the values are equal.
            let packed = fixed.pack(&key, &regs);
            for (v, p) in &seen {
                assert_eq!(v == &values, p == &packed);
            }
            seen.insert((values, packed));
        }
    }

    #[test]
    fn too_many_bits_are_not_cached() {
        assert!(KeySpec::new([Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6NdTarget]).is_some());
        assert!(KeySpec::new([
            Field::Ipv6Src,
            Field::Ipv6Dst,
            Field::Ipv6NdTarget,
            Field::Metadata,
            Field::TunnelId,
            Field::InPort,
        ])
        .is_none());
    }

    #[test]
    fn slots_pair_up_and_stay_in_range() {
        let mut c = FlowCache::new(1, 1000);
        assert_eq!(c.capacity(), 1024);
        let key = |i: u64| [i, i * 7, 0, 0, 0, 0, 0, 0];
        for i in 0..10_000u64 {
            match c.find(&key(i), 2, None) {
                Err(s) => {
                    assert!(s < 1024);
                    c.slots[s] = Slot {
                        key: key(i),
                        len: 1,
                        ..Slot::default()
                    };
                    assert_eq!(c.find(&key(i), 2, None), Ok(s));
                }
                Ok(_) => panic!("key {i} was never stored"),
            }
        }
        c.clear();
        assert!(c.find(&key(3), 2, None).is_err());
    }

    #[test]
    fn a_low_hit_rate_bypasses_the_cache() {
        let mut c = FlowCache::new(1, 16);
        for _ in 0..WINDOW {
            assert!(c.admit());
            c.account(false);
        }
        let admitted = (0..BYPASS).filter(|_| c.admit()).count();
        assert_eq!((admitted, c.bypassed), (0, u64::from(BYPASS)));
        assert!(c.admit(), "sampling again after the bypass");
        for _ in 0..WINDOW {
            c.account(true);
        }
        assert!(c.admit());
    }

    #[test]
    fn a_cache_that_is_filling_is_not_bypassed() {
        let mut c = FlowCache::new(1, 1 << 16);
        let key = |i: u64| [i, i * 7, 0, 0, 0, 0, 0, 0];
        let lookup = |c: &mut FlowCache, i: u64| match c.find(&key(i), 2, None) {
            Ok(_) => c.account(true),
            Err(s) => {
                c.account(false);
                let slot = Slot {
                    key: key(i),
                    len: 1,
                    ..Slot::default()
                };
                c.put(s, slot);
            }
        };
        // Cold: every lookup misses, and records a new path.
        for i in 0..u64::from(WINDOW) * 8 {
            assert!(c.admit(), "bypassed while filling, at lookup {i}");
            lookup(&mut c, i);
        }
        assert_eq!(c.bypassed, 0);
        // (Less the few keys that met two others in their slot pair.)
        assert!(c.filled() > 7 * WINDOW as usize, "{}", c.filled());
        // Paths the cache cannot keep (misses that record nothing new, as
        // more flows than slots replace each other): bypassed.
        let mut small = FlowCache::new(1, 16);
        for i in 0..u64::from(WINDOW) {
            assert!(small.admit());
            lookup(&mut small, i);
        }
        assert!(!small.admit());
        assert!(small.filled() <= 16);
    }

    #[test]
    fn filled_counts_the_slots_holding_a_path() {
        let mut c = FlowCache::new(1, 16);
        let full = Slot {
            len: 2,
            ..Slot::default()
        };
        c.put(3, full);
        c.put(3, full);
        c.put(5, full);
        assert_eq!(c.filled(), 2);
        c.put(3, Slot::default());
        assert_eq!(c.filled(), 1);
        c.put(99, full);
        assert_eq!(c.filled(), 1, "out of range: nothing written");
        c.clear();
        assert_eq!(c.filled(), 0);
    }
}
