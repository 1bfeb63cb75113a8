"""Two builds of LSTMKit side by side: is a refactor within noise of what it replaced?

    python3 bench/compare_builds.py --before /path/to/old/checkout --after . [--repeat 7] [--tag NAME]
                                    [--workloads segment,image,lstm-c1,lstm-c2]   (or any of the names below)

Each checkout must hold release builds of lstmkit-cli and lstmkit-bench in
.build/release (`swift build -c release --product lstmkit-cli`, then
`--product lstmkit-bench`). The same workloads run on both, with OPENBLAS_CORETYPE
unset and one thread (OpenBLAS's too):
  segment      lstmkit-cli segment: the large bundled tokenizer (float16) over the test fixture's text (twice)
  load         the same command over an empty file: loading and start-up only (segment - load
               is the segmenting)
  segment-int8, load-int8   the same two with that tokenizer quantized to int8 (by the
               before build's `lstmkit-cli quantize`, once: every build quantizes alike)
  image        lstmkit-cli segment-image: the golden segmenter over 8 synthetic images
  lstm-c1      lstmkit-bench c1 (batch 1 latency), lstm-c2 lstmkit-bench c2 (batch 64 inference)
For each: instructions counted by valgrind's callgrind (repeatable whatever the machine
is doing) and the median wall time of --repeat runs, builds alternating. Prints
after/before ratios; results go to bench/results/compare_builds[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    e.update(OPENBLAS_NUM_THREADS="1", LSTMKIT_NUM_THREADS="1")
    return e


def workloads(checkout: Path, work: Path, side: str) -> dict:
    release = checkout / ".build" / "release"
    tools = []
    for name in ("lstmkit-cli", "lstmkit-bench"):
        if not (release / name).is_file():
            sys.exit(f"compare_builds: {release / name} is missing: build it with swift build -c release")
        # A copy without debug info: valgrind 3.19 cannot read the toolchain's DWARF 5.
        copy = work / side / name
        copy.parent.mkdir(exist_ok=True)
        shutil.copy2(release / name, copy)
        subprocess.run(["strip", "--strip-debug", str(copy)], check=True)
        tools.append(copy)
    cli, bench = tools
    float32, int8 = REPO / "models/tokenizer-pku-large.safetensors", work / "tokenizer-int8.safetensors"
    if not int8.exists():
        subprocess.run([str(cli), "quantize", str(float32), str(int8)], env=env(), stdout=subprocess.DEVNULL, check=True)
    segment = {f"{name}{suffix}": ([str(cli), "segment", "--model", str(model), "--threads", "1", str(work / text)], None)
               for suffix, model in (("", float32), ("-int8", int8))
               for name, text in (("segment", "text.txt"), ("load", "empty.txt"))}
    return {
        **segment,
        "image": ([str(cli), "segment-image", "--model", str(REPO / "Tests/Fixtures/golden/segmenter.safetensors"),
                   "--threads", "1", str(work / "images.npy"), "--force", "--output", str(work / f"masks-{side}.npy")], None),
        "lstm-c1": ([str(bench), "c1", "1", "0", "20"], None),
        "lstm-c2": ([str(bench), "c2", "1", "0", "1"], None),
    }


def prepare(work: Path) -> None:
    lines = [re.sub(r"\s+", "", line) for line in (REPO / "Tests/Fixtures/cws/test.txt").read_text(encoding="utf-8").splitlines()]
    (work / "text.txt").write_text("\n".join(lines * 2) + "\n", encoding="utf-8")
    (work / "empty.txt").write_text("", encoding="utf-8")
    # 8 RGB images 48x48 of uint8, as a .npy (written by hand: no NumPy needed)
    import random
    rng = random.Random(1)
    n, h, w, c = 8, 48, 48, 3
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, {h}, {w}, {c}), }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    data = bytes(rng.randrange(256) for _ in range(n * h * w * c))
    (work / "images.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data)


def instructions(command: list, work: Path) -> int:
    out = work / "callgrind.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], env=env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    for line in out.read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError("no totals in the callgrind output")


def seconds(command: list) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, type=Path)
    parser.add_argument("--after", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tag", default="")
    parser.add_argument("--workloads", default="segment,image,lstm-c1,lstm-c2",  # and load
                        help="comma-separated subset (callgrind of segment and lstm-c2 takes minutes of CPU each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work)
        builds = {side: workloads(getattr(args, side).resolve(), work, side) for side in ("before", "after")}
        results = {}
        chosen = args.workloads.split(",")
        if unknown := [name for name in chosen if name not in builds["before"]]:
            sys.exit(f"compare_builds: unknown workload(s) {', '.join(unknown)}")
        for name in chosen:
            row = {}
            for side in ("before", "after"):
                row[f"{side}_instructions"] = instructions(builds[side][name][0], work)
            times = {"before": [], "after": []}
            for i in range(args.repeat):
                for side in (("before", "after") if i % 2 == 0 else ("after", "before")):
                    times[side].append(seconds(builds[side][name][0]))
            for side in ("before", "after"):
                row[f"{side}_median_s"] = round(statistics.median(times[side]), 4)
            row["instructions_ratio"] = round(row["after_instructions"] / row["before_instructions"], 4)
            row["time_ratio"] = round(row["after_median_s"] / row["before_median_s"], 3)
            results[name] = row
            print(f"{name:8} instructions {row['before_instructions']:>14,} -> {row['after_instructions']:>14,} "
                  f"(x{row['instructions_ratio']})   median {row['before_median_s']:.3f} s -> "
                  f"{row['after_median_s']:.3f} s (x{row['time_ratio']})", flush=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    commits = {side: subprocess.run(["git", "-C", str(getattr(args, side)), "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip() for side in ("before", "after")}
    out = {"before": str(args.before), "after": str(args.after), "commits": commits, "cpu": cpu, "avx512f": "avx512f" in flags,
           "repeat": args.repeat, "results": results}
    path = REPO / "bench" / "results" / f"compare_builds{'-' + args.tag if args.tag else ''}.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
