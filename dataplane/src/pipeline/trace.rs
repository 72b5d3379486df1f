//! `sluice trace`: a packet through the pipeline, step by step, like
//! `ovs-appctl ofproto/trace`.
//!
//! # Design
//!
//! What: [`packet_from_spec`] builds a frame from an ovs-style flow
//! description (`in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80`): the fields
//! given, defaults for the rest (zero addresses, TTL 64, ...), as
//! `ofproto/trace` does. [`Tracer`] sends a frame through the
//! [`ReferencePipeline`] (which records every step: tables visited, the
//! entry matched with its source line, instructions, actions and what each
//! did, the final action set and the resulting packet) and through the
//! [`CompiledPipeline`] the workers run, and prints the reference's trace
//! followed by the compiled pipeline's verdict — the two agree (property
//! tests and the conformance corpus hold them equal); a disagreement is
//! printed, never hidden.
//!
//! How: the description is parsed by the flow parser as a match
//! ([`crate::openflow::parse_match`], so prerequisites and port names work
//! as in flows), then laid out outermost layer first with
//! [`crate::wire::build::PacketBuilder`], parsed back, and checked to
//! match the description (a field the builder cannot express is an error,
//! not silently dropped).
//!
//! Threads: tool code on the admin or CLI thread; allocates freely.

use std::fmt::Write as _;
use std::sync::Arc;

use super::compile::CompiledPipeline;
use super::env::{Env, PassThroughMeters};
use super::fields::{self, Registers};
use super::outcome::{Egress, Outcome};
use super::reference::ReferencePipeline;
use super::run::Verdict;
use crate::openflow::{
    ethertype, ipproto, parse_match, port, Field, FlowEntry, GroupEntry, MeterEntry, ParseError,
    PortNames, OFPVID_PRESENT,
};
use crate::wire::build::{Arp, BuildError, Ipv4, Ipv6, PacketBuilder};
use crate::wire::{self, icmpv6, FlowKey};

/// Why a packet description does not give a packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The description does not parse (as a match: fields, values,
    /// prerequisites, port names).
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{field}: a packet has one value; masks are for matches")]
    Masked { field: Field },
    #[error("{field}: cannot build a packet with it ({why}); trace a pcap instead")]
    Unsupported { field: Field, why: &'static str },
    #[error("cannot build the packet: {0}")]
    Build(#[from] BuildError),
    /// The frame built does not carry what was asked for.
    #[error(
        "the packet built does not match the description at {field} (unsupported combination)"
    )]
    Mismatch { field: Field },
}

/// A packet built from a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecPacket {
    pub frame: Vec<u8>,
    /// `in_port` if the description gave one.
    pub in_port: Option<u32>,
    /// `metadata` and `tun_id` if given (metadata normally starts at 0;
    /// giving it traces a packet as if an earlier table had set it).
    pub regs: Registers,
}

/// Builds the packet an ovs-style flow description describes (see the
/// module docs). Port names resolve through `ports`.
pub fn packet_from_spec(spec: &str, ports: &dyn PortNames) -> Result<SpecPacket, SpecError> {
    let m = parse_match(spec, ports)?;
    for f in m.fields() {
        if !f.is_exact() {
            return Err(SpecError::Masked { field: f.field });
        }
    }
    let get = |f: Field| m.exact(f);
    let mac = |f: Field| wire::mac_from_u64(get(f).unwrap_or(0) as u64);
    let mut regs = Registers::default();
    if let Some(v) = get(Field::Metadata) {
        regs.metadata = v as u64;
    }
    if let Some(v) = get(Field::TunnelId) {
        regs.tunnel_id = v as u64;
    }
    if get(Field::Ipv6Exthdr).is_some_and(|v| v != 0) {
        return Err(SpecError::Unsupported {
            field: Field::Ipv6Exthdr,
            why: "extension headers are not generated",
        });
    }
    let mut b = PacketBuilder::new().eth(mac(Field::EthDst), mac(Field::EthSrc));
    if let Some(vid) = get(Field::VlanVid) {
        if vid as u16 & OFPVID_PRESENT != 0 {
            let pcp = get(Field::VlanPcp).unwrap_or(0) as u8;
            b = b.vlan(vid as u16 & 0x0fff, pcp);
        }
    }
    let u16_of = |f: Field| get(f).unwrap_or(0) as u16;
    let proto = get(Field::IpProto).map(|v| v as u8);
    let l4 = |b: PacketBuilder, v6: bool| -> Result<PacketBuilder, SpecError> {
        Ok(match proto {
            Some(ipproto::TCP) => b.tcp(u16_of(Field::TcpSrc), u16_of(Field::TcpDst)),
            Some(ipproto::UDP) => b.udp(u16_of(Field::UdpSrc), u16_of(Field::UdpDst)),
            Some(ipproto::SCTP) => b.sctp(u16_of(Field::SctpSrc), u16_of(Field::SctpDst), 0),
            Some(ipproto::ICMP) if !v6 => b.icmpv4(
                get(Field::Icmpv4Type).unwrap_or(0) as u8,
                get(Field::Icmpv4Code).unwrap_or(0) as u8,
            ),
            Some(ipproto::ICMPV6) if v6 => {
                let t = get(Field::Icmpv6Type).unwrap_or(0) as u8;
                let target = get(Field::Ipv6NdTarget).unwrap_or(0);
                let ll = |f: Field| get(f).map(|v| wire::mac_from_u64(v as u64));
                match t {
                    icmpv6::NEIGHBOR_SOLICIT => b.nd_solicit(target, ll(Field::Ipv6NdSll)),
                    icmpv6::NEIGHBOR_ADVERT => b.nd_advert(target, 0, ll(Field::Ipv6NdTll)),
                    _ => b.icmpv6(t, get(Field::Icmpv6Code).unwrap_or(0) as u8, &[0; 4]),
                }
            }
            Some(p) => b.announce(p),
            None => b.announce(0),
        })
    };
    let dscp = get(Field::IpDscp).unwrap_or(0) as u8;
    let ecn = get(Field::IpEcn).unwrap_or(0) as u8;
    b = match get(Field::EthType).map(|v| v as u16) {
        None => b,
        Some(ethertype::IPV4) => {
            let ip = Ipv4 {
                src: get(Field::Ipv4Src).unwrap_or(0) as u32,
                dst: get(Field::Ipv4Dst).unwrap_or(0) as u32,
                dscp,
                ecn,
                ..Ipv4::default()
            };
            l4(b.ipv4_with(ip), false)?
        }
        Some(ethertype::IPV6) => {
            let ip = Ipv6 {
                src: get(Field::Ipv6Src).unwrap_or(0),
                dst: get(Field::Ipv6Dst).unwrap_or(0),
                traffic_class: (dscp << 2) | (ecn & 3),
                flow_label: get(Field::Ipv6Flabel).unwrap_or(0) as u32,
                ..Ipv6::default()
            };
            l4(b.ipv6_with(ip), true)?
        }
        Some(ethertype::ARP) => b.arp(Arp {
            op: get(Field::ArpOp).map_or(1, |v| v as u16),
            sha: mac(Field::ArpSha),
            spa: get(Field::ArpSpa).unwrap_or(0) as u32,
            tha: mac(Field::ArpTha),
            tpa: get(Field::ArpTpa).unwrap_or(0) as u32,
        }),
        Some(ethertype::MPLS) => {
            if get(Field::MplsBos) == Some(0) {
                return Err(SpecError::Unsupported {
                    field: Field::MplsBos,
                    why: "a single label is the bottom of the stack",
                });
            }
            b.mpls(
                get(Field::MplsLabel).unwrap_or(0) as u32,
                get(Field::MplsTc).unwrap_or(0) as u8,
                64,
            )
        }
        Some(ethertype::PBB) => b.pbb(get(Field::PbbIsid).unwrap_or(0) as u32, 0, [0; 6], [0; 6]),
        Some(t) => b.ethertype(t),
    };
    let frame = b.pad60().build()?;
    let in_port = get(Field::InPort).map(|v| v as u32);
    let mut key = FlowKey::default();
    let _ = wire::parse(&frame, in_port.unwrap_or(0), &mut key);
    for f in m.fields() {
        if f.field == Field::InPort {
            continue;
        }
        if !f.matches(fields::raw(&key, &regs, f.field)) {
            return Err(SpecError::Mismatch { field: f.field });
        }
    }
    Ok(SpecPacket {
        frame,
        in_port,
        regs,
    })
}

/// Traces packets through a rule set: the reference interpreter's steps
/// and the compiled pipeline's verdict (see the module docs).
pub struct Tracer {
    reference: ReferencePipeline,
    compiled: Arc<CompiledPipeline>,
}

impl Tracer {
    /// `flows`, `groups` and `meters` as given to
    /// [`CompiledPipeline::build`] for `compiled`.
    pub fn new(
        compiled: Arc<CompiledPipeline>,
        flows: &[FlowEntry],
        groups: &[GroupEntry],
        meters: &[MeterEntry],
    ) -> Tracer {
        let mut reference = ReferencePipeline::new(compiled.ports().to_vec(), compiled.salt);
        for g in groups {
            reference.add_group(g.clone());
        }
        for m in meters {
            reference.add_meter(m.clone());
        }
        for f in flows {
            reference.add_flow(f.clone());
        }
        Tracer {
            reference,
            compiled,
        }
    }

    pub fn compiled(&self) -> &CompiledPipeline {
        &self.compiled
    }

    /// The reference's outcome of one frame (meters pass everything).
    pub fn outcome(&self, frame: &[u8], in_port: u32, regs: Registers) -> Outcome {
        let mut m = PassThroughMeters;
        self.reference
            .process_with(frame, in_port, regs, &mut Env::new(&mut m))
    }

    /// The trace of one frame received on OpenFlow port `in_port`.
    pub fn trace(&self, frame: &[u8], in_port: u32, regs: Registers) -> String {
        let want = self.outcome(frame, in_port, regs);
        let mut m = PassThroughMeters;
        let counters = self.compiled.new_counters();
        let got = self
            .compiled
            .run_frame(frame, in_port, regs, &mut Env::new(&mut m), &counters);
        let mut out = want.to_string();
        let port_name = |i: u32| {
            self.compiled
                .ofport(i)
                .map_or(i.to_string(), |p| p.to_string())
        };
        let _ = match got.verdict {
            Verdict::Output { port, queue } => write!(
                out,
                "Datapath: the packet itself out of port {}{} ({} copies made)",
                port_name(port),
                queue.map_or(String::new(), |q| format!(" queue {q}")),
                got.copies
            ),
            Verdict::Consumed => write!(
                out,
                "Datapath: consumed ({} copies made, the packet freed)",
                got.copies
            ),
            Verdict::Drop(c) => write!(out, "Datapath: dropped ({c})"),
        };
        if counters.no_local_port.get() > 0 {
            out.push_str("; output to LOCAL: Sluice has no local port, nothing sent");
        }
        out.push('\n');
        // LOCAL outputs are the one documented difference.
        let local = |o: &Egress| o.port != port::LOCAL;
        let want_out: Vec<&Egress> = want.outputs.iter().filter(|o| local(o)).collect();
        let got_out: Vec<&Egress> = got.outcome.outputs.iter().collect();
        if want_out != got_out || want.packet_ins != got.outcome.packet_ins {
            let _ = writeln!(
                out,
                "WARNING: the compiled pipeline disagrees with the reference: {} outputs and {} packet-ins, not {} and {} (please report this with the config)",
                got_out.len(),
                got.outcome.packet_ins.len(),
                want_out.len(),
                want.packet_ins.len()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::{parse_flow, NoPortNames};
    use std::collections::BTreeMap;

    fn names() -> BTreeMap<String, u32> {
        [("uplink".to_string(), 2u32)].into_iter().collect()
    }

    fn key(p: &SpecPacket) -> FlowKey {
        let mut k = FlowKey::default();
        wire::parse(&p.frame, 1, &mut k).unwrap();
        k
    }

    #[test]
    fn descriptions_become_packets() {
        let p = packet_from_spec("in_port=uplink,tcp,nw_src=10.0.0.1,tp_dst=80", &names()).unwrap();
        assert_eq!(p.in_port, Some(2));
        let k = key(&p);
        assert_eq!(
            (k.eth_type, k.ip_proto, k.ipv4_src, k.tp_dst),
            (0x0800, 6, 0x0a00_0001, 80)
        );
        assert_eq!(p.frame.len(), 60);

        let p = packet_from_spec(
            "dl_vlan=7,dl_vlan_pcp=3,udp6,ipv6_dst=2001:db8::1,udp_src=53",
            &names(),
        )
        .unwrap();
        let k = key(&p);
        assert_eq!(
            (k.vlan_vid, k.vlan_pcp, k.ip_proto, k.tp_src),
            (0x1007, 3, 17, 53)
        );
        assert_eq!(k.ipv6_dst, 0x2001_0db8 << 96 | 1);

        let p = packet_from_spec(
            "icmp6,icmpv6_type=135,nd_target=fe80::1,nd_sll=02:00:00:00:00:01",
            &names(),
        )
        .unwrap();
        assert_eq!(key(&p).ipv6_nd_sll, 0x0200_0000_0001);

        for spec in [
            "arp,arp_op=2,arp_tpa=10.0.0.9",
            "mpls,mpls_label=77",
            "dl_type=0x88e7,pbb_isid=5",
            "tun_id=9,metadata=3,dl_type=0x1234",
            "icmp,icmp_type=8",
        ] {
            let p = packet_from_spec(spec, &names()).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(p.in_port, None, "{spec}");
        }
        let p = packet_from_spec("tun_id=9,metadata=3", &names()).unwrap();
        assert_eq!((p.regs.tunnel_id, p.regs.metadata), (9, 3));
    }

    #[test]
    fn bad_descriptions_say_why() {
        let e = packet_from_spec("tcp,tp_dst=80/0xff00", &names()).unwrap_err();
        assert_eq!(
            e,
            SpecError::Masked {
                field: Field::TcpDst
            }
        );
        let e = packet_from_spec("tp_dst=80", &names()).unwrap_err();
        assert!(matches!(e, SpecError::Parse(ref p) if p.col == 1), "{e}");
        let e = packet_from_spec("ip,nw_src=10.0.0.300", &names()).unwrap_err();
        assert!(matches!(e, SpecError::Parse(ref p) if p.col > 3), "{e}");
        let e = packet_from_spec("ipv6,ipv6_exthdr=0x10", &names()).unwrap_err();
        assert!(
            matches!(
                e,
                SpecError::Unsupported {
                    field: Field::Ipv6Exthdr,
                    ..
                }
            ),
            "{e}"
        );
        assert!(packet_from_spec("in_port=nosuch", &names()).is_err());
    }

    #[test]
    fn trace_reads_like_ofproto_trace_and_reports_the_datapath() {
        let flows: Vec<FlowEntry> = [
            "table=0,priority=10,in_port=1,ip,actions=write_metadata:0x1,goto_table:1",
            "table=1,priority=5,metadata=0x1,tcp,tp_dst=80,actions=set_field:10.0.0.9->ip_dst,output:2",
        ]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut f = parse_flow(l, &NoPortNames).unwrap();
            f.source.line = i as u32 + 7;
            f
        })
        .collect();
        let c = Arc::new(CompiledPipeline::build(&flows, &[], &[], &[1, 2], 5).unwrap());
        let t = Tracer::new(c, &flows, &[], &[]);
        let p = packet_from_spec("tcp,nw_src=10.0.0.1,tp_dst=80", &NoPortNames).unwrap();
        let text = t.trace(&p.frame, 1, p.regs);
        for want in [
            "Flow: in_port=1,",
            " 0. line 7: priority 10",
            " 1. line 8: priority 5",
            "set_field:10.0.0.9->nw_dst",
            "Final packet: ",
            "Result: output:2",
            "Datapath: the packet itself out of port 2 (0 copies made)",
        ] {
            assert!(text.contains(want), "{want:?} missing in\n{text}");
        }
        assert!(!text.contains("WARNING"), "{text}");
        let p = packet_from_spec("udp", &NoPortNames).unwrap();
        let text = t.trace(&p.frame, 1, p.regs);
        assert!(
            text.contains("Datapath: dropped (table miss in table 1)"),
            "{text}"
        );
    }
}
