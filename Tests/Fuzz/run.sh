#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer + AddressSanitizer) and runs each for SECONDS
# (default 30) from its committed seed corpus; any crash, sanitizer report, leak, hang
# (-timeout) or allocation past -malloc_limit_mb fails the run, and the input that did it
# is left in $LSTMKIT_FUZZ_OUT (default .build-fuzz/findings). .ci/run runs this with
# the default; before a release run it longer: `bash Tests/Fuzz/run.sh 3600`.
#   bash Tests/Fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-model-file fuzz-npy fuzz-png fuzz-tokenizer-text fuzz-classifier-text fuzz-series-text
    fuzz-seq2seq-text)
out=${LSTMKIT_FUZZ_OUT:-$(pwd)/.build-fuzz/findings}

# -parse-as-library: libFuzzer has the main function.
swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    2>&1 | grep -vE 'warning: Cannot export local symbol|^\[' || true
bin=$(swift build -c release --scratch-path .build-fuzz --show-bin-path)

# The golden model files (Tests/Fixtures/golden) are model-file seeds as they are.
seeds() {
    case $1 in
        fuzz-model-file) ls ../Fixtures/golden/*.safetensors ../Fixtures/golden/*/*.safetensors ;;
        *) ls "corpus/$1"/* ;;
    esac
}

mkdir -p "$out"
status=0
for target in "${targets[@]}"; do
    [ -x "$bin/$target" ] || { echo "fuzz: $target was not built" >&2; exit 1; }
    work=$(mktemp -d "${TMPDIR:-/tmp}/lstmkit-$target.XXXXXX")   # the committed corpus is never written
    cp $(seeds "$target") "$work/"
    echo "== $target: ${seconds}s from $(ls "$work" | wc -l) seeds"
    if ! OPENBLAS_NUM_THREADS=1 "$bin/$target" "$work" -max_total_time="$seconds" -timeout=20 \
            -rss_limit_mb=4096 -malloc_limit_mb=2048 -artifact_prefix="$out/$target-" -print_final_stats=1 \
            > "$out/$target.log" 2>&1; then
        echo "fuzz: $target FAILED; its log: $out/$target.log" >&2
        tail -n 40 "$out/$target.log" >&2
        status=1
    else
        grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$out/$target.log" | tr '\n' ' '
        echo
    fi
    rm -rf "$work"
done
exit $status
