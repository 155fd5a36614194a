# join-stall (any kernel with lpm-faultinject): CPU 2 is held out of the
# join for lpmt.hold ms (default 4000) by spinning at the entry of the join
# function (rtas_percpu_suspend_me on 5.10, do_join on 5.11+). On 5.10
# H_VASI_STATE is also answered SUSPENDING so the join happens at all.
# `lpmtrace live --plain` and `lpmtrace record` both watch.
hold=$(lpmt_cmdline lpmt.hold || echo 4000)
live=
if lpmt_has_lpmtrace; then
    t0=$(lpmt_now)
    lpmtrace live --plain --format jsonl --duration 120s > "$LPMT_OUT/live.jsonl" 2> "$LPMT_OUT/live.stderr" &
    live=$!
    lpmt_wait_ready "$live" "$LPMT_OUT/live.stderr"
    echo "live-start how=$LPMT_READY ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
fi
lpmt_record_start stall
# After lpmtrace attached: its probes then see the injected answers.
lpmt_fi_load vasi_rc=0 vasi_state=3 hold_cpu=2 hold_ms="$hold" || { lpmt_record_stop; exit 1; }
lpmt_migrate stall-1
sleep 2
lpmt_record_stop
if [ -n "$live" ]; then
    kill -INT "$live" 2>/dev/null
    wait "$live"
    echo "live how=sigint rc=$? ms=0" >> "$LPMT_OUT/timings.txt"
fi
lpmt_fi_unload
