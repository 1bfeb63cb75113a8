#!/usr/bin/env bash
# Builds what LSTMKit ships, liblstmkit.so (the C ABI) and lstmkit-cli (the command-line
# tool), in release mode with the Swift runtime linked in statically (-static-stdlib), so
# neither needs the Swift toolchain at run time: they load libc, libm, libstdc++,
# libgcc_s and OpenBLAS only, and their RUNPATH is $ORIGIN. The Python wheel
# (bindings/python/setup.py) and the C package (bindings/c/install.sh) both ship these.
#
#   bash bindings/build_native.sh     builds into .build-dist/ and prints the directory
#                                     holding both files (.build-dist/release)
#
# LSTMKIT_SCRATCH overrides the build directory. Everything but the last line of output
# goes to stderr, so `libdir=$(bash bindings/build_native.sh)` works.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=${LSTMKIT_SCRATCH:-$root/.build-dist}

# Both products with the same flags, so the second build reuses the engine's objects.
for product in lstmkit lstmkit-cli; do
    swift build --package-path "$root" --scratch-path "$scratch" -c release \
        -Xswiftc -static-stdlib --product "$product" >&2
done

release="$scratch/release"
for file in liblstmkit.so lstmkit-cli; do
    if [ ! -f "$release/$file" ]; then
        echo "build_native.sh: the build finished but $release/$file is missing" >&2
        exit 1
    fi
done
echo "$release"
