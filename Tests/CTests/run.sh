#!/usr/bin/env bash
# Compiles the C ABI test (Tests/CTests/*.c: harness.c, the shared checks and main, and
# one test_*.c per area) against include/lstmkit.h and liblstmkit into one program, and
# runs it.
#
#   bash Tests/CTests/run.sh            builds liblstmkit (release, default .build) first
#   bash Tests/CTests/run.sh LIBDIR     uses the liblstmkit.so already in LIBDIR, no build
#   bash Tests/CTests/run.sh LIBDIR GROUP   runs only the groups whose name contains GROUP
#
# Runs from any directory; relative LIBDIRs are taken from the repo root. The program
# prints one line per check group and ends with "N passed, M failed"; the script exits
# with the program's status. CC overrides the compiler (default cc); CFLAGS and LDLIBS
# add flags (sanitized.sh passes -fsanitize=... and the runtime's libraries).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

if [ $# -ge 1 ]; then
    libdir=$1
else
    swift build -c release --product lstmkit
    libdir=.build/release
fi
if [ ! -f "$libdir/liblstmkit.so" ] && [ ! -f "$libdir/liblstmkit.dylib" ]; then
    echo "run.sh: no liblstmkit in $libdir" >&2
    exit 1
fi
libdir=$(cd "$libdir" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/lstmkit-ctests.XXXXXX")
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC2086  # CFLAGS holds several flags
"${CC:-cc}" ${CFLAGS:-} -std=c11 -Wall -Wextra -Werror -pedantic -I include Tests/CTests/*.c \
    -L"$libdir" -llstmkit -Wl,-rpath,"$libdir" -lm ${LDLIBS:-} -o "$work/test_abi"

# The tokenizer groups train a tiny model on the CWS fixtures; the text classifier
# groups read ../text/en.tsv beside them.
"$work/test_abi" --fixtures "$root/Tests/Fixtures/cws" "${@:2}"
