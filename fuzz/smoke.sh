#!/usr/bin/env bash
# Fuzz smoke test for CI: builds the three fuzz targets with cargo-fuzz
# (nightly, AddressSanitizer), writes the seed corpora, and runs each target
# for a short time. Any crash, timeout, leak or out-of-memory fails the run
# (libFuzzer exits non-zero and leaves the input in fuzz/artifacts/<target>/).
#
#   fuzz/smoke.sh                      # 20 s per target
#   FUZZ_SECS=600 fuzz/smoke.sh        # longer runs, same script
#   fuzz/smoke.sh ring_decode          # one target
#
# Longer campaigns and what to do with a finding: docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")"

secs=${FUZZ_SECS:-20}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(record_reader ring_decode scenario_parse)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/smoke.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

start=$(date +%s)
# Seeds: recordings made by the real writer from the scenario files, the
# version-1 fixture, ring records of every kind, the scenarios themselves.
cargo run --quiet --example make_seeds
cargo +nightly fuzz build
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "${targets[@]}"; do
    echo "== $t: ${secs}s" >&2
    # -timeout: one input taking longer is a hang; -rss_limit_mb: the
    # readers promise to allocate no more than the input size or fixed caps,
    # so 2 GiB is far above any legitimate use.
    rc=0
    # The kept regression inputs join the seeds (read-only: libFuzzer
    # writes new inputs into the first folder only).
    extra=()
    [ -d "../userspace/tests/fuzz-corpus/$t" ] && extra=("../userspace/tests/fuzz-corpus/$t")
    cargo +nightly fuzz run "$t" "corpus/$t" "${extra[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    # libFuzzer's progress lines are noise in CI: keep the verdict and stats.
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)|panicked|ERROR|SUMMARY|^ +#[0-9]+ 0x' "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz/smoke.sh: $t failed (exit $rc); input in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "fuzz/smoke.sh: ${#targets[@]} targets ok in $(( $(date +%s) - start ))s" >&2
