//! Names and numbers from the kernel and PAPR (asm/hvcall.h, rtas.h), with
//! their meanings, so every view prints `H_JOIN` rather than 664.

/// `H_PROD`: wake a CPU that sits in H_JOIN / H_CEDE.
pub const H_PROD: u32 = 0xE8;
/// `H_JOIN`: park this CPU for the suspend; the last one gets H_CONTINUE.
pub const H_JOIN: u32 = 0x298;
/// `H_VASI_SIGNAL`: tell the platform to cancel (signal 1) the migration.
pub const H_VASI_SIGNAL: u32 = 0x2A0;
/// `H_VASI_STATE`: ask the platform for the migration stream's state.
pub const H_VASI_STATE: u32 = 0x2A4;
/// `H_CEDE`.
pub const H_CEDE: u32 = 0xE0;
/// `H_CONFER`.
pub const H_CONFER: u32 = 0xE4;

/// hcalls the kernel-side filter lets through by default.
pub const DEFAULT_HCALL_FILTER: &[u32] = &[H_JOIN, H_PROD, H_VASI_STATE, H_VASI_SIGNAL];

/// hcall return: success.
pub const H_SUCCESS: i64 = 0;
/// hcall return: H_JOIN on the last CPU — go on and suspend.
pub const H_CONTINUE: i64 = 18;
/// hcall return: hardware error.
pub const H_HARDWARE: i64 = -1;
/// hcall return: function not supported.
pub const H_FUNCTION: i64 = -2;
/// hcall return: bad parameter.
pub const H_PARAMETER: i64 = -4;
/// hcall return: bad mode.
pub const H_BAD_MODE: i64 = -5;

/// H_VASI_SIGNAL signal code for cancel (the only one valid from the OS).
pub const H_VASI_SIGNAL_CANCEL: u64 = 1;

/// ibm,suspend-me status: success.
pub const RTAS_SUSPEND_OK: i32 = 0;
/// ibm,suspend-me status: the platform aborted the suspend.
pub const RTAS_SUSPEND_ABORTED: i32 = 9000;
/// ibm,suspend-me status: partition not suspendable now.
pub const RTAS_NOT_SUSPENDABLE: i32 = -9004;
/// ibm,suspend-me status: other threads still active.
pub const RTAS_THREADS_ACTIVE: i32 = -9005;
/// ibm,suspend-me status: outstanding coprocessor operations.
pub const RTAS_OUTSTANDING_COPROC: i32 = -9006;

/// Name of an hcall opcode.
pub fn hcall_name(opcode: u32) -> Option<&'static str> {
    Some(match opcode {
        H_PROD => "H_PROD",
        H_JOIN => "H_JOIN",
        H_VASI_SIGNAL => "H_VASI_SIGNAL",
        H_VASI_STATE => "H_VASI_STATE",
        H_CEDE => "H_CEDE",
        H_CONFER => "H_CONFER",
        _ => return None,
    })
}

/// Name of an hcall return code.
pub fn hcall_ret_name(ret: i64) -> Option<&'static str> {
    Some(match ret {
        H_SUCCESS => "H_SUCCESS",
        H_CONTINUE => "H_CONTINUE",
        H_HARDWARE => "H_HARDWARE",
        H_FUNCTION => "H_FUNCTION",
        H_PARAMETER => "H_PARAMETER",
        H_BAD_MODE => "H_BAD_MODE",
        -9005 => "H_MULTI_THREADS_ACTIVE",
        -9006 => "H_OUTSTANDING_COP_OPS",
        _ => return None,
    })
}

/// VASI stream states (H_VASI_STATE retbuf[0]).
pub fn vasi_state_name(state: u64) -> Option<&'static str> {
    Some(match state {
        0 => "INVALID",
        1 => "ENABLED",
        2 => "ABORTED",
        3 => "SUSPENDING",
        4 => "SUSPENDED",
        5 => "RESUMED",
        6 => "COMPLETED",
        _ => return None,
    })
}

/// H_VASI_SIGNAL signal codes.
pub fn vasi_signal_name(signal: u64) -> Option<&'static str> {
    Some(match signal {
        1 => "CANCEL",
        2 => "ABORT",
        3 => "SUSPEND",
        4 => "COMPLETE",
        5 => "ENABLE",
        6 => "FAILOVER",
        _ => return None,
    })
}

/// ibm,suspend-me status names.
pub fn rtas_suspend_status_name(status: i32) -> Option<&'static str> {
    Some(match status {
        0 => "success",
        RTAS_SUSPEND_ABORTED => "RTAS_SUSPEND_ABORTED",
        RTAS_NOT_SUSPENDABLE => "RTAS_NOT_SUSPENDABLE",
        RTAS_THREADS_ACTIVE => "RTAS_THREADS_ACTIVE",
        RTAS_OUTSTANDING_COPROC => "RTAS_OUTSTANDING_COPROC",
        -1 => "hardware error",
        -2 => "busy",
        _ => return None,
    })
}

/// Linux errno names for the values the LPM path returns.
pub fn errno_name(ret: i64) -> Option<&'static str> {
    // checked_neg: a corrupt record may carry i64::MIN.
    Some(match ret.checked_neg()? {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        11 => "EAGAIN",
        12 => "ENOMEM",
        16 => "EBUSY",
        22 => "EINVAL",
        95 => "EOPNOTSUPP",
        125 => "ECANCELED",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_match_hvcall_h() {
        assert_eq!(H_JOIN, 664);
        assert_eq!(H_VASI_STATE, 676);
        assert_eq!(H_VASI_SIGNAL, 672);
        assert_eq!(H_PROD, 232);
        assert_eq!(hcall_name(664), Some("H_JOIN"));
        assert_eq!(hcall_ret_name(18), Some("H_CONTINUE"));
        assert_eq!(vasi_state_name(3), Some("SUSPENDING"));
        assert_eq!(errno_name(-11), Some("EAGAIN"));
    }
}
