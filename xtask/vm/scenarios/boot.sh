# boot: nothing but the boot itself and the artifacts (smoke test).
lpmt_log "online CPUs: $(cat /sys/devices/system/cpu/online)"
