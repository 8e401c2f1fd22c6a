#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after the other.
#   fuzz/run.sh SECONDS [TARGET...]
# Fails (exit 1) if any target finds a crash, a failed property, a timeout or an out-of-memory;
# the input is kept in fuzz/artifacts/<target>/ and the log in fuzz/logs/<target>.log.
# Corpora grow in fuzz/corpus/<target>/ (not committed); seeds come from fuzz/seeds/<target>/
# and, for torrents and SOAP, from the test fixtures in tests/data/.
# Needs only stable Rust: cargo-fuzz's nightly flags are enabled with RUSTC_BOOTSTRAP=1.
set -euo pipefail

secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(bencode_torrent soap base64 multipart http_head_body url_paths)
fi
data=$(cd .. && pwd)/tests/data

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

build_start=$(date +%s)
nice cargo fuzz build
echo "fuzz/run.sh: build took $(( $(date +%s) - build_start )) s"

mkdir -p logs
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    [ -d "seeds/$t" ] && dirs+=("seeds/$t")
    case $t in
        bencode_torrent) dirs+=("$data/corpus") ;;
        soap) dirs+=("$data/soap-requests") ;;
    esac
    log=logs/$t.log
    echo "fuzz/run.sh: $t for $secs s"
    rc=0
    nice cargo fuzz run "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (exit $rc)"; failed+=("$t"); fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result" >"logs/$t.tsv"
    echo "fuzz/run.sh: $t: ${execs:-?} executions, ${rate:-?}/s, cov ${cov:-?}, ft ${ft:-?}: $result"
    if [ "$rc" -ne 0 ]; then
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -5 >&2 || true
    fi
done
{
    printf 'target\tseconds\texecutions\texec_per_s\tcov\tft\tcorpus\tresult\n'
    for t in "${targets[@]}"; do cat "logs/$t.tsv"; done
} >logs/summary.tsv
if command -v column >/dev/null; then column -t -s $'\t' logs/summary.tsv; else cat logs/summary.tsv; fi
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz/run.sh: findings in: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/logs/)" >&2
    exit 1
fi
