#!/usr/bin/env python3
"""Fetch the general Chinese lexicon the word segmenter's features use.

Source: Debian's ``pinyin-database`` 1.2.99-5 (the phrase table of ibus-pinyin, by
Huang Peng, GPL-2.0-or-later): an SQLite file of about 800,000 simplified-Chinese
words and phrases with frequencies, collected for a pinyin input method, not from
the People's Daily corpus. (Of the dev split's unseen words it holds about two thirds;
pkuseg's dictionary, which has seen this corpus, holds 87 % of the test split's.)

Usage:
    python3 bench/cws_lexicon.py [--cache DIR]

Steps, each printed as it runs:
  1. if the .deb is not in DIR (default data-cache/cws), ``apt-get download
     pinyin-database=1.2.99-5`` into DIR, and check the .deb's SHA-256;
  2. read ``main.db`` out of the .deb (an ar archive holding data.tar.xz) in Python;
  3. write DIR/lexicon.txt: every phrase of 2 or more characters with a frequency
     above 0, once, sorted by code point, one a line (a second run is a no-op).

The word segmenter's trainer reads it with ``--lexicon`` (models/train_tokenizer.sh).
"""
import argparse
import hashlib
import io
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "cws")

PACKAGE, VERSION = "pinyin-database", "1.2.99-5"
DEB = f"{PACKAGE}_{VERSION}_all.deb"
DEB_SHA256 = "daf0e40094e7a07cb7842aa91514f68ab303e5b02806b9adce73ee0485cb4460"
MEMBER = "./usr/share/pinyin-database/main.db"
LEXICON_SHA256 = "9e9eaff9779196310927a484cd880c5f90f8bd12d52ca9f9004ce84332fa2c98"


def log(msg):
    print(f"[cws_lexicon] {msg}", flush=True)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def ensure_deb(cache):
    path = os.path.join(cache, DEB)
    if not os.path.isfile(path):
        os.makedirs(cache, exist_ok=True)
        cmd = ["apt-get", "download", f"{PACKAGE}={VERSION}"]
        log("downloading: " + " ".join(cmd))
        try:
            subprocess.run(cmd, check=True, cwd=cache)
        except (OSError, subprocess.CalledProcessError) as e:
            sys.exit(f"[cws_lexicon] ERROR: {' '.join(cmd)} failed ({e}); "
                     f"this needs Debian's package index (apt-get update)")
    with open(path, "rb") as f:
        data = f.read()
    if sha256(data) != DEB_SHA256:
        sys.exit(f"[cws_lexicon] ERROR: {path} sha256 {sha256(data)}, expected {DEB_SHA256}; "
                 f"delete it and run again")
    log(f"{DEB} ({len(data)} bytes), sha256 OK")
    return data


def ar_member(data, name):
    """The bytes of member `name` of an ar archive (the .deb container)."""
    if not data.startswith(b"!<arch>\n"):
        sys.exit("[cws_lexicon] ERROR: not an ar archive")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        member = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if member == name:
            return data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    sys.exit(f"[cws_lexicon] ERROR: no {name} in {DEB}")


def phrases(deb):
    with tarfile.open(fileobj=io.BytesIO(ar_member(deb, "data.tar.xz")), mode="r:xz") as tf:
        db = tf.extractfile(MEMBER).read()
    with tempfile.NamedTemporaryFile(suffix=".db") as tmp:
        tmp.write(db)
        tmp.flush()
        con = sqlite3.connect(tmp.name)
        words = set()
        for (table,) in con.execute("select name from sqlite_master where name like 'py_phrase_%'"):
            for phrase, freq in con.execute(f"select phrase, freq from {table}"):
                if freq > 0 and len(phrase) >= 2:
                    words.add(phrase)
        con.close()
    return sorted(words)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    args = ap.parse_args()
    out = os.path.join(args.cache, "lexicon.txt")
    if os.path.isfile(out):
        with open(out, "rb") as f:
            if sha256(f.read()) == LEXICON_SHA256:
                log(f"unchanged {out}")
                return
    words = phrases(ensure_deb(args.cache))
    data = "".join(w + "\n" for w in words).encode("utf-8")
    if sha256(data) != LEXICON_SHA256:
        sys.exit(f"[cws_lexicon] ERROR: the lexicon's sha256 is {sha256(data)}, expected {LEXICON_SHA256}")
    with open(out + ".tmp", "wb") as f:
        f.write(data)
    os.replace(out + ".tmp", out)
    log(f"wrote {out}: {len(words)} words")


if __name__ == "__main__":
    main()
