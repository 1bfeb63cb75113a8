#!/usr/bin/env python3
"""The PyTorch peer of LSTMKit's Seq2Seq for translation (bench/translate_bench.py): the
model, training recipe and decoders of bench/g2p_peer.py (LSTMKit's Seq2Seq defaults:
embedding 64, BiLSTM 2×128, bridge, input-fed LSTM decoder, Luong general attention,
label smoothing 0.1, Adam 0.002, clip 5, batches of 32 of similar source length,
patience 5 halving the rate), with the two things translation changes:
  * tokens: --tokens words (whitespace-separated: the bench writes tokenised files) or
    characters, the same on both sides, tokens seen fewer than --min-count times in the
    training pairs are UNK (LSTMKit's min_count);
  * the dev score that picks the epoch and halves the rate is LSTMKit's Seq2SeqScore:
    greedy outputs' exact match + 1e-3 × token accuracy (position by position over the
    longer of output and target), on token ids, so both engines are steered alike.
BLEU is not computed here: the bench scores both engines' outputs the same way.

Usage:
    python3 bench/translate_peer.py --data DIR --tokens words --min-count 3 --minutes M
        --threads N [--beam 5] [--speed-threads 1,2] [--dev-only] [--schedule plateau|cosine]
        [--epochs 30] --out RESULT.json
DIR holds train.tsv, dev.tsv, test.tsv (source<TAB>target, as the model reads them).
Writes a JSON object: training, parameters, and per decoding mode ("greedy", "beamK") the
test outputs (the test split decoded once), the dev outputs and sentences/s on the dev
sources at each of --speed-threads (--dev-only: greedy, no test outputs).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from g2p_peer import Seq2Seq, Vocabulary, decode, read_pairs, timed_decode, train  # noqa: E402

SPLITTERS = {"words": str.split, "characters": list}


def log(msg):
    print(f"[translate_peer] {msg}", file=sys.stderr, flush=True)


def dev_score(outputs, targets):
    """LSTMKit's Seq2SeqScore.value: exact match + 1e-3 × token accuracy (ids)."""
    exact = sum(o == t for o, t in zip(outputs, targets))
    right = sum(sum(a == b for a, b in zip(o, t)) for o, t in zip(outputs, targets))
    total = sum(max(len(o), len(t)) for o, t in zip(outputs, targets))
    return exact / max(len(outputs), 1) + 1e-3 * right / max(total, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokens", choices=sorted(SPLITTERS), default="words")
    ap.add_argument("--min-count", type=int, default=1)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--dev-only", action="store_true", help="no test decoding, greedy only")
    ap.add_argument("--speed-threads", default="1,2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--schedule", choices=("plateau", "cosine"), default="plateau")
    ap.add_argument("--epochs", type=int, default=30, help="at most this many epochs (LSTMKit's default: 30)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    split = SPLITTERS[args.tokens]
    train_src, train_tgt = read_pairs(os.path.join(args.data, "train.tsv"))
    dev_src, dev_tgt = read_pairs(os.path.join(args.data, "dev.tsv"))
    test_src, _ = read_pairs(os.path.join(args.data, "test.tsv"))
    source_vocab = Vocabulary(train_src, split, args.min_count)
    target_vocab = Vocabulary(train_tgt, split, args.min_count)
    dev_ids, dev_targets = [source_vocab.encode(s) for s in dev_src], [target_vocab.encode(t) for t in dev_tgt]
    test_ids = [source_vocab.encode(s) for s in test_src]
    model = Seq2Seq(len(source_vocab.tokens), len(target_vocab.tokens))
    parameters = sum(p.numel() for p in model.parameters())
    log(f"training on {len(train_src)} pairs, {len(dev_src)} dev; {args.tokens}, min_count {args.min_count}: "
        f"vocabularies {len(source_vocab.tokens)} source, {len(target_vocab.tokens)} target tokens; {parameters} "
        f"parameters; {args.minutes} min on {args.threads} threads")
    training = train(model, ([source_vocab.encode(s) for s in train_src], [target_vocab.encode(t) for t in train_tgt]),
                     lambda: 1 - dev_score(decode(model, dev_ids), dev_targets), args.minutes * 60, log,
                     seed=args.seed, dev_name="dev 1 - (exact + 1e-3 tokens)", schedule=args.schedule,
                     epochs=args.epochs)
    joiner = " " if args.tokens == "words" else ""

    def text(ids):
        return joiner.join(target_vocab.tokens[i] for i in ids)

    result = {"engine": "pytorch", "torch": torch.__version__, "threads": args.threads, "minutes": args.minutes,
              "schedule": args.schedule, "epochs": args.epochs, "tokens": args.tokens, "min_count": args.min_count, "parameters": parameters,
              "vocabularies": [len(source_vocab.tokens), len(target_vocab.tokens)], "training": training,
              "test": {}, "dev": {}, "speed": {}}
    for name, beam in (("greedy", 1),) + (() if args.dev_only else ((f"beam{args.beam}", args.beam),)):
        torch.set_num_threads(args.threads)
        if not args.dev_only:
            result["test"][name] = [text(p) for p in decode(model, test_ids, beam=beam)]
        result["speed"][name] = {}
        for t in args.speed_threads.split(","):
            result["speed"][name][t], out = timed_decode(model, dev_ids, beam, int(t))
        result["dev"][name] = [text(p) for p in out]
        log(f"{name}: sentences/s on the dev sources: {result['speed'][name]}")
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
