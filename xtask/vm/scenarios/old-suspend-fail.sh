# old-suspend-fail (5.10): two failed migrations, neither ever cancelled
# (5.10 has no H_VASI_SIGNAL at all).
#  1. H_VASI_STATE says ABORTED: rtas_ibm_suspend_me returns -EIO before the
#     join (the platform had already ended the stream).
#  2. H_VASI_STATE says SUSPENDING, every CPU joins, and ibm,suspend-me
#     fails (status -9004 injected; firmware is not called): the kernel
#     wakes the CPUs and returns the error with the stream still Suspending.
lpmt_record_start fail
lpmt_fi_load vasi_rc=0 vasi_state=2 || { lpmt_record_stop; exit 1; }
lpmt_migrate aborted-1
sleep 1
lpmt_fi_set vasi_state 3
lpmt_fi_set suspend_status -9004
lpmt_migrate suspendme-1
sleep 1
lpmt_record_stop
lpmt_fi_unload
