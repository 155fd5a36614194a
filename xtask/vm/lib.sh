# Helpers for the vm-test guest (busybox sh), sourced by /init; the scenario
# scripts run in a subshell of /init and use these.
#
# Artifacts go to $LPMT_OUT; /init sends every file there to the host at the
# end (gzip + base64 between ===LPMT-FILE-BEGIN/END=== markers).

LPMT_OUT=/tmp/out
LPMT_READY_TIMEOUT=${LPMT_READY_TIMEOUT:-30}   # s to wait for `record` to be ready
LPMT_STOP_TIMEOUT=${LPMT_STOP_TIMEOUT:-90}     # s to wait for `record` to exit after SIGINT
LPMT_MAX_SEND=${LPMT_MAX_SEND:-16777216}       # bytes (compressed) per file
MIGRATION=/sys/kernel/mobility/migration

lpmt_now() { cut -d' ' -f1 /proc/uptime; }

# Milliseconds between two uptime stamps (10 ms resolution).
lpmt_ms() { echo "$1 $2" | awk '{ printf "%d", ($2 - $1) * 1000 }'; }

# Value of key=value on the kernel command line.
lpmt_cmdline() {
    for w in $(cat /proc/cmdline); do
        case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
    done
    return 1
}

lpmt_log() {
    echo "[lpmt $(lpmt_now)] $*" > /dev/console
    echo "$(lpmt_now) $*" >> "$LPMT_OUT/scenario.log"
}

lpmt_has_lpmtrace() {
    [ -x /bin/lpmtrace ] && [ "$(lpmt_cmdline lpmt.nolpmtrace)" != 1 ]
}

# Runs "$@" and logs how long it took; the exit status is left in LPMT_RC.
lpmt_timed() {
    _name=$1; shift
    _t0=$(lpmt_now)
    "$@"
    LPMT_RC=$?
    _t1=$(lpmt_now)
    echo "$_name rc=$LPMT_RC ms=$(lpmt_ms "$_t0" "$_t1") start=$_t0" >> "$LPMT_OUT/timings.txt"
    lpmt_log "$_name: rc=$LPMT_RC in $(lpmt_ms "$_t0" "$_t1") ms"
    return $LPMT_RC
}

lpmt_online_cpus() { grep -c '^processor' /proc/cpuinfo; }

# CPUs other than 0 that can be taken offline.
lpmt_secondary_cpus() {
    for d in /sys/devices/system/cpu/cpu[0-9]*; do
        n=${d##*/cpu}
        [ "$n" != 0 ] && [ -f "$d/online" ] && echo "$n"
    done
}

# lpmt_cpu_set CPU 0|1: one hotplug operation, logged to hotplug.txt as
# "cpu=N to=V rc=R ms=M err=..." (rc 0 = the write succeeded).
lpmt_cpu_set() {
    _f=/sys/devices/system/cpu/cpu$1/online
    _t0=$(lpmt_now)
    _err=$(echo "$2" 2>&1 > "$_f")
    _rc=$?
    _t1=$(lpmt_now)
    echo "cpu=$1 to=$2 rc=$_rc ms=$(lpmt_ms "$_t0" "$_t1") start=$_t0 err=$_err" >> "$LPMT_OUT/hotplug.txt"
    return $_rc
}

lpmt_all_online() {
    for c in $(lpmt_secondary_cpus); do
        [ "$(cat /sys/devices/system/cpu/cpu$c/online)" = 1 ] || lpmt_cpu_set "$c" 1
    done
}

# lpmt_migrate LABEL: one write to the migration trigger; logged to
# triggers.txt as "label=L rc=R ms=M start=S err=..." (rc 0 = success).
lpmt_migrate() {
    _t0=$(lpmt_now)
    lpmt_log "migration trigger $1"
    _err=$(echo 0x1 2>&1 > "$MIGRATION")
    _rc=$?
    _t1=$(lpmt_now)
    echo "label=$1 rc=$_rc ms=$(lpmt_ms "$_t0" "$_t1") start=$_t0 err=$_err" >> "$LPMT_OUT/triggers.txt"
    lpmt_log "migration trigger $1: rc=$_rc in $(lpmt_ms "$_t0" "$_t1") ms $_err"
    return $_rc
}

# lpmt_rtas_migrate LABEL [STREAM]: the legacy trigger (old drmgr, API v0):
# rtas(2) with the ibm,suspend-me token, through /bin/rtas-suspend-me (a
# test-only tool, xtask/guest/rtas-suspend-me). Logged like lpmt_migrate,
# with via=sys_rtas, but in rtas-triggers.txt: newer little-endian kernels
# refuse the call, so it is not always a migration the kernel log shows.
# err= carries the tool's status line.
lpmt_rtas_migrate() {
    _t0=$(lpmt_now)
    lpmt_log "migration trigger $1 (sys_rtas)"
    _err=$(rtas-suspend-me "${2:-0x1}" 2>&1)
    _rc=$?
    _t1=$(lpmt_now)
    echo "label=$1 rc=$_rc ms=$(lpmt_ms "$_t0" "$_t1") start=$_t0 via=sys_rtas err=$_err" >> "$LPMT_OUT/rtas-triggers.txt"
    lpmt_log "migration trigger $1 (sys_rtas): rc=$_rc in $(lpmt_ms "$_t0" "$_t1") ms $_err"
    return $_rc
}

# True while PID runs (a zombie counts as exited).
lpmt_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    _st=$(cut -d')' -f2 "/proc/$1/stat" | cut -d' ' -f2)
    [ "$_st" != Z ]
}

# lpmt_record_start NAME [ARGS]: `lpmtrace record -o $LPMT_OUT/NAME.lpmt` in
# the background; returns once it says it is ready (a stderr line matching
# recording|attached|ready|tracing), or its file has been non-empty for 2 s,
# or after LPMT_READY_TIMEOUT.
lpmt_record_start() {
    LPMT_REC_NAME=$1; shift
    LPMT_REC_PID=
    if ! lpmt_has_lpmtrace; then
        lpmt_log "record $LPMT_REC_NAME: no lpmtrace in this guest, skipped"
        return 0
    fi
    _t0=$(lpmt_now)
    lpmtrace record -o "$LPMT_OUT/$LPMT_REC_NAME.lpmt" "$@" > "$LPMT_OUT/$LPMT_REC_NAME.record.log" 2>&1 &
    LPMT_REC_PID=$!
    lpmt_wait_ready "$LPMT_REC_PID" "$LPMT_OUT/$LPMT_REC_NAME.record.log" "$LPMT_OUT/$LPMT_REC_NAME.lpmt"
    _why=$LPMT_READY
    _t1=$(lpmt_now)
    echo "record-start name=$LPMT_REC_NAME how=$_why ms=$(lpmt_ms "$_t0" "$_t1") start=$_t0" >> "$LPMT_OUT/timings.txt"
    lpmt_log "record $LPMT_REC_NAME: pid $LPMT_REC_PID, $_why after $(lpmt_ms "$_t0" "$_t1") ms"
}

# lpmt_wait_ready PID LOG [FILE]: waits until lpmtrace says it is attached
# (a LOG line matching recording|attached|ready|tracing), FILE has been
# non-empty for 2 s, PID exited, or LPMT_READY_TIMEOUT passed; LPMT_READY
# says which.
lpmt_wait_ready() {
    _i=0; _seen=0; LPMT_READY=timeout
    while [ $_i -lt $((LPMT_READY_TIMEOUT * 5)) ]; do
        if ! lpmt_alive "$1"; then LPMT_READY=exited; return 1; fi
        if grep -qiE 'recording|attached|ready|tracing' "$2" 2>/dev/null; then LPMT_READY=ready; return 0; fi
        if [ -n "$3" ] && [ -s "$3" ]; then
            _seen=$((_seen + 1)); [ $_seen -ge 10 ] && { LPMT_READY=file; return 0; }
        fi
        sleep 0.2; _i=$((_i + 1))
    done
    return 1
}

# Stops the recorder with SIGINT and waits for it (SIGKILL after
# LPMT_STOP_TIMEOUT); logs "record-stop name=N rc=R ms=M".
lpmt_record_stop() {
    [ -n "$LPMT_REC_PID" ] || return 0
    _t0=$(lpmt_now)
    kill -INT "$LPMT_REC_PID" 2>/dev/null
    _i=0
    while lpmt_alive "$LPMT_REC_PID" && [ $_i -lt $((LPMT_STOP_TIMEOUT * 5)) ]; do
        sleep 0.2; _i=$((_i + 1))
    done
    _how=sigint
    if lpmt_alive "$LPMT_REC_PID"; then
        _how=sigkill; kill -KILL "$LPMT_REC_PID" 2>/dev/null
    fi
    wait "$LPMT_REC_PID"
    _rc=$?
    _t1=$(lpmt_now)
    echo "record-stop name=$LPMT_REC_NAME how=$_how rc=$_rc ms=$(lpmt_ms "$_t0" "$_t1") start=$_t0" >> "$LPMT_OUT/timings.txt"
    lpmt_log "record $LPMT_REC_NAME stopped ($_how): rc=$_rc after $(lpmt_ms "$_t0" "$_t1") ms, $(wc -c < "$LPMT_OUT/$LPMT_REC_NAME.lpmt" 2>/dev/null || echo 0) bytes"
    LPMT_REC_PID=
}

# Background loop taking CPUs offline and online until /tmp/stop-hotplug
# exists; every operation lands in hotplug.txt.
lpmt_hotplug_loop_start() {
    rm -f /tmp/stop-hotplug
    (
        while [ ! -e /tmp/stop-hotplug ]; do
            for c in $(lpmt_secondary_cpus); do
                [ -e /tmp/stop-hotplug ] && break
                lpmt_cpu_set "$c" 0
                lpmt_cpu_set "$c" 1
            done
        done
    ) &
    LPMT_HP_PID=$!
}

lpmt_hotplug_loop_stop() {
    touch /tmp/stop-hotplug
    [ -n "$LPMT_HP_PID" ] && wait "$LPMT_HP_PID"
    LPMT_HP_PID=
}

# Cross-CPU wake-ups (hence IPIs): pipes whose writer and reader are pinned
# to different CPUs, until /tmp/stop-ipi exists.
lpmt_ipi_load_start() {
    rm -f /tmp/stop-ipi
    _n=$(lpmt_online_cpus)
    _c=0
    LPMT_IPI_PIDS=
    while [ $_c -lt "$_n" ]; do
        _d=$(( (_c + 1) % _n ))
        taskset -c "$_c" sh -c 'while [ ! -e /tmp/stop-ipi ]; do echo ping; done' | taskset -c "$_d" sh -c 'cat > /dev/null' &
        LPMT_IPI_PIDS="$LPMT_IPI_PIDS $!"
        _c=$((_c + 1))
    done
}

lpmt_ipi_load_stop() {
    touch /tmp/stop-ipi
    for _p in $LPMT_IPI_PIDS; do wait "$_p"; done
    LPMT_IPI_PIDS=
}

lpmt_snapshot_interrupts() { cat /proc/interrupts > "$LPMT_OUT/interrupts-$1.txt"; }

# lpmt_send FILE [NAME]: one file to the host.
lpmt_send() {
    _f=$1; _n=${2:-${1##*/}}
    [ -f "$_f" ] || return 0
    _size=$(wc -c < "$_f")
    _sum=$(sha256sum "$_f" | cut -d' ' -f1)
    gzip -c "$_f" > /tmp/send.gz
    if [ "$(wc -c < /tmp/send.gz)" -gt "$LPMT_MAX_SEND" ]; then
        echo "===LPMT-FILE-SKIPPED name=$_n size=$_size reason=too-big==="
    else
        echo "===LPMT-FILE-BEGIN name=$_n size=$_size sha256=$_sum enc=gzip+base64==="
        base64 < /tmp/send.gz
        echo "===LPMT-FILE-END name=$_n==="
    fi
    rm -f /tmp/send.gz
}

# Sends every artifact, the kernel log last; quiet console meanwhile so
# kernel messages cannot break the base64 lines.
lpmt_send_all() {
    dmesg > "$LPMT_OUT/dmesg.txt"
    echo 1 > /proc/sys/kernel/printk
    for f in "$LPMT_OUT"/*; do
        [ "$f" = "$LPMT_OUT/dmesg.txt" ] && continue
        lpmt_send "$f"
    done
    dmesg > "$LPMT_OUT/dmesg.txt"
    lpmt_send "$LPMT_OUT/dmesg.txt"
}

# --- lpm-faultinject (TEST ONLY; xtask/guest/lpm-faultinject/README.md) ---
# The module rewrites platform answers (H_VASI_STATE, H_VASI_SIGNAL,
# ibm,suspend-me) and can hold a CPU out of the join; every injection is
# logged in the kernel log with the prefix "lpm-faultinject:".

# lpmt_fi_load [PARAM=VALUE]...: loads the module built for this kernel.
lpmt_fi_load() {
    _ko=/lpmt/ko/$(uname -r)/lpm_faultinject.ko
    if [ ! -f "$_ko" ]; then
        lpmt_log "lpm-faultinject: no module for $(uname -r) in /lpmt/ko"
        echo "load rc=127 args=$* err=no module for $(uname -r)" >> "$LPMT_OUT/faultinject.txt"
        return 1
    fi
    _err=$(insmod "$_ko" "$@" 2>&1)
    _rc=$?
    echo "load rc=$_rc args=$* err=$_err" >> "$LPMT_OUT/faultinject.txt"
    lpmt_log "insmod lpm_faultinject $*: rc=$_rc $_err"
    return $_rc
}

# lpmt_fi_set PARAM VALUE: changes an injection while the module is loaded.
lpmt_fi_set() {
    echo "$2" > "/sys/module/lpm_faultinject/parameters/$1"
    echo "set $1=$2 rc=$? at=$(lpmt_now)" >> "$LPMT_OUT/faultinject.txt"
    lpmt_log "lpm-faultinject: $1=$2"
}

lpmt_fi_unload() {
    rmmod lpm_faultinject
    echo "unload rc=$? at=$(lpmt_now)" >> "$LPMT_OUT/faultinject.txt"
}
