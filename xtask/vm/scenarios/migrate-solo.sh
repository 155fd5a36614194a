# migrate-solo: only CPU 0 online, then one migration under `lpmtrace record`.
# Offline CPUs (stop-self) count as joined, so QEMU's ibm,suspend-me succeeds
# on the first attempt: a deterministic successful migration.
lpmt_snapshot_interrupts before
for c in $(lpmt_secondary_cpus); do lpmt_cpu_set "$c" 0; done
lpmt_log "online CPUs: $(cat /sys/devices/system/cpu/online)"
lpmt_record_start solo
lpmt_migrate solo-1
sleep 1
lpmt_record_stop
for c in $(lpmt_secondary_cpus); do lpmt_cpu_set "$c" 1; done
lpmt_snapshot_interrupts after
