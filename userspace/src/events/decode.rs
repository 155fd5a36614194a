//! Ring-buffer record bytes → [`Event`].
//!
//! The bytes come from the kernel, so nothing here trusts them: a short or
//! unknown record is a [`DecodeError`], never a panic. Records are read with
//! unaligned loads (ring-buffer samples are 8-byte aligned, but this code
//! also decodes fuzzer input).

use lpmtrace_common as raw;

use super::{
    Comm, CpuDownVia, CpuMask, CpumaskOp, Event, EventKind, IpiHandleVia, IpiSendVia, JoinPath, OnlineVia,
    TriggerSource,
};

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the record header.
    #[error("record of {len} bytes is shorter than the {need}-byte header")]
    ShortHeader {
        /// Bytes received.
        len: usize,
        /// Header size.
        need: usize,
    },
    /// Fewer bytes than the record kind needs.
    #[error("record kind {kind} needs {need} bytes, got {len}")]
    Short {
        /// Record kind.
        kind: u16,
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A kind this build does not know (newer eBPF object?).
    #[error("unknown record kind {kind}")]
    UnknownKind {
        /// Record kind.
        kind: u16,
    },
}

fn read<T: Copy>(bytes: &[u8], kind: u16) -> Result<T, DecodeError> {
    let need = std::mem::size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::Short {
            kind,
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: the length is checked above; T is a repr(C) plain-data record
    // from lpmtrace-common for which every byte pattern is valid.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Parses the stream id the way the kernel's `kstrtou64(buf, 0, ...)` does:
/// "0x" hex, leading "0" octal, else decimal; trailing newline allowed.
pub fn parse_stream_id(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.trim_end_matches(['\n', '\0']).trim_end_matches('\n');
    let text = text.strip_prefix('+').unwrap_or(text);
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u64::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

fn trigger_source(code: u8) -> TriggerSource {
    match code {
        raw::trigger_source::SYSFS => TriggerSource::Sysfs,
        raw::trigger_source::SYSCALL_DISPATCH => TriggerSource::SyscallDispatch,
        raw::trigger_source::SYS_RTAS => TriggerSource::SysRtas,
        _ => TriggerSource::Unknown,
    }
}

fn join_path(code: u8) -> JoinPath {
    match code {
        raw::join_path::DO_JOIN => JoinPath::DoJoin,
        raw::join_path::PERCPU_SUSPEND_ME => JoinPath::PercpuSuspendMe,
        _ => JoinPath::Unknown,
    }
}

fn cpumask_op(code: u8) -> CpumaskOp {
    match code {
        raw::cpumask_op::ONLINE => CpumaskOp::Online,
        raw::cpumask_op::OFFLINE => CpumaskOp::Offline,
        _ => CpumaskOp::Unknown,
    }
}

fn cpu_down_via(code: u8) -> CpuDownVia {
    match code {
        raw::cpu_down_via::CPU_DEVICE_DOWN => CpuDownVia::CpuDeviceDown,
        raw::cpu_down_via::REMOVE_CPU => CpuDownVia::RemoveCpu,
        raw::cpu_down_via::CPU_DOWN => CpuDownVia::CpuDown,
        _ => CpuDownVia::Unknown,
    }
}

fn online_via(code: u8) -> OnlineVia {
    match code {
        raw::online_via::SET_CPU_ONLINE => OnlineVia::SetCpuOnline,
        raw::online_via::PSERIES_CPU_DISABLE => OnlineVia::PseriesCpuDisable,
        raw::online_via::PSERIES_OFFLINE_SELF => OnlineVia::PseriesOfflineSelf,
        _ => OnlineVia::Unknown,
    }
}

fn ipi_send_via(code: u8) -> IpiSendVia {
    match code {
        raw::ipi_send_via::IPI_TRACEPOINT => IpiSendVia::Tracepoint,
        raw::ipi_send_via::CAUSE_IPI => IpiSendVia::CauseIpi,
        raw::ipi_send_via::CALL_FUNCTION_MANY => IpiSendVia::CallFunctionMany,
        _ => IpiSendVia::Unknown,
    }
}

fn ipi_handle_via(code: u8) -> IpiHandleVia {
    match code {
        raw::ipi_handle_via::CSD_FUNCTION => IpiHandleVia::CsdFunction,
        raw::ipi_handle_via::IRQ_HANDLER => IpiHandleVia::IrqHandler,
        _ => IpiHandleVia::Unknown,
    }
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let need = std::mem::size_of::<raw::RecordHeader>();
    if bytes.len() < need {
        return Err(DecodeError::ShortHeader { len: bytes.len(), need });
    }
    let hdr: raw::RecordHeader = read(bytes, 0)?;
    let k = hdr.kind;
    let kind = match k {
        raw::KIND_LOST => {
            let r: raw::LostRecord = read(bytes, k)?;
            EventKind::Lost {
                count: r.count,
                first_ts_ns: r.first_ts_ns,
                last_ts_ns: r.last_ts_ns,
            }
        }
        raw::KIND_TRIGGER_ENTER => {
            let r: raw::TriggerRecord = read(bytes, k)?;
            let stream_id = if r.has_handle != 0 {
                Some(r.handle)
            } else {
                let len = (r.buf_len as usize).min(r.buf.len());
                parse_stream_id(&r.buf[..len])
            };
            EventKind::TriggerEnter {
                source: trigger_source(r.source),
                stream_id,
                comm: Comm(r.comm),
            }
        }
        raw::KIND_TRIGGER_EXIT => {
            let r: raw::TriggerRecord = read(bytes, k)?;
            EventKind::TriggerExit {
                source: trigger_source(r.source),
                ret: r.ret,
            }
        }
        raw::KIND_MIGRATE_ENTER => EventKind::MigrateEnter {
            handle: read::<raw::CallRecord>(bytes, k)?.arg0,
        },
        raw::KIND_MIGRATE_EXIT => EventKind::MigrateExit {
            ret: read::<raw::CallRecord>(bytes, k)?.ret,
        },
        raw::KIND_SUSPEND_ENTER => EventKind::SuspendEnter {
            arg0: read::<raw::CallRecord>(bytes, k)?.arg0,
        },
        raw::KIND_SUSPEND_EXIT => EventKind::SuspendExit {
            ret: read::<raw::CallRecord>(bytes, k)?.ret,
        },
        raw::KIND_JOIN_ENTER => EventKind::JoinEnter {
            path: join_path(read::<raw::JoinRecord>(bytes, k)?.path),
        },
        raw::KIND_JOIN_EXIT => {
            let r: raw::JoinRecord = read(bytes, k)?;
            EventKind::JoinExit {
                path: join_path(r.path),
                ret: r.ret,
            }
        }
        raw::KIND_HCALL_ENTER => {
            let r: raw::HcallEnterRecord = read(bytes, k)?;
            EventKind::HcallEnter {
                opcode: r.opcode,
                args: r.args,
            }
        }
        raw::KIND_HCALL_EXIT => {
            let r: raw::HcallExitRecord = read(bytes, k)?;
            EventKind::HcallExit {
                opcode: r.opcode,
                retval: r.retval,
                retbuf0: (r.has_retbuf != 0).then_some(r.retbuf0),
            }
        }
        raw::KIND_RTAS_ENTER => EventKind::RtasEnter {
            token: read::<raw::RtasRecord>(bytes, k)?.token,
        },
        raw::KIND_RTAS_EXIT => {
            let r: raw::RtasRecord = read(bytes, k)?;
            EventKind::RtasExit {
                token: r.token,
                status: r.status,
            }
        }
        raw::KIND_CPUMASK_ENTER => EventKind::CpumaskEnter {
            op: cpumask_op(read::<raw::CpumaskRecord>(bytes, k)?.op),
        },
        raw::KIND_CPUMASK_EXIT => {
            let r: raw::CpumaskRecord = read(bytes, k)?;
            EventKind::CpumaskExit {
                op: cpumask_op(r.op),
                ret: r.ret,
            }
        }
        raw::KIND_HOTPLUG_ENTER => {
            let r: raw::HotplugRecord = read(bytes, k)?;
            EventKind::HotplugEnter {
                target_cpu: r.target_cpu,
                target: r.state,
                idx: r.idx,
                multi: r.ret != 0,
                fun: r.fun,
            }
        }
        raw::KIND_HOTPLUG_EXIT => {
            let r: raw::HotplugRecord = read(bytes, k)?;
            EventKind::HotplugExit {
                target_cpu: r.target_cpu,
                state: r.state,
                idx: r.idx,
                ret: r.ret,
            }
        }
        raw::KIND_CPU_DOWN_ENTER => {
            let r: raw::CpuDownRecord = read(bytes, k)?;
            EventKind::CpuDownEnter {
                target_cpu: (r.target_cpu != u32::MAX).then_some(r.target_cpu),
                via: cpu_down_via(r.via),
                comm: Comm(r.comm),
            }
        }
        raw::KIND_CPU_DOWN_EXIT => {
            let r: raw::CpuDownRecord = read(bytes, k)?;
            EventKind::CpuDownExit {
                via: cpu_down_via(r.via),
                ret: r.ret,
            }
        }
        raw::KIND_CPU_ONLINE => {
            let r: raw::CpuOnlineRecord = read(bytes, k)?;
            EventKind::CpuOnline {
                target_cpu: r.target_cpu,
                online: r.online != 0,
                via: online_via(r.via),
            }
        }
        raw::KIND_IPI_SEND => {
            let r: raw::IpiSendRecord = read(bytes, k)?;
            EventKind::IpiSend {
                target_cpu: r.target_cpu,
                callback: r.callback,
                via: ipi_send_via(r.via),
            }
        }
        raw::KIND_IPI_SEND_MASK => {
            let r: raw::IpiSendMaskRecord = read(bytes, k)?;
            EventKind::IpiSendMask {
                mask: CpuMask(r.mask),
                callback: r.callback,
                via: ipi_send_via(r.via),
            }
        }
        raw::KIND_IPI_HANDLE_ENTER => {
            let r: raw::IpiHandleRecord = read(bytes, k)?;
            EventKind::IpiHandleEnter {
                func: r.func,
                via: ipi_handle_via(r.via),
            }
        }
        raw::KIND_IPI_HANDLE_EXIT => {
            let r: raw::IpiHandleRecord = read(bytes, k)?;
            EventKind::IpiHandleExit {
                func: r.func,
                via: ipi_handle_via(r.via),
            }
        }
        kind => return Err(DecodeError::UnknownKind { kind }),
    };
    Ok(Event {
        ts_ns: hdr.ts_ns,
        cpu: hdr.cpu as u32,
        tid: hdr.tid,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T: Copy>(value: &T) -> Vec<u8> {
        // SAFETY: T is a plain repr(C) record; reading its bytes is fine.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>()) }.to_vec()
    }

    #[test]
    fn decodes_hotplug_enter() {
        let rec = raw::HotplugRecord {
            header: raw::RecordHeader {
                ts_ns: 42,
                kind: raw::KIND_HOTPLUG_ENTER,
                cpu: 1,
                tid: 7,
            },
            target_cpu: 1,
            state: 0,
            idx: 146,
            ret: 0,
            fun: 0xdead,
        };
        let ev = decode(&bytes_of(&rec)).unwrap();
        assert_eq!(ev.ts_ns, 42);
        assert_eq!(ev.cpu, 1);
        assert_eq!(
            ev.kind,
            EventKind::HotplugEnter {
                target_cpu: 1,
                target: 0,
                idx: 146,
                multi: false,
                fun: 0xdead
            }
        );
    }

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert!(matches!(decode(&[0; 3]), Err(DecodeError::ShortHeader { .. })));
        let hdr = raw::RecordHeader {
            ts_ns: 1,
            kind: raw::KIND_IPI_SEND,
            cpu: 0,
            tid: 0,
        };
        assert!(matches!(
            decode(&bytes_of(&hdr)),
            Err(DecodeError::Short { kind: 60, .. })
        ));
        let hdr = raw::RecordHeader {
            ts_ns: 1,
            kind: 999,
            cpu: 0,
            tid: 0,
        };
        assert_eq!(decode(&bytes_of(&hdr)), Err(DecodeError::UnknownKind { kind: 999 }));
    }

    #[test]
    fn stream_id_parses_like_kstrtou64() {
        assert_eq!(parse_stream_id(b"0x1f\n"), Some(31));
        assert_eq!(parse_stream_id(b"42"), Some(42));
        assert_eq!(parse_stream_id(b"010"), Some(8));
        assert_eq!(parse_stream_id(b"0"), Some(0));
        assert_eq!(parse_stream_id(b"zz"), None);
    }

    #[test]
    fn sysfs_trigger_reads_stream_id_from_text() {
        let mut rec = raw::TriggerRecord {
            header: raw::RecordHeader {
                ts_ns: 5,
                kind: raw::KIND_TRIGGER_ENTER,
                cpu: 0,
                tid: 9,
            },
            source: raw::trigger_source::SYSFS,
            ..Default::default()
        };
        rec.buf[..4].copy_from_slice(b"0x2\n");
        rec.buf_len = 4;
        rec.comm[..6].copy_from_slice(b"drmgr\0");
        let ev = decode(&bytes_of(&rec)).unwrap();
        match ev.kind {
            EventKind::TriggerEnter {
                source,
                stream_id,
                comm,
            } => {
                assert_eq!(source, TriggerSource::Sysfs);
                assert_eq!(stream_id, Some(2));
                assert_eq!(comm.as_text(), "drmgr");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
