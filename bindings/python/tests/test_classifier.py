"""lstmkit.TextClassifier: shapes, labels, evaluation, files, bad input, threads.

A tiny classifier is trained once for the module on the English fixture (240 texts for
training, the last 60 as dev, by position); its accuracy is poor, which is fine: the
tests check the contracts, not the quality.
"""

from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit import ModelFormatError, TextClassifier
from helpers import run_threads

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
    clf = TextClassifier(**TINY).fit(train_t, train_l, dev=(dev_t, dev_l), **dict(FIT, progress=lines.append))
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
                                     dev=(dev_t, [to_int[x] for x in dev_l]), **dict(FIT, epochs=1))
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


def test_validation_split(data):
    train_t, train_l = data[0], data[1]
    lines = []
    clf = TextClassifier(**TINY).fit(train_t, train_l, validation_split=0.25, **dict(FIT, epochs=1, progress=lines.append))
    assert clf.classes_ == ["fresh", "rotten"]
    assert any("180 texts, 60 dev" in line for line in lines), lines[:1]


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="pooling"):
        TextClassifier(pooling="sum")
    with pytest.raises(ValueError, match="tokenization"):
        TextClassifier(tokenization="bytes")
    with pytest.raises(ValueError, match="hidden_size"):
        TextClassifier(hidden_size=0)
    with pytest.raises(TypeError, match="embedding_dim"):
        TextClassifier(embedding_dim=1.5)
    with pytest.raises(ValueError, match="dropout"):
        TextClassifier(dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        TextClassifier(dropout=float("nan"))


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
        clf.fit(texts, labels, dev=(["x"], ["neutral"]), **FIT)
    with pytest.raises(ValueError, match="epochs"):
        clf.fit(texts, labels, **dict(FIT, epochs=0))
    with pytest.raises(ValueError, match="learning_rate"):
        clf.fit(texts, labels, **dict(FIT, learning_rate=-1.0))
    with pytest.raises(ValueError, match="validation_split"):
        clf.fit(texts, labels, validation_split=1.0, **FIT)
    with pytest.raises(ValueError, match="surrogate"):
        clf.fit(["a", "b\ud800"], ["x", "y"], dev=(["a"], ["x"]), **FIT)
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
    def boom(line):
        raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        TextClassifier(**TINY).fit(data[0], data[1], dev=(data[2], data[3]), **dict(FIT, epochs=1, progress=boom))


def test_threads(clf, data):
    texts = data[2]
    expected = clf.predict_proba(texts, threads=1)
    results = [None] * 4

    def work(i):
        for _ in range(3):
            results[i] = clf.predict_proba(texts, threads=2)

    run_threads(work, 4)
    for r in results:
        np.testing.assert_array_equal(r, expected)


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
