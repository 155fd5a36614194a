//! The compact event encoding inside a block (before compression).
//!
//! Each event is a tag byte, the timestamp delta to the previous event as
//! an unsigned varint (its sign in the tag), the CPU and thread unless the
//! tag says they repeat, then a per-kind payload:
//!
//! ```text
//! tag: bits 0-4 kind id (31 = extension record), bit 5 CPU same as the
//!      previous event, bit 6 tid same as the last event on this CPU,
//!      bit 7 the timestamp went backwards (delta is subtracted)
//! ```
//!
//! 64-bit kernel addresses (IPI callbacks, hotplug callbacks) go through a
//! per-block dictionary: `0` is address 0, `1` introduces a new address (8
//! bytes follow and it joins the dictionary), `n >= 2` is entry `n - 2`. A
//! hot IPI event thus takes 4-6 bytes before compression.
//!
//! Invariants: every block decodes on its own (the delta base, the CPU and
//! thread caches and the dictionary start empty), so a reader can skip a
//! damaged block and seek to any block. Kind ids and enum values are
//! frozen; docs/file-format.md lists them. Decoding never panics and never
//! trusts a count to allocate.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::error::DecodeError;
use super::format::{put_uvarint, zigzag, Cursor};
use crate::events::{
    Comm, CpuDownVia, CpuMask, CpumaskOp, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia,
    TriggerSource,
};

/// Mask of the kind id in a tag byte.
const TAG_KIND: u8 = 0x1f;
/// Tag flag: CPU same as the previous event.
const TAG_CPU_SAME: u8 = 0x20;
/// Tag flag: tid same as the last event on this CPU.
const TAG_TID_SAME: u8 = 0x40;
/// Tag flag: the timestamp delta is negative (an out-of-order event).
const TAG_TS_BACK: u8 = 0x80;
/// Kind id of an extension record: kind id, length and payload follow, so
/// an older reader can skip kinds added by a newer minor version.
pub const KIND_EXTENSION: u8 = 31;
/// CPUs below this get a per-CPU last-tid cache.
const TID_CACHE_CPUS: u32 = 4096;
/// Largest per-block address dictionary; later new addresses are written
/// in full each time.
const DICT_MAX: usize = 1 << 16;

/// Number of event kinds of format version 1 (ids 0..KIND_COUNT).
pub const KIND_COUNT: usize = 24;

/// Extension kinds (the `u` after a kind-31 tag), added by minor versions.
/// Frozen like the compact ids; docs/file-format.md lists them.
pub mod ext {
    /// `IpiTally` (format 1.1): `sent` `u`, `handled` `u`.
    pub const IPI_TALLY: u64 = 0;
}

/// The frozen kind id of an event kind.
pub fn kind_id(kind: &EventKind) -> u8 {
    use EventKind::*;
    match kind {
        Lost { .. } => 0,
        TriggerEnter { .. } => 1,
        TriggerExit { .. } => 2,
        MigrateEnter { .. } => 3,
        MigrateExit { .. } => 4,
        SuspendEnter { .. } => 5,
        SuspendExit { .. } => 6,
        JoinEnter { .. } => 7,
        JoinExit { .. } => 8,
        HcallEnter { .. } => 9,
        HcallExit { .. } => 10,
        RtasEnter { .. } => 11,
        RtasExit { .. } => 12,
        CpumaskEnter { .. } => 13,
        CpumaskExit { .. } => 14,
        HotplugEnter { .. } => 15,
        HotplugExit { .. } => 16,
        CpuDownEnter { .. } => 17,
        CpuDownExit { .. } => 18,
        CpuOnline { .. } => 19,
        IpiSend { .. } => 20,
        IpiSendMask { .. } => 21,
        IpiHandleEnter { .. } => 22,
        IpiHandleExit { .. } => 23,
        IpiTally { .. } => KIND_EXTENSION,
    }
}

/// Enum values on disk. `Unknown` is always 0xff, and a value a reader does
/// not know decodes as `Unknown`, so a newer minor version may add values.
macro_rules! enum_codec {
    ($enc:ident, $dec:ident, $ty:ident { $($variant:ident = $val:expr),* $(,)? }) => {
        fn $enc(v: $ty) -> u8 {
            match v {
                $($ty::$variant => $val,)*
                $ty::Unknown => 0xff,
            }
        }
        fn $dec(b: u8) -> $ty {
            match b {
                $($val => $ty::$variant,)*
                _ => $ty::Unknown,
            }
        }
    };
}

enum_codec!(enc_trigger, dec_trigger, TriggerSource { Sysfs = 0, SyscallDispatch = 1, SysRtas = 2 });
enum_codec!(enc_join, dec_join, JoinPath { DoJoin = 0, PercpuSuspendMe = 1 });
enum_codec!(enc_cpumask, dec_cpumask, CpumaskOp { Online = 0, Offline = 1 });
enum_codec!(enc_down, dec_down, CpuDownVia { CpuDeviceDown = 0, RemoveCpu = 1, CpuDown = 2 });
enum_codec!(enc_online, dec_online, OnlineVia { SetCpuOnline = 0, PseriesCpuDisable = 1, PseriesOfflineSelf = 2 });
enum_codec!(enc_send, dec_send, IpiSendVia { Tracepoint = 0, CauseIpi = 1, CallFunctionMany = 2 });
enum_codec!(enc_handle, dec_handle, IpiHandleVia { CsdFunction = 0, IrqHandler = 1 });

/// Hasher of the per-block address dictionary. Keys are kernel text
/// addresses written by our own encoder (no adversary chooses them), so
/// SipHash's flooding resistance buys nothing here, and it was 7 % of the
/// recorder's CPU under an IPI storm. One multiply spreads the aligned,
/// clustered addresses over the high bits, which hashbrown uses.
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Accumulates the encoded events of one block.
#[derive(Debug, Default)]
pub struct BlockEncoder {
    buf: Vec<u8>,
    count: u32,
    min_ts: u64,
    max_ts: u64,
    prev_ts: u64,
    prev_cpu: Option<u32>,
    tids: Vec<Option<u32>>,
    dict: HashMap<u64, u32, BuildHasherDefault<AddrHasher>>,
}

impl BlockEncoder {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the block's events and state (start of a new block).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.count = 0;
        self.min_ts = 0;
        self.max_ts = 0;
        self.prev_ts = 0;
        self.prev_cpu = None;
        self.tids.clear();
        self.dict.clear();
    }

    /// Encoded bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Events so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// True when no event was pushed since the last reset.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Smallest timestamp (meaningless when empty).
    pub fn min_ts(&self) -> u64 {
        self.min_ts
    }

    /// Largest timestamp (meaningless when empty).
    pub fn max_ts(&self) -> u64 {
        self.max_ts
    }

    /// Appends one event.
    pub fn push(&mut self, e: &Event) {
        if self.count == 0 {
            self.min_ts = e.ts_ns;
            self.max_ts = e.ts_ns;
        } else {
            self.min_ts = self.min_ts.min(e.ts_ns);
            self.max_ts = self.max_ts.max(e.ts_ns);
        }
        self.count += 1;
        let mut tag = kind_id(&e.kind);
        let cpu_same = self.prev_cpu == Some(e.cpu);
        if cpu_same {
            tag |= TAG_CPU_SAME;
        }
        let slot = (e.cpu < TID_CACHE_CPUS).then_some(e.cpu as usize);
        let tid_same = slot.is_some_and(|s| self.tids.get(s).copied().flatten() == Some(e.tid));
        if tid_same {
            tag |= TAG_TID_SAME;
        }
        let delta = if e.ts_ns >= self.prev_ts {
            e.ts_ns - self.prev_ts
        } else {
            tag |= TAG_TS_BACK;
            self.prev_ts - e.ts_ns
        };
        self.buf.push(tag);
        put_uvarint(&mut self.buf, delta);
        self.prev_ts = e.ts_ns;
        if !cpu_same {
            put_uvarint(&mut self.buf, u64::from(e.cpu));
            self.prev_cpu = Some(e.cpu);
        }
        if !tid_same {
            put_uvarint(&mut self.buf, u64::from(e.tid));
            if let Some(s) = slot {
                if self.tids.len() <= s {
                    self.tids.resize(s + 1, None);
                }
                self.tids[s] = Some(e.tid);
            }
        }
        self.payload(e);
    }

    fn u(&mut self, v: u64) {
        put_uvarint(&mut self.buf, v);
    }

    fn i(&mut self, v: i64) {
        put_uvarint(&mut self.buf, zigzag(v));
    }

    fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.byte(0),
            Some(v) => {
                self.byte(1);
                self.u(v);
            }
        }
    }

    fn comm(&mut self, c: &Comm) {
        let len = c.0.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        self.byte(len as u8);
        self.buf.extend_from_slice(&c.0[..len]);
    }

    fn addr(&mut self, a: u64) {
        if a == 0 {
            self.u(0);
        } else if let Some(&i) = self.dict.get(&a) {
            self.u(u64::from(i) + 2);
        } else {
            self.u(1);
            self.buf.extend_from_slice(&a.to_le_bytes());
            if self.dict.len() < DICT_MAX {
                let i = self.dict.len() as u32;
                self.dict.insert(a, i);
            }
        }
    }

    fn payload(&mut self, e: &Event) {
        use EventKind::*;
        match e.kind {
            IpiTally { sent, handled } => {
                let mut body = Vec::with_capacity(20);
                put_uvarint(&mut body, sent);
                put_uvarint(&mut body, handled);
                self.u(ext::IPI_TALLY);
                self.u(body.len() as u64);
                self.buf.extend_from_slice(&body);
            }
            Lost {
                count,
                first_ts_ns,
                last_ts_ns,
            } => {
                self.u(count);
                self.i(first_ts_ns.wrapping_sub(e.ts_ns) as i64);
                self.i(last_ts_ns.wrapping_sub(first_ts_ns) as i64);
            }
            TriggerEnter {
                source,
                stream_id,
                comm,
            } => {
                self.byte(enc_trigger(source));
                self.opt_u64(stream_id);
                self.comm(&comm);
            }
            TriggerExit { source, ret } => {
                self.byte(enc_trigger(source));
                self.i(ret);
            }
            MigrateEnter { handle } => self.u(handle),
            MigrateExit { ret } | SuspendExit { ret } => self.i(ret),
            SuspendEnter { arg0 } => self.u(arg0),
            JoinEnter { path } => self.byte(enc_join(path)),
            JoinExit { path, ret } => {
                self.byte(enc_join(path));
                self.i(i64::from(ret));
            }
            HcallEnter { opcode, args } => {
                self.u(u64::from(opcode));
                for a in args {
                    self.u(a);
                }
            }
            HcallExit {
                opcode,
                retval,
                retbuf0,
            } => {
                self.u(u64::from(opcode));
                self.i(retval);
                self.opt_u64(retbuf0);
            }
            RtasEnter { token } => self.u(u64::from(token)),
            RtasExit { token, status } => {
                self.u(u64::from(token));
                self.i(i64::from(status));
            }
            CpumaskEnter { op } => self.byte(enc_cpumask(op)),
            CpumaskExit { op, ret } => {
                self.byte(enc_cpumask(op));
                self.i(i64::from(ret));
            }
            HotplugEnter {
                target_cpu,
                target,
                idx,
                multi,
                fun,
            } => {
                self.u(u64::from(target_cpu));
                self.i(i64::from(target));
                self.i(i64::from(idx));
                self.byte(u8::from(multi));
                self.addr(fun);
            }
            HotplugExit {
                target_cpu,
                state,
                idx,
                ret,
            } => {
                self.u(u64::from(target_cpu));
                self.i(i64::from(state));
                self.i(i64::from(idx));
                self.i(i64::from(ret));
            }
            CpuDownEnter { target_cpu, via, comm } => {
                self.u(target_cpu.map_or(0, |c| u64::from(c) + 1));
                self.byte(enc_down(via));
                self.comm(&comm);
            }
            CpuDownExit { via, ret } => {
                self.byte(enc_down(via));
                self.i(i64::from(ret));
            }
            CpuOnline {
                target_cpu,
                online,
                via,
            } => {
                self.u(u64::from(target_cpu));
                self.byte(u8::from(online));
                self.byte(enc_online(via));
            }
            IpiSend {
                target_cpu,
                callback,
                via,
            } => {
                self.u(u64::from(target_cpu));
                self.addr(callback);
                self.byte(enc_send(via));
            }
            IpiSendMask { mask, callback, via } => {
                for w in mask.0 {
                    self.u(w);
                }
                self.addr(callback);
                self.byte(enc_send(via));
            }
            IpiHandleEnter { func, via } | IpiHandleExit { func, via } => {
                self.addr(func);
                self.byte(enc_handle(via));
            }
        }
    }
}

/// What decoding a block found besides the events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Extension records of kinds this version does not know, skipped.
    pub unknown_skipped: u64,
}

struct Decoder<'a> {
    c: Cursor<'a>,
    prev_ts: u64,
    prev_cpu: Option<u32>,
    tids: Vec<Option<u32>>,
    dict: Vec<u64>,
}

/// Decodes one block's raw payload, appending to `out`. `count`, `min_ts`
/// and `max_ts` come from the block header and are checked.
pub fn decode_block(
    raw: &[u8],
    count: u32,
    min_ts: u64,
    max_ts: u64,
    out: &mut Vec<Event>,
) -> Result<DecodeStats, DecodeError> {
    let mut d = Decoder {
        c: Cursor::new(raw),
        prev_ts: 0,
        prev_cpu: None,
        tids: Vec::new(),
        dict: Vec::new(),
    };
    let mut stats = DecodeStats::default();
    let mut found: u64 = 0;
    out.reserve((count as usize).min(1 << 16));
    while d.c.remaining() > 0 {
        let at = d.c.pos();
        let (event, skipped) = d.event()?;
        found += 1;
        if event.ts_ns < min_ts || event.ts_ns > max_ts {
            return Err(DecodeError::TimeRange {
                ts_ns: event.ts_ns,
                offset: at,
            });
        }
        if skipped {
            stats.unknown_skipped += 1;
        } else {
            out.push(event);
        }
    }
    if found != u64::from(count) {
        return Err(DecodeError::Count { expected: count, found });
    }
    Ok(stats)
}

impl Decoder<'_> {
    /// One event, and whether it is an extension record of a kind this
    /// reader does not know (the event is then a placeholder carrying only
    /// the common fields, to be skipped).
    fn event(&mut self) -> Result<(Event, bool), DecodeError> {
        let at = self.c.pos();
        let tag = self.c.u8()?;
        let delta = self.c.uvarint()?;
        let ts_ns = if tag & TAG_TS_BACK != 0 {
            self.prev_ts.checked_sub(delta)
        } else {
            self.prev_ts.checked_add(delta)
        }
        .ok_or(DecodeError::OutOfRange {
            what: "timestamp delta",
            value: delta,
            offset: at + 1,
        })?;
        self.prev_ts = ts_ns;
        let cpu = if tag & TAG_CPU_SAME != 0 {
            self.prev_cpu.ok_or(DecodeError::Dangling {
                what: "same-CPU",
                offset: at,
            })?
        } else {
            let cpu = self.c.uvarint32("cpu")?;
            self.prev_cpu = Some(cpu);
            cpu
        };
        let slot = (cpu < TID_CACHE_CPUS).then_some(cpu as usize);
        let tid = if tag & TAG_TID_SAME != 0 {
            slot.and_then(|s| self.tids.get(s).copied().flatten())
                .ok_or(DecodeError::Dangling {
                    what: "same-thread",
                    offset: at,
                })?
        } else {
            let tid = self.c.uvarint32("tid")?;
            if let Some(s) = slot {
                if self.tids.len() <= s {
                    self.tids.resize(s + 1, None);
                }
                self.tids[s] = Some(tid);
            }
            tid
        };
        let id = tag & TAG_KIND;
        let mut skipped = false;
        let kind = if id == KIND_EXTENSION {
            let ext_kind = self.c.uvarint()?;
            let len_at = self.c.pos();
            let len = self.c.uvarint()?;
            let len =
                usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= self.c.remaining())
                    .ok_or(DecodeError::OutOfRange {
                        what: "extension length",
                        value: len,
                        offset: len_at,
                    })?;
            let end = self.c.pos() + len;
            let kind = match ext_kind {
                ext::IPI_TALLY => EventKind::IpiTally {
                    sent: self.c.uvarint()?,
                    handled: self.c.uvarint()?,
                },
                _ => {
                    skipped = true;
                    EventKind::Lost {
                        count: 0,
                        first_ts_ns: ts_ns,
                        last_ts_ns: ts_ns,
                    }
                }
            };
            // The fields read must lie inside the record; what follows
            // them (fields a newer writer appended) is skipped.
            let rest = end.checked_sub(self.c.pos()).ok_or(DecodeError::OutOfRange {
                what: "extension length",
                value: len as u64,
                offset: len_at,
            })?;
            self.c.bytes(rest)?;
            kind
        } else {
            self.kind(id, at)?
        };
        Ok((Event { ts_ns, cpu, tid, kind }, skipped))
    }

    fn u(&mut self) -> Result<u64, DecodeError> {
        self.c.uvarint()
    }

    fn i(&mut self) -> Result<i64, DecodeError> {
        self.c.ivarint()
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.c.uvarint32(what)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.c.ivarint32(what)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        self.c.u8()
    }

    fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let offset = self.c.pos();
        match self.c.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::OutOfRange {
                what,
                value: u64::from(v),
                offset,
            }),
        }
    }

    fn opt_u64(&mut self, what: &'static str) -> Result<Option<u64>, DecodeError> {
        if self.bool(what)? {
            Ok(Some(self.u()?))
        } else {
            Ok(None)
        }
    }

    fn comm(&mut self) -> Result<Comm, DecodeError> {
        let offset = self.c.pos();
        let len = self.c.u8()? as usize;
        if len > 16 {
            return Err(DecodeError::OutOfRange {
                what: "comm length",
                value: len as u64,
                offset,
            });
        }
        let mut c = [0u8; 16];
        c[..len].copy_from_slice(self.c.bytes(len)?);
        Ok(Comm(c))
    }

    fn addr(&mut self) -> Result<u64, DecodeError> {
        let offset = self.c.pos();
        match self.c.uvarint()? {
            0 => Ok(0),
            1 => {
                let a = self.c.u64()?;
                if self.dict.len() < DICT_MAX {
                    self.dict.push(a);
                }
                Ok(a)
            }
            n => usize::try_from(n - 2)
                .ok()
                .and_then(|i| self.dict.get(i).copied())
                .ok_or(DecodeError::Dangling {
                    what: "address dictionary",
                    offset,
                }),
        }
    }

    fn kind(&mut self, id: u8, at: usize) -> Result<EventKind, DecodeError> {
        use EventKind::*;
        Ok(match id {
            0 => {
                let count = self.u()?;
                let ts = self.prev_ts;
                let first_ts_ns = ts.wrapping_add(self.i()? as u64);
                let last_ts_ns = first_ts_ns.wrapping_add(self.i()? as u64);
                Lost {
                    count,
                    first_ts_ns,
                    last_ts_ns,
                }
            }
            1 => TriggerEnter {
                source: dec_trigger(self.byte()?),
                stream_id: self.opt_u64("stream id flag")?,
                comm: self.comm()?,
            },
            2 => TriggerExit {
                source: dec_trigger(self.byte()?),
                ret: self.i()?,
            },
            3 => MigrateEnter { handle: self.u()? },
            4 => MigrateExit { ret: self.i()? },
            5 => SuspendEnter { arg0: self.u()? },
            6 => SuspendExit { ret: self.i()? },
            7 => JoinEnter {
                path: dec_join(self.byte()?),
            },
            8 => JoinExit {
                path: dec_join(self.byte()?),
                ret: self.i32("join ret")?,
            },
            9 => HcallEnter {
                opcode: self.u32("hcall opcode")?,
                args: [self.u()?, self.u()?, self.u()?],
            },
            10 => HcallExit {
                opcode: self.u32("hcall opcode")?,
                retval: self.i()?,
                retbuf0: self.opt_u64("retbuf0 flag")?,
            },
            11 => RtasEnter {
                token: self.u32("rtas token")?,
            },
            12 => RtasExit {
                token: self.u32("rtas token")?,
                status: self.i32("rtas status")?,
            },
            13 => CpumaskEnter {
                op: dec_cpumask(self.byte()?),
            },
            14 => CpumaskExit {
                op: dec_cpumask(self.byte()?),
                ret: self.i32("cpumask ret")?,
            },
            15 => HotplugEnter {
                target_cpu: self.u32("target cpu")?,
                target: self.i32("hotplug target")?,
                idx: self.i32("hotplug idx")?,
                multi: self.bool("multi")?,
                fun: self.addr()?,
            },
            16 => HotplugExit {
                target_cpu: self.u32("target cpu")?,
                state: self.i32("hotplug state")?,
                idx: self.i32("hotplug idx")?,
                ret: self.i32("hotplug ret")?,
            },
            17 => {
                let offset = self.c.pos();
                let t = self.u()?;
                let target_cpu = match t {
                    0 => None,
                    t => Some(u32::try_from(t - 1).map_err(|_| DecodeError::OutOfRange {
                        what: "target cpu",
                        value: t,
                        offset,
                    })?),
                };
                CpuDownEnter {
                    target_cpu,
                    via: dec_down(self.byte()?),
                    comm: self.comm()?,
                }
            }
            18 => CpuDownExit {
                via: dec_down(self.byte()?),
                ret: self.i32("cpu down ret")?,
            },
            19 => CpuOnline {
                target_cpu: self.u32("target cpu")?,
                online: self.bool("online")?,
                via: dec_online(self.byte()?),
            },
            20 => IpiSend {
                target_cpu: self.u32("target cpu")?,
                callback: self.addr()?,
                via: dec_send(self.byte()?),
            },
            21 => IpiSendMask {
                mask: CpuMask([self.u()?, self.u()?, self.u()?, self.u()?]),
                callback: self.addr()?,
                via: dec_send(self.byte()?),
            },
            22 => IpiHandleEnter {
                func: self.addr()?,
                via: dec_handle(self.byte()?),
            },
            23 => IpiHandleExit {
                func: self.addr()?,
                via: dec_handle(self.byte()?),
            },
            tag => return Err(DecodeError::UnknownTag { tag, offset: at }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts_ns: u64, cpu: u32, tid: u32, kind: EventKind) -> Event {
        Event { ts_ns, cpu, tid, kind }
    }

    fn round_trip(events: &[Event]) -> Vec<Event> {
        let mut enc = BlockEncoder::new();
        for e in events {
            enc.push(e);
        }
        let mut out = Vec::new();
        decode_block(enc.bytes(), enc.count(), enc.min_ts(), enc.max_ts(), &mut out).unwrap();
        out
    }

    #[test]
    fn hot_ipi_events_are_small_and_round_trip() {
        let f = 0xc000_0000_0012_3456;
        let events = [
            ev(
                1_000_000,
                0,
                10,
                EventKind::IpiSend {
                    target_cpu: 1,
                    callback: f,
                    via: IpiSendVia::Tracepoint,
                },
            ),
            ev(
                1_002_000,
                1,
                20,
                EventKind::IpiHandleEnter {
                    func: f,
                    via: IpiHandleVia::CsdFunction,
                },
            ),
            ev(
                1_003_000,
                1,
                20,
                EventKind::IpiHandleExit {
                    func: f,
                    via: IpiHandleVia::CsdFunction,
                },
            ),
            ev(
                1_015_000,
                0,
                10,
                EventKind::IpiSend {
                    target_cpu: 1,
                    callback: f,
                    via: IpiSendVia::Tracepoint,
                },
            ),
            ev(
                1_017_000,
                1,
                20,
                EventKind::IpiHandleEnter {
                    func: f,
                    via: IpiHandleVia::CsdFunction,
                },
            ),
        ];
        let mut enc = BlockEncoder::new();
        let mut sizes = Vec::new();
        for e in &events {
            let before = enc.bytes().len();
            enc.push(e);
            sizes.push(enc.bytes().len() - before);
        }
        // Once the address and the CPU's thread are known: tag, 2-byte
        // delta (up to 16 us), (cpu), (target), dictionary ref, via.
        assert_eq!(sizes[1..], [7, 5, 7, 6], "{sizes:?}");
        assert_eq!(round_trip(&events), events);
    }

    #[test]
    fn out_of_order_and_extreme_values_round_trip() {
        let events = [
            ev(u64::MAX, u32::MAX, u32::MAX, EventKind::MigrateExit { ret: i64::MIN }),
            ev(
                0,
                5000,
                0,
                EventKind::Lost {
                    count: u64::MAX,
                    first_ts_ns: u64::MAX,
                    last_ts_ns: 0,
                },
            ),
            ev(
                7,
                5000,
                0,
                EventKind::HcallEnter {
                    opcode: u32::MAX,
                    args: [u64::MAX, 0, 1],
                },
            ),
            ev(
                3,
                4095,
                9,
                EventKind::CpuDownEnter {
                    target_cpu: Some(u32::MAX),
                    via: CpuDownVia::Unknown,
                    comm: Comm([0xff; 16]),
                },
            ),
            ev(
                3,
                4095,
                9,
                EventKind::CpuDownEnter {
                    target_cpu: None,
                    via: CpuDownVia::RemoveCpu,
                    comm: Comm([0; 16]),
                },
            ),
        ];
        assert_eq!(round_trip(&events), events);
    }

    #[test]
    fn unknown_enum_values_decode_as_unknown() {
        let mut enc = BlockEncoder::new();
        enc.push(&ev(1, 0, 0, EventKind::JoinEnter { path: JoinPath::DoJoin }));
        let mut raw = enc.bytes().to_vec();
        *raw.last_mut().unwrap() = 0x42; // a value added by a newer writer
        let mut out = Vec::new();
        decode_block(&raw, 1, 1, 1, &mut out).unwrap();
        assert_eq!(
            out[0].kind,
            EventKind::JoinEnter {
                path: JoinPath::Unknown
            }
        );
    }

    #[test]
    fn extension_records_are_skipped_and_counted() {
        let mut enc = BlockEncoder::new();
        enc.push(&ev(10, 1, 2, EventKind::MigrateEnter { handle: 5 }));
        let mut raw = enc.bytes().to_vec();
        // tag: extension kind, CPU and tid same; delta +1; kind 99; 3 bytes.
        raw.extend_from_slice(&[KIND_EXTENSION | TAG_CPU_SAME | TAG_TID_SAME, 1, 99, 3, 0xaa, 0xbb, 0xcc]);
        raw.extend_from_slice(&[4 | TAG_CPU_SAME | TAG_TID_SAME, 1, 0]);
        let mut out = Vec::new();
        let stats = decode_block(&raw, 3, 10, 12, &mut out).unwrap();
        assert_eq!(stats.unknown_skipped, 1);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], ev(12, 1, 2, EventKind::MigrateExit { ret: 0 }));
    }

    #[test]
    fn ipi_tally_is_an_extension_record_that_round_trips() {
        let events = [
            ev(10, 1, 2, EventKind::MigrateEnter { handle: 5 }),
            ev(
                20,
                0,
                0,
                EventKind::IpiTally {
                    sent: 3,
                    handled: 70_000,
                },
            ),
            ev(
                20,
                1,
                0,
                EventKind::IpiTally {
                    sent: u64::MAX,
                    handled: 0,
                },
            ),
        ];
        assert_eq!(round_trip(&events), events);
        // Written as kind 31 so that a 1.0 reader skips it.
        let mut enc = BlockEncoder::new();
        enc.push(&events[1]);
        assert_eq!(enc.bytes()[0] & TAG_KIND, KIND_EXTENSION);
        // tag, delta, cpu, tid, then extension kind, length, sent, handled.
        assert_eq!(enc.bytes()[4..], [ext::IPI_TALLY as u8, 4, 3, 0xf0, 0xa2, 0x04]);
    }

    #[test]
    fn ipi_tally_from_a_newer_writer_keeps_known_fields_and_bad_lengths_are_errors() {
        // Two extra bytes after `handled` (a field a newer minor appended).
        let mut raw = vec![KIND_EXTENSION, 5, 1, 0, ext::IPI_TALLY as u8, 4, 7, 9, 0xee, 0xee];
        raw.extend_from_slice(&[4 | TAG_CPU_SAME | TAG_TID_SAME, 1, 0]);
        let mut out = Vec::new();
        let stats = decode_block(&raw, 2, 5, 6, &mut out).unwrap();
        assert_eq!(stats.unknown_skipped, 0);
        assert_eq!(out[0], ev(5, 1, 0, EventKind::IpiTally { sent: 7, handled: 9 }));
        assert_eq!(out[1].kind, EventKind::MigrateExit { ret: 0 });
        // A length shorter than the fields it must hold.
        let short = [KIND_EXTENSION, 5, 1, 0, ext::IPI_TALLY as u8, 1, 7, 9];
        let err = decode_block(&short, 1, 5, 5, &mut Vec::new()).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::OutOfRange {
                    what: "extension length",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn garbage_never_panics_and_gives_errors() {
        let mut enc = BlockEncoder::new();
        enc.push(&ev(
            10,
            1,
            2,
            EventKind::IpiSend {
                target_cpu: 3,
                callback: 0xc0ffee,
                via: IpiSendVia::CauseIpi,
            },
        ));
        enc.push(&ev(
            11,
            1,
            2,
            EventKind::IpiSend {
                target_cpu: 3,
                callback: 0xc0ffee,
                via: IpiSendVia::CauseIpi,
            },
        ));
        let raw = enc.bytes().to_vec();
        for cut in 0..raw.len() {
            let mut out = Vec::new();
            assert!(decode_block(&raw[..cut], 2, 10, 11, &mut out).is_err(), "cut {cut}");
        }
        // Every single-byte corruption either errors or decodes to something;
        // it must not panic.
        for i in 0..raw.len() {
            for v in [0u8, 0x1f, 0x3f, 0x7f, 0x80, 0xff] {
                let mut bad = raw.clone();
                bad[i] = v;
                let _ = decode_block(&bad, 2, 0, u64::MAX, &mut Vec::new());
            }
        }
        let dangling = [20 | TAG_CPU_SAME, 0, 0];
        assert!(matches!(
            decode_block(&dangling, 1, 0, 0, &mut Vec::new()),
            Err(DecodeError::Dangling { .. })
        ));
        let unknown = [24, 0, 0, 0];
        assert!(matches!(
            decode_block(&unknown, 1, 0, 0, &mut Vec::new()),
            Err(DecodeError::UnknownTag { .. })
        ));
        let before_zero = [4 | TAG_TS_BACK, 1, 0, 0, 0];
        assert!(matches!(
            decode_block(&before_zero, 1, 0, 0, &mut Vec::new()),
            Err(DecodeError::OutOfRange { .. })
        ));
        assert!(matches!(
            decode_block(&raw, 3, 10, 11, &mut Vec::new()),
            Err(DecodeError::Count { expected: 3, found: 2 })
        ));
        assert!(matches!(
            decode_block(&raw, 2, 10, 10, &mut Vec::new()),
            Err(DecodeError::TimeRange { ts_ns: 11, .. })
        ));
    }
}
