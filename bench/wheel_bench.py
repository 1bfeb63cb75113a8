"""The self-contained wheel: its size, auditwheel's verdict, and how fast it imports;
and the two ways of carrying the Swift runtime side by side.

    python3 bench/wheel_bench.py             builds both variants, then measures them
    python3 bench/wheel_bench.py --repeat 21

Variants, built from the same sources in the same run:
  static   what ships: liblstmkit.so and lstmkit-cli link the Swift runtime in
           (-static-stdlib, bindings/build_native.sh), `auditwheel repair` bundles
           OpenBLAS (bindings/python/build_wheel.sh);
  bundled  the runtime as the toolchain's shared libraries (a plain `swift build`),
           all of them copied into the wheel by `auditwheel repair`.
For each: the wheel's size, the installed size, `auditwheel show`'s platform tag, the
median time of `import lstmkit` (and of `import numpy` alone, which it includes) and of
loading liblstmkit.so with ctypes, each in a fresh interpreter; the static variant also
segments a sentence so a broken wheel cannot pass. Results: bench/results/wheel_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / ".build-dist"
TOOLS = DIST / "wheel-tools" / "bin"


def run(command, **kwargs) -> str:
    return subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, **kwargs).stdout


def build_static() -> Path:
    return Path(run(["bash", str(REPO / "bindings/python/build_wheel.sh")]).strip().splitlines()[-1])


def build_bundled() -> Path:
    """A wheel whose liblstmkit.so and CLI load the toolchain's shared Swift runtime,
    repaired by auditwheel (which copies that runtime into the wheel)."""
    for product in ("lstmkit", "lstmkit-cli"):
        run(["swift", "build", "--package-path", str(REPO), "-c", "release", "--product", product])
    out = DIST / "bench-bundled"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, LSTMKIT_LIB_DIR=str(REPO / ".build" / "release"))
    run([str(TOOLS / "python"), "-m", "build", "--wheel", "--outdir", str(out / "plain"), str(REPO / "bindings/python")], env=env)
    plain = next((out / "plain").glob("lstmkit-*.whl"))
    env = dict(os.environ, PATH=f"{TOOLS}:{os.environ['PATH']}")
    run([str(TOOLS / "auditwheel"), "repair", "--wheel-dir", str(out / "repaired"), str(plain)], env=env)
    return next((out / "repaired").glob("lstmkit-*.whl"))


def timed(python: Path, code: str, repeat: int, cwd: Path) -> float:
    """Median seconds the snippet reports (it prints its own elapsed time)."""
    times = [float(run([str(python), "-c", code], cwd=cwd).strip().splitlines()[-1]) for _ in range(repeat)]
    return statistics.median(times)


def measure(name: str, wheel: Path, repeat: int) -> dict:
    verdict = run([str(TOOLS / "auditwheel"), "show", str(wheel)], stderr=subprocess.STDOUT)
    tag = next((line.split('"')[1] for line in verdict.splitlines() if "platform tag:" in line and '"' in line), None)
    if tag is None:  # auditwheel wraps its lines: find the first quoted tag
        joined = " ".join(verdict.split())
        tag = joined.split('"')[1] if '"' in joined else joined[:200]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
        python = tmp / "venv" / "bin" / "python"
        run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)])
        package = Path(run([str(python), "-c", "import lstmkit, os; print(os.path.dirname(lstmkit.__file__))"], cwd=tmp).strip())
        site = package.parent
        installed = sum(f.stat().st_size for d in (package, site / "lstmkit.libs") if d.exists() for f in d.rglob("*") if f.is_file())
        libs = sorted(f.name for f in (site / "lstmkit.libs").glob("*")) if (site / "lstmkit.libs").exists() else []
        clock = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"
        result = {
            "variant": name,
            "wheel": wheel.name,
            "wheel_mb": round(wheel.stat().st_size / 1e6, 2),
            "installed_mb": round(installed / 1e6, 2),
            "liblstmkit_so_mb": round((package / "liblstmkit.so").stat().st_size / 1e6, 2),
            "bundled_libraries": libs,
            "auditwheel_tag": tag,
            "import_numpy_s": round(timed(python, clock.format("import numpy"), repeat, tmp), 4),
            "import_lstmkit_s": round(timed(python, clock.format("import lstmkit"), repeat, tmp), 4),
            "ctypes_load_liblstmkit_s": round(timed(python, clock.format(
                f"import ctypes; ctypes.CDLL({str(package / 'liblstmkit.so')!r})"), repeat, tmp), 4),
        }
        words = run([str(python), "-c", "import lstmkit; print(' '.join(lstmkit.Tokenizer.load().cut('我爱北京天安门')))"], cwd=tmp).strip()
        result["segments"] = words
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="fresh interpreters per timing (median)")
    args = parser.parse_args()
    static = build_static()
    bundled = build_bundled()
    results = []
    for name, wheel in (("static", static), ("bundled", bundled)):
        r = measure(name, wheel, args.repeat)
        results.append(r)
        print(json.dumps(r, ensure_ascii=False), flush=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    out = {"cpu": cpu, "python": sys.version.split()[0], "repeat": args.repeat, "results": results}
    path = REPO / "bench" / "results" / "wheel_bench.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\n{'variant':8} {'wheel MB':>9} {'installed MB':>13} {'import lstmkit s':>17} {'import numpy s':>15} {'dlopen s':>9}  tag")
    for r in results:
        print(f"{r['variant']:8} {r['wheel_mb']:9.2f} {r['installed_mb']:13.2f} {r['import_lstmkit_s']:17.4f} "
              f"{r['import_numpy_s']:15.4f} {r['ctypes_load_liblstmkit_s']:9.4f}  {r['auditwheel_tag']}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
