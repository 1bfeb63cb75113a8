#!/usr/bin/env python3
"""Word and phoneme error rates of G2P predictions against CMUdict's references.

Definitions (those of the g2p-seq2seq and Phonetisaurus evaluations, where a word may
have several right pronunciations):
  * WER = words whose prediction equals none of their references / words;
  * PER = Σ over words of min over the word's references r of edit(prediction, r)
          / Σ over words of len(r*), r* the reference reaching that minimum (the
          first such one in the dictionary's order): phoneme-level Levenshtein
          distance (substitution, insertion, deletion, each 1) over the closest
          reference's length.
Phonemes are compared with their stress digits (AH0 ≠ AH1). A word with no
prediction counts as the empty prediction (wrong; every reference phoneme deleted).

Usage:
    python3 bench/g2p_score.py REFS PRED
REFS: word<TAB>pron<TAB>pron..., one line per word (data-cache/g2p/test.refs.tsv);
PRED: word<TAB>pron, one line per word (extra columns ignored). Prints the counts, WER
and PER as JSON.
"""
import json
import sys


def edit_distance(a, b):
    """Levenshtein distance between two sequences (unit costs)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def score(references, predictions):
    """references: {word: [pron, ...]} (a pron: a space-separated string or a list of
    phonemes); predictions: {word: pron}. Scores every word of `references`; returns
    {"words", "word_errors", "wer", "phoneme_errors", "reference_phonemes", "per"}
    (rates as fractions)."""
    def phonemes(p):
        return p.split() if isinstance(p, str) else list(p)
    words = word_errors = errors = length = 0
    for word, refs in references.items():
        if not refs:
            raise ValueError(f"word {word!r} has no reference")
        pred = phonemes(predictions.get(word, ""))
        refs = [phonemes(r) for r in refs]
        words += 1
        word_errors += pred not in refs
        distance, ref = min(((edit_distance(pred, r), i) for i, r in enumerate(refs)))
        errors += distance
        length += len(refs[ref])
    return {"words": words, "word_errors": word_errors, "wer": word_errors / max(words, 1),
            "phoneme_errors": errors, "reference_phonemes": length, "per": errors / max(length, 1)}


def read_tsv(path):
    """{word: [column 2, column 3, ...]} of a word<TAB>... file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            out[fields[0]] = fields[1:]
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: g2p_score.py REFS PRED")
    refs = read_tsv(sys.argv[1])
    preds = {w: (p[0] if p else "") for w, p in read_tsv(sys.argv[2]).items()}
    print(json.dumps(score(refs, preds)))


if __name__ == "__main__":
    main()
