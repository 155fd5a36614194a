# old-migrate (5.10): two migrations through the old rtas_ibm_suspend_me
# path with every CPU online, one from each trigger source: a write to
# /sys/kernel/mobility/migration, then the rtas(2) system call with the
# ibm,suspend-me token (what old drmgr does; /bin/rtas-suspend-me). QEMU
# has no VASI stream (H_VASI_STATE returns H_FUNCTION, and 5.10 gives up on
# that), so lpm-faultinject answers H_VASI_STATE with SUSPENDING; the rest
# (IPIs, H_JOIN on every CPU, ibm,suspend-me, the H_PRODs) is the real
# kernel and QEMU.
lpmt_record_start old
lpmt_fi_load vasi_rc=0 vasi_state=3 || { lpmt_record_stop; exit 1; }
lpmt_migrate old-1
sleep 1
lpmt_rtas_migrate old-2 0x1
sleep 1
lpmt_record_stop
lpmt_fi_unload
