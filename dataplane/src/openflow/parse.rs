//! The ovs-ofctl `-O OpenFlow13` text syntax: `add-flow(s)`, `add-group`,
//! `add-meter`, parsed into the model and validated the way a switch
//! validates a flow-mod (prerequisites, masks, ranges, instruction order).
//!
//! How: a [`Lexer`] splits the text into tokens with byte positions; the
//! parsers below work token by token and report the first problem as
//! `(byte offset, message)`, turned into a [`ParseError`] with a line and
//! character column only on failure. On the success path nothing but the
//! entry's own vectors is allocated (100k flows parse in about 0.1 s).
//! Threads: pure functions; `PortNames` is only read.

use std::collections::{BTreeMap, HashMap};

use super::field::{ethertype as et, ipproto, Field, ValueFormat, OFPVID_PRESENT};
use super::lexer::{Lexer, Token};
use super::model::*;
use super::value::*;

/// Resolves configured port names (`uplink`, `vf1`) to OpenFlow port
/// numbers. Numbers and reserved names (`LOCAL`, `CONTROLLER`, …) never
/// reach it: the parser handles those first.
pub trait PortNames {
    fn port_number(&self, name: &str) -> Option<u32>;
}

/// No port names: only numbers and reserved names are accepted.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPortNames;

impl PortNames for NoPortNames {
    fn port_number(&self, _: &str) -> Option<u32> {
        None
    }
}

impl PortNames for HashMap<String, u32> {
    fn port_number(&self, name: &str) -> Option<u32> {
        self.get(name).copied()
    }
}

impl PortNames for BTreeMap<String, u32> {
    fn port_number(&self, name: &str) -> Option<u32> {
        self.get(name).copied()
    }
}

/// A syntax or validation error, at a 1-based line and character column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// Internal error: byte offset into the text, message.
type PResult<T> = Result<T, (usize, String)>;

/// Build a [`ParseError`] for byte offset `pos` of `text`, whose first line
/// is line `first_line`.
fn locate(text: &str, first_line: u32, (pos, message): (usize, String)) -> ParseError {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = first_line.saturating_add(before.matches('\n').count() as u32);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() as u32 + 1;
    ParseError { line, col, message }
}

fn source_loc(text: &str, first_line: u32) -> SourceLoc {
    let start = text.len() - text.trim_start_matches([' ', '\t', ',', '\r', '\n']).len();
    let e = locate(text, first_line, (start, String::new()));
    SourceLoc {
        line: e.line,
        col: e.col,
    }
}

/// Parse one flow in `ovs-ofctl add-flow` syntax.
pub fn parse_flow(text: &str, ports: &dyn PortNames) -> Result<FlowEntry, ParseError> {
    parse_flow_at(text, 1, ports)
}

/// Parse one group in `ovs-ofctl add-group` syntax.
pub fn parse_group(text: &str, ports: &dyn PortNames) -> Result<GroupEntry, ParseError> {
    parse_group_at(text, 1, ports)
}

/// Parse one meter in `ovs-ofctl add-meter` syntax.
pub fn parse_meter(text: &str) -> Result<MeterEntry, ParseError> {
    parse_meter_at(text, 1)
}

/// Parse a bare match (`eth_type=0x0800,ip_dscp=20`), prerequisites checked.
pub fn parse_match(text: &str, ports: &dyn PortNames) -> Result<Match, ParseError> {
    let inner = || -> PResult<Match> {
        let mut lx = Lexer::new(text, 0, text.len());
        let mut mb = MatchBuilder::new();
        while let Some(tok) = lx.next_token() {
            mb.token(&tok?, ports)?;
        }
        mb.finish()
    };
    inner().map_err(|e| locate(text, 1, e))
}

fn parse_flow_at(text: &str, line: u32, ports: &dyn PortNames) -> Result<FlowEntry, ParseError> {
    let mut e = flow(text, ports).map_err(|e| locate(text, line, e))?;
    e.source = source_loc(text, line);
    Ok(e)
}

fn parse_group_at(text: &str, line: u32, ports: &dyn PortNames) -> Result<GroupEntry, ParseError> {
    let mut g = group(text, ports).map_err(|e| locate(text, line, e))?;
    g.source = source_loc(text, line);
    Ok(g)
}

fn parse_meter_at(text: &str, line: u32) -> Result<MeterEntry, ParseError> {
    let mut m = meter(text).map_err(|e| locate(text, line, e))?;
    m.source = source_loc(text, line);
    Ok(m)
}

/// Apply `parse` to every line of a file, like `ovs-ofctl add-flows`:
/// `#` starts a comment (anywhere on the line), blank lines are skipped.
/// All or nothing: the entries, or every line's error.
fn parse_lines<T>(
    text: &str,
    parse: impl Fn(&str, u32) -> Result<T, ParseError>,
) -> Result<Vec<T>, Vec<ParseError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.find('#').map_or(raw, |c| &raw[..c]);
        if line.trim().is_empty() {
            continue;
        }
        match parse(line, (i as u32).saturating_add(1)) {
            Ok(v) => out.push(v),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Parse a flows file (`ovs-ofctl add-flows` input).
pub fn parse_flows_file(
    text: &str,
    ports: &dyn PortNames,
) -> Result<Vec<FlowEntry>, Vec<ParseError>> {
    parse_lines(text, |l, n| parse_flow_at(l, n, ports))
}

/// Parse a groups file (`ovs-ofctl add-groups` input).
pub fn parse_groups_file(
    text: &str,
    ports: &dyn PortNames,
) -> Result<Vec<GroupEntry>, Vec<ParseError>> {
    parse_lines(text, |l, n| parse_group_at(l, n, ports))
}

/// Parse a meters file (one `add-meter` description a line).
pub fn parse_meters_file(text: &str) -> Result<Vec<MeterEntry>, Vec<ParseError>> {
    parse_lines(text, parse_meter_at)
}

// ---------------------------------------------------------------------
// Helpers

/// The token's value, which must be present (`key=value` or `key:value`).
fn need_value<'a>(tok: &Token<'a>) -> PResult<&'a str> {
    match tok.sep {
        Some(b'=') | Some(b':') if !tok.value.is_empty() => Ok(tok.value),
        Some(b'(') => Err((
            tok.key_pos,
            format!(
                "\"{}\" takes a value as {}=VALUE, not {}(...)",
                tok.key, tok.key, tok.key
            ),
        )),
        _ => Err((
            tok.key_pos,
            format!("\"{}\" needs a value ({}=VALUE)", tok.key, tok.key),
        )),
    }
}

fn no_value(tok: &Token<'_>) -> PResult<()> {
    match tok.sep {
        None => Ok(()),
        Some(_) => Err((tok.key_pos, format!("\"{}\" takes no value", tok.key))),
    }
}

fn at<T>(pos: usize, r: Result<T, String>) -> PResult<T> {
    r.map_err(|m| (pos, m))
}

/// Split `V/M` at the first `/`: (value, mask, offset of the mask).
fn split_mask(s: &str, pos: usize) -> (&str, Option<(&str, usize)>) {
    match s.bytes().position(|b| b == b'/') {
        Some(i) => (&s[..i], Some((&s[i + 1..], pos + i + 1))),
        None => (s, None),
    }
}

/// Edit distance over bytes (keywords are ASCII), for words of at most
/// 40 bytes.
fn levenshtein(a: &[u8], b: &[u8]) -> usize {
    let mut prev = [0usize; 41];
    let mut cur = [0usize; 41];
    for (j, p) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *p = j;
    }
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest word, if it is close enough to be a plausible typo.
fn suggest<'w>(word: &str, words: &[&'w str]) -> Option<&'w str> {
    let w = word.as_bytes();
    if w.len() > 40 {
        return None;
    }
    let limit = (w.len() / 3).clamp(1, 3);
    words
        .iter()
        .filter(|c| c.len().abs_diff(w.len()) <= limit && c.len() <= 40)
        .map(|c| (levenshtein(w, c.as_bytes()), *c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

const MATCH_WORDS: &[&str] = &[
    "in_port",
    "metadata",
    "eth_dst",
    "dl_dst",
    "eth_src",
    "dl_src",
    "eth_type",
    "dl_type",
    "vlan_vid",
    "vlan_pcp",
    "dl_vlan",
    "dl_vlan_pcp",
    "vlan_tci",
    "ip_dscp",
    "nw_tos",
    "ip_ecn",
    "nw_ecn",
    "ip_proto",
    "nw_proto",
    "nw_src",
    "ip_src",
    "ipv4_src",
    "nw_dst",
    "ip_dst",
    "ipv4_dst",
    "tcp_src",
    "tcp_dst",
    "udp_src",
    "udp_dst",
    "sctp_src",
    "sctp_dst",
    "tp_src",
    "tp_dst",
    "icmp_type",
    "icmp_code",
    "icmpv4_type",
    "icmpv4_code",
    "arp_op",
    "arp_spa",
    "arp_tpa",
    "arp_sha",
    "arp_tha",
    "ipv6_src",
    "ipv6_dst",
    "ipv6_label",
    "ipv6_flabel",
    "icmpv6_type",
    "icmpv6_code",
    "nd_target",
    "nd_sll",
    "nd_tll",
    "mpls_label",
    "mpls_tc",
    "mpls_bos",
    "pbb_isid",
    "tun_id",
    "tunnel_id",
    "ipv6_exthdr",
    "ip",
    "ipv6",
    "tcp",
    "tcp6",
    "udp",
    "udp6",
    "sctp",
    "sctp6",
    "icmp",
    "icmp6",
    "arp",
    "rarp",
    "mpls",
    "mplsm",
    "table",
    "priority",
    "cookie",
    "idle_timeout",
    "hard_timeout",
    "send_flow_rem",
    "check_overlap",
    "reset_counts",
    "no_packet_counts",
    "no_byte_counts",
    "actions",
];

const ACTION_WORDS: &[&str] = &[
    "output",
    "controller",
    "in_port",
    "normal",
    "flood",
    "all",
    "local",
    "drop",
    "group",
    "set_field",
    "load",
    "push_vlan",
    "pop_vlan",
    "strip_vlan",
    "push_mpls",
    "pop_mpls",
    "set_mpls_ttl",
    "dec_mpls_ttl",
    "mod_nw_ttl",
    "set_nw_ttl",
    "dec_ttl",
    "copy_ttl_out",
    "copy_ttl_in",
    "push_pbb",
    "pop_pbb",
    "set_queue",
    "mod_dl_src",
    "mod_dl_dst",
    "mod_nw_src",
    "mod_nw_dst",
    "mod_tp_src",
    "mod_tp_dst",
    "mod_vlan_vid",
    "mod_vlan_pcp",
    "mod_nw_tos",
    "mod_nw_ecn",
    "set_tunnel",
    "set_tunnel64",
    "set_mpls_label",
    "set_mpls_tc",
    "meter",
    "clear_actions",
    "write_actions",
    "write_metadata",
    "goto_table",
];

/// A port given by number, reserved name (any case) or configured name.
fn parse_port_no(s: &str, ports: &dyn PortNames) -> Result<u32, String> {
    if let Some(p) = port::from_reserved_name(s) {
        return Ok(p);
    }
    if s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        let n = parse_uint(s, 32)
            .map_err(|_| format!("expected a port number (1-{}), found \"{s}\"", port::MAX))?;
        return Ok(n as u32);
    }
    ports.port_number(s).ok_or_else(|| {
        format!("unknown port \"{s}\"; expected a port number, a configured port name or IN_PORT, ALL, FLOOD, LOCAL, CONTROLLER, NORMAL")
    })
}

/// An output port.
fn parse_out_port(s: &str, ports: &dyn PortNames) -> Result<OutPort, String> {
    let n = parse_port_no(s, ports)?;
    Ok(match n {
        0 => return Err("port 0 is not a valid OpenFlow port".into()),
        n if n <= port::MAX => OutPort::Port(n),
        port::IN_PORT => OutPort::InPort,
        port::NORMAL => OutPort::Normal,
        port::FLOOD => OutPort::Flood,
        port::ALL => OutPort::All,
        port::CONTROLLER => OutPort::Controller {
            max_len: OFPCML_NO_BUFFER,
        },
        port::LOCAL => OutPort::Local,
        port::TABLE => return Err("output to TABLE is only valid in packet-out messages".into()),
        port::ANY => return Err("ANY is not a valid output port".into()),
        n => {
            return Err(format!(
                "port {n} (0x{n:x}) is reserved; not a valid output port"
            ))
        }
    })
}

/// `in_port=` and `watch_port=` values: a real port or LOCAL/CONTROLLER.
fn parse_in_port(s: &str, ports: &dyn PortNames) -> Result<u32, String> {
    match parse_port_no(s, ports)? {
        0 => Err("port 0 is not a valid OpenFlow port".into()),
        n if n <= port::MAX || n == port::LOCAL || n == port::CONTROLLER => Ok(n),
        n => Err(format!(
            "in_port cannot be {}",
            port::reserved_name(n).map_or_else(|| format!("{n}"), String::from)
        )),
    }
}

// ---------------------------------------------------------------------
// Match

/// Accumulates match tokens: remembers where (and under which name) each
/// field was given, for duplicate and prerequisite messages, and the ovs
/// aliases whose meaning depends on other fields (`tp_src`, `dl_vlan_pcp`).
struct MatchBuilder<'a> {
    m: Match,
    /// Byte offset and spelling of each field's token, by OXM id.
    origin: [(usize, &'a str); 40],
    seen: u64,
    from_shorthand: u64,
    /// Deferred `tp_src` and `tp_dst`.
    tp: [Option<DeferredPort<'a>>; 2],
    /// `dl_vlan_pcp` / `vlan_tci` with PCP: the packet must be tagged.
    implied_tag: Option<(usize, &'a str)>,
}

/// A `tp_src`/`tp_dst` match waiting for `ip_proto`: value, mask,
/// position and spelling.
type DeferredPort<'a> = (u128, Option<u128>, usize, &'a str);

fn bit(f: Field) -> u64 {
    1u64 << f.oxm_id()
}

impl<'a> MatchBuilder<'a> {
    fn new() -> Self {
        MatchBuilder {
            m: Match::with_capacity(8),
            origin: [(0, ""); 40],
            seen: 0,
            from_shorthand: 0,
            tp: [None; 2],
            implied_tag: None,
        }
    }

    fn add(
        &mut self,
        f: Field,
        value: u128,
        mask: Option<u128>,
        pos: usize,
        name: &'a str,
        shorthand: bool,
    ) -> PResult<()> {
        let b = bit(f);
        if self.seen & b != 0 {
            let (_, prev) = self.origin[f.oxm_id() as usize];
            let same = self.m.get(f).is_some_and(|x| {
                x.value == value & mask.unwrap_or(f.full_mask())
                    && x.mask == mask.unwrap_or(f.full_mask())
            });
            if (shorthand || self.from_shorthand & b != 0) && same {
                return Ok(());
            }
            let how = if prev == name {
                String::new()
            } else {
                format!(" (already set by \"{prev}\")")
            };
            return Err((
                pos,
                format!("{name} is matched twice{how}; a field may appear only once"),
            ));
        }
        if let Err(e) = self.m.insert(f, value, mask) {
            let msg = match e {
                MatchError::NotMaskable { .. } => {
                    format!("{name} does not take a mask; write an exact value")
                }
                other => format!("{name}: {other}"),
            };
            return Err((pos, msg));
        }
        self.seen |= b;
        if shorthand {
            self.from_shorthand |= b;
        }
        self.origin[f.oxm_id() as usize] = (pos, name);
        Ok(())
    }

    /// Parse `value[/mask]` for `f`.
    fn value_mask(
        f: Field,
        tok: &Token<'a>,
        ports: &dyn PortNames,
    ) -> PResult<(u128, Option<u128>)> {
        let s = need_value(tok)?;
        let pos = tok.value_pos;
        if f.format() == ValueFormat::Port {
            if s.contains('/') {
                return Err((
                    pos,
                    format!("{} does not take a mask; write an exact value", tok.key),
                ));
            }
            return at(pos, parse_in_port(s, ports)).map(|p| (u128::from(p), None));
        }
        if f == Field::Ipv6Exthdr && (s.starts_with('+') || s.starts_with('-')) {
            let (v, m) = at(pos, parse_exthdr_flags(s))?;
            return Ok((v, Some(m)));
        }
        let (v, m) = split_mask(s, pos);
        let value = at(pos, parse_field_value(f, tok.key, v))?;
        let mask = match m {
            Some((m, mpos)) => {
                if !f.maskable() {
                    return Err((
                        mpos - 1,
                        format!("{} does not take a mask; write an exact value", tok.key),
                    ));
                }
                Some(at(mpos, parse_field_mask(f, tok.key, m))?)
            }
            None => None,
        };
        Ok((value, mask))
    }

    fn token(&mut self, tok: &Token<'a>, ports: &dyn PortNames) -> PResult<()> {
        let name = tok.key;
        if let Some(f) = Field::from_name(name) {
            let (v, m) = Self::value_mask(f, tok, ports)?;
            return self.add(f, v, m, tok.key_pos, name, false);
        }
        let shorthand = match name {
            "ip" => Some((et::IPV4, None)),
            "ipv6" => Some((et::IPV6, None)),
            "tcp" => Some((et::IPV4, Some(ipproto::TCP))),
            "tcp6" => Some((et::IPV6, Some(ipproto::TCP))),
            "udp" => Some((et::IPV4, Some(ipproto::UDP))),
            "udp6" => Some((et::IPV6, Some(ipproto::UDP))),
            "sctp" => Some((et::IPV4, Some(ipproto::SCTP))),
            "sctp6" => Some((et::IPV6, Some(ipproto::SCTP))),
            "icmp" => Some((et::IPV4, Some(ipproto::ICMP))),
            "icmp6" => Some((et::IPV6, Some(ipproto::ICMPV6))),
            "arp" => Some((et::ARP, None)),
            "rarp" => Some((et::RARP, None)),
            "mpls" => Some((et::MPLS, None)),
            "mplsm" => Some((et::MPLS_MCAST, None)),
            _ => None,
        };
        if let Some((eth, proto)) = shorthand {
            no_value(tok)?;
            self.add(Field::EthType, eth.into(), None, tok.key_pos, name, true)?;
            if let Some(p) = proto {
                self.add(Field::IpProto, p.into(), None, tok.key_pos, name, true)?;
            }
            return Ok(());
        }
        let vpos = tok.value_pos;
        match name {
            "dl_vlan" => {
                let s = need_value(tok)?;
                if s.contains('/') {
                    return Err((
                        vpos,
                        "dl_vlan does not take a mask; use vlan_vid=VALUE/MASK".into(),
                    ));
                }
                let v = at(vpos, parse_uint(s, 16))?;
                let vid = match v {
                    0xffff => u128::from(super::field::OFPVID_NONE),
                    0..=0x0fff => v | u128::from(OFPVID_PRESENT),
                    _ => {
                        let msg = format!(
                            "dl_vlan must be a VLAN id 0-4095 or 0xffff (no tag), found \"{s}\""
                        );
                        return Err((vpos, msg));
                    }
                };
                self.add(Field::VlanVid, vid, None, tok.key_pos, name, false)
            }
            "dl_vlan_pcp" => {
                let s = need_value(tok)?;
                if s.contains('/') {
                    return Err((vpos, "dl_vlan_pcp does not take a mask".into()));
                }
                let v = at(vpos, parse_field_value(Field::VlanPcp, name, s))?;
                self.add(Field::VlanPcp, v, None, tok.key_pos, name, false)?;
                self.implied_tag.get_or_insert((tok.key_pos, name));
                Ok(())
            }
            "vlan_tci" => {
                let s = need_value(tok)?;
                let (v, m) = split_mask(s, vpos);
                let v = at(vpos, parse_uint(v, 16))?;
                let m = match m {
                    Some((m, mpos)) => at(mpos, parse_uint(m, 16))?,
                    None => 0xffff,
                };
                let present = u128::from(OFPVID_PRESENT);
                let vid_mask = m & 0x1fff;
                let pcp_mask = m & 0xe000;
                let untagged = vid_mask & present != 0 && v & present == 0;
                if vid_mask != 0 {
                    self.add(
                        Field::VlanVid,
                        v & vid_mask,
                        Some(vid_mask),
                        tok.key_pos,
                        name,
                        false,
                    )?;
                }
                match pcp_mask {
                    0 => {}
                    0xe000 if untagged => {
                        if v & 0xe000 != 0 {
                            return Err((
                                vpos,
                                "vlan_tci: an untagged packet (CFI bit 0x1000 clear) has no PCP"
                                    .into(),
                            ));
                        }
                    }
                    0xe000 => {
                        self.add(Field::VlanPcp, v >> 13, None, tok.key_pos, name, false)?;
                        self.implied_tag.get_or_insert((tok.key_pos, name));
                    }
                    _ => return Err((
                        vpos,
                        "vlan_tci: the mask must cover all three PCP bits (0xe000) or none of them"
                            .into(),
                    )),
                }
                Ok(())
            }
            "nw_tos" => {
                let s = need_value(tok)?;
                if s.contains('/') {
                    return Err((vpos, "nw_tos does not take a mask".into()));
                }
                let v = at(vpos, parse_uint(s, 8))?;
                if v & 3 != 0 {
                    return Err((
                        vpos,
                        format!("nw_tos is the TOS byte and its low 2 (ECN) bits must be 0, found {s}; use ip_dscp for the 6-bit DSCP"),
                    ));
                }
                self.add(Field::IpDscp, v >> 2, None, tok.key_pos, name, false)
            }
            "tp_src" | "tp_dst" => {
                let s = need_value(tok)?;
                let (v, m) = split_mask(s, vpos);
                let v = at(vpos, parse_field_value(Field::TcpSrc, name, v))?;
                let m = match m {
                    Some((m, mpos)) => Some(at(mpos, parse_field_mask(Field::TcpSrc, name, m))?),
                    None => None,
                };
                let slot = &mut self.tp[usize::from(name == "tp_dst")];
                if slot.is_some() {
                    return Err((
                        tok.key_pos,
                        format!("{name} is matched twice; a field may appear only once"),
                    ));
                }
                *slot = Some((v, m, tok.key_pos, name));
                Ok(())
            }
            _ => {
                let msg = match suggest(name, MATCH_WORDS) {
                    Some(s) => format!("unknown field \"{name}\"; expected a match field such as {s}"),
                    None => format!(
                        "unknown field \"{name}\"; expected a match field (in_port, eth_type, nw_src, tcp_dst, ...), \
                         a protocol (ip, ipv6, tcp, udp, arp, ...) or a flow keyword (table, priority, cookie, actions, ...)"
                    ),
                };
                Err((tok.key_pos, msg))
            }
        }
    }

    /// Resolve deferred aliases and check prerequisites.
    fn finish(self) -> PResult<Match> {
        self.finish_with_facts().map(|(m, _)| m)
    }

    /// [`finish`](Self::finish), also returning what the match guarantees.
    fn finish_with_facts(mut self) -> PResult<(Match, PacketFacts)> {
        let tp = std::mem::take(&mut self.tp);
        for (is_src, (v, m, pos, name)) in [true, false]
            .into_iter()
            .zip(tp)
            .filter_map(|(s, t)| Some((s, t?)))
        {
            let f = match (self.m.exact(Field::IpProto).map(|p| p as u8), is_src) {
                (Some(ipproto::TCP), true) => Field::TcpSrc,
                (Some(ipproto::TCP), false) => Field::TcpDst,
                (Some(ipproto::UDP), true) => Field::UdpSrc,
                (Some(ipproto::UDP), false) => Field::UdpDst,
                (Some(ipproto::SCTP), true) => Field::SctpSrc,
                (Some(ipproto::SCTP), false) => Field::SctpDst,
                _ => {
                    return Err((
                        pos,
                        format!("{name} requires ip_proto=6, 17 or 132 (tcp, udp or sctp and their IPv6 forms)"),
                    ))
                }
            };
            self.add(f, v, m, pos, name, false)?;
        }
        if let Some((pos, name)) = self.implied_tag {
            let present = u128::from(OFPVID_PRESENT);
            match self.m.get_mut(Field::VlanVid) {
                None => {
                    self.m
                        .insert(Field::VlanVid, present, Some(present))
                        .map_err(|e| (pos, e.to_string()))?;
                    self.origin[Field::VlanVid.oxm_id() as usize] = (pos, name);
                }
                Some(v) if v.mask & present == 0 => {
                    v.mask |= present;
                    v.value |= present;
                }
                Some(v) if v.value & present == 0 => {
                    return Err((pos, format!("{name} matches tagged packets only, but vlan_vid matches untagged ones")));
                }
                Some(_) => {}
            }
        }
        let facts = PacketFacts::from_match(&self.m);
        let mut worst: Option<(usize, String)> = None;
        for f in self.m.fields() {
            let prereq = f.field.prereq();
            if facts.satisfies(prereq) {
                continue;
            }
            let (pos, name) = self.origin[f.field.oxm_id() as usize];
            if worst.as_ref().is_some_and(|w| w.0 <= pos) {
                continue;
            }
            let mut msg = format!("{name} requires {prereq}");
            if matches!(f.field, Field::Ipv4Src | Field::Ipv4Dst) && facts.eth_type == Some(et::ARP)
            {
                msg.push_str("; for ARP use arp_spa / arp_tpa");
            }
            worst = Some((pos, msg));
        }
        match worst {
            Some(w) => Err(w),
            None => {
                self.m.shrink_to_fit();
                Ok((self.m, facts))
            }
        }
    }
}

// ---------------------------------------------------------------------
// Flows

fn flow(text: &str, ports: &dyn PortNames) -> PResult<FlowEntry> {
    let mut lx = Lexer::new(text, 0, text.len()).with_rest_keys(&["actions", "action"]);
    let mut e = FlowEntry::default();
    let mut mb = MatchBuilder::new();
    let mut given: u8 = 0;
    let mut actions: Option<usize> = None;
    let mut once = |flag: u8, tok: &Token<'_>| -> PResult<()> {
        if given & flag != 0 {
            return Err((tok.key_pos, format!("{} is given twice", tok.key)));
        }
        given |= flag;
        Ok(())
    };
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        let vpos = tok.value_pos;
        match tok.key {
            "actions" | "action" => {
                if !matches!(tok.sep, Some(b'=') | Some(b':')) {
                    return Err((tok.key_pos, "expected actions=ACTION[,ACTION...]".into()));
                }
                actions = Some(vpos);
                break;
            }
            "table" => {
                once(1, &tok)?;
                let t = at(vpos, parse_u8(need_value(&tok)?, "table"))?;
                if t > OFPTT_MAX {
                    return Err((vpos, format!("table must be 0-{OFPTT_MAX}, found {t}")));
                }
                e.table = t;
            }
            "priority" => {
                once(2, &tok)?;
                e.priority = at(vpos, parse_u16(need_value(&tok)?, "priority"))?;
            }
            "cookie" => {
                once(4, &tok)?;
                let (v, m) = split_mask(need_value(&tok)?, vpos);
                e.cookie = at(vpos, parse_u64(v, "cookie"))?;
                if let Some((m, mpos)) = m {
                    e.cookie_mask = at(mpos, parse_u64(m, "cookie mask"))?;
                    e.cookie &= e.cookie_mask;
                }
            }
            "idle_timeout" => {
                once(8, &tok)?;
                e.idle_timeout = at(vpos, parse_u16(need_value(&tok)?, "idle_timeout"))?;
            }
            "hard_timeout" => {
                once(16, &tok)?;
                e.hard_timeout = at(vpos, parse_u16(need_value(&tok)?, "hard_timeout"))?;
            }
            // Printed by dump-flows; ignored so its output parses back.
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            key => match FlowFlags::NAMES.iter().find(|(n, _)| *n == key) {
                Some(&(_, flag)) => {
                    no_value(&tok)?;
                    e.flags.insert(flag);
                }
                None => mb.token(&tok, ports)?,
            },
        }
    }
    let Some(actions_pos) = actions else {
        return Err((
            text.trim_end().len(),
            "missing \"actions=\"; every flow needs actions (actions=drop to drop)".into(),
        ));
    };
    let (m, facts) = mb.finish_with_facts()?;
    e.r#match = m;
    e.instructions = instructions(text, actions_pos, text.len(), e.table, facts, ports)?;
    Ok(e)
}

/// Parsing context for actions: port names, what is known about the
/// packet (`None` = nothing tracked, as in group buckets), and whether to
/// check prerequisites as each action is parsed (an action list) or later
/// (an action set, checked in its execution order; `positions` then
/// records where each parsed action came from).
struct ActionCx<'p, 't> {
    ports: &'p dyn PortNames,
    facts: Option<PacketFacts>,
    check_now: bool,
    positions: Vec<(usize, &'t str)>,
}

fn needed_prereq(a: &Action) -> Option<super::field::Prereq> {
    use super::field::Prereq;
    const IP: &[u16] = &[et::IPV4, et::IPV6];
    const MPLS: &[u16] = &[et::MPLS, et::MPLS_MCAST];
    const PBB: &[u16] = &[et::PBB];
    match a {
        Action::SetField { field, .. } if *field == Field::VlanVid => Some(Prereq::VlanPresent),
        Action::SetField { field, .. } => Some(field.prereq()),
        Action::SetNwTtl(_) | Action::DecNwTtl => Some(Prereq::EthType(IP)),
        Action::SetMplsTtl(_)
        | Action::DecMplsTtl
        | Action::PopMpls(_)
        | Action::CopyTtlIn
        | Action::CopyTtlOut => Some(Prereq::EthType(MPLS)),
        Action::PopPbb => Some(Prereq::EthType(PBB)),
        _ => None,
    }
}

/// Check `a` against `facts` (then update them). `key` names the action
/// as written.
fn check_action(
    facts: &mut PacketFacts,
    a: &Action,
    pos: usize,
    key: &str,
    in_set: bool,
) -> PResult<()> {
    if let Some(p) = needed_prereq(a) {
        if !facts.satisfies(p) {
            let what = match a {
                Action::SetField { field, .. } => format!("setting {}", field.name()),
                _ => format!("\"{key}\""),
            };
            let from = if in_set {
                "from the match, the apply actions or an action that runs before it in the action set \
                 (pops, pushes and TTL changes run before set-fields)"
            } else {
                "from the match or an earlier action"
            };
            return Err((pos, format!("{what} requires {p}, {from}")));
        }
    }
    facts.apply(a);
    Ok(())
}

fn kind_of(key: &str) -> Option<InstructionKind> {
    let k = |s: &str| key.eq_ignore_ascii_case(s);
    Some(if k("meter") {
        InstructionKind::Meter
    } else if k("clear_actions") {
        InstructionKind::ClearActions
    } else if k("write_actions") {
        InstructionKind::WriteActions
    } else if k("write_metadata") {
        InstructionKind::WriteMetadata
    } else if k("goto_table") {
        InstructionKind::GotoTable
    } else {
        return None;
    })
}

/// The instruction list after `actions=`.
fn instructions(
    text: &str,
    start: usize,
    end: usize,
    table: u8,
    facts: PacketFacts,
    ports: &dyn PortNames,
) -> PResult<InstructionSet> {
    let mut lx = Lexer::new(text, start, end);
    let mut set = InstructionSet::new();
    let mut apply: Vec<Action> = Vec::new();
    let mut cx = ActionCx {
        ports,
        facts: Some(facts),
        check_now: true,
        positions: Vec::new(),
    };
    let mut last: Option<(InstructionKind, &str)> = None;
    let mut drop_at: Option<usize> = None;
    let mut other_at: Option<usize> = None;
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        if tok.key.eq_ignore_ascii_case("drop") {
            no_value(&tok)?;
            drop_at.get_or_insert(tok.key_pos);
            continue;
        }
        if tok.key.eq_ignore_ascii_case("apply_actions") {
            return Err((
                tok.key_pos,
                "apply_actions is implied: write the actions directly after actions=".into(),
            ));
        }
        other_at.get_or_insert(tok.key_pos);
        let kind = kind_of(tok.key).unwrap_or(InstructionKind::ApplyActions);
        if let Some((prev, prev_key)) = last {
            if kind == prev && kind != InstructionKind::ApplyActions {
                return Err((
                    tok.key_pos,
                    format!("duplicate {} instruction", kind.name()),
                ));
            }
            if kind < prev {
                return Err((
                    tok.key_pos,
                    format!(
                        "\"{}\" must come before \"{prev_key}\" (instructions go in the order meter, actions, \
                         clear_actions, write_actions, write_metadata, goto_table)",
                        tok.key
                    ),
                ));
            }
        }
        last = Some((kind, tok.key));
        let vpos = tok.value_pos;
        let ins = match kind {
            InstructionKind::ApplyActions => {
                action(&tok, &mut cx, &mut apply)?;
                continue;
            }
            InstructionKind::Meter => {
                Instruction::Meter(at(vpos, parse_meter_id(need_value(&tok)?))?)
            }
            InstructionKind::ClearActions => {
                no_value(&tok)?;
                Instruction::ClearActions
            }
            InstructionKind::WriteActions => {
                if tok.sep != Some(b'(') {
                    return Err((
                        tok.key_pos,
                        "expected write_actions(ACTION[,ACTION...])".into(),
                    ));
                }
                let facts = cx.facts.unwrap_or(PacketFacts::UNKNOWN);
                Instruction::WriteActions(write_actions(
                    text,
                    vpos,
                    vpos + tok.value.len(),
                    facts,
                    ports,
                )?)
            }
            InstructionKind::WriteMetadata => {
                let (v, m) = split_mask(need_value(&tok)?, vpos);
                let value = at(vpos, parse_u64(v, "write_metadata"))?;
                let mask = match m {
                    Some((m, mpos)) => at(mpos, parse_u64(m, "write_metadata mask"))?,
                    None => u64::MAX,
                };
                Instruction::WriteMetadata { value, mask }
            }
            InstructionKind::GotoTable => {
                let t = at(vpos, parse_u8(need_value(&tok)?, "goto_table"))?;
                if t > OFPTT_MAX {
                    return Err((vpos, format!("goto_table must be 1-{OFPTT_MAX}, found {t}")));
                }
                if t <= table {
                    return Err((
                        vpos,
                        format!("goto_table:{t} must go to a later table than this flow's table {table}"),
                    ));
                }
                Instruction::GotoTable(t)
            }
        };
        set.insert(ins).map_err(|e| (tok.key_pos, e.to_string()))?;
    }
    if let (Some(d), Some(_)) = (drop_at, other_at) {
        return Err((
            d,
            "\"drop\" must not be combined with other actions or instructions".into(),
        ));
    }
    apply.shrink_to_fit();
    set.insert(Instruction::ApplyActions(apply))
        .map_err(|e| (start, e.to_string()))?;
    Ok(set)
}

fn parse_meter_id(s: &str) -> Result<u32, String> {
    let id = parse_u32(s, "meter")?;
    if id == 0 || (id > OFPM_MAX && id != OFPM_SLOWPATH && id != OFPM_CONTROLLER) {
        return Err(format!("meter id must be 1-{OFPM_MAX}, found {s}"));
    }
    Ok(id)
}

/// A list of actions only (inside `write_actions(...)`, bucket `actions=`).
fn action_list<'t>(
    text: &'t str,
    start: usize,
    end: usize,
    cx: &mut ActionCx<'_, 't>,
) -> PResult<Vec<Action>> {
    let mut lx = Lexer::new(text, start, end);
    let mut out = Vec::new();
    let mut drop_at = None;
    let mut other = false;
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        if tok.key.eq_ignore_ascii_case("drop") {
            no_value(&tok)?;
            drop_at.get_or_insert(tok.key_pos);
            continue;
        }
        if let Some(kind) = kind_of(tok.key) {
            return Err((
                tok.key_pos,
                format!(
                    "{} is an instruction and cannot appear in an action list",
                    kind.name()
                ),
            ));
        }
        other = true;
        action(&tok, cx, &mut out)?;
    }
    if let (Some(d), true) = (drop_at, other) {
        return Err((d, "\"drop\" must not be combined with other actions".into()));
    }
    Ok(out)
}

/// Lower-case `s` into `buf` (keywords only; longer words are not keywords).
fn lower<'b>(s: &str, buf: &'b mut [u8; 24]) -> &'b str {
    if s.len() > buf.len() {
        return "";
    }
    let b = &mut buf[..s.len()];
    b.copy_from_slice(s.as_bytes());
    b.make_ascii_lowercase();
    std::str::from_utf8(b).unwrap_or("")
}

/// Check an action's prerequisites against the packet facts, then update
/// the facts, then append it.
fn emit<'t>(
    tok: &Token<'t>,
    cx: &mut ActionCx<'_, 't>,
    out: &mut Vec<Action>,
    a: Action,
) -> PResult<()> {
    if let Some(facts) = cx.facts.as_mut() {
        if cx.check_now {
            check_action(facts, &a, tok.key_pos, tok.key, false)?;
        } else {
            facts.apply(&a);
            cx.positions.push((tok.key_pos, tok.key));
        }
    }
    out.push(a);
    Ok(())
}

/// Parse `write_actions(...)`: the list becomes an action set, whose
/// prerequisites are checked in the set's execution order starting from
/// `facts` (what the match and the apply actions guarantee).
fn write_actions(
    text: &str,
    start: usize,
    end: usize,
    facts: PacketFacts,
    ports: &dyn PortNames,
) -> PResult<Vec<Action>> {
    let mut cx = ActionCx {
        ports,
        facts: Some(facts),
        check_now: false,
        positions: Vec::new(),
    };
    let list = action_list(text, start, end, &mut cx)?;
    let slots: Vec<(u8, u8)> = list.iter().map(Action::set_slot).collect();
    let set = action_set(list);
    let mut facts = facts;
    for a in &set {
        // Report the last action written of this type (the one that won).
        let (pos, key) = slots
            .iter()
            .rposition(|s| *s == a.set_slot())
            .and_then(|i| cx.positions.get(i))
            .map_or((start, "write_actions"), |&(p, k)| (p, k));
        check_action(&mut facts, a, pos, key, true)?;
    }
    Ok(set)
}

/// `set_field:VALUE[/MASK]->FIELD`.
fn parse_set_field(s: &str, pos: usize) -> PResult<Action> {
    let Some(arrow) = s.find("->") else {
        return Err((
            pos,
            format!("expected set_field:VALUE->FIELD, found \"{s}\""),
        ));
    };
    let (vtext, fname) = (&s[..arrow], &s[arrow + 2..]);
    let fpos = pos + arrow + 2;
    let field = writable_field(fname, fpos)?;
    let (v, m) = split_mask(vtext, pos);
    let value = at(pos, parse_field_value(field, fname, v))?;
    let mask = match m {
        Some((m, mpos)) => at(mpos, parse_field_mask(field, fname, m))?,
        None => field.full_mask(),
    };
    Ok(set_field_action(field, value, mask))
}

fn set_field_action(field: Field, value: u128, mask: u128) -> Action {
    let full = field.full_mask();
    let value = if field == Field::VlanVid && mask == full {
        value | u128::from(OFPVID_PRESENT)
    } else {
        value
    };
    Action::SetField {
        field,
        value: value & mask,
        mask,
    }
}

fn writable_field(name: &str, pos: usize) -> PResult<Field> {
    let field = Field::from_name(name).or_else(|| Field::from_register_name(name));
    match field {
        Some(f) if f.writable() => Ok(f),
        Some(Field::Metadata) => Err((
            pos,
            "metadata cannot be set by an action; use write_metadata:VALUE[/MASK]".into(),
        )),
        Some(_) => Err((
            pos,
            format!("{name} is read-only: actions may not write in_port, metadata or ipv6_exthdr"),
        )),
        None => {
            let msg = match name {
                "dl_vlan" | "vlan_tci" | "dl_vlan_pcp" => {
                    format!("cannot set {name}; set vlan_vid (0x1000|VID) and vlan_pcp, or use mod_vlan_vid / mod_vlan_pcp")
                }
                "nw_tos" => "cannot set nw_tos; set ip_dscp (6-bit DSCP) or use mod_nw_tos".into(),
                "tp_src" | "tp_dst" => format!("cannot set {name}; set tcp_/udp_/sctp_ src or dst, or use mod_{name}"),
                _ => match suggest(name, MATCH_WORDS) {
                    Some(s) => format!("unknown field \"{name}\"; expected a field such as {s}"),
                    None => format!("unknown field \"{name}\"; expected a field name such as eth_dst, nw_src or vlan_vid"),
                },
            };
            Err((pos, msg))
        }
    }
}

/// `load:VALUE->FIELD[]` or `load:VALUE->FIELD[a..b]` / `FIELD[n]`.
fn parse_load(s: &str, pos: usize) -> PResult<Action> {
    let Some(arrow) = s.find("->") else {
        return Err((
            pos,
            format!("expected load:VALUE->FIELD[START..END], found \"{s}\""),
        ));
    };
    let (vtext, dst) = (&s[..arrow], &s[arrow + 2..]);
    let dpos = pos + arrow + 2;
    let (fname, range) = match dst.find('[') {
        Some(i) => (&dst[..i], Some((&dst[i..], dpos + i))),
        None => (dst, None),
    };
    let field = writable_field(fname, dpos)?;
    let bits = field.bits();
    let (lo, hi) = match range {
        None => (0, bits - 1),
        Some((r, rpos)) => {
            let Some(inner) = r.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
                return Err((
                    rpos,
                    format!("expected [START..END] after {fname}, found \"{r}\""),
                ));
            };
            let bad = || {
                (
                    rpos,
                    format!("bad bit range \"{r}\" for {} ({bits} bits)", field.name()),
                )
            };
            let (lo, hi) = if inner.is_empty() {
                (0, bits - 1)
            } else if let Some((a, b)) = inner.split_once("..") {
                let a = parse_uint(a, 8).map_err(|_| bad())? as u32;
                let b = parse_uint(b, 8).map_err(|_| bad())? as u32;
                (a, b)
            } else {
                let n = parse_uint(inner, 8).map_err(|_| bad())? as u32;
                (n, n)
            };
            if lo > hi || hi >= bits {
                return Err(bad());
            }
            (lo, hi)
        }
    };
    let width = hi - lo + 1;
    let v = at(pos, parse_uint(vtext, 128))?;
    if v > max_of(width) {
        return Err((pos, format!("value {vtext} does not fit in {width} bits")));
    }
    Ok(set_field_action(field, v << lo, max_of(width) << lo))
}

fn parse_ethertype(tok: &Token<'_>, allowed: &[u16]) -> PResult<u16> {
    let s = need_value(tok)?;
    let t = at(tok.value_pos, parse_u16(s, tok.key))?;
    if !allowed.is_empty() && !allowed.contains(&t) {
        let list: Vec<String> = allowed.iter().map(|a| format!("0x{a:04x}")).collect();
        return Err((
            tok.value_pos,
            format!(
                "{} ethertype must be {}, found {s}",
                tok.key,
                list.join(" or ")
            ),
        ));
    }
    Ok(t)
}

/// One action token; legacy ovs spellings may expand to two actions.
fn action<'t>(tok: &Token<'t>, cx: &mut ActionCx<'_, 't>, out: &mut Vec<Action>) -> PResult<()> {
    let mut buf = [0u8; 24];
    let key = lower(tok.key, &mut buf);
    let vpos = tok.value_pos;
    let val = || need_value(tok);
    let a = match key {
        "output" => {
            if tok.sep == Some(b'(') {
                return Err((
                    tok.key_pos,
                    "output(...) is not supported; use output:PORT".into(),
                ));
            }
            Action::Output(at(vpos, parse_out_port(val()?, cx.ports))?)
        }
        "controller" => {
            let max_len = match tok.sep {
                None => OFPCML_NO_BUFFER,
                Some(b'(') => {
                    let mut max_len = OFPCML_NO_BUFFER;
                    let mut lx = Lexer::new(tok.value, 0, tok.value.len());
                    while let Some(t) = lx.next_token() {
                        let t = t.map_err(|(p, m)| (vpos + p, m))?;
                        if t.key != "max_len" {
                            return Err((
                                vpos + t.key_pos,
                                format!("unsupported controller option \"{}\"; only max_len=N is supported", t.key),
                            ));
                        }
                        max_len = at(vpos + t.value_pos, parse_u16(need_value(&t)?, "max_len"))?;
                    }
                    max_len
                }
                Some(_) => at(vpos, parse_u16(val()?, "controller max_len"))?,
            };
            Action::Output(OutPort::Controller { max_len })
        }
        "in_port" | "normal" | "flood" | "all" | "local" if tok.sep.is_none() => {
            Action::Output(at(tok.key_pos, parse_out_port(tok.key, cx.ports))?)
        }
        "group" => {
            let g = at(vpos, parse_u32(val()?, "group"))?;
            if g > OFPG_MAX {
                return Err((vpos, format!("group id must be 0-{OFPG_MAX}, found {g}")));
            }
            Action::Group(g)
        }
        "set_field" => parse_set_field(val()?, vpos)?,
        "load" => parse_load(val()?, vpos)?,
        "push_vlan" => Action::PushVlan(parse_ethertype(tok, &[et::VLAN, et::QINQ])?),
        "pop_vlan" | "strip_vlan" => {
            no_value(tok)?;
            Action::PopVlan
        }
        "push_mpls" => Action::PushMpls(parse_ethertype(tok, &[et::MPLS, et::MPLS_MCAST])?),
        "pop_mpls" => Action::PopMpls(parse_ethertype(tok, &[])?),
        "set_mpls_ttl" => Action::SetMplsTtl(at(vpos, parse_u8(val()?, "set_mpls_ttl"))?),
        "dec_mpls_ttl" => {
            no_value(tok)?;
            Action::DecMplsTtl
        }
        "mod_nw_ttl" | "set_nw_ttl" => Action::SetNwTtl(at(vpos, parse_u8(val()?, tok.key))?),
        "dec_ttl" => {
            if tok.sep.is_some() {
                return Err((
                    tok.key_pos,
                    "dec_ttl takes no arguments (controller ids are not supported)".into(),
                ));
            }
            Action::DecNwTtl
        }
        "copy_ttl_out" => {
            no_value(tok)?;
            Action::CopyTtlOut
        }
        "copy_ttl_in" => {
            no_value(tok)?;
            Action::CopyTtlIn
        }
        "push_pbb" => Action::PushPbb(parse_ethertype(tok, &[et::PBB])?),
        "pop_pbb" => {
            no_value(tok)?;
            Action::PopPbb
        }
        "set_queue" => Action::SetQueue(at(vpos, parse_u32(val()?, "set_queue"))?),
        "mod_dl_src" => Action::set_field(Field::EthSrc, at(vpos, parse_mac(val()?))?),
        "mod_dl_dst" => Action::set_field(Field::EthDst, at(vpos, parse_mac(val()?))?),
        "mod_nw_src" | "mod_nw_dst" => {
            let s = val()?;
            let ip =
                parse_ipv4(s).ok_or((vpos, format!("expected an IPv4 address, found \"{s}\"")))?;
            let f = if key == "mod_nw_src" {
                Field::Ipv4Src
            } else {
                Field::Ipv4Dst
            };
            Action::set_field(f, ip.into())
        }
        "mod_tp_src" | "mod_tp_dst" => {
            let p = at(vpos, parse_u16(val()?, tok.key))?;
            let src = key == "mod_tp_src";
            let proto = cx.facts.and_then(|f| f.ip_proto);
            let f = match (proto, src) {
                (Some(ipproto::TCP), true) => Field::TcpSrc,
                (Some(ipproto::TCP), false) => Field::TcpDst,
                (Some(ipproto::UDP), true) => Field::UdpSrc,
                (Some(ipproto::UDP), false) => Field::UdpDst,
                (Some(ipproto::SCTP), true) => Field::SctpSrc,
                (Some(ipproto::SCTP), false) => Field::SctpDst,
                _ => {
                    return Err((
                        tok.key_pos,
                        format!("{} requires ip_proto=6, 17 or 132 (tcp, udp or sctp) in the match; or use set_field", tok.key),
                    ))
                }
            };
            Action::set_field(f, p.into())
        }
        "mod_vlan_vid" | "mod_vlan_pcp" => {
            let (f, v) = if key == "mod_vlan_vid" {
                let v = at(vpos, parse_u16(val()?, tok.key))?;
                if v > 0x0fff {
                    return Err((
                        vpos,
                        format!("mod_vlan_vid must be a VLAN id 0-4095, found {v}"),
                    ));
                }
                (Field::VlanVid, u128::from(v | OFPVID_PRESENT))
            } else {
                let v = at(vpos, parse_field_value(Field::VlanPcp, tok.key, val()?))?;
                (Field::VlanPcp, v)
            };
            match cx.facts.map(|f| f.vlan) {
                Some(VlanState::Tagged) | None => {}
                Some(VlanState::Untagged) => emit(tok, cx, out, Action::PushVlan(et::VLAN))?,
                Some(VlanState::Unknown) => {
                    return Err((
                        tok.key_pos,
                        format!(
                            "{} needs to know whether the packet is tagged: match vlan_vid=0x1000/0x1000 (rewrite the tag) \
                             or vlan_vid=0 (push one), or use push_vlan and set_field",
                            tok.key
                        ),
                    ))
                }
            }
            Action::set_field(f, v)
        }
        "mod_nw_tos" => {
            let s = val()?;
            let t = at(vpos, parse_u8(s, "mod_nw_tos"))?;
            if t & 3 != 0 {
                return Err((
                    vpos,
                    format!("mod_nw_tos takes a TOS byte with the low 2 (ECN) bits 0, found {s}"),
                ));
            }
            Action::set_field(Field::IpDscp, u128::from(t >> 2))
        }
        "mod_nw_ecn" => Action::set_field(
            Field::IpEcn,
            at(vpos, parse_field_value(Field::IpEcn, tok.key, val()?))?,
        ),
        "set_tunnel" | "set_tunnel64" => Action::set_field(
            Field::TunnelId,
            at(vpos, parse_u64(val()?, tok.key))?.into(),
        ),
        "set_mpls_label" => Action::set_field(
            Field::MplsLabel,
            at(vpos, parse_field_value(Field::MplsLabel, tok.key, val()?))?,
        ),
        "set_mpls_tc" => Action::set_field(
            Field::MplsTc,
            at(vpos, parse_field_value(Field::MplsTc, tok.key, val()?))?,
        ),
        _ if tok.sep.is_none() => match parse_out_port(tok.key, cx.ports) {
            Ok(p) => Action::Output(p),
            Err(e) if tok.key.bytes().next().is_some_and(|b| b.is_ascii_digit()) => {
                return Err((tok.key_pos, e))
            }
            Err(_) => return Err(unknown_action(tok)),
        },
        _ => return Err(unknown_action(tok)),
    };
    emit(tok, cx, out, a)
}

fn unknown_action(tok: &Token<'_>) -> (usize, String) {
    let lower = tok.key.to_ascii_lowercase();
    let msg = match suggest(&lower, ACTION_WORDS) {
        Some(s) => format!("unknown action \"{}\"; expected an action such as {s}", tok.key),
        None => format!(
            "unknown action \"{}\"; expected an action (output:PORT, group:N, set_field:V->F, push_vlan:0x8100, ...) \
             or a port",
            tok.key
        ),
    };
    (tok.key_pos, msg)
}

// ---------------------------------------------------------------------
// Groups

fn group(text: &str, ports: &dyn PortNames) -> PResult<GroupEntry> {
    // Locate the buckets: each runs from its "bucket=" to the next one.
    let mut starts: Vec<(usize, usize)> = Vec::new();
    let mut lx = Lexer::new(text, 0, text.len());
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        if tok.key.eq_ignore_ascii_case("bucket") {
            if tok.sep != Some(b'=') {
                return Err((
                    tok.key_pos,
                    "expected bucket=[weight=N,][watch_port=P,]actions=...".into(),
                ));
            }
            starts.push((tok.key_pos, tok.value_pos));
        } else if starts.is_empty() && tok.key.eq_ignore_ascii_case("bucket_id") {
            return Err((tok.key_pos, "bucket_id requires OpenFlow 1.5".into()));
        }
    }
    let header_end = starts.first().map_or(text.len(), |s| s.0);
    let mut id = None;
    let mut kind = None;
    let mut lx = Lexer::new(text, 0, header_end);
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        let vpos = tok.value_pos;
        match tok.key {
            "group_id" => {
                if id.is_some() {
                    return Err((tok.key_pos, "group_id is given twice".into()));
                }
                let s = need_value(&tok)?;
                let g = at(vpos, parse_u32(s, "group_id"))?;
                if g > OFPG_MAX {
                    return Err((vpos, format!("group_id must be 0-{OFPG_MAX}, found {s}")));
                }
                id = Some(g);
            }
            "type" => {
                if kind.is_some() {
                    return Err((tok.key_pos, "type is given twice".into()));
                }
                kind = Some(match need_value(&tok)? {
                    "all" => GroupType::All,
                    "select" => GroupType::Select,
                    "indirect" => GroupType::Indirect,
                    "ff" | "fast_failover" => GroupType::FastFailover,
                    other => {
                        let msg = format!(
                            "unknown group type \"{other}\"; expected all, select, indirect or ff"
                        );
                        return Err((vpos, msg));
                    }
                });
            }
            "selection_method" | "selection_method_param" | "fields" => {
                return Err((tok.key_pos, format!("{} requires OpenFlow 1.5", tok.key)))
            }
            other => {
                return Err((
                    tok.key_pos,
                    format!("unknown group keyword \"{other}\"; expected group_id, type or bucket"),
                ))
            }
        }
    }
    let id = id.ok_or((0, "missing group_id=N".to_string()))?;
    let kind = kind.ok_or((0, "missing type=all|select|indirect|ff".to_string()))?;
    let mut buckets = Vec::with_capacity(starts.len());
    for (i, &(bpos, vstart)) in starts.iter().enumerate() {
        let bend = starts.get(i + 1).map_or(text.len(), |s| s.0);
        buckets.push(bucket(text, bpos, vstart, bend, kind, ports)?);
    }
    if kind == GroupType::Indirect && buckets.len() != 1 {
        let pos = starts.get(1).map_or(text.trim_end().len(), |s| s.0);
        return Err((
            pos,
            format!(
                "an indirect group has exactly one bucket, found {}",
                buckets.len()
            ),
        ));
    }
    Ok(GroupEntry {
        id,
        kind,
        buckets,
        source: SourceLoc::default(),
    })
}

fn bucket(
    text: &str,
    bpos: usize,
    start: usize,
    end: usize,
    kind: GroupType,
    ports: &dyn PortNames,
) -> PResult<Bucket> {
    let mut b = Bucket {
        weight: if kind == GroupType::Select { 1 } else { 0 },
        watch_port: port::ANY,
        watch_group: OFPG_ANY,
        actions: Vec::new(),
    };
    let mut cx = ActionCx {
        ports,
        facts: None,
        check_now: false,
        positions: Vec::new(),
    };
    let mut had_actions = false;
    let mut lx = Lexer::new(text, start, end);
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        let vpos = tok.value_pos;
        let mut buf = [0u8; 24];
        match lower(tok.key, &mut buf) {
            "weight" => {
                let w = at(vpos, parse_u16(need_value(&tok)?, "weight"))?;
                if kind != GroupType::Select && w != 0 {
                    return Err((
                        tok.key_pos,
                        "weight is only meaningful in select groups".into(),
                    ));
                }
                b.weight = w;
            }
            "watch_port" => {
                let s = need_value(&tok)?;
                let p = at(vpos, parse_port_no(s, ports))?;
                if p == 0
                    || (p > port::MAX
                        && p != port::ANY
                        && p != port::CONTROLLER
                        && p != port::LOCAL)
                {
                    return Err((vpos, format!("{s}: invalid watch_port")));
                }
                b.watch_port = p;
            }
            "watch_group" => {
                let s = need_value(&tok)?;
                let g = if s.eq_ignore_ascii_case("any") {
                    OFPG_ANY
                } else {
                    at(vpos, parse_u32(s, "watch_group"))?
                };
                if g > OFPG_MAX && g != OFPG_ANY {
                    return Err((vpos, format!("watch_group must be 0-{OFPG_MAX}, found {s}")));
                }
                b.watch_group = g;
            }
            "bucket_id" => return Err((tok.key_pos, "bucket_id requires OpenFlow 1.5".into())),
            "actions" | "action" if matches!(tok.sep, Some(b'=') | Some(b':')) => {
                had_actions = true;
                let mut list = action_list(text, vpos, end, &mut cx)?;
                b.actions.append(&mut list);
                break;
            }
            "drop" => {
                no_value(&tok)?;
                had_actions = true;
            }
            _ => {
                if let Some(k) = kind_of(tok.key) {
                    return Err((
                        tok.key_pos,
                        format!("{} is an instruction; buckets hold actions only", k.name()),
                    ));
                }
                had_actions = true;
                action(&tok, &mut cx, &mut b.actions)?;
            }
        }
    }
    if !had_actions {
        return Err((
            bpos,
            "bucket must specify actions (actions=drop for none)".into(),
        ));
    }
    if kind == GroupType::FastFailover && b.watch_port == port::ANY && b.watch_group == OFPG_ANY {
        return Err((
            bpos,
            "a fast failover bucket needs watch_port or watch_group".into(),
        ));
    }
    Ok(b)
}

// ---------------------------------------------------------------------
// Meters

fn meter(text: &str) -> PResult<MeterEntry> {
    let mut id = None;
    let mut flags = MeterFlags::default();
    let mut lx = Lexer::new(text, 0, text.len());
    let mut bands_at = None;
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        let vpos = tok.value_pos;
        let flag = match tok.key {
            "kbps" => Some(MeterFlags::KBPS),
            "pktps" => Some(MeterFlags::PKTPS),
            "burst" => Some(MeterFlags::BURST),
            "stats" => Some(MeterFlags::STATS),
            _ => None,
        };
        if let Some(f) = flag {
            no_value(&tok)?;
            flags.insert(f);
            continue;
        }
        match tok.key {
            "meter" => {
                if id.is_some() {
                    return Err((tok.key_pos, "meter is given twice".into()));
                }
                let s = need_value(&tok)?;
                id = Some(match s {
                    "controller" => OFPM_CONTROLLER,
                    "slowpath" => OFPM_SLOWPATH,
                    "all" => return Err((vpos, "meter=all is only valid for deleting or dumping meters".into())),
                    _ => at(vpos, parse_meter_id(s))?,
                });
            }
            "bands" | "band" => {
                if tok.sep != Some(b'=') {
                    return Err((tok.key_pos, "expected bands=type=drop,rate=N,...".into()));
                }
                bands_at = Some((tok.key_pos, vpos));
                break;
            }
            other => {
                return Err((
                    tok.key_pos,
                    format!("unknown meter keyword \"{other}\"; expected meter, kbps, pktps, burst, stats or bands"),
                ))
            }
        }
    }
    let id = id.ok_or((0, "missing meter=ID".to_string()))?;
    let end = text.trim_end().len();
    if flags.contains(MeterFlags::KBPS) && flags.contains(MeterFlags::PKTPS) {
        return Err((0, "a meter is either kbps or pktps, not both".into()));
    }
    if !flags.contains(MeterFlags::KBPS) && !flags.contains(MeterFlags::PKTPS) {
        return Err((0, "meter must specify either kbps or pktps".into()));
    }
    let Some((bands_key, bands_pos)) = bands_at else {
        return Err((end, "missing bands=type=drop|dscp_remark,rate=N,...".into()));
    };
    // (band, position of its type=, explicit burst_size, prec_level given)
    let mut bands: Vec<(Band, usize, bool, bool)> = Vec::new();
    let mut lx = Lexer::new(text, bands_pos, text.len());
    while let Some(tok) = lx.next_token() {
        let tok = tok?;
        let vpos = tok.value_pos;
        let s = need_value(&tok)?;
        if tok.key == "type" {
            let kind = match s {
                "drop" => BandKind::Drop,
                "dscp_remark" => BandKind::DscpRemark { prec_level: 0 },
                other => {
                    return Err((
                        vpos,
                        format!("unknown band type \"{other}\"; expected drop or dscp_remark"),
                    ))
                }
            };
            bands.push((
                Band {
                    kind,
                    rate: 0,
                    burst_size: 0,
                },
                tok.key_pos,
                false,
                false,
            ));
            continue;
        }
        let Some(cur) = bands.last_mut() else {
            return Err((
                tok.key_pos,
                "a band must start with type=drop or type=dscp_remark".into(),
            ));
        };
        match tok.key {
            "rate" => cur.0.rate = at(vpos, parse_u32(s, "rate"))?,
            "burst_size" => {
                cur.0.burst_size = at(vpos, parse_u32(s, "burst_size"))?;
                cur.2 = true;
            }
            "prec_level" => {
                let p = at(vpos, parse_u8(s, "prec_level"))?;
                match &mut cur.0.kind {
                    BandKind::DscpRemark { prec_level } => *prec_level = p,
                    BandKind::Drop => return Err((tok.key_pos, "only a dscp_remark band has prec_level".into())),
                }
                cur.3 = true;
            }
            other => {
                return Err((
                    tok.key_pos,
                    format!("unknown band keyword \"{other}\"; expected type, rate, burst_size or prec_level"),
                ))
            }
        }
    }
    if bands.is_empty() {
        return Err((bands_key, "meter must have at least one band".into()));
    }
    let burst = flags.contains(MeterFlags::BURST);
    for (band, pos, has_burst, _) in &bands {
        if band.rate == 0 {
            return Err((*pos, "band must have a rate above 0 (rate=N)".into()));
        }
        if let BandKind::DscpRemark { prec_level: 0 } = band.kind {
            return Err((
                *pos,
                "a dscp_remark band must have prec_level=N (1 or more)".into(),
            ));
        }
        if burst && band.burst_size == 0 {
            return Err((
                *pos,
                "band must have burst_size=N (above 0) when the meter has the burst flag".into(),
            ));
        }
        if !burst && *has_burst && band.burst_size != 0 {
            return Err((
                *pos,
                "band may have burst_size only when the meter has the burst flag".into(),
            ));
        }
    }
    Ok(MeterEntry {
        id,
        flags,
        bands: bands.into_iter().map(|b| b.0).collect(),
        source: SourceLoc::default(),
    })
}
