#!/usr/bin/env bash
# Installs the LSTMKit C package under a prefix:
#
#   PREFIX/include/lstmkit.h                      the C ABI (the header is its manual)
#   PREFIX/lib/liblstmkit.so                      the library, Swift runtime linked in
#   PREFIX/lib/pkgconfig/lstmkit.pc               cc prog.c $(pkg-config --cflags --libs lstmkit)
#   PREFIX/lib/cmake/lstmkit/lstmkitConfig*.cmake find_package(lstmkit) -> lstmkit::lstmkit
#   PREFIX/bin/lstmkit                            the command-line tool
#   PREFIX/share/lstmkit/tokenizer-pku.safetensors  the bundled word-segmentation model
#   PREFIX/share/lstmkit/tokenizer-pku-large.safetensors  its larger, slower ensemble
#   PREFIX/share/lstmkit/g2p-cmudict.safetensors    the bundled G2P model (lstmkit g2p)
#
#   bash bindings/c/install.sh                    builds (bindings/build_native.sh), then
#                                                 installs under PREFIX (default /usr/local)
#   PREFIX=$HOME/.local bash bindings/c/install.sh
#
# LSTMKIT_LIB_DIR=DIR installs the liblstmkit.so and lstmkit-cli already built in DIR
# instead of building. DESTDIR stages the files (for packagers). At run time the
# library needs OpenBLAS (libopenblas.so.0: Debian's libopenblas0), zlib (libz.so.1) and the C library,
# nothing of the Swift toolchain. Under a prefix the loader does not search, run
# programs with LD_LIBRARY_PATH=PREFIX/lib (or link with -Wl,-rpath,PREFIX/lib).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=${PREFIX:-/usr/local}
case $prefix in
    /*) ;;
    *) echo "install.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 1 ;;
esac
dest=${DESTDIR:-}$prefix

if [ -n "${LSTMKIT_LIB_DIR:-}" ]; then
    libdir=$LSTMKIT_LIB_DIR
else
    libdir=$(bash "$root/bindings/build_native.sh")
fi
for file in liblstmkit.so lstmkit-cli; do
    [ -f "$libdir/$file" ] || { echo "install.sh: no $file in $libdir" >&2; exit 1; }
done

version=$(sed -n 's/^#define LK_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/lstmkit.h")
major=${version%%.*}
minor=${version#*.}; minor=${minor%%.*}
[ -n "$version" ] || { echo "install.sh: LK_VERSION_STRING not found in include/lstmkit.h" >&2; exit 1; }

# Fills a template's @PREFIX@/@VERSION@... and installs it with mode 644.
fill() {
    local tmp
    tmp=$(mktemp)
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" \
        -e "s|@VERSION_MAJOR@|$major|g" -e "s|@VERSION_MINOR@|$minor|g" "$1" >"$tmp"
    install -D -m 644 "$tmp" "$2"
    rm -f "$tmp"
}

install -D -m 644 "$root/include/lstmkit.h" "$dest/include/lstmkit.h"
# install -s strips with `strip` (all symbols); --strip-unneeded keeps what the loader needs.
install -D -m 755 "$libdir/liblstmkit.so" "$dest/lib/liblstmkit.so"
install -D -m 755 "$libdir/lstmkit-cli" "$dest/bin/lstmkit"
strip --strip-unneeded "$dest/lib/liblstmkit.so" "$dest/bin/lstmkit"
fill "$root/bindings/c/lstmkit.pc.in" "$dest/lib/pkgconfig/lstmkit.pc"
fill "$root/bindings/c/lstmkitConfig.cmake.in" "$dest/lib/cmake/lstmkit/lstmkitConfig.cmake"
fill "$root/bindings/c/lstmkitConfigVersion.cmake.in" "$dest/lib/cmake/lstmkit/lstmkitConfigVersion.cmake"
for model in "$root"/models/*.safetensors; do   # the bundled models: every one the repository has
    if [ -f "$model" ]; then
        install -D -m 644 "$model" "$dest/share/lstmkit/${model##*/}"
    fi
done

# A prefix in the loader's configuration (/usr/local/lib on Debian) takes effect once
# its cache is rebuilt.
if [ -z "${DESTDIR:-}" ] && [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then
    ldconfig
fi
echo "installed LSTMKit $version under $dest"
