#!/usr/bin/env python3
"""Read, clean, align and split the KJV English and Reina-Valera 1909 Spanish Bibles for
translation benchmarks (English → Spanish).

Source: Debian's SWORD modules ``sword-text-kjv`` (module engKJV2006eb, KJV 1769 with
Strong's numbers, eBible.org/CrossWire, version 14.3) and ``sword-text-sparv`` (module
spaRV1909eb, version 2.60), exported verse by verse with ``mod2imp`` from
``libsword-utils``. Both use the KJV versification, so a verse key ("Genesis 1:1") names
the same verse in both. If they are missing:

    apt-get install -y sword-text-kjv sword-text-sparv libsword-utils

Usage:
    python3 bench/translate_data.py [--cache DIR]   (default DIR: data-cache/translate, git-ignored)

Cleaning (OSIS markup, per verse):
  * footnotes (``<note>…</note>``, with their references) are dropped, text and all;
  * titles are dropped except the canonical psalm titles (``<title canonical="true">``:
    "A Psalm of David…", which KJV keeps before verse 1 and Reina-Valera inside it), and
    so are the epistles' subscriptions ("Written to the Romans from Corinthus…");
  * every other tag (Strong's ``<w lemma=…>``, ``<transChange>`` (the KJV's italics),
    ``<divineName>``, red-letter ``<q who="Jesus">``, poetry ``<l>``/``<lg>``, ``<div>``
    milestones…) is removed and its text kept: in KJV a tag is removed outright, in
    Reina-Valera it is a word break (see `clean`); XML entities are unescaped;
  * the paragraph sign "¶" is removed, whitespace runs become one space, ends stripped,
    and no space is left after "( [ ¿ ¡" or before ", . ; : ? ! ) ]".
No other change: case, punctuation and spelling are the modules' (Reina-Valera writes a
verse's first word in capitals after a chapter start: "EN el principio").

Alignment: the verse keys of both exports, in canonical order; chapter and book
headings (verse 0) are skipped; a verse empty on either side after cleaning is dropped.
The pair index i counts the kept pairs in canonical order.

Split, by blocks of 50 consecutive pairs (so neighbouring verses stay on one side):
    b = (i // 50) % 20:  b == 0: test, b == 1: dev, else train.

Files written into DIR (UTF-8, "\\n" line ends; only rewritten when their bytes change):
    train.tsv, dev.tsv, test.tsv    English<TAB>Spanish, one verse a line, canonical order
    keys.tsv                        split<TAB>verse key, one line per pair, same order
The counts and every file's SHA-256 are printed (docs/SEQ2SEQ.md records them).
"""
import argparse
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "translate")
MODULES = {"en": "engKJV2006eb", "es": "spaRV1909eb"}
PACKAGES = "sword-text-kjv sword-text-sparv libsword-utils"
SPLITS = ("train", "dev", "test")


def log(msg):
    print(f"[translate_data] {msg}", flush=True)


def export(module):
    """{verse key: OSIS text} of a SWORD module, in canonical order, through mod2imp."""
    if shutil.which("mod2imp") is None:
        sys.exit(f"[translate_data] ERROR: mod2imp not found; install: apt-get install -y {PACKAGES}")
    p = subprocess.run(["mod2imp", module], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    verses, key = {}, None
    for line in p.stdout.decode("utf-8").split("\n"):
        if line.startswith("$$$"):
            key = line[3:].strip()
            verses[key] = ""
        elif key is not None:
            verses[key] += ("\n" if verses[key] else "") + line
    if p.returncode != 0 or len(verses) < 30000:
        sys.exit(f"[translate_data] ERROR: mod2imp {module} gave {len(verses)} keys (exit {p.returncode}): "
                 f"{p.stderr.decode('utf-8', 'replace').strip()[:300]}; install: apt-get install -y {PACKAGES}")
    return verses


VERSE_KEY = re.compile(r"^(.+) (\d+):(\d+)$")
NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
# A title that is not canonical (a heading, a subscription), text and all; canonical
# psalm titles keep their text (their tags go with the others).
TITLE = re.compile(r"<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>", re.S)
TAG = re.compile(r"<[^>]*>")
SPACE = re.compile(r"\s+")


def clean(osis, tag_gap):
    """A verse's plain text (the rules of the module docstring); `tag_gap` replaces each
    tag: "" for KJV, whose tags sit inside words at times ("giv<tag>en") with the spaces
    outside them, " " for Reina-Valera, whose tags often stand between words with no
    space ("allí</w><transChange>también"); the few Spanish clitics split that way
    ("Júrame lo") stay split."""
    text = TAG.sub(tag_gap, TITLE.sub(" ", NOTE.sub(" ", osis)))
    text = html.unescape(text).replace("¶", " ")
    text = SPACE.sub(" ", text).strip()
    # A tag turned into a space may stand before closing or after opening punctuation.
    return re.sub(r"(?<=[(\[¿¡]) | (?=[,.;:?!)\]])", "", text)


TAG_GAP = {"en": "", "es": " "}


def split_of(i):
    b = (i // 50) % 20
    return "test" if b == 0 else "dev" if b == 1 else "train"


def write(path, lines):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    if os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read() == data:
                log(f"unchanged {os.path.basename(path):<9} {len(lines):>6} lines  sha256 {digest}")
                return digest
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    log(f"wrote     {os.path.basename(path):<9} {len(lines):>6} lines  sha256 {digest}")
    return digest


def aligned():
    """[(key, English, Spanish)] of the verses present and non-empty in both modules."""
    en, es = export(MODULES["en"]), export(MODULES["es"])
    keys = [k for k in en if VERSE_KEY.match(k) and not k.endswith(":0")]
    pairs, empty = [], {"en": 0, "es": 0, "missing": 0}
    for k in keys:
        if k not in es:
            empty["missing"] += 1
            continue
        a, b = clean(en[k], TAG_GAP["en"]), clean(es[k], TAG_GAP["es"])
        empty["en"] += not a
        empty["es"] += not b
        if a and b:
            pairs.append((k, a, b))
    log(f"{len(keys)} verse keys in {MODULES['en']}; dropped: {empty['en']} empty in English, {empty['es']} empty "
        f"in Spanish, {empty['missing']} not in {MODULES['es']}; {len(pairs)} aligned pairs")
    return pairs


def prepare(cache=DEFAULT_CACHE):
    """Writes the files above into `cache`; returns `cache`."""
    pairs = aligned()
    os.makedirs(cache, exist_ok=True)
    by_split = {s: [] for s in SPLITS}
    for i, (_, a, b) in enumerate(pairs):
        by_split[split_of(i)].append(f"{a}\t{b}")
    for s in SPLITS:
        words = sum(len(line.split("\t")[0].split()) for line in by_split[s])
        log(f"{s:<5} {len(by_split[s]):>6} pairs  {words:>7} English words")
        write(os.path.join(cache, f"{s}.tsv"), by_split[s])
    write(os.path.join(cache, "keys.tsv"), [f"{split_of(i)}\t{k}" for i, (k, _, _) in enumerate(pairs)])
    return cache


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="cache folder (default: data-cache/translate)")
    prepare(parser.parse_args().cache)
