# migrate-smp: every vCPU online, several migrations under `lpmtrace record`.
# Under TCG each attempt succeeds or fails at random (ibm,suspend-me -9005
# while a vCPU is not parked); the kernel retries up to 5 times and then
# cancels with H_VASI_SIGNAL, which QEMU rejects (-2).
n=$(lpmt_cmdline lpmt.triggers || echo 3)
echo "triggers=$n" >> "$LPMT_OUT/expect.txt"
lpmt_snapshot_interrupts before
lpmt_log "online CPUs: $(cat /sys/devices/system/cpu/online)"
lpmt_record_start smp
i=1
while [ $i -le "$n" ]; do
    lpmt_migrate "smp-$i"
    sleep 1
    i=$((i + 1))
done
lpmt_record_stop
lpmt_snapshot_interrupts after
