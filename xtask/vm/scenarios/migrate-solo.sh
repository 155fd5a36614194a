# migrate-solo: only CPU 0 online, then two migrations under `lpmtrace
# record`: a write to /sys/kernel/mobility/migration, then the rtas(2)
# system call with the ibm,suspend-me token (old drmgr's way; on >= 5.11
# the kernel dispatches it to the same pseries_migrate_partition).
# Offline CPUs (stop-self) count as joined, so QEMU's ibm,suspend-me succeeds
# on the first attempt: deterministic successful migrations.
lpmt_snapshot_interrupts before
for c in $(lpmt_secondary_cpus); do lpmt_cpu_set "$c" 0; done
lpmt_log "online CPUs: $(cat /sys/devices/system/cpu/online)"
lpmt_record_start solo
lpmt_migrate solo-1
sleep 1
lpmt_rtas_migrate solo-2 0x1
sleep 1
lpmt_record_stop
for c in $(lpmt_secondary_cpus); do lpmt_cpu_set "$c" 1; done
lpmt_snapshot_interrupts after
