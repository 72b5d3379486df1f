//! `[pipeline]`: the OpenFlow rules of the switch, in ovs-ofctl syntax.
//!
//! ```toml
//! [[port]]
//! name = "vf1"
//! device = "0000:03:02.0"
//! ofport = 10              # optional; default: the port's index + 1
//!
//! [pipeline]
//! flows = [
//!   "table=0,priority=10,in_port=vf1,ip,actions=push_vlan:0x8100,set_field:5->vlan_vid,output:uplink",
//!   'table=0,priority=0,actions=drop',          # literal strings work too
//! ]
//! groups = ["group_id=1,type=select,bucket=actions=output:1,bucket=actions=output:2"]
//! meters = ["meter=1,pktps,band=type=drop,rate=1000"]
//! flows_file = "r2.flows"  # and/or files, one entry a line (`ovs-ofctl add-flows`),
//! groups_file = "r2.groups"  # relative to this file's directory
//! meters_file = "r2.meters"
//! flow_cache_slots = 8192  # each worker's flow cache (see below)
//! ```
//!
//! What: [`load`] parses every flow, group and meter (ports by config name
//! or OpenFlow number), compiles them into the
//! [`CompiledPipeline`](crate::pipeline::CompiledPipeline) the workers run
//! (so that dangling ports, groups, meters and gotos are config errors),
//! and returns a [`PipelineConfig`] that remembers where every entry was
//! written ([`Sources`]). Inline entries come first, then the file's, in
//! order (that order breaks priority ties: the first one wins).
//!
//! Errors point at the exact place: for an inline string, the TOML file's
//! line and column of the offending character inside the string (the
//! string's source text is decoded again — basic strings with escapes,
//! literal and multi-line strings — to map the parser's column back); for a
//! file, `FILE:LINE:COL`. Every error found is reported (the first as the
//! error's location, the others on the following lines), and any error
//! rejects the whole config: nothing half-loads.
//!
//! `flow_cache_slots` sizes each worker's exact-match flow cache
//! ([`crate::pipeline::FlowCache`]): a power of two within
//! 4..=16777216, 64 bytes each (128 for flows matching more than 192 bits
//! of fields, IPv6 addresses say; the default, 8192, is 512 KiB a worker),
//! or 0 for no cache. The cache serves the flows that fit it; with many
//! more flows than slots it bypasses itself. Traffic of 100,000 flows
//! wants about ten slots a flow (1048576: 64 MiB a worker); with over
//! 4,096 cached paths a worker prefetches a burst's slots before
//! processing it.
//!
//! Without `[pipeline]` the static `[[forward]]` map is in force; giving
//! both is an error.
//!
//! Threads: admin thread (load, reload, `sluice check`, `sluice trace`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{Config, ConfigError, PortConfig, RawPort, SourceMap};
use crate::openflow::{
    parse_flow, parse_flows_file, parse_group, parse_groups_file, parse_meter, parse_meters_file,
    port, FlowEntry, GroupEntry, MeterEntry, ParseError, SourceLoc,
};
use crate::pipeline::trace::{packet_from_spec, SpecError, Tracer};
use crate::pipeline::{CompileError, CompiledPipeline, Diagnostic, Site, DEFAULT_SALT};
use crate::wire::pcap::PcapReader;

/// At most this many errors are listed (the rest are counted).
const MAX_LISTED: usize = 20;

/// `[pipeline]` as serde reads it.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPipeline {
    #[serde(default)]
    flows: Vec<Spanned<String>>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    meters: Vec<Spanned<String>>,
    flows_file: Option<Spanned<String>>,
    groups_file: Option<Spanned<String>>,
    meters_file: Option<Spanned<String>>,
    flow_cache_slots: Option<Spanned<u64>>,
}

/// Slots of each worker's flow cache when `flow_cache_slots` is not given.
pub const DEFAULT_FLOW_CACHE_SLOTS: usize = 8192;
/// Most `flow_cache_slots` (1 GiB a worker, 2 GiB with wide keys).
pub const MAX_FLOW_CACHE_SLOTS: usize = 1 << 24;

/// Where one flow, group or meter was written: the config file (inline
/// strings) or a flows/groups/meters file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Origin {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: self.line as usize,
            col: self.col as usize,
            message: message.into(),
        }
    }
}

/// Origins of the entries of a [`PipelineConfig`], index for index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    pub flows: Vec<Origin>,
    pub groups: Vec<Origin>,
    pub meters: Vec<Origin>,
}

/// The validated `[pipeline]` section.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// In add order (inline, then the file). Each entry's `source` is its
    /// line and column in the file it came from (see `sources`).
    pub flows: Vec<FlowEntry>,
    pub groups: Vec<GroupEntry>,
    pub meters: Vec<MeterEntry>,
    pub sources: Sources,
    /// The rules compiled for the configured ports (validation compiles
    /// them; the workers share this).
    pub compiled: Arc<CompiledPipeline>,
    /// Compiler warnings (replaced and overlapping flows, flows on ports
    /// that do not exist), located.
    pub warnings: Vec<ConfigError>,
    /// The flows, groups and meters files read (with their hashes).
    pub inputs: Vec<super::InputFile>,
    /// Slots of each worker's flow cache (0: none).
    pub flow_cache_slots: usize,
}

impl PipelineConfig {
    /// Compiles the rules for `ports` (OpenFlow numbers by port index):
    /// the pipeline and its warnings, or every compile error, located.
    pub fn compile(
        &self,
        ports: &[u32],
    ) -> Result<(CompiledPipeline, Vec<ConfigError>), ConfigError> {
        build(
            &self.flows,
            &self.groups,
            &self.meters,
            &self.sources,
            ports,
        )
    }

    /// A tracer over these rules (`sluice trace`).
    pub fn tracer(&self) -> Tracer {
        Tracer::new(
            Arc::clone(&self.compiled),
            &self.flows,
            &self.groups,
            &self.meters,
        )
    }

    /// Lines for `sluice check`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  pipeline: {} flows, {} groups, {} meters",
            self.compiled.len(),
            self.groups.len(),
            self.meters.len()
        );
        for t in self.compiled.table_info([]) {
            let _ = writeln!(s, "    table {}: {} flows, {}", t.id, t.entries, t.kind);
        }
        let cache = match self.flow_cache_slots {
            0 => "off (flow_cache_slots = 0)".to_string(),
            _ if !self.compiled.cacheable() => "off (the flows match too many field bits)".into(),
            n => format!(
                "{n} slots a worker ({} KiB)",
                self.compiled.flow_cache_bytes(n) / 1024
            ),
        };
        let _ = writeln!(s, "    flow cache: {cache}");
        for w in self.warnings.iter().take(MAX_LISTED) {
            let _ = writeln!(s, "    warning: {w}");
        }
        if self.warnings.len() > MAX_LISTED {
            let _ = writeln!(
                s,
                "    ... and {} more warnings",
                self.warnings.len() - MAX_LISTED
            );
        }
        s
    }
}

/// The OpenFlow port numbers of the configured ports, by index: `ofport`
/// where given (1..=0xffffff00, unique), else index + 1 (which must not
/// collide with an explicit one).
pub(super) fn ofports(raw: &[RawPort], map: &SourceMap<'_>) -> Result<Vec<u32>, ConfigError> {
    let mut taken: HashMap<u32, usize> = HashMap::new();
    for (i, p) in raw.iter().enumerate() {
        let Some(n) = &p.ofport else { continue };
        let v = *n.get_ref();
        if v == 0 || v > port::MAX {
            return Err(map.error(
                n.span(),
                format!(
                    "ofport must be within 1..={} (0x{:x})",
                    port::MAX,
                    port::MAX
                ),
            ));
        }
        if let Some(j) = taken.insert(v, i) {
            return Err(map.error(
                n.span(),
                format!("ofport {v} is already port {:?}'s", raw[j].name.get_ref()),
            ));
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        match &p.ofport {
            Some(n) => out.push(*n.get_ref()),
            None => {
                let v = i as u32 + 1;
                if let Some(&j) = taken.get(&v) {
                    let span = raw[j]
                        .ofport
                        .as_ref()
                        .map_or(raw[j].name.span(), |n| n.span());
                    return Err(map.error(
                        span,
                        format!(
                            "ofport {v} is also the default number of port {:?} (its index + 1); \
                             give that port an explicit ofport too",
                            p.name.get_ref()
                        ),
                    ));
                }
                out.push(v);
            }
        }
    }
    Ok(out)
}

/// Port names → OpenFlow numbers, for the parser.
pub fn port_names(ports: &[PortConfig]) -> BTreeMap<String, u32> {
    ports.iter().map(|p| (p.name.clone(), p.ofport)).collect()
}

/// Combines errors into one: the first, then the others on their own
/// lines (at most [`MAX_LISTED`]).
fn combine(mut errors: Vec<ConfigError>) -> ConfigError {
    let total = errors.len();
    let rest: Vec<ConfigError> = errors.drain(1.min(total)..).collect();
    let mut first = errors.pop().unwrap_or(ConfigError {
        file: String::new(),
        line: 0,
        col: 0,
        message: "no error".into(),
    });
    for e in rest.iter().take(MAX_LISTED - 1) {
        let _ = write!(first.message, "\n{e}");
    }
    if total > MAX_LISTED {
        let _ = write!(
            first.message,
            "\n... and {} more errors",
            total - MAX_LISTED
        );
    }
    first
}

/// Decodes the source text of a TOML string (quotes included): the value
/// and, for each byte offset of the value (and its end), the byte offset
/// in `src` it came from. `None` for text that is not a string this
/// decoder knows (the caller then points at the string's start).
fn decode_string(src: &str) -> Option<(String, Vec<usize>)> {
    let (delim, multi) = if src.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if src.starts_with("'''") {
        ("'''", true)
    } else if src.starts_with('"') {
        ("\"", false)
    } else if src.starts_with('\'') {
        ("'", false)
    } else {
        return None;
    };
    let literal = delim.starts_with('\'');
    let end = src.len().checked_sub(delim.len())?;
    if end < delim.len() || !src[end..].starts_with(delim) {
        return None;
    }
    let mut i = delim.len();
    if multi {
        if src[i..].starts_with("\r\n") {
            i += 2;
        } else if src[i..].starts_with('\n') {
            i += 1;
        }
    }
    let mut out = String::with_capacity(end - i);
    let mut map = Vec::with_capacity(end - i + 1);
    let push = |out: &mut String, map: &mut Vec<usize>, c: char, at: usize, same: bool| {
        for k in 0..c.len_utf8() {
            map.push(if same { at } else { at + k });
        }
        out.push(c);
    };
    while i < end {
        let c = src[i..].chars().next()?;
        if literal || c != '\\' {
            push(&mut out, &mut map, c, i, false);
            i += c.len_utf8();
            continue;
        }
        let next = src[i + 1..].chars().next()?;
        let simple = match next {
            'b' => Some('\u{8}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(d) = simple {
            push(&mut out, &mut map, d, i, true);
            i += 2;
            continue;
        }
        let hex = match next {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => 0,
        };
        if hex > 0 {
            let digits = src.get(i + 2..i + 2 + hex)?;
            let d = char::from_u32(u32::from_str_radix(digits, 16).ok()?)?;
            push(&mut out, &mut map, d, i, true);
            i += 2 + hex;
            continue;
        }
        // A line-ending backslash (multi-line basic strings): the newline
        // and all whitespace after it disappear.
        if !multi {
            return None;
        }
        let mut j = i + 1;
        let rest = src.as_bytes();
        while j < end && matches!(rest[j], b' ' | b'\t') {
            j += 1;
        }
        if j >= end || !matches!(rest[j], b'\n' | b'\r') {
            return None;
        }
        while j < end && matches!(rest[j], b' ' | b'\t' | b'\n' | b'\r') {
            j += 1;
        }
        i = j;
    }
    map.push(end);
    Some((out, map))
}

/// The byte offset in `value` of 1-based `line`:`col` (characters).
fn value_offset(value: &str, line: u32, col: u32) -> usize {
    let mut off = 0;
    for _ in 1..line.max(1) {
        match value[off..].find('\n') {
            Some(n) => off += n + 1,
            None => break,
        }
    }
    let skip = col.max(1) as usize - 1;
    match value[off..].char_indices().nth(skip) {
        Some((i, _)) => off + i,
        None => value.len(),
    }
}

/// One inline string of the TOML: maps positions in its value to the TOML.
struct Inline<'a> {
    map: &'a SourceMap<'a>,
    span: std::ops::Range<usize>,
    /// Value byte → TOML byte offset (absolute), if the source decodes.
    offsets: Option<Vec<usize>>,
}

impl<'a> Inline<'a> {
    fn new(map: &'a SourceMap<'a>, s: &Spanned<String>) -> Self {
        let span = s.span();
        let offsets = map
            .text
            .get(span.clone())
            .and_then(decode_string)
            .filter(|(v, _)| v == s.get_ref())
            .map(|(_, m)| m.into_iter().map(|o| o + span.start).collect());
        Inline { map, span, offsets }
    }

    /// The TOML offset of `line`:`col` of the value.
    fn offset(&self, value: &str, line: u32, col: u32) -> usize {
        match &self.offsets {
            Some(m) => m
                .get(value_offset(value, line, col))
                .copied()
                .unwrap_or(self.span.start),
            None => self.span.start,
        }
    }

    fn error(&self, value: &str, e: &ParseError) -> ConfigError {
        let mut err = self
            .map
            .error_at(self.offset(value, e.line, e.col), e.message.clone());
        if self.offsets.is_none() {
            err.message.push_str(&format!(
                " (at {}:{} of the string; its escapes could not be mapped back)",
                e.line, e.col
            ));
        }
        err
    }

    fn origin(&self, file: &Arc<str>, value: &str, at: SourceLoc) -> Origin {
        let e = self.map.error_at(self.offset(value, at.line, at.col), "");
        Origin {
            file: Arc::clone(file),
            line: e.line as u32,
            col: e.col as u32,
        }
    }
}

/// Parses a whole file of entries (all or every line's error).
type FileParser<'a, T> = &'a dyn Fn(&str) -> Result<Vec<T>, Vec<ParseError>>;

/// Entries of one kind: inline strings, then a file.
struct Part<'a, T> {
    inline: &'a [Spanned<String>],
    file: Option<&'a Spanned<String>>,
    parse_one: &'a dyn Fn(&str) -> Result<T, ParseError>,
    parse_file: FileParser<'a, T>,
    source: fn(&mut T) -> &mut SourceLoc,
    what: &'static str,
}

fn load_part<T>(
    p: Part<'_, T>,
    map: &SourceMap<'_>,
    config_file: &Arc<str>,
    dir: &Path,
    errors: &mut Vec<ConfigError>,
    inputs: &mut Vec<super::InputFile>,
) -> (Vec<T>, Vec<Origin>) {
    let mut out = Vec::new();
    let mut origins = Vec::new();
    for s in p.inline {
        let inline = Inline::new(map, s);
        let value = s.get_ref();
        match (p.parse_one)(value) {
            Ok(mut entry) => {
                let loc = (p.source)(&mut entry);
                let o = inline.origin(config_file, value, *loc);
                *loc = SourceLoc {
                    line: o.line,
                    col: o.col,
                };
                origins.push(o);
                out.push(entry);
            }
            Err(e) => errors.push(inline.error(value, &e)),
        }
    }
    if let Some(f) = p.file {
        let path: PathBuf = dir.join(f.get_ref());
        let name: Arc<str> = Arc::from(path.display().to_string());
        let read = std::fs::read_to_string(&path);
        if let Ok(text) = &read {
            inputs.push(super::InputFile::new(path.clone(), text.as_bytes()));
        }
        match read {
            Err(e) => errors.push(map.error(
                f.span(),
                format!("cannot read {} file {}: {e}", p.what, path.display()),
            )),
            Ok(text) => match (p.parse_file)(&text) {
                Ok(entries) => {
                    for mut entry in entries {
                        let loc = *(p.source)(&mut entry);
                        origins.push(Origin {
                            file: Arc::clone(&name),
                            line: loc.line,
                            col: loc.col,
                        });
                        out.push(entry);
                    }
                }
                Err(es) => errors.extend(es.into_iter().map(|e| ConfigError {
                    file: name.to_string(),
                    line: e.line as usize,
                    col: e.col as usize,
                    message: e.message,
                })),
            },
        }
    }
    (out, origins)
}

/// Parses and compiles `[pipeline]` (see the module docs). `names` maps
/// port names to OpenFlow numbers; `ofports` are the numbers by port
/// index.
pub(super) fn load(
    raw: &RawPipeline,
    map: &SourceMap<'_>,
    names: &BTreeMap<String, u32>,
    ofports: &[u32],
) -> Result<PipelineConfig, ConfigError> {
    let config_file: Arc<str> = Arc::from(map.file);
    let dir = config_dir(map.file);
    let mut errors = Vec::new();
    // A cache has at least one set.
    const MIN: usize = crate::pipeline::FlowCache::WAYS;
    let flow_cache_slots = match &raw.flow_cache_slots {
        None => DEFAULT_FLOW_CACHE_SLOTS,
        Some(v) => match usize::try_from(*v.get_ref()) {
            Ok(n)
                if n == 0 || ((MIN..=MAX_FLOW_CACHE_SLOTS).contains(&n) && n.is_power_of_two()) =>
            {
                n
            }
            _ => {
                errors.push(map.error(
                    v.span(),
                    format!(
                        "flow_cache_slots must be 0 (no cache) or a power of two within \
                         {MIN}..={MAX_FLOW_CACHE_SLOTS}"
                    ),
                ));
                0
            }
        },
    };
    let mut inputs = Vec::new();
    let parse_flow_one = |t: &str| parse_flow(t, names);
    let parse_flow_file = |t: &str| parse_flows_file(t, names);
    let parse_group_one = |t: &str| parse_group(t, names);
    let parse_group_file = |t: &str| parse_groups_file(t, names);
    let (meters, meter_origins) = load_part(
        Part {
            inline: &raw.meters,
            file: raw.meters_file.as_ref(),
            parse_one: &parse_meter,
            parse_file: &parse_meters_file,
            source: |m: &mut MeterEntry| &mut m.source,
            what: "meters",
        },
        map,
        &config_file,
        &dir,
        &mut errors,
        &mut inputs,
    );
    let (groups, group_origins) = load_part(
        Part {
            inline: &raw.groups,
            file: raw.groups_file.as_ref(),
            parse_one: &parse_group_one,
            parse_file: &parse_group_file,
            source: |g: &mut GroupEntry| &mut g.source,
            what: "groups",
        },
        map,
        &config_file,
        &dir,
        &mut errors,
        &mut inputs,
    );
    let (flows, flow_origins) = load_part(
        Part {
            inline: &raw.flows,
            file: raw.flows_file.as_ref(),
            parse_one: &parse_flow_one,
            parse_file: &parse_flow_file,
            source: |f: &mut FlowEntry| &mut f.source,
            what: "flows",
        },
        map,
        &config_file,
        &dir,
        &mut errors,
        &mut inputs,
    );
    if !errors.is_empty() {
        return Err(combine(errors));
    }
    let sources = Sources {
        flows: flow_origins,
        groups: group_origins,
        meters: meter_origins,
    };
    let (compiled, warnings) = build(&flows, &groups, &meters, &sources, ofports)?;
    Ok(PipelineConfig {
        flows,
        groups,
        meters,
        sources,
        compiled: Arc::new(compiled),
        warnings,
        inputs,
        flow_cache_slots,
    })
}

/// The directory relative file names are taken from.
fn config_dir(file: &str) -> PathBuf {
    match Path::new(file).parent() {
        Some(p) if !p.as_os_str().is_empty() && !file.starts_with('<') => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A compile diagnostic at its origin.
fn located(d: &Diagnostic, sources: &Sources) -> ConfigError {
    let (list, i, what) = match d.site {
        Site::Flow(i) => (&sources.flows, i, "flow"),
        Site::Group(i) => (&sources.groups, i, "group"),
        Site::Meter(i) => (&sources.meters, i, "meter"),
    };
    match list.get(i) {
        Some(o) => o.error(d.message.clone()),
        None => ConfigError {
            file: String::new(),
            line: 0,
            col: 0,
            message: format!("{what} #{}: {}", i + 1, d.message),
        },
    }
}

/// Compiles rules whose origins are `sources` for `ports`: the pipeline
/// and its located warnings, or every compile error, located.
pub fn build(
    flows: &[FlowEntry],
    groups: &[GroupEntry],
    meters: &[MeterEntry],
    sources: &Sources,
    ports: &[u32],
) -> Result<(CompiledPipeline, Vec<ConfigError>), ConfigError> {
    match CompiledPipeline::build(flows, groups, meters, ports, DEFAULT_SALT) {
        Ok(p) => {
            let warnings = p.warnings().iter().map(|d| located(d, sources)).collect();
            Ok((p, warnings))
        }
        Err(CompileError { errors }) => Err(combine(
            errors.iter().map(|d| located(d, sources)).collect(),
        )),
    }
}

/// Why `sluice trace` cannot trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0} has no [pipeline]: the static [[forward]] map is in force")]
    NoPipeline(String),
    #[error("packet description: {0}")]
    Spec(#[from] SpecError),
    #[error("{0:?} is not a configured port name or OpenFlow number")]
    UnknownPort(String),
    #[error("{path}: {message}")]
    Pcap { path: String, message: String },
}

/// The OpenFlow number of a port given by name or number.
fn resolve_port(config: &Config, p: &str) -> Result<u32, TraceError> {
    if let Some(c) = config.ports.iter().find(|c| c.name == p) {
        return Ok(c.ofport);
    }
    match p.parse::<u32>() {
        Ok(n) if config.ports.iter().any(|c| c.ofport == n) => Ok(n),
        _ => Err(TraceError::UnknownPort(p.to_string())),
    }
}

fn pipeline_of(config: &Config) -> Result<&PipelineConfig, TraceError> {
    config
        .pipeline
        .as_ref()
        .ok_or_else(|| TraceError::NoPipeline(config.source.clone()))
}

/// `sluice trace --config FILE 'in_port=1,tcp,nw_src=10.0.0.1,tp_dst=80'`:
/// the packet the description gives (ports by name or number; without
/// `in_port`, the first configured port) traced through the pipeline.
pub fn trace(config: &Config, packet_spec: &str) -> Result<String, TraceError> {
    let p = pipeline_of(config)?;
    let names = port_names(&config.ports);
    let sp = packet_from_spec(packet_spec, &names)?;
    let in_port = sp
        .in_port
        .or_else(|| config.ports.first().map(|c| c.ofport))
        .unwrap_or(1);
    Ok(p.tracer().trace(&sp.frame, in_port, sp.regs))
}

/// `sluice trace --config FILE --pcap PCAP [--in-port P]`: every packet of
/// a pcap traced, received on `in_port` (name or number; default the first
/// configured port).
pub fn trace_pcap(
    config: &Config,
    path: &Path,
    in_port: Option<&str>,
) -> Result<String, TraceError> {
    let p = pipeline_of(config)?;
    let in_port = match in_port {
        Some(s) => resolve_port(config, s)?,
        None => config.ports.first().map_or(1, |c| c.ofport),
    };
    let pcap_err = |message: String| TraceError::Pcap {
        path: path.display().to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| pcap_err(e.to_string()))?;
    let mut reader =
        PcapReader::new(std::io::BufReader::new(file)).map_err(|e| pcap_err(e.to_string()))?;
    let tracer = p.tracer();
    let mut out = String::new();
    let mut n = 0;
    while let Some(rec) = reader.next_record() {
        let rec = rec.map_err(|e| pcap_err(format!("packet {}: {e}", n + 1)))?;
        n += 1;
        let _ = writeln!(out, "=== packet {n} ({} bytes) ===", rec.data.len());
        out.push_str(&tracer.trace(&rec.data, in_port, Default::default()));
        out.push('\n');
    }
    if n == 0 {
        out.push_str("(no packets)\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORES: &[usize] = &[0, 1];

    const PORTS: &str = r#"
[workers]
cores = [1]

[[port]]
name = "a"
device = "net_null0"

[[port]]
name = "b"
device = "net_null1"
ofport = 7
"#;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse("dir/t.toml", &format!("{PORTS}{extra}"), CORES)
    }

    /// Line and column of `needle` in the full config text (1-based).
    fn at(extra: &str, needle: &str) -> (usize, usize) {
        let text = format!("{PORTS}{extra}");
        let off = text.find(needle).expect("needle");
        let line = text[..off].matches('\n').count() + 1;
        let col = text[..off].rsplit('\n').next().unwrap().chars().count() + 1;
        (line, col)
    }

    #[test]
    fn inline_flows_compile_with_names_and_ofports() {
        let extra = r#"
[pipeline]
flows = [
  "table=0,priority=10,in_port=a,ip,actions=write_metadata:0x1,goto_table:1",
  'table=1,priority=5,metadata=0x1,actions=group:1',
]
groups = ["group_id=1,type=select,bucket=actions=output:b,bucket=actions=output:1"]
meters = ["meter=1,pktps,band=type=drop,rate=100"]
"#;
        let c = parse(extra).unwrap();
        assert_eq!(c.ports[0].ofport, 1);
        assert_eq!(c.ports[1].ofport, 7);
        let p = c.pipeline.as_ref().unwrap();
        assert_eq!(p.compiled.ports(), &[1, 7]);
        assert_eq!(p.flows.len(), 2);
        assert_eq!(p.groups[0].buckets[0].actions[0].to_string(), "output:7");
        let (line, col) = at(extra, "table=1,priority=5");
        assert_eq!(
            (
                p.flows[1].source.line as usize,
                p.flows[1].source.col as usize
            ),
            (line, col)
        );
        assert_eq!(&*p.sources.flows[1].file, "dir/t.toml");
        assert!(
            c.summary()
                .contains("pipeline: 2 flows, 1 groups, 1 meters"),
            "{}",
            c.summary()
        );
        assert!(c.forward.iter().all(Option::is_none));
    }

    #[test]
    fn an_error_in_an_inline_string_points_inside_it() {
        let extra = "\n[pipeline]\nflows = [\"table=0,priority=10,in_port=a,ip,nw_src=10.0.0.300,actions=drop\"]\n";
        let e = parse(extra).unwrap_err();
        let (line, col) = at(extra, "10.0.0.300");
        assert_eq!(
            (e.file.as_str(), e.line, e.col),
            ("dir/t.toml", line, col),
            "{e}"
        );
        // Escapes before the error shift the column in the TOML, not in the flow.
        let extra =
            "\n[pipeline]\nflows = [\"table=0,\\u0070riority=10,nw_src=1.2.3.4,actions=drop\"]\n";
        let e = parse(extra).unwrap_err();
        let (line, col) = at(extra, "nw_src");
        assert_eq!((e.line, e.col), (line, col), "{e}");
        assert!(e.message.contains("nw_src"), "{e}");
        // Literal strings: no escapes.
        let extra = "\n[pipeline]\nflows = ['actions=output:9']\n";
        let e = parse(extra).unwrap_err();
        let (line, col) = at(extra, "actions=output:9");
        assert_eq!((e.line, e.col), (line, col), "{e}");
        assert!(
            e.message
                .contains("port 9 is not a configured port (ports: 1, 7)"),
            "{e}"
        );
    }

    #[test]
    fn every_error_is_reported_and_nothing_loads() {
        let extra = "\n[pipeline]\nflows = [\"actions=group:4\", \"nosuch=1,actions=drop\", \"actions=goto_table:1\"]\n";
        let e = parse(extra).unwrap_err();
        // The parse error first; compile errors only once everything parses.
        assert!(e.message.contains("nosuch"), "{e}");
        let extra = "\n[pipeline]\nflows = [\"actions=group:4\", \"actions=goto_table:1\"]\n";
        let e = parse(extra).unwrap_err();
        let (line, col) = at(extra, "actions=group:4");
        assert_eq!((e.line, e.col), (line, col), "{e}");
        assert!(e.message.contains("group 4 is not defined"), "{e}");
        assert!(
            e.message.contains("\ndir/t.toml:"),
            "the second error on its own line: {e}"
        );
        assert!(e.message.contains("table 1 has no flows"), "{e}");
    }

    #[test]
    fn files_are_relative_to_the_config_and_located() {
        let dir = std::env::temp_dir().join(format!("sluice-pipeline-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("f.flows"),
            "# comment\ntable=0,priority=1,actions=output:b\n\ntable=0,priority=2,in_port=a,actions=outptu:1\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("ok.flows"),
            "table=0,priority=1,actions=output:b\n  table=0,priority=2,in_port=b,actions=group:1\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("g.groups"),
            "group_id=1,type=all,bucket=actions=output:1\n",
        )
        .unwrap();
        let cfg = dir.join("t.toml");
        let name = cfg.display().to_string();
        let text = format!("{PORTS}\n[pipeline]\nflows_file = \"f.flows\"\n");
        let e = Config::parse(&name, &text, CORES).unwrap_err();
        assert_eq!(e.file, dir.join("f.flows").display().to_string());
        assert_eq!((e.line, e.col), (4, 38), "{e}");
        assert!(e.message.contains("outptu"), "{e}");

        let text = format!("{PORTS}\n[pipeline]\nflows = [\"table=0,priority=9,actions=drop\"]\nflows_file = \"ok.flows\"\ngroups_file = \"g.groups\"\n");
        let c = Config::parse(&name, &text, CORES).unwrap();
        let p = c.pipeline.unwrap();
        assert_eq!(p.flows.len(), 3, "inline first, then the file");
        assert_eq!(p.flows[0].priority, 9);
        assert_eq!((p.sources.flows[2].line, p.sources.flows[2].col), (2, 3));
        assert!(p.sources.flows[2].file.ends_with("ok.flows"));

        let text = format!("{PORTS}\n[pipeline]\nflows_file = \"missing.flows\"\n");
        let e = Config::parse(&name, &text, CORES).unwrap_err();
        assert!(e.message.contains("cannot read flows file"), "{e}");
        assert_eq!(e.file, name);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn forward_and_pipeline_exclude_each_other_and_ofports_are_checked() {
        let e = parse("\n[[forward]]\nin = \"a\"\nout = \"b\"\n\n[pipeline]\nflows = []\n")
            .unwrap_err();
        assert!(e.message.contains("cannot both be given"), "{e}");
        let text = PORTS.replace("ofport = 7", "ofport = 1");
        let e = Config::parse("t", &text, CORES).unwrap_err();
        assert!(
            e.message
                .contains("ofport 1 is also the default number of port \"a\""),
            "{e}"
        );
        let text = PORTS.replace("ofport = 7", "ofport = 0");
        let e = Config::parse("t", &text, CORES).unwrap_err();
        assert!(e.message.contains("ofport must be within"), "{e}");
        let text = PORTS.replace(
            "ofport = 7",
            "ofport = 7\n[[port]]\nname = \"c\"\ndevice = \"net_null2\"\nofport = 7",
        );
        let e = Config::parse("t", &text, CORES).unwrap_err();
        assert!(
            e.message.contains("ofport 7 is already port \"b\"'s"),
            "{e}"
        );
    }

    #[test]
    fn flow_cache_slots_are_checked_and_located() {
        let slots = |extra: &str| parse(extra).map(|c| c.pipeline.unwrap().flow_cache_slots);
        assert_eq!(
            slots("\n[pipeline]\nflows = []\n").unwrap(),
            DEFAULT_FLOW_CACHE_SLOTS
        );
        for n in [0, 4, 1 << 20, MAX_FLOW_CACHE_SLOTS] {
            let extra = format!("\n[pipeline]\nflows = []\nflow_cache_slots = {n}\n");
            assert_eq!(slots(&extra).unwrap(), n);
        }
        let c = parse("\n[pipeline]\nflows = []\nflow_cache_slots = 1048576\n").unwrap();
        assert!(
            c.summary()
                .contains("flow cache: 1048576 slots a worker (65536 KiB)"),
            "{}",
            c.summary()
        );
        let c = parse("\n[pipeline]\nflows = []\nflow_cache_slots = 0\n").unwrap();
        assert!(c.summary().contains("flow cache: off"), "{}", c.summary());
        for bad in ["1", "2", "3", "1000", "33554432"] {
            let extra = format!("\n[pipeline]\nflows = []\nflow_cache_slots = {bad}\n");
            let e = parse(&extra).unwrap_err();
            let (line, col) = at(&extra, &format!("slots = {bad}"));
            assert_eq!((e.line, e.col), (line, col + 8), "{bad}: {e}");
            assert!(e.message.contains("power of two"), "{bad}: {e}");
        }
        for bad in ["-1", "\"big\"", "1.5", "18446744073709551616"] {
            let extra = format!("\n[pipeline]\nflows = []\nflow_cache_slots = {bad}\n");
            let e = parse(&extra).unwrap_err();
            // serde's message, at the value.
            let (line, col) = at(&extra, &format!("slots = {bad}"));
            assert_eq!((e.line, e.col), (line, col + 8), "{bad}: {e}");
        }
    }

    #[test]
    fn warnings_are_located() {
        let extra = "\n[pipeline]\nflows = [\"priority=5,ip,actions=output:1\", \"priority=5,ip,actions=output:b\"]\n";
        let c = parse(extra).unwrap();
        let w = &c.pipeline.unwrap().warnings;
        assert_eq!(w.len(), 1);
        let (line, col) = at(extra, "priority=5,ip,actions=output:b");
        assert_eq!((w[0].line, w[0].col), (line, col));
        assert!(w[0].message.contains("replaces"), "{}", w[0]);
    }

    #[test]
    fn trace_uses_the_config() {
        let extra =
            "\n[pipeline]\nflows = [\"priority=5,in_port=a,tcp,tp_dst=80,actions=output:b\"]\n";
        let c = parse(extra).unwrap();
        let t = trace(&c, "tcp,tp_dst=80").unwrap();
        assert!(t.contains("Result: output:7"), "{t}");
        assert!(
            t.contains("Datapath: the packet itself out of port 7"),
            "{t}"
        );
        let t = trace(&c, "in_port=b,tcp,tp_dst=80").unwrap();
        assert!(t.contains("no match"), "{t}");
        assert!(matches!(trace(&c, "tp_dst=80"), Err(TraceError::Spec(_))));
        let plain = Config::parse("t", PORTS, CORES).unwrap();
        assert!(matches!(
            trace(&plain, "ip"),
            Err(TraceError::NoPipeline(_))
        ));

        let dir = std::env::temp_dir().join(format!("sluice-trace-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcap");
        let mut w =
            crate::wire::pcap::PcapWriter::new(std::fs::File::create(&path).unwrap()).unwrap();
        let sp = packet_from_spec("tcp,tp_dst=80", &crate::openflow::NoPortNames).unwrap();
        w.write_packet(&sp.frame).unwrap();
        w.write_packet(&sp.frame).unwrap();
        drop(w);
        let t = trace_pcap(&c, &path, Some("a")).unwrap();
        assert_eq!(t.matches("Result: output:7").count(), 2, "{t}");
        assert!(t.contains("=== packet 2 (60 bytes) ==="), "{t}");
        assert!(matches!(
            trace_pcap(&c, &path, Some("zz")),
            Err(TraceError::UnknownPort(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn strings_decode_with_their_source_offsets() {
        let (v, m) = decode_string(r#""a\tb\u00e9c""#).unwrap();
        assert_eq!(v, "a\tbéc");
        // a at 1, \t at 2, b at 4, é (2 bytes) both at 5, c at 11, end 12.
        assert_eq!(m, [1, 2, 4, 5, 5, 11, 12]);
        let (v, m) = decode_string("'x\\y'").unwrap();
        assert_eq!((v.as_str(), m), ("x\\y", vec![1, 2, 3, 4]));
        let (v, _) = decode_string("\"\"\"\nab \\\n   cd\"\"\"").unwrap();
        assert_eq!(v, "ab cd");
        let (v, m) = decode_string("'''\nq'''").unwrap();
        assert_eq!((v.as_str(), m), ("q", vec![4, 5]));
        assert_eq!(decode_string("\"\\q\""), None);
        assert_eq!(decode_string("x"), None);
    }

    #[test]
    fn value_offsets_count_characters() {
        assert_eq!(value_offset("héllo", 1, 3), 3);
        assert_eq!(value_offset("a\nbc", 2, 2), 3);
        assert_eq!(value_offset("ab", 1, 9), 2);
    }

    #[test]
    fn errors_combine() {
        let e = |n: usize| ConfigError {
            file: "f".into(),
            line: n,
            col: 1,
            message: format!("m{n}"),
        };
        let c = combine((1..=30).map(e).collect());
        assert_eq!(c.line, 1);
        assert!(c.message.starts_with("m1\nf:2:1: m2\n"), "{}", c.message);
        assert!(
            c.message.ends_with("... and 10 more errors"),
            "{}",
            c.message
        );
        assert_eq!(combine(vec![e(4)]).to_string(), "f:4:1: m4");
    }
}
