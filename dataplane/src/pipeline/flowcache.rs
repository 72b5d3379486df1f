//! A per-worker exact-match cache of table lookups (like Open vSwitch's
//! EMC): packets of a flow seen before skip the classifiers.
//!
//! # Design
//!
//! What: [`FlowCache`] maps a packet's *lookup key* — the values of every
//! packet field that any flow of the pipeline matches — to the *path* its
//! lookups took: the entries matched, up to and including the first entry
//! that does more than write metadata and go to another table, or the
//! table where it missed. Only packets that enter the pipeline with the
//! default (zero) registers consult it, as every packet a port receives
//! does: the registers are then a constant, not part of the key.
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
//! port, the metadata the path leaves (written from zero) and whether it
//! meters ([`Slot::out`]), so that a hit costs the key, one probe, the
//! path's counters and its meters.
//!
//! Packets of one flow often come in a row (a burst of a bulk transfer):
//! the slot of the previous fast hit is tried before the hash, and the
//! hits of one slot that follow its first are counted into its path's
//! entries once, when the run ends: at the next packet that is not one of
//! them, or when the worker settles the cache after its burst
//! ([`HitRun`]).
//!
//! How: a [`FlowCache::WAYS`]-way set-associative table of a power-of-two
//! number of slots, indexed by a multiplicative hash of the key words; a
//! slot is one cache line holding the key (packed by [`KeySpec`] at
//! compile time: its first [`INLINE_WORDS`] words, the rest of a key of up
//! to [`KEY_WORDS`] words in a parallel array that only such pipelines
//! allocate) and a path of at most [`PATH_MAX`] entry indices. A miss
//! fills an empty slot of its set or replaces one (by hash bits). One line
//! a slot is what makes a cache that does not fit the CPU's caches cheap:
//! a hit reads the four adjacent lines of its set (one DRAM page,
//! prefetched together) and nothing else; four ways rather than two keep a
//! cache ten times its flows from thrashing on the sets that three of them
//! share (1% of lookups missed with two ways at 100,000 flows in 1M
//! slots). With more flows than slots the cache only costs (a hash, a
//! probe that misses the CPU cache, a store): it measures its hit rate
//! over windows of [`WINDOW`] lookups and, below one in four, is bypassed
//! for the next [`BYPASS`] packets, so that it costs about 1/128 of a
//! probe per packet on such traffic — unless it is still filling (a
//! quarter of the window's lookups recorded a path in an empty slot): a
//! cold cache big enough for its traffic fills at the traffic's rate
//! instead of a window's worth per bypass. A cache belongs to one pipeline
//! generation; with another pipeline it is ignored.
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
#[cfg(test)]
use super::fields::Registers;
use super::program::NONE;
use crate::openflow::Field;
use crate::wire::FlowKey;

/// Most key words (a pipeline matching more field bits is not cached).
pub const KEY_WORDS: usize = 8;
/// Key words a slot holds itself (a wider key keeps the rest in
/// [`FlowCache`]'s `wide` array).
pub const INLINE_WORDS: usize = 3;
/// Key words beyond [`INLINE_WORDS`].
const WIDE_WORDS: usize = KEY_WORDS - INLINE_WORDS;
/// Most entries of a cached path.
pub const PATH_MAX: usize = 4;

/// Reads one packet field's raw value (a function per field, chosen at
/// compile time, so packing a key is a few direct loads).
type Reader = fn(&FlowKey) -> u128;

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

/// The reader of packet field `f` (what [`fields::raw`] does for it; the
/// tests check that they agree); `None` for the registers, which are not
/// in the packet.
fn reader(f: Field) -> Option<Reader> {
    use Field::*;
    Some(match f {
        InPort => |k| u128::from(k.in_port),
        Metadata | TunnelId => return None,
        EthDst => |k| u128::from(k.eth_dst),
        EthSrc => |k| u128::from(k.eth_src),
        EthType => |k| u128::from(k.eth_type),
        VlanVid => |k| u128::from(k.vlan_vid),
        VlanPcp => |k| u128::from(k.vlan_pcp),
        IpDscp => |k| u128::from(k.ip_dscp),
        IpEcn => |k| u128::from(k.ip_ecn),
        IpProto => |k| u128::from(k.ip_proto),
        Ipv4Src => |k| u128::from(k.ipv4_src),
        Ipv4Dst => |k| u128::from(k.ipv4_dst),
        TcpSrc | UdpSrc | SctpSrc => |k| u128::from(k.tp_src),
        TcpDst | UdpDst | SctpDst => |k| u128::from(k.tp_dst),
        Ipv6Src => |k| k.ipv6_src,
        Ipv6Dst => |k| k.ipv6_dst,
        Icmpv4Type | Icmpv6Type => |k| u128::from(k.icmp_type),
        Icmpv4Code | Icmpv6Code => |k| u128::from(k.icmp_code),
        ArpOp => |k| u128::from(k.arp_op),
        ArpSpa => |k| u128::from(k.arp_spa),
        ArpTpa => |k| u128::from(k.arp_tpa),
        ArpSha => |k| u128::from(k.arp_sha),
        ArpTha => |k| u128::from(k.arp_tha),
        Ipv6Flabel => |k| u128::from(k.ipv6_flabel),
        Ipv6NdTarget => |k| k.ipv6_nd_target,
        Ipv6NdSll => |k| u128::from(k.ipv6_nd_sll),
        Ipv6NdTll => |k| u128::from(k.ipv6_nd_tll),
        MplsLabel => |k| u128::from(k.mpls_label),
        MplsTc => |k| u128::from(k.mpls_tc),
        MplsBos => |k| u128::from(k.mpls_bos),
        PbbIsid => |k| u128::from(k.pbb_isid),
        Ipv6Exthdr => |k| u128::from(k.ipv6_exthdr),
    })
}

/// The fixed layout of the most matched fields (field, word, shift): read
/// with straight-line code, then masked to the fields the pipeline matches.
const FIXED: [(Field, u8, u8); 11] = [
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
];
/// Words of the fixed layout.
const FIXED_WORDS: usize = 3;
const _: () = assert!(FIXED_WORDS <= INLINE_WORDS);

impl PartialEq for Part {
    /// The reader is a function of the field.
    fn eq(&self, o: &Self) -> bool {
        (self.field, self.word, self.shift, self.mask, self.wide)
            == (o.field, o.word, o.shift, o.mask, o.wide)
    }
}

/// How to pack a packet's lookup key: the packet fields of all matches.
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
    /// The spec for these matched fields (registers left out, by
    /// [`generic`](Self::generic): packets consult the cache with the
    /// default ones); `None` when they do not fit in [`KEY_WORDS`] words.
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

    /// The packet fields of `fs` (not the registers) packed greedily from
    /// word `first`.
    fn generic(mut fs: Vec<Field>, first: usize) -> Option<KeySpec> {
        // Wide fields first, then narrow ones.
        fs.sort_by_key(|f| std::cmp::Reverse(f.bits()));
        let mut parts = Vec::with_capacity(fs.len());
        let (mut word, mut used) = (first, 0u32);
        for f in fs {
            let Some(read) = reader(f) else {
                continue;
            };
            let bits = f.bits();
            if bits > 64 {
                if used > 0 {
                    word += 1;
                    used = 0;
                }
                parts.push(Part {
                    field: f,
                    read,
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
                read,
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
    pub(crate) fn pack(&self, key: &FlowKey) -> [u64; KEY_WORDS] {
        let mut w = [0u64; KEY_WORDS];
        self.pack_into(key, &mut w);
        w
    }

    /// [`pack`](Self::pack) into `w` (all zeros), in place: a returned
    /// array is copied with vector moves that stall on the word stores
    /// just made (store forwarding), measurable per packet.
    #[inline]
    pub(crate) fn pack_into(&self, key: &FlowKey, w: &mut [u64; KEY_WORDS]) {
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
        }
        for p in &self.parts {
            let v = (p.read)(key);
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

/// One cached path: one cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Slot {
    /// The key's first words (the rest, of a wider key, in the cache's
    /// `wide` array at the same index).
    pub key: [u64; INLINE_WORDS],
    /// Global entry indices.
    pub path: [u32; PATH_MAX],
    /// With `out`: the metadata after the path (its writes composed, from
    /// the default registers').
    pub metadata: u64,
    /// When the path is gotos (or meter-only entries) ending in a plain
    /// output (the common forwarding case): that output's port index and
    /// OpenFlow port; a hit then needs nothing else but the path's meters.
    /// `NONE` otherwise.
    pub out: u32,
    pub out_ofport: u32,
    /// Entries in `path`; 0: the slot is empty.
    pub len: u8,
    /// After the path, a miss in this table index + 1 (0: no miss, the
    /// last entry of the path is where caching stopped).
    pub miss: u8,
    /// With `out`: some entry of the path meters (the hit calls each
    /// entry's meter, in path order).
    pub meters: bool,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 64);

impl Default for Slot {
    /// Empty, and not a fast path.
    fn default() -> Self {
        Slot {
            key: [0; INLINE_WORDS],
            path: [0; PATH_MAX],
            metadata: 0,
            out: NONE,
            out_ofport: NONE,
            len: 0,
            miss: 0,
            meters: false,
        }
    }
}

/// The key words of a slot beyond [`INLINE_WORDS`] (one line, so that a
/// probe of a wide key reads two).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct WideKey([u64; WIDE_WORDS]);

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
    /// The key words of each slot beyond [`INLINE_WORDS`]; empty when the
    /// pipeline's keys fit in a slot.
    wide: Box<[WideKey]>,
    /// Key words of the pipeline ([`KeySpec::words`]).
    words: usize,
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
    /// [`FlowCache::WAYS`]) for the pipeline of `generation`, whose keys
    /// have `words` words.
    pub(crate) fn new(generation: u64, slots: usize, words: usize) -> FlowCache {
        let n = Self::slots_for(slots);
        let wide = if Self::wide(words) { n } else { 0 };
        FlowCache {
            generation,
            shift: 64 - n.trailing_zeros(),
            slots: vec![Slot::default(); n].into_boxed_slice(),
            wide: vec![WideKey::default(); wide].into_boxed_slice(),
            words,
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

    /// The slots a cache asked for `slots` has.
    fn slots_for(slots: usize) -> usize {
        slots.clamp(Self::WAYS, 1 << 24).next_power_of_two()
    }

    /// Bytes of a cache of `slots` slots for keys of `words` words.
    pub(crate) fn bytes(slots: usize, words: usize) -> usize {
        let line = std::mem::size_of::<Slot>();
        Self::slots_for(slots) * if Self::wide(words) { 2 * line } else { line }
    }

    /// Whether keys of `words` words need the `wide` array.
    fn wide(words: usize) -> bool {
        words > INLINE_WORDS
    }

    /// Writes slot `i` (an index [`find`](Self::find) returned) with `key`
    /// and `slot`'s path.
    #[inline]
    pub(crate) fn put(&mut self, i: usize, key: &[u64; KEY_WORDS], mut slot: Slot) {
        if let Some(s) = self.slots.get_mut(i) {
            self.filled = self.filled + usize::from(slot.len != 0) - usize::from(s.len != 0);
            slot.key.copy_from_slice(&key[..INLINE_WORDS]);
            *s = slot;
            if let Some(w) = self.wide.get_mut(i) {
                w.0.copy_from_slice(&key[INLINE_WORDS..]);
            }
        }
    }

    /// Whether slot `i` holds a path for `key`. The key first: a way that
    /// does not match never needs its wide words.
    #[inline(always)]
    fn holds(&self, i: usize, key: &[u64; KEY_WORDS]) -> bool {
        let Some(s) = self.slots.get(i) else {
            return false;
        };
        let head = s.key.iter().zip(key).fold(0, |d, (a, b)| d | (a ^ b));
        head == 0
            && s.len != 0
            && (!Self::wide(self.words)
                || self.wide.get(i).is_some_and(|w| w.0 == key[INLINE_WORDS..]))
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
    pub(crate) fn find(&self, key: &[u64; KEY_WORDS], hash: Option<u64>) -> Result<usize, usize> {
        if self.run.hot && self.holds(self.run.slot, key) {
            return Ok(self.run.slot);
        }
        let h = hash.unwrap_or_else(|| self.hash(key));
        let set = self.set(h);
        let mut empty = None;
        for i in set.clone() {
            if self.holds(i, key) {
                return Ok(i);
            }
            if empty.is_none() && self.slots.get(i).is_some_and(|s| s.len == 0) {
                empty = Some(i);
            }
        }
        Err(empty.unwrap_or(set.start | (h as usize % Self::WAYS)))
    }

    /// The slots of the set of a key of hash `h`.
    #[inline(always)]
    fn set(&self, h: u64) -> std::ops::Range<usize> {
        let base = ((h >> self.shift) as usize) & !(Self::WAYS - 1);
        base..base + Self::WAYS
    }

    /// Hints the CPU to load the slots [`find`](Self::find) reads for a
    /// key of hash `h` (and their wide key words, if any).
    #[inline]
    pub(crate) fn prefetch(&self, h: u64) {
        let set = self.set(h);
        for s in self.slots.get(set.clone()).unwrap_or_default() {
            crate::dpdk::prefetch(s);
        }
        for w in self.wide.get(set).unwrap_or_default() {
            crate::dpdk::prefetch(w);
        }
    }

    /// Slots of a set: a key lives in one of them.
    pub const WAYS: usize = 4;

    /// From this many filled slots (512 KiB, a core's L2 cache) the slots
    /// a packet stream hits do not stay in the core's caches: workers
    /// prefetch a burst's slots before they process it
    /// ([`CompiledPipeline::prefetches_cache`](super::CompiledPipeline::prefetches_cache)).
    /// Below it the slots are hot and the prefetch would only cost.
    pub const PREFETCH_FILLED: usize = 4096;

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
    /// on every input bit), so a key of up to 4 words (the fixed layout's
    /// 3) costs three multiplies and no loop. The slot index takes the top
    /// bits.
    #[inline]
    pub(crate) fn hash(&self, key: &[u64; KEY_WORDS]) -> u64 {
        let h = fold(
            key[0] ^ 0x243f_6a88_85a3_08d3,
            key[1] ^ 0x1319_8a2e_0370_7344,
        ) ^ fold(
            key[2] ^ 0xa409_3822_299f_31d0,
            key[3] ^ 0x082e_fa98_ec4e_6c89,
        );
        if self.words <= 4 {
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
        assert_eq!(spec.words(), FIXED_WORDS, "the metadata register is not");
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
        let a = spec.pack(&k);
        for f in [
            |k: &mut FlowKey| k.in_port = 2,
            |k: &mut FlowKey| k.vlan_vid = 0,
            |k: &mut FlowKey| k.ipv4_dst = 7,
            |k: &mut FlowKey| k.tp_dst = 81,
        ] {
            let mut k2 = k;
            f(&mut k2);
            assert_ne!(spec.pack(&k2), a);
        }
        // Neither is a field no flow matches.
        k.tp_src = 9;
        assert_eq!(spec.pack(&k), a);
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
                match reader(f) {
                    Some(read) => assert_eq!(read(&key), fields::raw(&key, &regs, f), "{f}"),
                    None => assert!(matches!(f, Field::Metadata | Field::TunnelId), "{f}"),
                }
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
            let regs = Registers::default();
            let values: Vec<u128> = all
                .iter()
                .chain(&[Field::EthDst, Field::ArpTpa])
                .map(|&f| fields::raw(&key, &regs, f))
                .collect();
            // Equal keys exactly when the values are equal.
            let packed = fixed.pack(&key);
            for (v, p) in &seen {
                assert_eq!(v == &values, p == &packed);
            }
            seen.insert((values, packed));
        }
    }

    #[test]
    fn too_many_bits_are_not_cached() {
        let v6 = [Field::Ipv6Src, Field::Ipv6Dst, Field::Ipv6NdTarget];
        assert_eq!(KeySpec::new(v6).map(|s| s.words), Some(6));
        // The registers take no key bits.
        let regs = [Field::Metadata, Field::TunnelId];
        assert_eq!(
            KeySpec::new(v6.into_iter().chain(regs)).map(|s| s.words),
            Some(6)
        );
        let macs = [Field::EthSrc, Field::EthDst, Field::InPort];
        assert!(KeySpec::new(v6.into_iter().chain(macs)).is_none());
    }

    #[test]
    fn sets_keep_their_keys_and_stay_in_range() {
        // Keys in the slot, and wide ones that differ only in the words
        // past it.
        let narrow: fn(u64) -> [u64; KEY_WORDS] = |i| [i, i * 7, 0, 0, 0, 0, 0, 0];
        let wide: fn(u64) -> [u64; KEY_WORDS] = |i| [1, 2, 3, 0, i, i * 7, 0, 0];
        for (words, key) in [(2, narrow), (6, wide)] {
            let mut c = FlowCache::new(1, 1000, words);
            assert_eq!(c.capacity(), 1024);
            for i in 0..10_000u64 {
                match c.find(&key(i), None) {
                    Err(s) => {
                        assert!(s < 1024);
                        let slot = Slot {
                            len: 1,
                            ..Slot::default()
                        };
                        c.put(s, &key(i), slot);
                        assert_eq!(c.find(&key(i), None), Ok(s));
                    }
                    Ok(_) => panic!("key {i} was never stored"),
                }
            }
            c.clear();
            assert!(c.find(&key(9_999), None).is_err());
        }
        assert_eq!(FlowCache::bytes(1000, 3), 64 << 10);
        assert_eq!(FlowCache::bytes(1000, 4), 128 << 10);
        assert_eq!(FlowCache::new(1, 1, 3).capacity(), FlowCache::WAYS);
    }

    #[test]
    fn a_low_hit_rate_bypasses_the_cache() {
        let mut c = FlowCache::new(1, 16, 2);
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
        let mut c = FlowCache::new(1, 1 << 16, 2);
        let key = |i: u64| [i, i * 7, 0, 0, 0, 0, 0, 0];
        let lookup = |c: &mut FlowCache, i: u64| match c.find(&key(i), None) {
            Ok(_) => c.account(true),
            Err(s) => {
                c.account(false);
                let slot = Slot {
                    len: 1,
                    ..Slot::default()
                };
                c.put(s, &key(i), slot);
            }
        };
        // Cold: every lookup misses, and records a new path.
        for i in 0..u64::from(WINDOW) * 8 {
            assert!(c.admit(), "bypassed while filling, at lookup {i}");
            lookup(&mut c, i);
        }
        assert_eq!(c.bypassed, 0);
        // (Less the few keys that met four others in their set.)
        assert!(c.filled() > 7 * WINDOW as usize, "{}", c.filled());
        // Paths the cache cannot keep (misses that record nothing new, as
        // more flows than slots replace each other): bypassed.
        let mut small = FlowCache::new(1, 16, 2);
        for i in 0..u64::from(WINDOW) {
            assert!(small.admit());
            lookup(&mut small, i);
        }
        assert!(!small.admit());
        assert!(small.filled() <= 16);
    }

    #[test]
    fn filled_counts_the_slots_holding_a_path() {
        let mut c = FlowCache::new(1, 16, 2);
        let full = Slot {
            len: 2,
            ..Slot::default()
        };
        let k = [0; KEY_WORDS];
        c.put(3, &k, full);
        c.put(3, &k, full);
        c.put(5, &k, full);
        assert_eq!(c.filled(), 2);
        c.put(3, &k, Slot::default());
        assert_eq!(c.filled(), 1);
        c.put(99, &k, full);
        assert_eq!(c.filled(), 1, "out of range: nothing written");
        c.clear();
        assert_eq!(c.filled(), 0);
    }
}
