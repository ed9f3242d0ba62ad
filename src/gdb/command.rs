//! gdb's requests, parsed from packet payloads, and the replies the stub builds.
//!
//! Reference: gdb manual, appendix E "Remote Protocol": E.2 "Packets" (`?`, `c`, `D`, `g`, `G`,
//! `H`, `k`, `m`, `M`, `p`, `P`, `s`, `T`, `vCont`, `X`, `z`/`Z`), E.3 "Stop Reply Packets", E.4
//! "General Query Packets" (`qSupported`, `qXfer:features:read`, `qfThreadInfo`, `qC`,
//! `qRcmd`, `QStartNoAckMode`...) and E.5 "Thread IDs" (hex; 0 = any thread, -1 = all threads).
//! Anything not understood is [`Command::Unknown`], which the server answers with the empty
//! packet ("not supported"); a malformed known packet is an error.

use super::debugger::Ended;
use super::packet::{hex_decode, parse_hex, MAX_PACKET};

/// A gdb thread id (here: vCPU index + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadId {
    /// 0: any thread.
    Any,
    /// -1: all threads.
    All,
    Id(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VContAction {
    Continue,
    Step,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `?`: why did the target stop?
    HaltReason,
    /// `g`
    ReadRegisters,
    /// `G hex`
    WriteRegisters(Vec<u8>),
    /// `p n`
    ReadRegister(usize),
    /// `P n=hex`
    WriteRegister(usize, Vec<u8>),
    /// `m addr,len`
    ReadMemory { addr: u64, len: usize },
    /// `M addr,len:hex` or `X addr,len:binary`
    WriteMemory { addr: u64, data: Vec<u8> },
    /// `c [addr]`
    Continue(Option<u64>),
    /// `s [addr]`
    Step(Option<u64>),
    /// `vCont?`
    VContQuery,
    /// `vCont;action[:tid];...`
    VCont(Vec<(VContAction, Option<ThreadId>)>),
    /// `Z type,addr,kind` (insert) or `z type,addr,kind` (remove); type 0: software breakpoint
    Breakpoint { insert: bool, kind: u8, addr: u64, size: u64 },
    /// `k`
    Kill,
    /// `D`
    Detach,
    /// `Hg tid` (for_resume = false) or `Hc tid` (true)
    SetThread { for_resume: bool, tid: ThreadId },
    /// `T tid`: is it alive?
    ThreadAlive(ThreadId),
    /// `qSupported[:features]`
    QuerySupported(String),
    /// `QStartNoAckMode`
    StartNoAckMode,
    /// `qXfer:features:read:annex:offset,length`
    QueryXferFeatures { annex: String, offset: usize, length: usize },
    /// `qfThreadInfo`: the first part of the thread list
    QueryFirstThread,
    /// `qsThreadInfo`: the rest of the thread list
    QueryNextThread,
    /// `qC`: which thread is current?
    QueryCurrentThread,
    /// `qAttached`: did the stub attach to a running process (1) or create one (0)?
    QueryAttached,
    /// `qThreadExtraInfo,tid`: a thread's description, for `info threads`
    QueryThreadExtraInfo(ThreadId),
    /// `qRcmd,hex`: gdb's `monitor TEXT`, TEXT hex-encoded (monitor.rs).
    Monitor(String),
    /// Any packet this stub does not know: answered with the empty reply
    Unknown,
}

/// A packet that names a known command but does not follow its syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub &'static str);

/// A thread id field (E.5): hex, or the special values 0 and -1.
fn thread_id(text: &[u8]) -> Result<ThreadId, ParseError> {
    match text {
        b"-1" => Ok(ThreadId::All),
        b"0" => Ok(ThreadId::Any),
        t => parse_hex(t).map(ThreadId::Id).ok_or(ParseError("bad thread id")),
    }
}

/// The two sides of the first `sep` in a packet field (`addr,len`, `n=value`).
fn split2(text: &[u8], sep: u8) -> Result<(&[u8], &[u8]), ParseError> {
    let at = text.iter().position(|&b| b == sep).ok_or(ParseError("missing separator"))?;
    Ok((&text[..at], &text[at + 1..]))
}

/// A hex number field, as every number in the protocol is.
fn hex(text: &[u8]) -> Result<u64, ParseError> {
    parse_hex(text).ok_or(ParseError("bad hex number"))
}

/// The optional resume address of `c`/`s` (absent: where the vCPU stopped).
fn optional_addr(text: &[u8]) -> Result<Option<u64>, ParseError> {
    if text.is_empty() {
        Ok(None)
    } else {
        hex(text).map(Some)
    }
}

/// `type,addr,kind[;cond...]` of `Z` (`insert`) or `z`; conditions are ignored.
fn breakpoint(insert: bool, rest: &[u8]) -> Result<Command, ParseError> {
    let mut fields = rest.split(|&b| b == b',');
    let kind = fields.next().ok_or(ParseError("breakpoint type"))?;
    let addr = fields.next().ok_or(ParseError("breakpoint address"))?;
    let size = fields.next().ok_or(ParseError("breakpoint kind"))?;
    let size = size.split(|&b| b == b';').next().unwrap_or(size);
    let kind = u8::try_from(hex(kind)?).map_err(|_| ParseError("breakpoint type"))?;
    Ok(Command::Breakpoint { insert, kind, addr: hex(addr)?, size: hex(size)? })
}

/// `vCont;action[:tid];...`: only continue and step are supported; any other action (`t`,
/// ranges) makes the whole packet unknown, answered with the empty reply.
fn vcont(rest: &[u8]) -> Result<Command, ParseError> {
    let mut actions = Vec::new();
    for part in rest.split(|&b| b == b';').filter(|p| !p.is_empty()) {
        let (action, tid) = match part.iter().position(|&b| b == b':') {
            Some(at) => (&part[..at], Some(thread_id(&part[at + 1..])?)),
            None => (part, None),
        };
        let action = match action.first() {
            Some(b'c' | b'C') => VContAction::Continue,
            Some(b's' | b'S') => VContAction::Step,
            _ => return Ok(Command::Unknown), // e.g. `t` (stop) or ranges: not supported
        };
        actions.push((action, tid));
    }
    if actions.is_empty() {
        return Err(ParseError("vCont without an action"));
    }
    Ok(Command::VCont(actions))
}

/// `P n=hex`: one register, by number, with its new value in target byte order.
fn write_register(rest: &[u8]) -> Result<Command, ParseError> {
    let (n, value) = split2(rest, b'=')?;
    Ok(Command::WriteRegister(
        hex(n)? as usize,
        hex_decode(value).ok_or(ParseError("bad register value"))?,
    ))
}

/// `m addr,len`; the length is capped so the hex reply fits one packet.
fn read_memory(rest: &[u8]) -> Result<Command, ParseError> {
    let (addr, len) = split2(rest, b',')?;
    Ok(Command::ReadMemory { addr: hex(addr)?, len: (hex(len)? as usize).min(MAX_PACKET / 2) })
}

/// How the data of a memory write is sent: `M` in hex, `X` in binary.
enum Encoding {
    Hex,
    Binary,
}

/// `M addr,len:hex` or `X addr,len:binary`: the same write, two encodings of the data. For
/// `X` the packet layer already undid the escapes; gdb probes for `X` with a zero-length write
/// before using it.
fn write_memory(rest: &[u8], encoding: Encoding) -> Result<Command, ParseError> {
    let (addr, tail) = split2(rest, b',')?;
    let (len, data) = split2(tail, b':')?;
    let data = match encoding {
        Encoding::Hex => hex_decode(data).ok_or(ParseError("bad memory data"))?,
        Encoding::Binary => data.to_vec(),
    };
    if data.len() as u64 != hex(len)? {
        return Err(ParseError("memory length does not match the data"));
    }
    Ok(Command::WriteMemory { addr: hex(addr)?, data })
}

/// `Hg tid` (the thread register and memory packets apply to) or `Hc tid` (the thread
/// `c`/`s` resume); any other `H` is not supported.
fn set_thread(rest: &[u8]) -> Result<Command, ParseError> {
    Ok(match rest.split_first() {
        Some((b'g', tid)) => Command::SetThread { for_resume: false, tid: thread_id(tid)? },
        Some((b'c', tid)) => Command::SetThread { for_resume: true, tid: thread_id(tid)? },
        _ => Command::Unknown,
    })
}

/// Parses one packet payload: the first byte names the packet (gdb manual, "Packets").
pub fn parse(payload: &[u8]) -> Result<Command, ParseError> {
    let Some((&first, rest)) = payload.split_first() else { return Ok(Command::Unknown) };
    Ok(match first {
        b'?' => Command::HaltReason,
        b'g' => Command::ReadRegisters,
        b'G' => Command::WriteRegisters(hex_decode(rest).ok_or(ParseError("bad register data"))?),
        b'p' => Command::ReadRegister(hex(rest)? as usize),
        b'P' => write_register(rest)?,
        b'm' => read_memory(rest)?,
        b'M' => write_memory(rest, Encoding::Hex)?,
        b'X' => write_memory(rest, Encoding::Binary)?,
        b'c' => Command::Continue(optional_addr(rest)?),
        b's' => Command::Step(optional_addr(rest)?),
        b'Z' | b'z' => breakpoint(first == b'Z', rest)?,
        b'k' => Command::Kill,
        b'D' => Command::Detach,
        b'H' => set_thread(rest)?,
        b'T' => Command::ThreadAlive(thread_id(rest)?),
        b'v' if payload == b"vCont?" => Command::VContQuery,
        b'v' if payload.starts_with(b"vCont;") => vcont(&payload[6..])?,
        b'q' | b'Q' => query(payload)?,
        _ => Command::Unknown,
    })
}

/// The `q`/`Q` packets (E.4), which are named by a word rather than a letter.
fn query(payload: &[u8]) -> Result<Command, ParseError> {
    let text = std::str::from_utf8(payload).map_err(|_| ParseError("query is not text"))?;
    Ok(match text {
        "QStartNoAckMode" => Command::StartNoAckMode,
        "qfThreadInfo" => Command::QueryFirstThread,
        "qsThreadInfo" => Command::QueryNextThread,
        "qC" => Command::QueryCurrentThread,
        "qAttached" => Command::QueryAttached,
        t if t == "qSupported" || t.starts_with("qSupported:") => Command::QuerySupported(
            t.trim_start_matches("qSupported").trim_start_matches(':').into(),
        ),
        t if t.starts_with("qThreadExtraInfo,") => {
            Command::QueryThreadExtraInfo(thread_id(&payload["qThreadExtraInfo,".len()..])?)
        }
        t if t.starts_with("qRcmd,") => {
            let text = hex_decode(&payload["qRcmd,".len()..]).ok_or(ParseError("bad qRcmd"))?;
            Command::Monitor(String::from_utf8_lossy(&text).into_owned())
        }
        t if t.starts_with("qXfer:features:read:") => {
            let rest = &t["qXfer:features:read:".len()..];
            let (annex, range) = rest.rsplit_once(':').ok_or(ParseError("qXfer range"))?;
            let (offset, length) = range.split_once(',').ok_or(ParseError("qXfer range"))?;
            Command::QueryXferFeatures {
                annex: annex.to_string(),
                offset: hex(offset.as_bytes())? as usize,
                length: hex(length.as_bytes())? as usize,
            }
        }
        _ => Command::Unknown,
    })
}

/// A stop reply: `T` + signal, and the thread (E.3).
pub fn stop_reply(signal: u8, thread: usize) -> String {
    format!("T{signal:02x}thread:{thread:x};")
}

/// What this stub supports (E.4, qSupported).
pub fn supported_reply() -> String {
    format!("PacketSize={MAX_PACKET:x};qXfer:features:read+;QStartNoAckMode+;vContSupported+")
}

/// A qXfer reply (E.4, qXfer): `m` + a slice when more follows, `l` + the last slice. The
/// slice is binary and may need escaping, which at worst doubles it: hence MAX_PACKET / 2.
pub fn xfer_reply(document: &[u8], offset: usize, length: usize) -> Vec<u8> {
    let start = offset.min(document.len());
    let end = start.saturating_add(length.min(MAX_PACKET / 2)).min(document.len());
    let mut reply = vec![if end < document.len() { b'm' } else { b'l' }];
    reply.extend_from_slice(&document[start..end]);
    reply
}

/// The stop reply once every vCPU has ended (and a console note, for gdb to print why):
/// `X0b` (SIGSEGV) with the reason for a fault, `X09` (SIGKILL) when the VM was stopped from
/// outside, else `W` with the guest's status (the first non-zero one, as mini-kvm exits).
pub fn exit_reply(how: &[Option<Ended>]) -> (Option<String>, String) {
    let ended = || how.iter().flatten();
    if let Some(why) = ended().find_map(|e| match e {
        Ended::Fault(why) => Some(why),
        _ => None,
    }) {
        return (Some(format!("mini-kvm: the guest faulted: {why}\n")), "X0b".into());
    }
    if ended().any(|e| *e == Ended::Stopped) {
        let note = "mini-kvm: the VM was stopped (timeout, signal or Ctrl-A x)\n";
        return (Some(note.into()), "X09".into());
    }
    let status = ended()
        .find_map(|e| match e {
            Ended::Exit(n) if *n != 0 => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    (None, format!("W{status:02x}"))
}

#[cfg(test)]
mod tests;
