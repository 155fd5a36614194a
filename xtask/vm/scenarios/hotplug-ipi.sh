# hotplug-ipi: CPU hotplug and cross-CPU wake-ups (IPIs), no migration, with
# `lpmtrace live --plain --format jsonl` watching. Run on XIVE and XICS.
dur=$(lpmt_cmdline lpmt.live || echo 25)
rounds=$(lpmt_cmdline lpmt.rounds || echo 3)
lpmt_snapshot_interrupts before
if lpmt_has_lpmtrace; then
    lpmt_log "lpmtrace live --plain --format jsonl --duration ${dur}s"
    lpmtrace live --plain --format jsonl --duration "${dur}s" > "$LPMT_OUT/live.jsonl" 2> "$LPMT_OUT/live.stderr" &
    live=$!
    sleep "$(lpmt_cmdline lpmt.livesettle || echo 8)"
fi
lpmt_ipi_load_start
sleep 2
r=1
while [ $r -le "$rounds" ]; do
    for c in $(lpmt_secondary_cpus); do
        lpmt_cpu_set "$c" 0
        sleep 0.3
        lpmt_cpu_set "$c" 1
    done
    r=$((r + 1))
done
sleep 2
lpmt_ipi_load_stop
lpmt_snapshot_interrupts after
if [ -n "$live" ]; then
    t0=$(lpmt_now)
    i=0
    while lpmt_alive "$live" && [ $i -lt $(( (dur + 30) * 5 )) ]; do sleep 0.2; i=$((i + 1)); done
    lpmt_alive "$live" && kill -INT "$live"
    wait "$live"
    rc=$?
    echo "live rc=$rc waited_ms=$(lpmt_ms "$t0" "$(lpmt_now)")" >> "$LPMT_OUT/timings.txt"
    lpmt_log "live exited rc=$rc"
fi
