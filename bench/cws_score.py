#!/usr/bin/env python3
"""Score a Chinese word segmentation against a gold segmentation.

Usage:
    python3 bench/cws_score.py GOLD PRED [--train-words FILE] [--json]

Both files hold one sentence per line with words separated by ASCII spaces or
tabs (any other character, U+3000 included, belongs to a word). After removing
the separators, line i of PRED must spell exactly line i of GOLD; the first
line that does not is reported and the script exits with status 2. A final
empty line (the newline ending the file) is ignored; the line counts must
agree.

Scoring follows the SIGHAN bakeoff `score` script, done by character spans
instead of `diff`: each word covers a span [start, end) of its sentence, and a
predicted word is correct when a gold word has the same span. Counts are summed
over the whole file (micro average):

    P  = correct / predicted words
    R  = correct / gold words
    F1 = 2 P R / (P + R)

With --train-words FILE (one word per line, the training vocabulary), each gold
token is in-vocabulary (IV) or out-of-vocabulary (OOV):

    OOV rate   = OOV gold tokens / gold tokens
    OOV recall = OOV gold tokens whose span was predicted / OOV gold tokens
    IV recall  = IV gold tokens whose span was predicted / IV gold tokens

Output is the bakeoff-style summary, or with --json a single JSON object with
the keys gold_words, pred_words, correct, P, R, F1 (and oov_tokens, oov_rate,
oov_recall, iv_recall when a vocabulary is given). `score()` and `load_vocab()`
are importable (bench/cws_peers.py uses them).
"""
import argparse
import json
import re
import sys

# Separators are ASCII blanks only; a full-width space is a character.
_WORD = re.compile(r"[^ \t\r\n]+")


def split_words(line):
    """Words of one segmented line."""
    return _WORD.findall(line)


def word_spans(words):
    """[(start, end), ...] character spans of consecutive words."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w)
    return spans


def read_lines(path):
    """Lines of a UTF-8 file, without the empty string after a final newline."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def load_vocab(path):
    """Set of non-empty lines of a word list."""
    with open(path, encoding="utf-8") as f:
        return {w for w in (l.rstrip("\r\n") for l in f) if w}


def score(gold_lines, pred_lines, vocab=None):
    """Counts and rates as a dict; raises ValueError on mismatched input."""
    if len(gold_lines) != len(pred_lines):
        raise ValueError(f"line count differs: gold {len(gold_lines)} "
                         f"pred {len(pred_lines)}")
    n_gold = n_pred = n_corr = 0
    n_oov = n_oov_corr = n_iv = n_iv_corr = 0
    for lineno, (gline, pline) in enumerate(zip(gold_lines, pred_lines), 1):
        gold, pred = split_words(gline), split_words(pline)
        gtext, ptext = "".join(gold), "".join(pred)
        if gtext != ptext:
            raise ValueError(f"line {lineno}: characters differ\n gold: {gtext}"
                             f"\n pred: {ptext}")
        predicted = set(word_spans(pred))
        n_gold += len(gold)
        n_pred += len(pred)
        for word, span in zip(gold, word_spans(gold)):
            hit = span in predicted
            n_corr += hit
            if vocab is None:
                continue
            if word in vocab:
                n_iv += 1
                n_iv_corr += hit
            else:
                n_oov += 1
                n_oov_corr += hit
    p = n_corr / n_pred if n_pred else 0.0
    r = n_corr / n_gold if n_gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    res = {"gold_words": n_gold, "pred_words": n_pred, "correct": n_corr,
           "P": p, "R": r, "F1": f1}
    if vocab is not None:
        res["oov_tokens"] = n_oov
        res["oov_rate"] = n_oov / n_gold if n_gold else 0.0
        res["oov_recall"] = n_oov_corr / n_oov if n_oov else float("nan")
        res["iv_recall"] = n_iv_corr / n_iv if n_iv else float("nan")
    return res


def report(res):
    """Bakeoff-style text summary."""
    out = [f"=== TOTAL TRUE WORDS (gold): {res['gold_words']}",
           f"=== TOTAL TEST WORDS (pred): {res['pred_words']}",
           f"=== TOTAL CORRECT WORDS:     {res['correct']}",
           f"=== RECALL:    {res['R']:.4f}",
           f"=== PRECISION: {res['P']:.4f}",
           f"=== F MEASURE: {res['F1']:.4f}"]
    if "oov_rate" in res:
        out += [f"=== OOV Rate:        {res['oov_rate']:.4f} "
                f"({res['oov_tokens']} tokens)",
                f"=== OOV Recall Rate: {res['oov_recall']:.4f}",
                f"=== IV Recall Rate:  {res['iv_recall']:.4f}"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gold", help="gold segmentation, one sentence a line")
    ap.add_argument("pred", help="predicted segmentation, same sentences")
    ap.add_argument("--train-words", help="training word list, one per line "
                    "(enables OOV rate and OOV/IV recall)")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    args = ap.parse_args()
    vocab = load_vocab(args.train_words) if args.train_words else None
    try:
        res = score(read_lines(args.gold), read_lines(args.pred), vocab)
    except ValueError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(res) if args.json else report(res))


if __name__ == "__main__":
    main()
