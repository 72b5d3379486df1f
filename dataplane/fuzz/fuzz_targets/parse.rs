//! Fuzz `wire::parse` on arbitrary bytes: it must never panic, must not
//! depend on what the key held before, and the offsets it reports must lie
//! inside the frame at the bytes the key claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::wire::{parse, present, FlowKey};

fuzz_target!(|data: &[u8]| {
    let mut fresh = FlowKey::default();
    let r1 = parse(data, 1, &mut fresh);

    // The same frame parsed into a key full of stale junk.
    let mut stale = FlowKey {
        eth_type: 0xffff,
        present: 0xffff,
        ipv4_src: 0xdead_beef,
        ipv6_src: u128::MAX,
        tp_src: 0xffff,
        tp_dst: 0xffff,
        ipv6_nd_sll: u64::MAX,
        arp_op: 0xffff,
        mpls_label: u32::MAX,
        ..FlowKey::default()
    };
    let r2 = parse(data, 1, &mut stale);
    assert_eq!(r1, r2);
    if r1.is_err() {
        let _ = r1.unwrap_err().as_str();
        return;
    }
    assert_eq!(fresh.normalized(), stale.normalized());

    let k = fresh;
    let l3 = usize::from(k.l3_offset);
    assert!(l3 <= data.len());
    assert_eq!(l3, 14 + 4 * usize::from(k.vlan_count));
    if k.has(present::IPV4) {
        assert_eq!(&data[l3 + 12..l3 + 16], &k.ipv4_src.to_be_bytes());
    }
    if k.has(present::IPV6) {
        assert_eq!(&data[l3 + 8..l3 + 24], &k.ipv6_src.to_be_bytes());
    }
    if k.is_ip() {
        assert!(usize::from(k.l4_offset) <= data.len());
    }
    if k.has(present::L4) {
        let l4 = usize::from(k.l4_offset);
        assert_eq!(&data[l4..l4 + 2], &k.tp_src.to_be_bytes());
        assert_eq!(&data[l4 + 2..l4 + 4], &k.tp_dst.to_be_bytes());
    }
    if k.has(present::LATER_FRAG) {
        assert!(!k.has(present::L4) && k.tp_src == 0 && k.tp_dst == 0);
    }
});
