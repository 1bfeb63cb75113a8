#!/usr/bin/env bash
# The C ABI test against an AddressSanitizer build of liblstmkit:
#   bash Tests/CTests/sanitized.sh [GROUP]
# The library is built with `swift build -Xswiftc -sanitize=address` into .build-address,
# and the test program with the Swift toolchain's clang, so that both use one sanitizer
# runtime (gcc's libasan and clang's would clash). Any report fails the run.
# (Threads are checked under ThreadSanitizer by the Swift suite "Shared across threads":
# a C program linking TSan's runtime crashes in its libdispatch interceptors.)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
scratch=.build-address
swift build -c release --product lstmkit --scratch-path "$scratch" -Xswiftc -sanitize=address -Xswiftc -g 2>&1 \
    | grep -vE '^\[|warning: Cannot export local symbol' || true
libdir=$(swift build -c release --product lstmkit --scratch-path "$scratch" --show-bin-path)
clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
# halt_on_error: the first report fails the group (the program forks one child a group
# and counts a child's abnormal end as a failure); allocator_may_return_null: the tests of
# sizes that cannot be real expect an out-of-memory status, not the sanitizer's abort.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
CC=$clang CFLAGS="-fsanitize=address -g" bash Tests/CTests/run.sh "$libdir" "$@"
