# vasi-fail (5.11+, run on 6.1 and 6.12): the stream is ENABLED for 2.5 s, then
# H_VASI_STATE fails (H_HARDWARE, -1). wait_for_vasi_session_suspending
# returns -EIO and pseries_migrate_partition gives up before the join
# without pseries_cancel_migration: nothing ever cancels the stream.
lpmt_record_start vasi
lpmt_fi_load vasi_rc=-1 vasi_enabled_ms=2500 || { lpmt_record_stop; exit 1; }
lpmt_migrate vasi-1
sleep 1
lpmt_record_stop
lpmt_fi_unload
