# cancel (5.11+, run on 6.1 and 6.12): two migrations whose every suspend attempt
# fails (ibm,suspend-me answers -9005 "threads active"; firmware is not
# called), so the kernel gives up after 5 attempts and cancels:
#  1. H_VASI_SIGNAL answered H_SUCCESS: a clean cancel;
#  2. H_VASI_SIGNAL left to QEMU, which rejects it (H_FUNCTION, -2).
# Only CPU 0 is online so QEMU's own -9005 cannot mix in.
for c in $(lpmt_secondary_cpus); do lpmt_cpu_set "$c" 0; done
lpmt_record_start cancel
lpmt_fi_load vasi_rc=0 vasi_state=3 suspend_status=-9005 signal_rc=0 || { lpmt_record_stop; exit 1; }
lpmt_migrate cancel-accepted-1
sleep 1
lpmt_fi_set signal_rc -999999
lpmt_migrate cancel-rejected-1
sleep 1
lpmt_record_stop
lpmt_fi_unload
for c in $(lpmt_secondary_cpus); do lpmt_cpu_set "$c" 1; done
