#!/usr/bin/env bash
# Proves that what LSTMKit ships runs without the Swift toolchain:
#
#   bash Tests/Install/run.sh WHEEL PREFIX
#
# WHEEL is a repaired wheel (bindings/python/build_wheel.sh), PREFIX a directory the C
# package was installed under (bindings/c/install.sh). Checks, in order:
#  1. no ELF file in the wheel or under PREFIX has an RPATH/RUNPATH entry other than
#     $ORIGIN-relative ones;
#  2. in a mount namespace where the toolchain's runtime directories (found with
#     `swift -print-target-info`) are covered by an empty directory: every shipped ELF
#     file resolves all its libraries (ldd); the wheel installs into a brand-new venv
#     and, from outside the repository, segments Chinese with the bundled model, trains
#     a tiny text classifier and runs an LSTM forward (smoke.py); the `lstmkit` console
#     command segments; a C program builds with `pkg-config --cflags --libs lstmkit`
#     (and, when cmake is on PATH, with find_package(lstmkit)) and runs; the C package's
#     `lstmkit` tool segments.
# Exits non-zero, saying what failed, if anything still reaches into the toolchain.
# PYTHON picks the interpreter for the new venv (default python3).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: bash Tests/Install/run.sh WHEEL PREFIX" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wheel=$(realpath "$1")
prefix=$(realpath "$2")
python=${PYTHON:-python3}
[ -f "$wheel" ] || { echo "run.sh: no wheel at $1" >&2; exit 1; }
[ -f "$prefix/lib/liblstmkit.so" ] || { echo "run.sh: no lib/liblstmkit.so under $2" >&2; exit 1; }

# --- inside the namespace -----------------------------------------------------------
if [ "${LSTMKIT_INSTALL_TEST_INSIDE:-}" = 1 ]; then
    work=$LSTMKIT_INSTALL_TEST_WORK
    for dir in $LSTMKIT_HIDDEN_DIRS; do
        mount --bind "$work/empty" "$dir"
    done
    for dir in $LSTMKIT_RUNTIME_DIRS; do
        if [ -e "$dir/libswiftCore.so" ]; then
            echo "FAIL: $dir/libswiftCore.so is still visible: the toolchain is not hidden" >&2
            exit 1
        fi
    done
    echo "toolchain hidden: $LSTMKIT_HIDDEN_DIRS"

    status=0
    while IFS= read -r -d '' file; do
        if ldd "$file" 2>&1 | grep -q "not found"; then
            echo "FAIL: $file needs a library it cannot find without the toolchain:" >&2
            ldd "$file" | grep "not found" >&2
            status=1
        fi
    done < <(find "$work/unpacked" "$prefix/lib" "$prefix/bin" -type f \( -name '*.so*' -o -perm -u+x \) \
                 -exec sh -c 'head -c 4 "$1" | grep -q "ELF"' _ {} \; -print0)
    [ $status -eq 0 ] || exit 1
    echo "ldd: every shipped ELF file finds its libraries"

    echo "-- the wheel, in a new venv"
    # `lstmkit g2p` finds the bundled G2P model where the package put it, or (a repository
    # without models/g2p-cmudict.safetensors) says in one line how to train it.
    g2p_check() {
        if out=$("$1" g2p Hello 2>&1); then
            [[ "$out" == "hello "* ]] || { echo "FAIL: $1 g2p printed '$out'" >&2; exit 1; }
        else
            [[ "$out" == *"bash models/train_g2p.sh"* ]] || { echo "FAIL: $1 g2p without a model printed '$out'" >&2; exit 1; }
        fi
        echo "$1 g2p: $out"
    }
    "$python" -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
    cd "$work"
    "$work/venv/bin/python" "$here/smoke.py"
    out=$(echo "我爱北京天安门" | "$work/venv/bin/lstmkit" segment)
    echo "lstmkit segment: $out"
    [ "$out" = "我 爱 北京 天安门" ] || { echo "FAIL: the lstmkit command printed '$out'" >&2; exit 1; }
    g2p_check "$work/venv/bin/lstmkit"

    echo "-- the C package"
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror "$here/prog.c" $(pkg-config --cflags --libs lstmkit) -o "$work/prog"
    model="$(pkg-config --variable=modeldir lstmkit)/tokenizer-pku.safetensors"
    LD_LIBRARY_PATH="$prefix/lib" "$work/prog" "$model"
    if command -v cmake >/dev/null; then
        cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
        cmake --build "$work/cmake-build" >/dev/null
        LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-build/prog" "$model" >/dev/null
        echo "find_package(lstmkit): the same program built with CMake runs"
    else
        echo "(cmake not on PATH: the CMake config was not tried)"
    fi
    out=$(echo "我爱北京天安门" | "$prefix/bin/lstmkit" segment)
    echo "PREFIX/bin/lstmkit segment: $out"
    [ "$out" = "我 爱 北京 天安门" ] || { echo "FAIL: PREFIX/bin/lstmkit printed '$out'" >&2; exit 1; }
    g2p_check "$prefix/bin/lstmkit"
    echo "install test: passed"
    exit 0
fi

# --- outside: static checks, then the same script in a namespace ---------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/lstmkit-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/empty" "$work/unpacked"
"$python" -m zipfile -e "$wheel" "$work/unpacked"

status=0
while IFS= read -r -d '' file; do
    paths=$(readelf -d "$file" 2>/dev/null | sed -n 's/.*(R\(UN\)\{0,1\}PATH).*\[\(.*\)\]/\2/p')
    IFS=: read -r -a entries <<<"$paths"
    for entry in "${entries[@]}"; do
        case $entry in
            '$ORIGIN' | '$ORIGIN/'*) ;;
            *) echo "FAIL: ${file#"$work/unpacked/"} has RPATH/RUNPATH entry '$entry'" >&2; status=1 ;;
        esac
    done
done < <(find "$work/unpacked" "$prefix/lib" "$prefix/bin" -type f -exec sh -c 'head -c 4 "$1" | grep -q "ELF"' _ {} \; -print0)
[ $status -eq 0 ] || exit 1
echo "RPATH/RUNPATH: only \$ORIGIN-relative entries in the wheel and the C package"

# The toolchain's runtime: hide the toolchain's usr/ (where swift's runtime lives) unless
# that is the system's /usr, in which case only the runtime directories themselves.
info=$(swift -print-target-info)
runtime_dirs=$(printf '%s' "$info" | "$python" -c 'import json, sys; print(" ".join(json.load(sys.stdin)["paths"]["runtimeLibraryPaths"]))')
resource_dir=$(printf '%s' "$info" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["paths"]["runtimeResourcePath"])')
toolchain_usr=$(realpath "$resource_dir/../..")
case $toolchain_usr in
    /usr | /usr/local | /) hidden=$runtime_dirs ;;
    *) hidden=$toolchain_usr ;;
esac

unshare_cmd=(unshare --mount --propagation private)
[ "$(id -u)" -eq 0 ] || unshare_cmd+=(--map-root-user)
LSTMKIT_INSTALL_TEST_INSIDE=1 LSTMKIT_INSTALL_TEST_WORK=$work LSTMKIT_HIDDEN_DIRS=$hidden \
    LSTMKIT_RUNTIME_DIRS=$runtime_dirs PYTHON=$python \
    "${unshare_cmd[@]}" bash "${BASH_SOURCE[0]}" "$wheel" "$prefix"
