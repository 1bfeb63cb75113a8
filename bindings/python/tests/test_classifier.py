"""lstmkit.TextClassifier: shapes, labels, evaluation, files, bad input, threads.

A tiny classifier is trained once for the module on the English fixture (240 texts for
training, the last 60 as dev, by position); its accuracy is poor, which is fine: the
tests check the contracts, not the quality. The attention tests also run
`lstmkit-cli classify --attention`.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit import ModelFormatError, TextClassifier
from helpers import check_callback_exception_propagates, check_predict_threads, run_threads

REPO = Path(__file__).resolve().parents[3]
EN = REPO / "Tests" / "Fixtures" / "text" / "en.tsv"
CWS = REPO / "Tests" / "Fixtures" / "cws"

TINY = dict(embedding_dim=16, hidden_size=16, attention_size=8, min_count=1, seed=3)
FIT = dict(epochs=3, batch_size=16, progress=False)


def read_tsv(path):
    rows = [line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r[1] for r in rows], [r[0] for r in rows]


@pytest.fixture(scope="module")
def data():
    texts, labels = read_tsv(EN)
    assert len(texts) == 300
    return texts[:240], labels[:240], texts[240:], labels[240:]


@pytest.fixture(scope="module")
def trained(data):
    train_t, train_l, dev_t, dev_l = data
    lines = []
    clf = TextClassifier(**TINY).fit(train_t, train_l, validation_data=(dev_t, dev_l), **dict(FIT, progress=lines.append))
    return clf, lines


@pytest.fixture
def clf(trained):
    return trained[0]


def test_progress_lines(trained):
    lines = trained[1]
    assert lines and all(isinstance(line, str) for line in lines)
    assert any("epoch 1" in line for line in lines)


def test_classes(clf, data):
    assert clf.classes_ == sorted(set(data[1]))
    assert clf.classes_ == ["fresh", "rotten"]


def test_predict_proba_shape(clf, data):
    p = clf.predict_proba(data[2])
    assert p.shape == (60, 2)
    assert p.dtype == np.float32
    assert p.flags.c_contiguous
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_predict_in_classes(clf, data):
    pred = clf.predict(data[2])
    assert len(pred) == 60
    assert set(pred) <= set(clf.classes_)
    proba = clf.predict_proba(data[2])
    assert pred == [clf.classes_[j] for j in proba.argmax(axis=1)]


def test_single_and_empty_text(clf):
    p = clf.predict_proba(["", "a", "   "])
    assert p.shape == (3, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_batching_changes_nothing(clf, data):
    texts = data[2]
    together = clf.predict_proba(texts)
    alone = np.vstack([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_evaluate(clf, data):
    result = clf.evaluate(data[2], data[3])
    assert set(result) == {"accuracy", "macro_f1", "confusion", "labels"}
    assert result["labels"] == clf.classes_
    assert result["confusion"].shape == (2, 2)
    assert result["confusion"].sum() == 60
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["macro_f1"] <= 1.0
    pred = clf.predict(data[2])
    assert result["accuracy"] == pytest.approx(np.mean([p == g for p, g in zip(pred, data[3])]))
    assert np.trace(result["confusion"]) == sum(p == g for p, g in zip(pred, data[3]))


def test_evaluate_unknown_label(clf, data):
    with pytest.raises(ValueError, match="neutral"):
        clf.evaluate(data[2][:2], ["fresh", "neutral"])


def test_save_load(clf, data, tmp_path):
    path = tmp_path / "clf.safetensors"
    clf.save(path)
    back = TextClassifier.load(path)
    assert back.classes_ == clf.classes_
    np.testing.assert_array_equal(back.predict_proba(data[2]), clf.predict_proba(data[2]))
    assert back.predict(data[2]) == clf.predict(data[2])
    # str paths work too
    back2 = TextClassifier.load(str(path))
    np.testing.assert_array_equal(back2.predict_proba(data[2][:5]), clf.predict_proba(data[2][:5]))


def test_int_labels_round_trip(data, tmp_path):
    train_t, train_l, dev_t, dev_l = data
    to_int = {"fresh": 1, "rotten": 0}
    clf = TextClassifier(**TINY).fit(train_t, [to_int[x] for x in train_l],
                                     validation_data=(dev_t, [to_int[x] for x in dev_l]), **dict(FIT, epochs=1))
    assert clf.classes_ == [0, 1]
    pred = clf.predict(dev_t[:10])
    assert all(type(p) is int for p in pred)
    result = clf.evaluate(dev_t, [to_int[x] for x in dev_l])
    assert result["labels"] == [0, 1] and result["confusion"].sum() == 60
    path = tmp_path / "int.safetensors"
    clf.save(path)
    back = TextClassifier.load(path)
    assert back.classes_ == [0, 1]
    assert back.predict(dev_t[:10]) == pred


def test_ngram_features(clf, data, tmp_path):
    train_t, train_l, dev_t, dev_l = data
    lines = []
    ng = TextClassifier(**TINY, ngram_order=2).fit(train_t, train_l, validation_data=(dev_t, dev_l),
                                                   **dict(FIT, progress=lines.append, ngram_learning_rate=0.05))
    assert any("n-grams" in line and " 0 n-grams" not in line for line in lines[:1]), lines[:1]
    p = ng.predict_proba(dev_t)
    assert p.shape == (60, 2) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert np.abs(p - clf.predict_proba(dev_t)).max() > 1e-4
    path = tmp_path / "ngrams.safetensors"
    ng.save(path)
    np.testing.assert_array_equal(TextClassifier.load(path).predict_proba(dev_t), p)


def test_validation_split(data):
    train_t, train_l = data[0], data[1]
    lines = []
    clf = TextClassifier(**TINY).fit(train_t, train_l, validation_split=0.25, **dict(FIT, epochs=1, progress=lines.append))
    assert clf.classes_ == ["fresh", "rotten"]
    assert any("180 texts, 60 dev" in line for line in lines), lines[:1]


def test_bad_constructor_args_are_refused_at_fit(data):
    """Arguments are stored as given (scikit-learn's convention) and checked by fit, by the
    engine's rules: the message names the argument."""
    texts, labels = data[0], data[1]
    for kwargs, error, match in [
        (dict(pooling="sum"), ValueError, "pooling"),
        (dict(tokenization="bytes"), ValueError, "tokenization"),
        (dict(hidden_size=0), ValueError, "hidden_size"),
        (dict(embedding_dim=0), ValueError, r"^embedding_dim must be in \[1, 4096\], got 0$"),
        (dict(embedding_dim=1.5), TypeError, "embedding_dim"),
        (dict(dropout=1.0), ValueError, "dropout"),
        (dict(dropout=float("nan")), ValueError, "dropout"),
        (dict(ngram_order=9), ValueError, "ngram_order"),
        (dict(ngram_dropout=1.0), ValueError, "ngram_dropout"),
        (dict(min_ngram_count=0), ValueError, "min_ngram_count"),
    ]:
        clf = TextClassifier(**dict(TINY, **kwargs))
        with pytest.raises(error, match=match):
            clf.fit(texts, labels, **dict(FIT, epochs=1))


def test_bad_fit_input(data):
    texts, labels = data[0], data[1]
    clf = TextClassifier(**TINY)
    with pytest.raises(ValueError, match="empty"):
        clf.fit([], [], **FIT)
    with pytest.raises(ValueError, match="240 texts but 239"):
        clf.fit(texts, labels[:-1], **FIT)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        clf.fit(["a", 2, "c"], ["x", "y", "x"], **FIT)
    with pytest.raises(TypeError, match="not a str"):
        clf.fit("some text", ["x"], **FIT)
    with pytest.raises(ValueError, match="single class"):
        clf.fit(texts, ["fresh"] * len(texts), **FIT)
    with pytest.raises(TypeError, match=r"labels\[0\]"):
        clf.fit(["a", "b"], [1.5, 2.5], **FIT)
    with pytest.raises(TypeError, match=r"labels\[1\]"):
        clf.fit(["a", "b"], ["x", True], **FIT)
    with pytest.raises(ValueError, match="neutral"):
        clf.fit(texts, labels, validation_data=(["x"], ["neutral"]), **FIT)
    with pytest.raises(ValueError, match="epochs"):
        clf.fit(texts, labels, **dict(FIT, epochs=0))
    with pytest.raises(ValueError, match="learning_rate"):
        clf.fit(texts, labels, **dict(FIT, learning_rate=-1.0))
    with pytest.raises(ValueError, match="ngram_learning_rate"):
        clf.fit(texts, labels, **dict(FIT, ngram_learning_rate=0.0))
    with pytest.raises(ValueError, match="validation_split"):
        clf.fit(texts, labels, validation_split=1.0, **FIT)
    with pytest.raises(ValueError, match="surrogate"):
        clf.fit(["a", "b\ud800"], ["x", "y"], validation_data=(["a"], ["x"]), **FIT)
    with pytest.raises(TypeError, match="progress"):
        clf.fit(texts, labels, **dict(FIT, progress=3))
    with pytest.raises(RuntimeError, match="not fitted"):
        clf.predict(["a"])


def test_bad_predict_input(clf):
    with pytest.raises(ValueError, match="empty"):
        clf.predict_proba([])
    with pytest.raises(TypeError, match="not a str"):
        clf.predict("a text")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        clf.predict_proba(["a", None])
    with pytest.raises(ValueError, match="surrogate"):
        clf.predict_proba(["ok", "\udcff"])
    with pytest.raises(ValueError, match="threads"):
        clf.predict_proba(["a"], threads=0)


def test_progress_exception_propagates(data):
    check_callback_exception_propagates(lambda callback: TextClassifier(**TINY).fit(
        data[0], data[1], validation_data=(data[2], data[3]), **dict(FIT, epochs=1, progress=callback)))


def test_threads(clf, data):
    texts = data[2]
    check_predict_threads(clf.predict_proba, texts)


# -- attention weights ----------------------------------------------------------------


@pytest.fixture(scope="module")
def mean_clf(data):
    train_t, train_l, dev_t, dev_l = data
    return TextClassifier(**dict(TINY, pooling="mean")).fit(train_t[:60], train_l[:60], validation_data=(dev_t[:10], dev_l[:10]),
                                                            **dict(FIT, epochs=1))


def test_attention(clf):
    # Lower-cased words, full-width letters normalised, punctuation a token of its own.
    pairs = clf.attention("A Fine, \uff26\uff29\uff2c\uff2d!")
    assert [t for t, _ in pairs] == ["a", "fine", ",", "film", "!"]
    weights = np.array([w for _, w in pairs])
    assert all(type(w) is float for _, w in pairs)
    assert np.all(weights >= 0) and np.all(weights <= 1)
    assert weights.sum() == pytest.approx(1.0, abs=1e-5)
    assert clf.attention("A Fine, \uff26\uff29\uff2c\uff2d!") == pairs
    assert clf.attention("") == [] and clf.attention("  \t ") == []


def test_attention_long_texts(clf):
    # Texts keep their first max_length (400) tokens.
    pairs = clf.attention(" ".join(f"w{i}" for i in range(450)))
    assert len(pairs) == 400 and pairs[-1][0] == "w399"
    assert sum(w for _, w in pairs) == pytest.approx(1.0, abs=1e-5)
    # A token longer than the first buffer guess: the binding asks again with the size.
    assert clf.attention("a" * 70000) == [("a" * 70000, pytest.approx(1.0))]


def test_attention_save_load(clf, tmp_path):
    path = tmp_path / "attention.safetensors"
    clf.save(path)
    assert TextClassifier.load(path).attention("a fine film") == clf.attention("a fine film")


def test_self_attention_pooling(data, tmp_path):
    """pooling="self_attention": the weights of the block's outputs per token, saved and loaded."""
    train_t, train_l, dev_t, dev_l = data
    clf = TextClassifier(**dict(TINY, pooling="self_attention", attention_heads=2)).fit(
        train_t[:60], train_l[:60], validation_data=(dev_t[:10], dev_l[:10]), **dict(FIT, epochs=1))
    pairs = clf.attention("a fine film")
    assert [t for t, _ in pairs] == ["a", "fine", "film"] and sum(w for _, w in pairs) == pytest.approx(1.0, abs=1e-5)
    clf.save(tmp_path / "self.safetensors")
    loaded = TextClassifier.load(tmp_path / "self.safetensors")
    assert (loaded.pooling, loaded.attention_heads) == ("self_attention", 2)
    assert loaded.attention("a fine film") == pairs
    np.testing.assert_array_equal(loaded.predict_proba(dev_t[:10]), clf.predict_proba(dev_t[:10]))


def test_attention_errors(clf, mean_clf, tmp_path):
    with pytest.raises(ValueError, match="pools by mean.*attention pooling"):
        mean_clf.attention("a fine film")
    path = tmp_path / "mean.safetensors"
    mean_clf.save(path)
    with pytest.raises(ValueError, match="pools by mean"):
        TextClassifier.load(path).attention("a fine film")
    with pytest.raises(ValueError, match="NUL"):
        clf.attention("a\0b")
    with pytest.raises(ValueError, match="surrogate"):
        clf.attention("ok \ud800")
    with pytest.raises(TypeError, match="text must be a str"):
        clf.attention(["a list"])
    with pytest.raises(TypeError, match="text must be a str"):
        clf.attention(b"bytes")
    with pytest.raises(RuntimeError, match="not fitted"):
        TextClassifier().attention("a")
    assert clf.attention("a fine film")  # the handle still works


def test_attention_threads(clf, data):
    texts = data[2][:20]
    expected = [clf.attention(t) for t in texts]
    results = [None] * 4

    def work(i):
        results[i] = [clf.attention(t) for t in texts]
        clf.predict_proba(texts)

    run_threads(work, 4)
    assert all(r == expected for r in results)


CLI = Path(lstmkit.__file__).resolve().parent / "_bin" / "lstmkit-cli"


@pytest.mark.skipif(not CLI.is_file(), reason="the package was built without lstmkit-cli")
def test_cli_classify_attention(clf, mean_clf, tmp_path):
    model, mean_model = tmp_path / "a.safetensors", tmp_path / "m.safetensors"
    clf.save(model)
    mean_clf.save(mean_model)
    (tmp_path / "in.txt").write_text("A fine film!\n\nthe plot, though\n", encoding="utf-8")

    def run(*args):
        return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=120)

    proc = run("classify", "--model", model, "--attention", tmp_path / "in.txt")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    for line, text in zip(lines, ["A fine film!", "", "the plot, though"]):
        label, tokens = line.split("\t")
        assert label == clf.predict([text])[0]
        pairs = [t.rsplit(":", 1) for t in tokens.split(" ")] if tokens else []
        assert [t for t, _ in pairs] == [t for t, _ in clf.attention(text)]
        if pairs:
            assert sum(float(w) for _, w in pairs) == pytest.approx(1.0, abs=0.01)
    assert lines[2].split("\t")[1].split(" ")[2].startswith(",:")
    # With --probabilities the attention column comes last.
    proc = run("classify", "--model", model, "--attention", "--probabilities", tmp_path / "in.txt")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].split("\t")[2].startswith("a:")

    # A model without attention, an image model: one line on stderr, exit code 1.
    proc = run("classify", "--model", mean_model, "--attention", tmp_path / "in.txt")
    assert proc.returncode == 1 and "pools by mean" in proc.stderr and "--attention" in proc.stderr
    image = lstmkit.ImageClassifier(hidden_size=4).fit(np.random.default_rng(0).random((40, 4, 4), np.float32),
                                                       [0, 1] * 20, epochs=1, verbose=False)
    image.save(tmp_path / "img.safetensors")
    np.save(tmp_path / "x.npy", np.zeros((2, 4, 4), np.float32))
    proc = run("classify", "--model", tmp_path / "img.safetensors", "--attention", tmp_path / "x.npy")
    assert proc.returncode == 1 and "image classifier" in proc.stderr and "--attention" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_load_tokenizer_file_fails(tmp_path):
    tok = lstmkit.Tokenizer.train(CWS / "train.txt", CWS / "dev.txt", hidden_size=8, char_dim=8, bigram_dim=4,
                                  epochs=1, max_batches_per_epoch=2, progress=False)
    path = tmp_path / "tok.safetensors"
    tok.save(path)
    with pytest.raises(ModelFormatError, match="tokenizer") as info:
        TextClassifier.load(path)
    assert "text_classifier" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_load_missing_file(tmp_path):
    with pytest.raises(OSError):
        TextClassifier.load(tmp_path / "nope.safetensors")
