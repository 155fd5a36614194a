# old-vasi-enabled (5.10): the stream stays ENABLED for 3.5 s, then goes to
# SUSPENDING. rtas_ibm_suspend_me returns -EAGAIN while it is ENABLED and
# migration_store retries once a second, then the migration succeeds.
lpmt_record_start enabled
lpmt_fi_load vasi_rc=0 vasi_state=3 vasi_enabled_ms=3500 || { lpmt_record_stop; exit 1; }
lpmt_migrate enabled-1
sleep 1
lpmt_record_stop
lpmt_fi_unload
