#!/usr/bin/env python3
"""Translation, KJV English → Reina-Valera 1909 Spanish (issue 20's bar: BLEU above the
same-time PyTorch peer): LSTMKit's Seq2Seq against its PyTorch peer, each trained for the
same wall time on the same threads, one after the other (each alone), on the verse
split of bench/translate_data.py; BLEU by sacrebleu.

  lstmkit  `lstmkit-bench g2p train` (bench/swift/G2P.swift: Seq2SeqTrainer through the
           public Swift API, Seq2Seq's defaults, the tokens and min_count below,
           time_limit = the minutes), then `lstmkit-bench g2p decode`;
  pytorch  bench/translate_peer.py: the same architecture and recipe (bench/g2p_peer.py's
           model; the epoch picked by the same dev score, LSTMKit's exact match + 1e-3 ×
           token accuracy).
Both read the same model-side files (data-cache/translate/<tokens>/), so they see the
same tokens. Then, per engine: the TEST split decoded ONCE greedily and once with beam
--beam; the dev split decoded at 1 and 2 threads (sentences/s, and the dev BLEU of that
decoding). --schedule and --epochs go to both engines (LSTMKit's loop settings; the peer
follows the same rules). --side-by-side trains and decodes both engines at the same time,
as bench/g2p_bench.py's does: each pinned to a core of its own on one thread, the same
wall time on equal cores in half the hours (speed at 1 thread only).

Tokens (--tokens): `words` (default): both sides lower-cased and split into words and
punctuation marks (a word keeps inner hyphens and apostrophes: "kadesh-barnea",
"days’"), tokens seen fewer than --min-count (default 3) times in the training pairs are
the unknown token <unk> (English 6,647 words kept of 12,297, Spanish 10,429 of 26,702;
dev: 1.6 % / 4.0 % of tokens unknown); `characters`: both sides lower-cased, one token
per character. Chosen on DEV (docs/SEQ2SEQ.md, "Translation").

Scoring: an output is detokenised (no space before , . ; : ? ! ) ] or after ( [ ¿ ¡) and
scored against the cleaned reference verse (data-cache/translate/<split>.tsv, as the
module writes it) by sacrebleu's corpus BLEU (13a tokenisation, lowercase=True since
the model writes lower case; the signature is in the results) and chrF2. <unk> stays
in the output (it matches nothing).

    /tmp/venv-translate-bench/bin/python bench/translate_bench.py [--minutes 90] [--threads 2]
        [--beam 5] [--tokens words] [--min-count 3] [--smoke] [--dev-only] [--engines lstmkit,pytorch]
        [--schedule plateau|cosine] [--epochs 30] [--side-by-side]

The Python running it needs torch and sacrebleu. --smoke: a tiny subset (every 20th
training pair, the first 100 dev and 100 test pairs) and 1 minute per engine unless
--minutes says otherwise: checks the pipeline, its figures mean nothing. --dev-only:
no test decoding and no speed runs, only the dev split decoded greedily (for choices
such as --tokens). Writes bench/results/translate_bench.json (translate_bench_smoke.json
with --smoke; translate_dev-<tokens>[_smoke].json with --dev-only) and prints a table;
outputs go to data-cache/runs/translate-<engine>-<tokens>-<split>-<mode>.txt.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time

import sacrebleu

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import translate_data  # noqa: E402
# run_json runs lstmkit-bench and parses its JSON line; PIN, SPEED_THREADS and the two
# functions after them are --side-by-side's (one definition, shared with the G2P bench).
from g2p_bench import PIN, SPEED_THREADS, pin_side_by_side, run_engines, run_json  # noqa: E402

REPO = translate_data.REPO
RESULTS = os.path.join(REPO, "bench", "results")
RUNS = os.path.join(REPO, "data-cache", "runs")
SPLITS = translate_data.SPLITS
TOKEN = re.compile(r"\w+(?:[-’']\w+)*|[^\w\s]")


def log(msg):
    print(f"[translate_bench] {msg}", flush=True)


def tokenize(text, tokens):
    """The model's view of a verse: lower case; words: words and punctuation marks, one
    space between; characters: the text itself."""
    text = text.lower()
    return " ".join(TOKEN.findall(text)) if tokens == "words" else text


def detokenize(text, tokens):
    """Words back to running text (the spacing of translate_data.clean)."""
    return re.sub(r"(?<=[(\[¿¡]) | (?=[,.;:?!)\]])", "", text) if tokens == "words" else text


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def model_files(data, out, tokens, smoke):
    """The model-side pairs of every split (tokenised; the smoke subset) in `out`; returns
    {split: the reference Spanish verses, untokenised}."""
    os.makedirs(out, exist_ok=True)
    keep = {"train": lambda i: i % 20 == 0, "dev": lambda i: i < 100, "test": lambda i: i < 100} if smoke else {}
    refs = {}
    for s in SPLITS:
        rows = [r for i, r in enumerate(read_tsv(os.path.join(data, f"{s}.tsv"))) if keep.get(s, lambda i: True)(i)]
        refs[s] = [r[1] for r in rows]
        with open(os.path.join(out, f"{s}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(f"{tokenize(a, tokens)}\t{tokenize(b, tokens)}\n" for a, b in rows)
    return refs


def bleu(outputs, refs, tokens):
    hyps = [detokenize(o, tokens) for o in outputs]
    b = sacrebleu.metrics.BLEU(lowercase=True)
    c = sacrebleu.metrics.CHRF(lowercase=True)
    return {"bleu": b.corpus_score(hyps, [refs]).score, "chrf": c.corpus_score(hyps, [refs]).score,
            "bleu_signature": str(b.get_signature()), "chrf_signature": str(c.get_signature())}


def save_outputs(engine, tokens, split, mode, outputs):
    with open(os.path.join(RUNS, f"translate-{engine}-{tokens}-{split}-{mode}.txt"), "w", encoding="utf-8") as f:
        f.writelines(o + "\n" for o in outputs)


def modes(beam, dev_only):
    return (("greedy", 1),) if dev_only else (("greedy", 1), (f"beam{beam}", beam))


def lstmkit(bench, data, refs, args):
    model = os.path.join(RUNS, f"translate-bench-lstmkit-{args.tokens}.safetensors")
    trained = run_json(PIN["lstmkit"] + [
        bench, "g2p", "train", os.path.join(data, "train.tsv"), os.path.join(data, "dev.tsv"), model,
        str(args.threads), f"source_tokens={args.tokens}", f"target_tokens={args.tokens}",
        f"min_count={args.min_count}", f"time_limit={max(1, round(args.minutes * 60))}",
        f"schedule={args.schedule}", f"epochs={args.epochs}"])
    if trained is None:
        sys.exit("[translate_bench] ERROR: lstmkit-bench g2p train failed")
    result = {"engine": "lstmkit", "training": trained, "test": {}, "dev": {}, "speed": {}}
    for name, b in modes(args.beam, args.dev_only):
        settings = [f"beam_size={b}"]
        if not args.dev_only:
            out = run_json(PIN["lstmkit"] + [bench, "g2p", "decode", model, os.path.join(data, "test.tsv"), str(args.threads)] + settings)
            if out is None:
                result["test"][name] = f"beam size {b}: not decoded (lstmkit-bench failed, above)"
                continue
            save_outputs("lstmkit", args.tokens, "test", name, out["predictions"])
            result["test"][name] = bleu(out["predictions"], refs["test"], args.tokens)
        result["speed"][name] = {}
        for t in ((args.threads,) if args.dev_only else SPEED_THREADS):
            speed = run_json(PIN["lstmkit"] + [bench, "g2p", "decode", model, os.path.join(data, "dev.tsv"), str(t)] + settings)
            if speed is None:
                sys.exit("[translate_bench] ERROR: lstmkit-bench g2p decode failed")
            result["speed"][name][str(t)] = speed["words_per_second"]   # sources (verses) per second
        save_outputs("lstmkit", args.tokens, "dev", name, speed["predictions"])
        result["dev"][name] = bleu(speed["predictions"], refs["dev"], args.tokens)
    return result


def pytorch(data, refs, args):
    out = os.path.join(RUNS, f"translate-bench-pytorch-{args.tokens}.json")
    cmd = PIN["pytorch"] + [
        sys.executable, os.path.join(REPO, "bench", "translate_peer.py"), "--data", data, "--tokens", args.tokens,
        "--min-count", str(args.min_count), "--minutes", str(args.minutes), "--threads", str(args.threads),
        "--beam", str(args.beam), "--schedule", args.schedule, "--epochs", str(args.epochs), "--out", out]
    cmd += ["--dev-only", "--speed-threads", str(args.threads)] if args.dev_only else [
        "--speed-threads", ",".join(map(str, SPEED_THREADS))]
    log("running: " + " ".join(cmd))
    if subprocess.run(cmd).returncode != 0:
        sys.exit("[translate_bench] ERROR: bench/translate_peer.py failed")
    with open(out, encoding="utf-8") as f:
        peer = json.load(f)
    result = {"engine": "pytorch", "torch": peer["torch"], "parameters": peer["parameters"],
              "vocabularies": peer["vocabularies"], "training": peer["training"], "test": {}, "dev": {},
              "speed": peer["speed"]}
    for name, _ in modes(args.beam, args.dev_only):
        if not args.dev_only:
            save_outputs("pytorch", args.tokens, "test", name, peer["test"][name])
            result["test"][name] = bleu(peer["test"][name], refs["test"], args.tokens)
        save_outputs("pytorch", args.tokens, "dev", name, peer["dev"][name])
        result["dev"][name] = bleu(peer["dev"][name], refs["dev"], args.tokens)
    return result


def table(results, beam, dev_only):
    threads = sorted({t for r in results for s in r["speed"].values() if isinstance(s, dict) for t in s}, key=int)
    rows = [f"{'engine':<8} {'decoding':<8} {'test BLEU':>9} {'test chrF':>9} {'dev BLEU':>8} "
            + " ".join(f"{f'verses/s {t}T':>12}" for t in threads)]
    for r in results:
        for name, _ in modes(beam, dev_only):
            s, speed = r["test"].get(name), r["speed"].get(name)
            if isinstance(s, str):
                rows.append(f"{r['engine']:<8} {name:<8} {s}")
                continue
            test = f"{s['bleu']:>9.2f} {s['chrf']:>9.2f}" if s else f"{'-':>9} {'-':>9}"
            rows.append(f"{r['engine']:<8} {name:<8} {test} {r['dev'][name]['bleu']:>8.2f} "
                        + " ".join(f"{speed[t]:>12.1f}" for t in threads))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", choices=("words", "characters"), default="words")
    ap.add_argument("--min-count", type=int, default=3, help="rarer tokens are <unk> (default 3)")
    ap.add_argument("--minutes", type=float, default=None, help="training wall time per engine (default 90; 1 with --smoke)")
    ap.add_argument("--threads", type=int, default=2, help="threads for training and the test decoding (default 2)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="a tiny subset: checks the pipeline, figures mean nothing")
    ap.add_argument("--dev-only", action="store_true", help="decode only the dev split, greedily (for choices)")
    ap.add_argument("--engines", default="lstmkit,pytorch")
    ap.add_argument("--bench", default=os.path.join(REPO, ".build-bench", "release", "lstmkit-bench"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--schedule", choices=("plateau", "cosine"), default="plateau",
                    help="both engines' learning-rate schedule (default plateau, the library's)")
    ap.add_argument("--epochs", type=int, default=30, help="at most this many epochs (default 30, the library's)")
    ap.add_argument("--side-by-side", action="store_true",
                    help="both engines at once, each pinned to its own core on one thread")
    args = ap.parse_args()
    if args.side_by_side:
        args.threads = 1
        pin_side_by_side()
    args.minutes = args.minutes if args.minutes is not None else (1 if args.smoke else 90)
    engines = args.engines.split(",")
    if not engines or set(engines) - {"lstmkit", "pytorch"}:
        sys.exit("[translate_bench] ERROR: --engines takes lstmkit, pytorch or both, comma-separated")
    # As the other speed scripts: OpenBLAS picks its own kernels (this machine's shell may
    # pin them with OPENBLAS_CORETYPE), in every engine subprocess.
    coretype = os.environ.pop("OPENBLAS_CORETYPE", None)

    full = translate_data.prepare()
    data = os.path.join(full, args.tokens + ("-smoke" if args.smoke else ""))
    refs = model_files(full, data, args.tokens, args.smoke)
    os.makedirs(RUNS, exist_ok=True)
    if not args.no_build and "lstmkit" in engines:
        log("building lstmkit-bench (release)")
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", os.path.join(REPO, ".build-bench"),
                        "--product", "lstmkit-bench"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, stdout=subprocess.PIPE, text=True).stdout.strip()
    report = {"command": " ".join([os.path.basename(sys.executable), "bench/translate_bench.py"] + sys.argv[1:]),
              "commit": commit, "openblas_coretype_removed": coretype, "smoke": args.smoke, "dev_only": args.dev_only,
              "minutes": args.minutes, "threads": args.threads, "beam": args.beam, "tokens": args.tokens,
              "min_count": args.min_count, "schedule": args.schedule, "epochs": args.epochs,
              "side_by_side": args.side_by_side, "lowercase": True, "sacrebleu": sacrebleu.__version__,
              "machine": {"python": platform.python_version(), "cores": os.cpu_count(),
                          "load_average_at_start": os.getloadavg()},
              "data": {s: len(refs[s]) for s in SPLITS},
              "note": ("both engines at once, each pinned to its own core (taskset -c 0: lstmkit, -c 1: pytorch) on one thread"
                       if args.side_by_side else "each engine trained alone, one after the other")
                      + "; test split decoded once per decoding mode; speed (verses/s) and dev BLEU on the dev split"}
    t0 = time.monotonic()
    run = {"lstmkit": lambda: lstmkit(args.bench, data, refs, args), "pytorch": lambda: pytorch(data, refs, args)}
    report["results"] = run_engines([run[e] for e in engines], args.side_by_side)
    report["seconds"] = time.monotonic() - t0
    report["machine"]["load_average_at_end"] = os.getloadavg()
    name = ((f"translate_dev-{args.tokens}" if args.dev_only else "translate_bench")
            + ("_side_by_side" if args.side_by_side else "") + ("_smoke" if args.smoke else "") + ".json")
    out = os.path.join(RESULTS, name)
    os.makedirs(RESULTS, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    print(table(report["results"], args.beam, args.dev_only))
    log(f"wrote {os.path.relpath(out, REPO)}")


if __name__ == "__main__":
    main()
