# migrate-hotplug: CPUs 1..N-1 go offline and online in a loop while
# migrations are triggered, under `lpmtrace record`. Nothing may crash or
# hang; every trigger and every hotplug write must complete.
n=$(lpmt_cmdline lpmt.triggers || echo 2)
echo "triggers=$n" >> "$LPMT_OUT/expect.txt"
lpmt_snapshot_interrupts before
lpmt_record_start hotplug
lpmt_hotplug_loop_start
sleep 1
i=1
while [ $i -le "$n" ]; do
    lpmt_migrate "hotplug-$i"
    sleep 1
    i=$((i + 1))
done
lpmt_hotplug_loop_stop
lpmt_record_stop
lpmt_all_online
lpmt_log "online CPUs after: $(cat /sys/devices/system/cpu/online)"
lpmt_snapshot_interrupts after
