#!/bin/busybox sh
# lpmtrace vm-test guest /init (busybox sh). Runs one scenario, then sends
# the artifacts to the host over the console and powers off.
# Kernel command line: lpmt.scenario=NAME [lpmt.ic=xive|xics] [lpmt.nolpmtrace=1]
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
[ -d /sys/fs/bpf ] && mount -t bpf bpf /sys/fs/bpf 2>/dev/null
echo 1 > /proc/sys/net/core/bpf_jit_enable 2>/dev/null
ulimit -l unlimited 2>/dev/null

. /lpmt/lib.sh

echo "===LPMT-BOOTED uptime=$(lpmt_now) kernel=$(uname -r) cpus=$(lpmt_online_cpus)==="

scenario=$(lpmt_cmdline lpmt.scenario)
[ -n "$scenario" ] || scenario=boot
mkdir -p "$LPMT_OUT"
{
    echo "scenario=$scenario"
    echo "kernel=$(uname -r)"
    echo "version=$(cat /proc/version)"
    echo "cmdline=$(cat /proc/cmdline)"
    echo "online=$(cat /sys/devices/system/cpu/online)"
    echo "possible=$(cat /sys/devices/system/cpu/possible)"
    echo "bpf_jit_enable=$(cat /proc/sys/net/core/bpf_jit_enable 2>/dev/null)"
    echo "btf=$([ -e /sys/kernel/btf/vmlinux ] && echo yes || echo no)"
    echo "mobility_api=$(cat /sys/kernel/mobility/api_version 2>/dev/null)"
    echo "lpmtrace=$(lpmt_has_lpmtrace && echo yes || echo no)"
} > "$LPMT_OUT/guest-info.txt"

if lpmt_has_lpmtrace; then
    lpmt_log "lpmtrace doctor --json"
    lpmt_timed doctor lpmtrace doctor --json > "$LPMT_OUT/doctor.json" 2> "$LPMT_OUT/doctor.stderr"
    echo "doctor_rc=$LPMT_RC" >> "$LPMT_OUT/guest-info.txt"
fi

rc=0
script=/lpmt/scenarios/$scenario.sh
if [ -f "$script" ]; then
    echo "===LPMT-SCENARIO-BEGIN $scenario uptime=$(lpmt_now)==="
    ( . "$script" )
    rc=$?
    echo "===LPMT-SCENARIO-END $scenario rc=$rc uptime=$(lpmt_now)==="
else
    lpmt_log "no such scenario: $scenario"
    rc=127
fi

# Harness self-tests (--guest-arg lpmt.selftest=panic|hang): the host must
# report a crash / a hang.
case "$(lpmt_cmdline lpmt.selftest)" in
    panic) echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
    hang) echo 1 > /proc/sys/kernel/printk; while :; do sleep 1000; done ;;
esac

# Every CPU back online, so the dmesg and interrupts snapshots are complete.
lpmt_all_online
lpmt_snapshot_interrupts final
lpmt_send_all
echo "===LPMT-DONE rc=$rc uptime=$(lpmt_now)==="
sync
poweroff -f
# Not reached unless poweroff failed.
sleep 5
echo o > /proc/sysrq-trigger
