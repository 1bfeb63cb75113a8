"""Front-door lines per model kind: the measure of issue 16's redesign bar.

    python3 bench/frontdoor_lines.py           the tree as it is
    python3 bench/frontdoor_lines.py --rev REV the files of a commit (git show)

Counts every line (blank and comment lines too) of the front doors' sources: the Swift
of Sources/LSTMKitC (the C ABI) and Sources/lstmkit-cli (the CLI), and the .c, .h and
.py files of bindings/python/lstmkit (the extension and the package; tests excluded),
and divides by the number of model classes the Python package exports. (The issue's
figure counted .c and .py only; the extension's headers hold its shared macros, so
they count here: 1,626 per kind on 662d6e0 with them.) Prints the engine's
Swift (the engine's targets, Sources/LSTMKit*) beside it for scale. Bar: at most 973 lines per kind (40 %
below the 1,622 counted on main at 662d6e0).
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUPS = {
    "C ABI (Sources/LSTMKitC, .swift)": ("Sources/LSTMKitC/", (".swift",)),
    "CLI (Sources/lstmkit-cli, .swift)": ("Sources/lstmkit-cli/", (".swift",)),
    "extension (bindings/python/lstmkit, .c .h)": ("bindings/python/lstmkit/", (".c", ".h")),
    "package (bindings/python/lstmkit, .py)": ("bindings/python/lstmkit/", (".py",)),
}
# The engine's targets (one, Sources/LSTMKit, before the split into four).
ENGINE = ("Sources/LSTMKitCore/", "Sources/LSTMKitIO/", "Sources/LSTMKitLayers/", "Sources/LSTMKit/")
# Exported names that are models (estimators and layers a user builds or loads).
MODEL_CLASSES = re.compile(r"^(LSTM|GRU|Tokenizer|([A-Z][A-Za-z]*)?(Classifier|Segmenter|Forecaster|Seq2Seq|Regressor))$")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, stdout=subprocess.PIPE, text=True).stdout


def files(rev: str | None, prefix: str, suffixes: tuple) -> list[str]:
    listing = git("ls-tree", "-r", "--name-only", rev, prefix) if rev else git("ls-files", prefix)
    return [f for f in listing.splitlines() if f.endswith(suffixes) and "/tests/" not in f]


def text(rev: str | None, path: str) -> str:
    return git("show", f"{rev}:{path}") if rev else (REPO / path).read_text(encoding="utf-8")


def lines(rev: str | None, prefix: str, suffixes: tuple) -> int:
    return sum(len(text(rev, f).splitlines()) for f in files(rev, prefix, suffixes))


def model_classes(rev: str | None) -> list[str]:
    init = text(rev, "bindings/python/lstmkit/__init__.py")
    names = re.search(r"__all__\s*=\s*\[(.*?)\]", init, re.S)
    exported = re.findall(r'"([^"]+)"', names.group(1)) if names else []
    return sorted(n for n in exported if MODEL_CLASSES.match(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="count a commit's files instead of the work tree")
    args = parser.parse_args()
    total = 0
    for name, (prefix, suffixes) in GROUPS.items():
        n = lines(args.rev, prefix, suffixes)
        total += n
        print(f"{name:44} {n:6,}")
    kinds = model_classes(args.rev)
    print(f"{'front doors':44} {total:6,}")
    engine = sum(lines(args.rev, prefix, (".swift",)) for prefix in ENGINE)
    print(f"{'engine (Sources/LSTMKit*, .swift)':44} {engine:6,}")
    print(f"model classes exported ({len(kinds)}): {', '.join(kinds)}")
    per_kind = total / len(kinds)
    print(f"front-door lines per model kind: {per_kind:,.0f} (bar: <= 973)")


if __name__ == "__main__":
    main()
