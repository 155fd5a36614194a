# join-stall (5.10 and 6.1, with lpm-faultinject): CPU 2 is held out of the
# join for lpmt.hold ms (default 4000) while `lpmtrace live --plain
# --record` watches; H_VASI_STATE is answered SUSPENDING (5.10 needs it).
#
# 5.10 joins through on_each_cpu() IPIs: the module withholds CPU 2's IPI
# (hold_ipi=1), so CPU 2 keeps running tasks while CPUs 0, 1, 3 sit in
# H_JOIN. live runs pinned to CPU 2 and must report the stall while it lasts;
# a watcher (also on CPU 2) notes when its join-stall line appeared. A busy
# loop keeps CPU 2 from going idle (an idle CPU runs its pending IPI calls).
# 5.11+ joins under stop_machine: every CPU is busy in the join, nothing
# can run until it ends, so CPU 2 spins at the entry of do_join and the
# stall can only be reported afterwards.
# 5.10: 8 s, so live (sharing CPU 2 with the busy loop while a flood of
# premature H_JOIN returns arrives) has time to report; 5.11+: 4 s.
case "$(uname -r)" in
    5.*) mode=ipi; hold=$(lpmt_cmdline lpmt.hold || echo 8000) ;;
    *) mode=spin; hold=$(lpmt_cmdline lpmt.hold || echo 4000) ;;
esac
echo "mode=$mode hold_ms=$hold" > "$LPMT_OUT/stall.txt"
# This shell, and so the migration trigger, stays on CPU 0.
taskset -p -c 0 $$ > /dev/null
rm -f /tmp/stop-busy
taskset -c 2 sh -c 'while [ ! -e /tmp/stop-busy ]; do :; done' &
busy=$!
live=
if lpmt_has_lpmtrace; then
    t0=$(lpmt_now)
    # Only its findings (stderr) matter here; the event lines are dropped.
    taskset -c 2 lpmtrace live --plain --format jsonl --record "$LPMT_OUT/stall.lpmt" --duration 120s \
        > /dev/null 2> "$LPMT_OUT/live.stderr" &
    live=$!
    lpmt_wait_ready "$live" "$LPMT_OUT/live.stderr"
    echo "live-start how=$LPMT_READY ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
    taskset -c 2 sh -c 'while [ ! -e /tmp/stop-busy ]; do
        if grep -q join-stall /tmp/out/live.stderr; then
            echo "seen uptime=$(cut -d" " -f1 /proc/uptime)" > /tmp/out/live-seen.txt; break
        fi; sleep 0.05; done' &
fi
extra=
[ "$mode" = ipi ] && extra=hold_ipi=1
# After lpmtrace attached: its probes then see the injected answers.
if lpmt_fi_load vasi_rc=0 vasi_state=3 hold_cpu=2 hold_ms="$hold" $extra; then
    lpmt_migrate stall-1
    sleep 2
    lpmt_fi_unload
fi
touch /tmp/stop-busy
wait "$busy"
if [ -n "$live" ]; then
    t0=$(lpmt_now)
    kill -INT "$live" 2>/dev/null
    wait "$live"
    rc=$?
    echo "live how=sigint rc=$rc ms=$(lpmt_ms "$t0" "$(lpmt_now)")" >> "$LPMT_OUT/timings.txt"
    echo "record-stop name=stall how=sigint rc=$rc ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
fi
