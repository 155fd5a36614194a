# old-hotplug (5.10): migrations while a loop takes CPUs offline and online.
# 5.10 takes the device-hotplug lock and disables hotplug for the join, so
# hotplug writes wait (they do not fail) and the migration waits for a
# hotplug operation in progress.
triggers=$(lpmt_cmdline lpmt.triggers || echo 2)
echo "triggers=$triggers" > "$LPMT_OUT/expect.txt"
lpmt_record_start hotplug
lpmt_fi_load vasi_rc=0 vasi_state=3 || { lpmt_record_stop; exit 1; }
lpmt_hotplug_loop_start
sleep 1
i=1
while [ $i -le "$triggers" ]; do
    lpmt_migrate "old-hotplug-$i"
    sleep 1
    i=$((i + 1))
done
lpmt_hotplug_loop_stop
lpmt_record_stop
lpmt_fi_unload
