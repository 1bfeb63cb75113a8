#!/usr/bin/env python3
"""int8 against float32 for the sequence-to-sequence models (issue 18's bar: every task
model within 0.2 points of its float32 score). docs/QUANTIZATION.md records the figures.

Usage:
    python bench/quant_seq2seq.py [--g2p MODEL] [--translation MODEL] [--out FILE]
    python bench/quant_seq2seq.py --bench BIN [BIN ...] [--rounds 3]

Runs the installed Python package (pip install ./bindings/python):
- G2P: the bundled model (models/g2p-cmudict.safetensors, or --g2p) on the CMUdict test
  split (bench/g2p_data.py's data-cache/g2p): WER and PER by bench/g2p_score.py, greedy
  and beam 5;
- translation: a model bench/translate_bench.py trained (--translation; default its
  data-cache/runs/translate-bench-lstmkit-words.safetensors; skipped when missing) on the
  KJV -> Reina-Valera test split (bench/translate_data.py): BLEU and chrF by sacrebleu,
  through translate_bench.py's tokenisation and scoring, greedy and beam 5.
Each int8 model is scored as a user loads it: quantize(), save, load. One timed pass per
model and decoding on one thread gives words (verses) per second: a side figure
(run g2p_decode_speed.py for speed).

--bench instead times the G2P model's decoding, float32 and int8, by each lstmkit-bench
binary given (builds of two versions of the engine, say): the dev words, greedy and beam
5, one thread, --rounds rounds rotating the binaries, medians of words/s.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import g2p_score  # noqa: E402
from quant_accuracy import write_results  # noqa: E402

BEAMS = (("greedy", 1), ("beam5", 5))


def forms(path):
    """(name, model) for the float32 model and its int8 form, the latter through its file."""
    import lstmkit
    model = lstmkit.Seq2Seq.load(path)
    yield "float32", model, os.path.getsize(path)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = os.path.join(tmp, "int8.safetensors")
        model.quantize().save(int8)
        yield "int8", lstmkit.Seq2Seq.load(int8), os.path.getsize(int8)


def decode(model, sources):
    """{decoding: (outputs, sources per second on one thread)}."""
    out = {}
    for name, beam in BEAMS:
        t0 = time.perf_counter()
        outputs = model.translate(sources, beam=beam, threads=1)
        out[name] = (outputs, len(sources) / (time.perf_counter() - t0))
    return out


def run(what, path, sources, score):
    """Both forms of one model: its scores per decoding, its file size and speed."""
    rec = {"model": os.path.relpath(path, REPO)}
    for form, model, size in forms(path):
        rec[form] = {"bytes": size}
        for name, (outputs, speed) in decode(model, sources).items():
            rec[form][name] = dict(score(outputs), per_second_t1=speed)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in rec[form][name].items() if k in ("wer", "per", "bleu", "chrf"))
            print(f"{what} {form:7} {name:6}  {shown}  ({speed:,.0f}/s on one thread, one pass)", flush=True)
    return rec


def g2p(path, data):
    refs = g2p_score.read_tsv(os.path.join(data, "g2p", "test.refs.tsv"))
    words = list(refs)

    def score(outputs):
        s = g2p_score.score(refs, dict(zip(words, outputs)))
        return {"wer": s["wer"], "per": s["per"]}
    rec = run("g2p", path, words, score)
    for name, _ in BEAMS:
        rec[f"{name}_wer_points_lost"] = 100 * (rec["int8"][name]["wer"] - rec["float32"][name]["wer"])
    return rec


def translation(path, data):
    import translate_bench as tb
    rows = tb.read_tsv(os.path.join(data, "translate", "test.tsv"))
    sources, refs = [tb.tokenize(r[0], "words") for r in rows], [r[1] for r in rows]

    def score(outputs):
        s = tb.bleu(outputs, refs, "words")
        return {"bleu": s["bleu"], "chrf": s["chrf"]}
    rec = run("translation", path, sources, score)
    for name, _ in BEAMS:
        rec[f"{name}_bleu_points_lost"] = rec["float32"][name]["bleu"] - rec["int8"][name]["bleu"]
    return rec


def binaries(args):
    """Words/s of each lstmkit-bench binary decoding the G2P model's two forms."""
    import lstmkit
    dev = os.path.join(args.data, "g2p", "dev.tsv")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        int8 = os.path.join(tmp, "int8.safetensors")
        lstmkit.Seq2Seq.load(args.g2p).quantize().save(int8)
        runs = {}
        for r in range(args.rounds):
            for b in args.bench[r % len(args.bench):] + args.bench[:r % len(args.bench)]:
                for form, model in (("float32", args.g2p), ("int8", int8)):
                    for name, beam in BEAMS:
                        out = subprocess.run([b, "g2p", "decode", model, dev, "1", f"beam_size={beam}"],
                                             check=True, capture_output=True, text=True).stdout
                        speed = json.loads(out.strip().splitlines()[-1])["words_per_second"]
                        runs.setdefault((b, form, name), []).append(speed)
        for (b, form, name), speeds in runs.items():
            results.setdefault(b, {}).setdefault(form, {})[name] = {"median": statistics.median(speeds), "runs": speeds}
            print(f"{b}  {form:7} {name:6}  {statistics.median(speeds):,.0f} words/s (median of {len(speeds)})", flush=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--g2p", default=os.path.join(REPO, "models", "g2p-cmudict.safetensors"))
    ap.add_argument("--translation", default=os.path.join(REPO, "data-cache", "runs", "translate-bench-lstmkit-words.safetensors"))
    ap.add_argument("--data", default=os.path.join(REPO, "data-cache"), help="the benches' data-cache")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "quant_seq2seq.json"))
    ap.add_argument("--bench", nargs="+", help="lstmkit-bench binaries to time instead (see above)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.data, "g2p", "test.refs.tsv")):
        sys.exit(f"{args.data}/g2p/test.refs.tsv is missing: run python3 bench/g2p_data.py first")
    import lstmkit
    print(f"lstmkit {lstmkit.__version__}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}; OPENBLAS_CORETYPE {os.environ.get('OPENBLAS_CORETYPE', 'unset')}", flush=True)
    if args.bench:
        results = {"load_average_start": os.getloadavg()[0], "binaries": binaries(args), "kernels": lstmkit.kernels()}
        return write_results(results, args.out.replace(".json", "_binaries.json"))
    results = {"load_average_start": os.getloadavg()[0], "kernels": lstmkit.kernels(), "g2p": g2p(args.g2p, args.data)}
    if os.path.exists(args.translation) and os.path.exists(os.path.join(args.data, "translate", "test.tsv")):
        results["translation"] = translation(args.translation, args.data)
    else:
        print(f"translation: skipped ({args.translation} or the translate split is missing: bench/translate_bench.py)")
    write_results(results, args.out)


if __name__ == "__main__":
    main()
