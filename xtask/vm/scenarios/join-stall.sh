# join-stall (5.10, 6.1 and 6.12, with lpm-faultinject): CPU 2 is held out of the
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
# 5.10's CPUs 0, 1, 3 loop on premature H_JOIN returns (~190k events/s
# under TCG) while live shares CPU 2 with the busy loop: the ring stays
# full for the whole hold (the overflow is counted as lost events). That
# once kept live's read loop from ever yielding to its tick, so the stall
# was printed only after the release; the check now requires it before.
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
    # live's stderr goes through one awk, also on CPU 2, that stamps the
    # first join-stall line with /proc/uptime the moment it reads it: a
    # blocking reader woken by live's write on the same CPU, so nothing
    # polls and nothing forks while CPUs 0, 1, 3 sit in H_JOIN with
    # interrupts off (a fork or exec could need them for TLB flushes).
    rm -f /tmp/live-err
    mkfifo /tmp/live-err
    taskset -c 2 awk '{
        print; fflush()
        if (!seen && $0 ~ /join-stall/) {
            getline up < "/proc/uptime"; close("/proc/uptime"); split(up, a, " ")
            print "seen uptime=" a[1] > "/tmp/out/live-seen.txt"; close("/tmp/out/live-seen.txt"); seen = 1
        }
    }' < /tmp/live-err > "$LPMT_OUT/live.stderr" &
    # Its event lines go through a second awk that notes, every 2000 lines,
    # the uptime and the line count: how far live's output got, and when
    # (progress.txt, "UPTIME LINES").
    rm -f /tmp/live-out
    mkfifo /tmp/live-out
    taskset -c 2 awk '{ if (++n % 2000 == 1) { getline up < "/proc/uptime"; close("/proc/uptime"); split(up, a, " ");
        print a[1], n > "/tmp/out/progress.txt"; fflush("/tmp/out/progress.txt") } }' < /tmp/live-out &
    taskset -c 2 lpmtrace live --plain --format jsonl --record "$LPMT_OUT/stall.lpmt" --duration 120s \
        > /tmp/live-out 2> /tmp/live-err &
    live=$!
    lpmt_wait_ready "$live" "$LPMT_OUT/live.stderr"
    echo "live-start how=$LPMT_READY ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
fi
sampler=
if [ "$mode" = ipi ] && [ -n "$live" ]; then
    # Where live's threads are in the kernel, once a second until the end
    # (stack-samples.txt): what live waits for when its output stops
    # during the hold. Shell builtins only: a fork could itself need the
    # CPUs parked in H_JOIN.
    rm -f /tmp/tick
    mkfifo /tmp/tick
    taskset -c 2 sh -c '
        n=0
        while [ ! -e /tmp/stop-busy ] && [ $n -lt 90 ]; do
            read -r up rest < /proc/uptime
            for t in /proc/'"$live"'/task/*; do
                w=; read -r w < "$t/wchan"
                c=; read -r c < "$t/comm"
                echo "sample $up tid=${t##*/} comm=$c wchan=${w:-?}"
                [ -r "$t/stack" ] && while read -r l; do echo "  $l"; done < "$t/stack"
            done
            n=$((n + 1))
            read -r -t 1 x <> /tmp/tick
        done' > "$LPMT_OUT/stack-samples.txt" 2>&1 &
    sampler=$!
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
[ -n "$sampler" ] && wait "$sampler"
if [ -n "$live" ]; then
    t0=$(lpmt_now)
    kill -INT "$live" 2>/dev/null
    wait "$live"
    rc=$?
    echo "live how=sigint rc=$rc ms=$(lpmt_ms "$t0" "$(lpmt_now)")" >> "$LPMT_OUT/timings.txt"
    echo "record-stop name=stall how=sigint rc=$rc ms=$(lpmt_ms "$t0" "$(lpmt_now)") start=$t0" >> "$LPMT_OUT/timings.txt"
fi
