# hotplug-ipi: CPU hotplug and cross-CPU wake-ups (IPIs), no migration, with
# `lpmtrace live --plain --format jsonl --record` watching. Run on XIVE and XICS.
# live gets a generous --duration as a safety net and is stopped with SIGINT
# once the workload is done.
dur=$(lpmt_cmdline lpmt.live || echo 180)
rounds=$(lpmt_cmdline lpmt.rounds || echo 2)
lpmt_snapshot_interrupts before
live=
if lpmt_has_lpmtrace; then
    t0=$(lpmt_now)
    # --record: the host reads the same events back with `report`, for the
    # verdict oracle and the per-CPU hotplug counts.
    lpmtrace live --plain --format jsonl --duration "${dur}s" --record "$LPMT_OUT/ipi.lpmt" \
        > "$LPMT_OUT/live.jsonl" 2> "$LPMT_OUT/live.stderr" &
    live=$!
    lpmt_wait_ready "$live" "$LPMT_OUT/live.stderr"
    echo "live-start how=$LPMT_READY ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
    lpmt_log "live: $LPMT_READY after $(lpmt_ms "$t0" "$(lpmt_now)") ms"
fi
lpmt_ipi_load_start
sleep 1
r=1
while [ $r -le "$rounds" ]; do
    for c in $(lpmt_secondary_cpus); do
        lpmt_cpu_set "$c" 0
        sleep 0.3
        lpmt_cpu_set "$c" 1
    done
    r=$((r + 1))
done
sleep 1
lpmt_ipi_load_stop
lpmt_snapshot_interrupts after
if [ -n "$live" ]; then
    t0=$(lpmt_now)
    how=sigint
    lpmt_alive "$live" || how=exited-early
    kill -INT "$live" 2>/dev/null
    i=0
    while lpmt_alive "$live" && [ $i -lt $((LPMT_STOP_TIMEOUT * 5)) ]; do sleep 0.2; i=$((i + 1)); done
    if lpmt_alive "$live"; then how=sigkill; kill -KILL "$live"; fi
    wait "$live"
    rc=$?
    echo "live how=$how rc=$rc ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
    lpmt_log "live stopped ($how): rc=$rc"
fi
