#!/usr/bin/env bash
# The C ABI test against a sanitized build of liblstmkit:
#   bash Tests/CTests/sanitized.sh address [GROUP]   AddressSanitizer (+ leaks), every group
#   bash Tests/CTests/sanitized.sh thread [GROUP]    ThreadSanitizer, the groups named "thread"
# The library is built with `swift build -Xswiftc -sanitize=KIND` into .build-KIND, and
# the test program with the Swift toolchain's clang, so that both use one sanitizer
# runtime (gcc's libasan and clang's would clash). Any report fails the run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
kind=${1:?usage: sanitized.sh address|thread [GROUP]}
case $kind in
    address) group=${2:-} ;;
    thread) group=${2:-thread} ;;
    *) echo "sanitized.sh: KIND is address or thread, not $kind" >&2; exit 2 ;;
esac
scratch=.build-$kind
swift build -c release --product lstmkit --scratch-path "$scratch" -Xswiftc -sanitize="$kind" -Xswiftc -g 2>&1 \
    | grep -vE '^\[|warning: Cannot export local symbol' || true
libdir=$(swift build -c release --product lstmkit --scratch-path "$scratch" --show-bin-path)
clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
# halt_on_error: the first report fails the group (the program forks one child a group
# and counts a child's abnormal end as a failure); allocator_may_return_null: the tests of
# sizes that cannot be real expect an out-of-memory status, not the sanitizer's abort.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:allocator_may_return_null=1}
# ThreadSanitizer's runtime intercepts libdispatch, which the toolchain ships.
ldlibs=
if [ "$kind" = thread ]; then
    swiftlib=$(dirname "$clang")/../lib/swift/linux
    ldlibs="-L$swiftlib -ldispatch -lBlocksRuntime -Wl,-rpath,$swiftlib"
fi
CC=$clang CFLAGS="-fsanitize=$kind -g" LDLIBS=$ldlibs bash Tests/CTests/run.sh "$libdir" ${group:+"$group"}
