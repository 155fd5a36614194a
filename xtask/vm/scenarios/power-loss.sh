# power-loss: record onto ext4 on a virtio disk (/dev/vda, formatted by the
# host) while CPU 1 goes offline and online, and let the host hard-reset the
# guest in the middle (QMP system_reset; QEMU runs with -no-reboot, so it
# exits and the guest's page cache is gone, as in a power loss). Two
# recorders watch the same kernel: synced.lpmt (the default: fdatasync after
# every block) and unsynced.lpmt (--no-sync, the control that shows the
# reset really loses what was only in memory). Both start, then `sync`, so
# they differ only in what happens after the start.
#
# The guest never gets to send anything: the host reads both files back from
# the disk image and compares their last event with the heartbeats printed
# here after every hotplug cycle (`===LPMT-HEARTBEAT n=N uptime=U===`).
mnt=/mnt/disk
max_cycles=$(lpmt_cmdline lpmt.cycles || echo 400)
mkdir -p "$mnt"
# The worst case a power loss meets: nothing written back behind the
# recorder's back. The kernel's own writeback (every 5 s for pages dirty
# 30 s) and ext4's 5 s journal commit are pushed out of the run, so only
# what lpmtrace syncs reaches the disk, and the control loses everything
# after its start (without this, a writeback at a random moment makes the
# control's loss anything from 0 to the whole run).
echo 0 > /proc/sys/vm/dirty_writeback_centisecs
echo 360000 > /proc/sys/vm/dirty_expire_centisecs
if ! mount -t ext4 -o commit=300 /dev/vda "$mnt" 2> "$LPMT_OUT/mount.err"; then
    lpmt_log "power-loss: cannot mount /dev/vda: $(cat "$LPMT_OUT/mount.err")"
    exit 1
fi
if ! lpmt_has_lpmtrace; then
    lpmt_log "power-loss: needs lpmtrace"
    exit 1
fi
lpmtrace record -o "$mnt/synced.lpmt" > "$LPMT_OUT/synced.record.log" 2>&1 &
synced=$!
lpmtrace record --no-sync -o "$mnt/unsynced.lpmt" > "$LPMT_OUT/unsynced.record.log" 2>&1 &
unsynced=$!
lpmt_wait_ready "$synced" "$LPMT_OUT/synced.record.log"
lpmt_log "power-loss: synced recorder $LPMT_READY"
lpmt_wait_ready "$unsynced" "$LPMT_OUT/unsynced.record.log"
lpmt_log "power-loss: unsynced recorder $LPMT_READY"
sync
sleep 1
echo "===LPMT-RESET-ARMED uptime=$(lpmt_now)===" > /dev/console
n=0
while [ "$n" -lt "$max_cycles" ]; do
    lpmt_cpu_set 1 0
    lpmt_cpu_set 1 1
    n=$((n + 1))
    echo "===LPMT-HEARTBEAT n=$n uptime=$(lpmt_now)===" > /dev/console
done
# Only reached when the host never reset the guest: the check fails on it.
lpmt_log "power-loss: $n cycles and no reset from the host"
kill -INT "$synced" "$unsynced" 2>/dev/null
wait
exit 1
