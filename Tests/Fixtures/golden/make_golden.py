"""Writes the golden files: small models of every kind, written by one release of
LSTMKit, with fixed inputs and the outputs that release computed from them.

    python Tests/Fixtures/golden/make_golden.py    (with that release's lstmkit installed)
    python Tests/Fixtures/golden/make_golden.py --sequence-classifier
                                                   (the sequence classifier's, in its directory)
    python Tests/Fixtures/golden/make_golden.py --sequence-classifier-fcn
                                                   (the same with the LSTM-FCN branch)
    python Tests/Fixtures/golden/make_golden.py --forecaster
                                                   (the forecaster's, in its directory)
    python Tests/Fixtures/golden/make_golden.py --seq2seq
                                                   (the two Seq2Seq models', in seq2seq/)

Run ONCE per release whose files must keep loading, never to make a failing test pass:
bindings/python/tests/test_golden.py loads every file here with the current code and
requires the same outputs. Everything is seeded and single-threaded; the training data
are the repository's fixtures (Tests/Fixtures/cws, Tests/Fixtures/text) and synthetic
images drawn here.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import numpy as np

import lstmkit

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent


def read_tsv(path: Path):
    rows = [line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [text for _, text in rows], [label for label, _ in rows]


def cpu_signature() -> dict:
    """What decides the float results' last bits: the CPU's vector extensions (the
    gate kernels and OpenBLAS pick theirs at run time) and OPENBLAS_CORETYPE."""
    flags = set()
    model = "?"
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
        if line.startswith("model name") and model == "?":
            model = line.split(":", 1)[1].strip()
    import os
    return {
        "model": model,
        "isa": sorted(f for f in flags if f in {"sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"}),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
    }


def write_expected(directory: Path, arrays: dict, outputs: dict) -> str:
    """expected.npz (the arrays) and expected.json (the outputs, the release, the commit
    and the CPU); returns the commit."""
    np.savez(directory / "expected.npz", **arrays)
    commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "HEAD"], stdout=subprocess.PIPE, text=True).stdout.strip()
    meta = {"lstmkit": lstmkit.__version__, "commit": commit, "python": platform.python_version(),
            "numpy": np.__version__, "cpu": cpu_signature(), "outputs": outputs}
    (directory / "expected.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return commit


def images(rng: np.random.Generator, n: int, size: int, channels: int = 0):
    """uint8 images whose class is the brightest of 3 horizontal bands, and per-pixel
    masks: 0 background, 1 the bright band, 2 a dark square."""
    shape = (n, size, size) + ((channels,) if channels else ())
    x = rng.integers(0, 80, size=shape, dtype=np.uint8)
    y = rng.integers(0, 3, size=n)
    masks = np.zeros((n, size, size), np.int32)
    band = size // 3
    for i in range(n):
        rows = slice(y[i] * band, (y[i] + 1) * band)
        x[i, rows] += 150
        masks[i, rows] = 1
        r, c = rng.integers(0, size - 3, size=2)
        x[i, r:r + 3, c:c + 3] = 0
        masks[i, r:r + 3, c:c + 3] = 2
    return x, y, masks


def sequence_classifier(directory: Path, **branch) -> None:
    """The sequence classifier's golden file (added after 0.1.0, in its own directory):
    2 members of 2 LSTM levels with LayerNorm, attention pooling, NaN masked, on synthetic ragged
    3-channel sequences; `branch` (conv_filters) writes the one with the LSTM-FCN branch."""
    lstmkit.set_num_threads(1)
    directory.mkdir(exist_ok=True)
    rng = np.random.default_rng(4)

    def toy(n):
        X, y = [], []
        for i in range(n):
            t = int(rng.integers(4, 11))
            s = rng.standard_normal((t, 3)).astype(np.float32)
            s[:, i % 3] += np.linspace(0, 2, t, dtype=np.float32)
            s[:-1][rng.random((t - 1, 3)) < 0.05] = np.nan  # (a last step all NaN would end the sequence)
            X.append(s)
            y.append(f"rise{i % 3}")
        return X, y

    X, y = toy(48)
    clf = lstmkit.SequenceClassifier(hidden_size=4, num_layers=2, layer_norm=True, pooling="attention",
                                      attention_size=4, mask_missing=True, members=2, seed=1,
                                      **(branch or {"conv_filters": ()}))
    clf.fit(X, y, epochs=2, threads=1, progress=False)
    name = directory.name + ".safetensors"
    clf.save(directory / name)
    model = lstmkit.SequenceClassifier.load(directory / name)
    test, _ = toy(6)
    padded = np.full((6, 10, 3), np.nan, np.float32)
    for i, s in enumerate(test):
        padded[i, :len(s)] = s
    arrays = {"x": padded, "proba": model.predict_proba(padded, threads=1)}
    arrays.update({f"attention{i}": w for i, w in enumerate(model.attention(padded, threads=1))})
    write_expected(directory, arrays, {"predict": [str(label) for label in model.predict(padded, threads=1)]})
    print(f"the sequence classifier's golden file written to {directory}")


def seq2seq(directory: Path) -> None:
    """The Seq2Seq golden files (added after 0.1.0, in their own directory): two tiny G2P
    models trained 3 epochs on the fixture slice of CMUdict (Tests/Fixtures/g2p): an
    LSTM encoder with `general` attention and a bridge, and a GRU encoder with `additive`
    attention; the dev words' greedy translations, their beam-3 2-best lists with the
    scores, and the attention of the first word's best (beam 3) translation."""
    lstmkit.set_num_threads(1)
    directory.mkdir(exist_ok=True)
    words, phonemes = (list(t) for t in zip(*(line.split("\t") for line in
                                               (FIXTURES / "g2p" / "train.tsv").read_text(encoding="utf-8").splitlines())))
    dev = [line.split("\t")[0] for line in (FIXTURES / "g2p" / "dev.tsv").read_text(encoding="utf-8").splitlines()]
    arrays: dict[str, np.ndarray] = {}
    outputs: dict[str, object] = {"texts": dev}
    small = dict(target_tokens="words", embedding_size=8, hidden_size=12, attention_size=8, dropout=0.0, seed=1)
    for name, options in (("seq2seq", dict(attention_score="general")),
                          ("seq2seq-gru", dict(attention_score="additive", cell="gru", bridge=False))):
        model = lstmkit.Seq2Seq(**small, **options)
        model.fit(words, phonemes, epochs=40, patience=40, batch_size=16, learning_rate=0.01, threads=1, progress=False)
        model.save(directory / f"{name}.safetensors")
        model = lstmkit.Seq2Seq.load(directory / f"{name}.safetensors")
        outputs[f"{name}_greedy"] = model.translate(dev, beam=1, threads=1)
        beam = model.translate(dev, beam=3, n_best=2, threads=1)
        outputs[f"{name}_beam"] = [[text for text, _ in best] for best in beam]
        arrays[f"{name}_beam_scores"] = np.array([[score for _, score in best] for best in beam], np.float32)
        out, src, weights = model.attention(dev[0], beam=3)
        outputs[f"{name}_attention_tokens"] = [out, src]
        arrays[f"{name}_attention"] = weights
    write_expected(directory, arrays, outputs)
    print(f"the seq2seq golden files written to {directory}")


def main() -> None:
    import sys
    if sys.argv[1:] == ["--seq2seq"]:
        return seq2seq(HERE / "seq2seq")
    if sys.argv[1:] == ["--sequence-classifier"]:
        return sequence_classifier(HERE / "sequence-classifier")
    if sys.argv[1:] == ["--sequence-classifier-fcn"]:
        return sequence_classifier(HERE / "sequence-classifier-fcn", conv_filters=(4, 6, 4))
    if sys.argv[1:] == ["--forecaster"]:
        return forecaster(HERE / "forecaster")
    lstmkit.set_num_threads(1)
    arrays: dict[str, np.ndarray] = {}
    outputs: dict[str, object] = {}

    # LSTM: 2 layers, bidirectional, ragged lengths, initial states.
    lstm = lstmkit.LSTM(5, 4, num_layers=2, bidirectional=True, seed=3)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    h0 = rng.standard_normal((4, 3, 4)).astype(np.float32)
    c0 = rng.standard_normal((4, 3, 4)).astype(np.float32)
    y, (h_n, c_n) = lstm(x, lengths=[6, 2, 4], state=(h0, c0))
    lstm.save(HERE / "lstm.safetensors")
    arrays.update({"lstm_x": x, "lstm_h0": h0, "lstm_c0": c0, "lstm_y": y, "lstm_h_n": h_n, "lstm_c_n": c_n})

    # Tokenizers: one network, and an ensemble of two (float16 members).
    cws = FIXTURES / "cws"
    small = dict(epochs=2, hidden_size=16, char_dim=8, bigram_dim=8, min_bigram_count=1,
                 dictionary_min_count=1, threads=1, progress=False)
    tokenizer = lstmkit.Tokenizer.train(cws / "train.txt", cws / "dev.txt", seed=1, **small)
    other = lstmkit.Tokenizer.train(cws / "train.txt", cws / "dev.txt", seed=2, dictionary_max_length=0, **small)
    ensemble = lstmkit.Tokenizer.ensemble([tokenizer, other])
    tokenizer.save(HERE / "tokenizer.safetensors")
    ensemble.save(HERE / "tokenizer-ensemble.safetensors")
    texts = ["".join(line.split()) for line in (cws / "test.txt").read_text(encoding="utf-8").splitlines()[:20]]
    outputs["tokenizer_texts"] = texts
    for name in ("tokenizer", "tokenizer-ensemble"):
        model = lstmkit.Tokenizer.load(HERE / f"{name}.safetensors")
        outputs[f"{name}_cut"] = model.cut_many(texts, threads=1)
        outputs[f"{name}_tag"] = model.tag(texts[0])

    # Text classifiers: English words with attention; Chinese characters with n-grams.
    for name, corpus, options in (
        ("text-en", "en.tsv", dict(pooling="attention")),
        ("text-zh-ngrams", "zh.tsv", dict(pooling="mean", ngram_order=2)),
    ):
        texts, labels = read_tsv(FIXTURES / "text" / corpus)
        clf = lstmkit.TextClassifier(embedding_dim=8, hidden_size=8, attention_size=8, min_count=1, seed=1, **options)
        clf.fit(texts[:240], labels[:240], epochs=2, threads=1, progress=False)
        clf.save(HERE / f"{name}.safetensors")
        model = lstmkit.TextClassifier.load(HERE / f"{name}.safetensors")
        held_out = texts[240:260]
        outputs[f"{name}_texts"] = held_out
        arrays[f"{name}_proba"] = model.predict_proba(held_out, threads=1)
        outputs[f"{name}_predict"] = [str(label) for label in model.predict(held_out, threads=1)]
        if options["pooling"] == "attention":
            attention = model.attention(held_out[0])
            outputs[f"{name}_attention_tokens"] = [token for token, _ in attention]
            arrays[f"{name}_attention"] = np.array([weight for _, weight in attention], np.float64)

    # Image classifiers: rows + columns, and CNN + LSTM, on 12x12 synthetic images.
    rng = np.random.default_rng(2)
    x_train, y_train, _ = images(rng, 60, 12)
    x_test, _, _ = images(rng, 10, 12)
    arrays["image_x"] = x_test
    for name, options in (
        ("image-rows", dict(kind="rows", hidden_size=8, columns=True)),
        ("image-cnn", dict(kind="cnn", hidden_size=8, conv_channels=(4, 8))),
    ):
        clf = lstmkit.ImageClassifier(seed=1, **options)
        clf.fit(x_train, [f"band{k}" for k in y_train], epochs=2, batch_size=16, threads=1, verbose=False)
        clf.save(HERE / f"{name}.safetensors")
        model = lstmkit.ImageClassifier.load(HERE / f"{name}.safetensors")
        arrays[f"{name}_proba"] = model.predict_proba(x_test, threads=1)
        outputs[f"{name}_predict"] = [str(label) for label in model.predict(x_test, threads=1)]

    # Image segmenter: 16x16 RGB images, 3 classes, LSTM context.
    rng = np.random.default_rng(3)
    x_train, _, m_train = images(rng, 24, 16, channels=3)
    x_test, _, _ = images(rng, 4, 16, channels=3)
    seg = lstmkit.ImageSegmenter(num_classes=3, hidden_size=4, encoder_channels=(4, 8), seed=1)
    seg.fit(x_train, m_train, epochs=2, batch_size=8, threads=1, verbose=False)
    seg.save(HERE / "segmenter.safetensors")
    model = lstmkit.ImageSegmenter.load(HERE / "segmenter.safetensors")
    arrays["segmenter_x"] = x_test
    arrays["segmenter_proba"] = model.predict_proba(x_test, threads=1)
    arrays["segmenter_predict"] = model.predict(x_test, threads=1)

    commit = write_expected(HERE, arrays, outputs)
    print(f"golden files written to {HERE} by lstmkit {lstmkit.__version__} at {commit}")


def forecaster(directory: Path) -> None:
    """The forecaster's golden file (added after 0.1.0, in its own directory): 2 targets
    and 1 exogenous input, 2 LSTM layers, window scaling, trained 2 epochs on a
    synthetic series drawn here."""
    lstmkit.set_num_threads(1)
    directory.mkdir(exist_ok=True)
    rng = np.random.default_rng(5)
    t = np.arange(130)
    x = rng.integers(0, 4, size=(130, 1)).astype(np.float32)
    y = np.stack([10 + 2 * np.sin(2 * np.pi * t / 12) + x[:, 0], 5 + np.cos(2 * np.pi * t / 9)], axis=1)
    y = (y + 0.1 * rng.standard_normal(y.shape)).astype(np.float32)
    f = lstmkit.Forecaster(context=10, horizon=4, hidden_size=4, num_layers=2, quantiles=(0.1, 0.25, 0.5, 0.75, 0.9),
                           season=12, seed=3)
    f.fit(y[:120], x[:120], epochs=2, threads=1, verbose=False)
    f.save(directory / "forecaster.safetensors")
    model = lstmkit.Forecaster.load(directory / "forecaster.safetensors")
    arrays = {"y": y[:120], "x": x[:120], "x_future": x[120:124], "y_all": y, "x_all": x}
    arrays["quantiles"] = model.predict_quantiles(X_future=x[120:124], y=y[:120], X=x[:120])
    arrays["point"] = model.predict(X_future=x[120:124], y=y[:120], X=x[:120])
    write_expected(directory, arrays, {"evaluate": model.evaluate(y, x, start=110, season=12, threads=1)})
    print(f"the forecaster's golden file written to {directory}")


if __name__ == "__main__":
    main()
