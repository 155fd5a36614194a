//! One event per line, as text or as a JSON object: the output of
//! `live --plain` and `dump`, which print the same shape.
//!
//! Text lines start with the time since the recording's first event and,
//! for `dump` and `live --plain`, the boot time as `dmesg` prints it:
//! `+1.020742s [   12.560384]` (both accepted back by `dump --from`).
//!
//! JSON lines carry `ts_ns` (boot clock), `cpu`, `tid`, `probe` (logical name), `phase`
//! (enter/exit/event), `event` (the kind) and the decoded fields, with names
//! resolved from the session (hotplug state names, hcall names, symbols).
//! The shape is documented in docs/usage.md.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::events::{names, session::SessionInfo, Event, EventKind, Phase};

/// Output format of event lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LineFormat {
    /// Aligned human-readable text.
    Text,
    /// One JSON object per line.
    Jsonl,
}

/// How a text line stamps its time: since `base_ns` (the first event of
/// the recording or of the live session), and the boot clock when `boot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineClock {
    /// The first event's timestamp.
    pub base_ns: u64,
    /// Also print `[ boot seconds ]`, as `dmesg` does.
    pub boot: bool,
}

impl LineClock {
    /// Since `base_ns`, with the boot time (`dump`, `live --plain`).
    pub fn with_boot(base_ns: u64) -> Self {
        LineClock { base_ns, boot: true }
    }
}

fn phase_str(phase: Phase) -> &'static str {
    match phase {
        Phase::Enter => "enter",
        Phase::Exit => "exit",
        Phase::Event => "event",
    }
}

fn sym(session: &SessionInfo, addr: u64) -> Value {
    match session.symbol(addr) {
        Some(name) => Value::String(name.to_string()),
        None if addr == 0 => Value::Null,
        None => Value::String(format!("{addr:#x}")),
    }
}

/// The decoded fields of an event as a JSON map (without the common ones).
pub fn fields(event: &Event, session: &SessionInfo) -> Map<String, Value> {
    let v = match event.kind {
        EventKind::Lost {
            count,
            first_ts_ns,
            last_ts_ns,
        } => {
            json!({"count": count, "first_ts_ns": first_ts_ns, "last_ts_ns": last_ts_ns})
        }
        EventKind::TriggerEnter {
            source,
            stream_id,
            comm,
        } => {
            json!({"source": source, "stream_id": stream_id, "comm": comm.as_text()})
        }
        EventKind::TriggerExit { source, ret } => {
            json!({"source": source, "ret": ret, "ret_name": names::errno_name(ret)})
        }
        EventKind::MigrateEnter { handle } => json!({"stream_id": handle}),
        EventKind::MigrateExit { ret } | EventKind::SuspendExit { ret } => {
            json!({"ret": ret, "ret_name": names::errno_name(ret)})
        }
        EventKind::SuspendEnter { arg0 } => json!({"arg0": arg0}),
        EventKind::JoinEnter { path } => json!({"path": path}),
        EventKind::JoinExit { path, ret } => {
            json!({"path": path, "ret": ret, "ret_name": names::errno_name(ret as i64)})
        }
        EventKind::HcallEnter { opcode, args } => {
            let mut m = json!({"opcode": opcode, "hcall": names::hcall_name(opcode), "args": args});
            if opcode == names::H_VASI_SIGNAL {
                m["handle"] = json!(args[0]);
                m["signal"] = json!(names::vasi_signal_name(args[1]));
                m["reason"] = json!(format!("{:#x}", args[2]));
            }
            m
        }
        EventKind::HcallExit {
            opcode,
            retval,
            retbuf0,
        } => {
            let mut m = json!({"opcode": opcode, "hcall": names::hcall_name(opcode), "retval": retval,
                "retval_name": names::hcall_ret_name(retval)});
            if let Some(r0) = retbuf0 {
                m["retbuf0"] = json!(r0);
                if opcode == names::H_VASI_STATE && retval == 0 {
                    m["vasi_state"] = json!(names::vasi_state_name(r0));
                }
            }
            m
        }
        EventKind::RtasEnter { token } => json!({"token": token}),
        EventKind::RtasExit { token, status } => {
            json!({"token": token, "status": status, "status_name": names::rtas_suspend_status_name(status)})
        }
        EventKind::CpumaskEnter { op } => json!({"op": op}),
        EventKind::CpumaskExit { op, ret } => json!({"op": op, "ret": ret}),
        EventKind::HotplugEnter {
            target_cpu,
            target,
            idx,
            multi,
            fun,
        } => json!({
            "target_cpu": target_cpu,
            "state": idx,
            "state_name": session.hotplug_state_name(idx),
            "target": target,
            "target_name": session.hotplug_state_name(target),
            "direction": if idx > target { "down" } else { "up" },
            "multi": multi,
            "fun": sym(session, fun),
        }),
        EventKind::HotplugExit {
            target_cpu,
            state,
            idx,
            ret,
        } => json!({
            "target_cpu": target_cpu,
            "state": idx,
            "state_name": session.hotplug_state_name(idx),
            "reached": state,
            "reached_name": session.hotplug_state_name(state),
            "ret": ret,
        }),
        EventKind::CpuDownEnter { target_cpu, via, comm } => {
            json!({"target_cpu": target_cpu, "via": via, "comm": comm.as_text()})
        }
        EventKind::CpuDownExit { via, ret } => {
            json!({"via": via, "ret": ret, "ret_name": names::errno_name(ret as i64)})
        }
        EventKind::CpuOnline {
            target_cpu,
            online,
            via,
        } => json!({"target_cpu": target_cpu, "online": online, "via": via}),
        EventKind::IpiSend {
            target_cpu,
            callback,
            via,
        } => {
            json!({"target_cpu": target_cpu, "callback": sym(session, callback), "via": via})
        }
        EventKind::IpiSendMask { mask, callback, via } => {
            json!({"target_cpus": mask.cpus().collect::<Vec<_>>(), "callback": sym(session, callback), "via": via})
        }
        EventKind::IpiHandleEnter { func, via } | EventKind::IpiHandleExit { func, via } => {
            json!({"func": sym(session, func), "via": via})
        }
        EventKind::IpiTally { sent, handled } => json!({"sent": sent, "handled": handled}),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The event's kind tag (`hotplug-enter`, `ipi-send`, ...).
pub fn kind_tag(event: &Event) -> String {
    match serde_json::to_value(event.kind) {
        Ok(Value::Object(m)) => m.get("type").and_then(Value::as_str).unwrap_or("?").to_string(),
        _ => "?".into(),
    }
}

/// The full JSON object of one event.
pub fn to_json(event: &Event, session: &SessionInfo) -> Value {
    let mut m = Map::new();
    m.insert("ts_ns".into(), json!(event.ts_ns));
    m.insert("cpu".into(), json!(event.cpu));
    m.insert("tid".into(), json!(event.tid));
    m.insert("probe".into(), json!(event.kind.probe()));
    m.insert("phase".into(), json!(phase_str(event.kind.phase())));
    m.insert("event".into(), json!(kind_tag(event)));
    m.extend(fields(event, session));
    Value::Object(m)
}

/// Writes one event line in `format`.
pub fn write_event(
    out: &mut impl Write,
    event: &Event,
    session: &SessionInfo,
    format: LineFormat,
    clock: LineClock,
) -> io::Result<()> {
    match format {
        LineFormat::Jsonl => {
            serde_json::to_writer(&mut *out, &to_json(event, session))?;
            out.write_all(b"\n")
        }
        LineFormat::Text => {
            write!(out, "{:>11}", crate::views::time::since(event.ts_ns, clock.base_ns))?;
            if clock.boot {
                let secs = event.ts_ns / 1_000_000_000;
                let micros = event.ts_ns % 1_000_000_000 / 1_000;
                write!(out, " [{secs:>5}.{micros:06}]")?;
            }
            write!(
                out,
                " cpu{:<3} {:<12} {:<5} {:<16}",
                event.cpu,
                event.kind.probe(),
                phase_str(event.kind.phase()),
                kind_tag(event)
            )?;
            for (k, v) in fields(event, session) {
                if v.is_null() {
                    continue;
                }
                match v {
                    Value::String(s) => write!(out, " {k}={s}")?,
                    other => write!(out, " {k}={other}")?,
                }
            }
            out.write_all(b"\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::session::{HotplugState, KernelGeneration};

    #[test]
    fn hotplug_line_names_the_state() {
        let mut s = SessionInfo::synthetic("x86_64", 2, KernelGeneration::NotPseries);
        s.hotplug_states = vec![
            HotplugState {
                idx: 0,
                name: "offline".into(),
            },
            HotplugState {
                idx: 146,
                name: "cpu:teardown".into(),
            },
        ];
        let e = Event {
            ts_ns: 1_500_000_000,
            cpu: 0,
            tid: 3,
            kind: EventKind::HotplugEnter {
                target_cpu: 1,
                target: 0,
                idx: 146,
                multi: false,
                fun: 0,
            },
        };
        let v = to_json(&e, &s);
        assert_eq!(v["probe"], "cpu.hotplug");
        assert_eq!(v["phase"], "enter");
        assert_eq!(v["target_cpu"], 1);
        assert_eq!(v["state_name"], "cpu:teardown");
        assert_eq!(v["direction"], "down");
        let mut text = Vec::new();
        write_event(&mut text, &e, &s, LineFormat::Text, LineClock::with_boot(500_000_000)).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("state_name=cpu:teardown"), "{text}");
        assert!(text.starts_with(" +1.000000s [    1.500000] cpu0"), "{text}");
    }
}
