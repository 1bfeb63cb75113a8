#!/usr/bin/env python3
"""Two builds of the sequence classifier's fit side by side (issue 19: the small-set refit
without dev scoring): the same fit in alternating child processes, each importing lstmkit
from one directory, so the machine's load hits both alike.

    pip install --target /tmp/lk-before --no-deps ./bindings/python   (LSTMKIT_LIB_DIR=old build)
    pip install --target /tmp/lk-after  --no-deps ./bindings/python   (LSTMKIT_LIB_DIR=new build)
    python bench/seq_classify_refit_time.py --before /tmp/lk-before --after /tmp/lk-after \\
        [--sets ItalyPowerDemand,ArrowHead] [--seeds 2] [--rounds 3]

Each fit: the defaults, 1 thread (OpenBLAS's too), on a dev-protocol split of TRAIN as
bench/seq_classify_small.py makes it (a stratified 25 % of TRAIN, seeded by seed + 100,
held out and scored; test never read). Prints the fit's wall and CPU seconds (CPU time
of the one-threaded process moves far less with the load than wall time), the dev
accuracy and a hash of the held-out probabilities: the same hash on both sides means the
same model. Writes bench/results/seq_classify_refit_time-latest.json.
"""
import argparse, hashlib, json, os, resource, statistics, subprocess, sys, time

BENCH = os.path.dirname(os.path.abspath(__file__))


def child(name: str, seed: int) -> None:
    sys.path.insert(0, BENCH)
    import numpy as np
    import lstmkit
    from seq_classify_bench import load, stratified_split
    train, y = load(name, "TRAIN")
    kept, held = stratified_split(y, 0.25, seed + 100)
    clf = lstmkit.SequenceClassifier(seed=seed)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    clf.fit([train[i] for i in kept], [y[i] for i in kept], progress=False, threads=1)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    x = [train[i] for i in held]
    p = np.ascontiguousarray(clf.predict_proba(x), dtype=np.float32)
    print(json.dumps(dict(wall=wall, cpu=r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
                          accuracy=clf.score(x, [y[i] for i in held]), probabilities=hashlib.sha256(p.tobytes()).hexdigest()[:16])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="a directory holding the lstmkit package (PYTHONPATH)")
    ap.add_argument("--after", required=True)
    ap.add_argument("--sets", default="ItalyPowerDemand,ArrowHead")
    ap.add_argument("--seeds", default="2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--output", default=os.path.join(BENCH, "results", "seq_classify_refit_time-latest.json"))
    a = ap.parse_args()
    runs: list = []
    for name in a.sets.split(","):
        for seed in map(int, a.seeds.split(",")):
            for r in range(a.rounds):
                sides = [("before", a.before), ("after", a.after)]
                for side, path in sides if r % 2 == 0 else sides[::-1]:   # alternating which goes first
                    env = dict(os.environ, PYTHONPATH=path, OPENBLAS_NUM_THREADS="1")
                    out = subprocess.run([sys.executable, __file__, "--child", name, str(seed)], env=env, check=True,
                                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
                    runs.append(dict(json.loads(out), set=name, seed=seed, round=r + 1, side=side))
                    d = runs[-1]
                    print(f"{name:16s} seed {seed} round {r + 1} {side:6s} fit {d['wall']:7.2f} s wall {d['cpu']:7.2f} s CPU  "
                          f"dev accuracy {d['accuracy']:.4f}  probabilities {d['probabilities']}", flush=True)
            mine = [d for d in runs if d["set"] == name and d["seed"] == seed]
            med = {s: {k: statistics.median(d[k] for d in mine if d["side"] == s) for k in ("wall", "cpu")} for s in ("before", "after")}
            same = len({d["probabilities"] for d in mine}) == 1
            print(f"{name:16s} seed {seed} after/before of the medians: CPU x{med['after']['cpu'] / med['before']['cpu']:.3f}, "
                  f"wall x{med['after']['wall'] / med['before']['wall']:.3f}; {'the same' if same else 'DIFFERENT'} probabilities", flush=True)
    with open(a.output, "w") as f:
        json.dump(dict(before=a.before, after=a.after, runs=runs), f, indent=1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
