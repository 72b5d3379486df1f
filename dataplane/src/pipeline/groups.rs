//! Group bucket choice (OF1.3.5 §5.6): the select group's flow hash and
//! weighted pick, fast-failover liveness.
//!
//! # Design
//!
//! What: pure functions shared by the reference interpreter and the
//! compiled pipeline, so that both choose the same bucket for the same
//! packet.
//!
//! How: a select group hashes the packet's flow — Ethernet addresses and
//! type, then for IPv4/IPv6 the addresses, protocol and transport ports,
//! for ARP the protocol addresses — with a per-switch salt
//! ([`flow_hash`]). The high 32 bits of the hash pick a point in
//! `0..total_weight` of the live buckets, and the bucket whose cumulative
//! weight range holds it is chosen ([`select_bucket`]). Every packet of a
//! flow therefore takes the same bucket for as long as the buckets (and
//! their liveness) stay the same, and flows spread in proportion to the
//! weights. Buckets of weight 0 are never chosen; a bucket with a watch
//! port or group is live only while that port or group is.
//! Fast failover takes the first live bucket ([`failover_bucket`]).
//!
//! Threads: pure functions.

use crate::openflow::{port, Bucket, OFPG_ANY};
use crate::wire::{present, FlowKey};

/// One round of a 64-bit multiply-xorshift mix (from MurmurHash3's
/// finaliser constants).
#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    let mut x = h ^ v;
    x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The select-group hash of a packet: Ethernet addresses and type, IP
/// addresses, protocol and L4 ports (IPv4 or IPv6), or ARP protocol
/// addresses; mixed with `salt`.
pub fn flow_hash(key: &FlowKey, salt: u64) -> u64 {
    let mut h = mix(salt, key.eth_dst);
    h = mix(h, key.eth_src ^ (u64::from(key.eth_type) << 48));
    if key.has(present::IPV4) {
        h = mix(h, (u64::from(key.ipv4_src) << 32) | u64::from(key.ipv4_dst));
    } else if key.has(present::IPV6) {
        h = mix(h, key.ipv6_src as u64);
        h = mix(h, (key.ipv6_src >> 64) as u64);
        h = mix(h, key.ipv6_dst as u64);
        h = mix(h, (key.ipv6_dst >> 64) as u64);
    } else if key.has(present::ARP_ETH_IPV4) {
        h = mix(h, (u64::from(key.arp_spa) << 32) | u64::from(key.arp_tpa));
    }
    if key.is_ip() {
        let ports = if key.has(present::L4) {
            (u64::from(key.tp_src) << 16) | u64::from(key.tp_dst)
        } else {
            0
        };
        h = mix(h, (u64::from(key.ip_proto) << 32) | ports);
    }
    h
}

/// Whether a bucket may be used: its watch port (if any) is up and its
/// watch group (if any) is live.
pub fn bucket_live(
    b: &Bucket,
    port_live: &dyn Fn(u32) -> bool,
    group_live: &dyn Fn(u32) -> bool,
) -> bool {
    (b.watch_port == port::ANY || port_live(b.watch_port))
        && (b.watch_group == OFPG_ANY || group_live(b.watch_group))
}

/// The select group's bucket for a packet with flow hash `hash`: weighted
/// by `weight` among the live buckets (see the module docs). `None` when
/// no live bucket has a non-zero weight.
pub fn select_bucket(
    buckets: &[Bucket],
    hash: u64,
    port_live: &dyn Fn(u32) -> bool,
    group_live: &dyn Fn(u32) -> bool,
) -> Option<usize> {
    let usable = |b: &Bucket| b.weight > 0 && bucket_live(b, port_live, group_live);
    let total: u64 = buckets
        .iter()
        .filter(|b| usable(b))
        .map(|b| u64::from(b.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut point = ((hash >> 32) * total) >> 32;
    for (i, b) in buckets.iter().enumerate() {
        if !usable(b) {
            continue;
        }
        let w = u64::from(b.weight);
        if point < w {
            return Some(i);
        }
        point -= w;
    }
    None
}

/// The fast-failover group's bucket: the first live one.
pub fn failover_bucket(
    buckets: &[Bucket],
    port_live: &dyn Fn(u32) -> bool,
    group_live: &dyn Fn(u32) -> bool,
) -> Option<usize> {
    buckets
        .iter()
        .position(|b| bucket_live(b, port_live, group_live))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64;

    fn bucket(weight: u16, watch_port: u32) -> Bucket {
        Bucket {
            weight,
            watch_port,
            watch_group: OFPG_ANY,
            actions: Vec::new(),
        }
    }

    fn live(_: u32) -> bool {
        true
    }

    #[test]
    fn select_follows_the_weights() {
        let buckets = [
            bucket(1, port::ANY),
            bucket(0, port::ANY),
            bucket(3, port::ANY),
        ];
        let mut rng = XorShift64::new(3);
        let mut n = [0u32; 3];
        for _ in 0..40_000 {
            let i = select_bucket(&buckets, rng.next_u64(), &live, &live).unwrap();
            n[i] += 1;
        }
        assert_eq!(n[1], 0, "weight 0 is never chosen");
        let share = f64::from(n[2]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "share {share}");
    }

    #[test]
    fn select_skips_dead_buckets_and_is_stable() {
        let buckets = [bucket(1, 2), bucket(1, 3)];
        let only3 = |p: u32| p == 3;
        for h in [0, u64::MAX, 0x8000_0000_0000_0000, 12345] {
            assert_eq!(select_bucket(&buckets, h, &only3, &live), Some(1));
            let a = select_bucket(&buckets, h, &live, &live);
            assert_eq!(a, select_bucket(&buckets, h, &live, &live));
        }
        assert_eq!(select_bucket(&buckets, 7, &|_| false, &live), None);
        assert_eq!(select_bucket(&[], 7, &live, &live), None);
    }

    #[test]
    fn failover_takes_the_first_live_bucket() {
        let buckets = [bucket(0, 2), bucket(0, 3), bucket(0, port::ANY)];
        assert_eq!(failover_bucket(&buckets, &live, &live), Some(0));
        assert_eq!(failover_bucket(&buckets, &|p| p == 3, &live), Some(1));
        assert_eq!(failover_bucket(&buckets, &|_| false, &live), Some(2));
        assert_eq!(failover_bucket(&buckets[..2], &|_| false, &live), None);
        let watch_group = [Bucket {
            watch_group: 7,
            ..bucket(0, port::ANY)
        }];
        assert_eq!(failover_bucket(&watch_group, &live, &|g| g != 7), None);
    }

    #[test]
    fn hash_covers_the_flow_fields() {
        let base = FlowKey {
            present: present::IPV4 | present::L4,
            eth_type: 0x0800,
            ipv4_src: 1,
            ipv4_dst: 2,
            ip_proto: 6,
            tp_src: 3,
            tp_dst: 4,
            ..FlowKey::default()
        };
        let h = flow_hash(&base, 9);
        assert_ne!(h, flow_hash(&base, 10), "salt");
        for k in [
            FlowKey { eth_src: 1, ..base },
            FlowKey { eth_dst: 1, ..base },
            FlowKey {
                ipv4_src: 5,
                ..base
            },
            FlowKey {
                ipv4_dst: 5,
                ..base
            },
            FlowKey { tp_src: 5, ..base },
            FlowKey { tp_dst: 5, ..base },
            FlowKey {
                ip_proto: 17,
                ..base
            },
        ] {
            assert_ne!(flow_hash(&k, 9), h, "{k:?}");
        }
        let arp = FlowKey {
            present: present::ARP | present::ARP_ETH_IPV4,
            eth_type: 0x0806,
            arp_spa: 1,
            ..FlowKey::default()
        };
        assert_ne!(
            flow_hash(&arp, 0),
            flow_hash(&FlowKey { arp_tpa: 9, ..arp }, 0)
        );
    }
}
