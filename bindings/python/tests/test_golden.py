"""Golden files: models of every kind written by an earlier release
(Tests/Fixtures/golden, made by make_golden.py there) must keep loading and give the
outputs that release recorded. Discrete outputs (words, tags, labels, masks) must be
equal; float outputs within 1e-5 on every CPU. Not bit for bit: a release may reorder a
sum (a packed GEMM, a fused product, a vectorised tanh) and move the last bits, as the
CPU's own code paths (the gate kernels, OpenBLAS's) already do from one machine to
another; a change of 1e-5 is no rounding but a changed model."""

import json
from pathlib import Path

import numpy as np
import pytest

import lstmkit

GOLDEN = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "golden"
META = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))
OUT = META["outputs"]
EXPECTED = np.load(GOLDEN / "expected.npz")

TOLERANCE = 1e-5


def same(actual, name):
    expected = EXPECTED[name]
    actual = np.asarray(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (name, actual.shape, actual.dtype)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE, err_msg=name)


@pytest.fixture(autouse=True)
def one_thread():
    before = lstmkit.get_num_threads()
    lstmkit.set_num_threads(1)
    yield
    lstmkit.set_num_threads(before)


def test_golden_files_were_written_by_a_release():
    assert META["lstmkit"] and len(META["commit"]) == 40


def test_lstm():
    lstm = lstmkit.load(GOLDEN / "lstm.safetensors")
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional) == (5, 4, 2, True)
    y, (h_n, c_n) = lstm(EXPECTED["lstm_x"], lengths=[6, 2, 4], state=(EXPECTED["lstm_h0"], EXPECTED["lstm_c0"]))
    same(y, "lstm_y")
    same(h_n, "lstm_h_n")
    same(c_n, "lstm_c_n")


@pytest.mark.parametrize("name", ["tokenizer", "tokenizer-ensemble"])
def test_tokenizer(name):
    tokenizer = lstmkit.Tokenizer.load(GOLDEN / f"{name}.safetensors")
    texts = OUT["tokenizer_texts"]
    assert tokenizer.cut_many(texts, threads=1) == OUT[f"{name}_cut"]
    assert [tokenizer.cut(t) for t in texts] == OUT[f"{name}_cut"]
    assert tokenizer.tag(texts[0]) == OUT[f"{name}_tag"]


@pytest.mark.parametrize("name", ["text-en", "text-zh-ngrams"])
def test_text_classifier(name):
    clf = lstmkit.TextClassifier.load(GOLDEN / f"{name}.safetensors")
    texts = OUT[f"{name}_texts"]
    same(clf.predict_proba(texts, threads=1), f"{name}_proba")
    assert [str(label) for label in clf.predict(texts, threads=1)] == OUT[f"{name}_predict"]
    if f"{name}_attention" in EXPECTED:
        attention = clf.attention(texts[0])
        assert [token for token, _ in attention] == OUT[f"{name}_attention_tokens"]
        same(np.array([w for _, w in attention], np.float64), f"{name}_attention")


@pytest.mark.parametrize("name", ["image-rows", "image-cnn"])
def test_image_classifier(name):
    clf = lstmkit.ImageClassifier.load(GOLDEN / f"{name}.safetensors")
    same(clf.predict_proba(EXPECTED["image_x"], threads=1), f"{name}_proba")
    assert [str(label) for label in clf.predict(EXPECTED["image_x"], threads=1)] == OUT[f"{name}_predict"]


def test_image_segmenter():
    seg = lstmkit.ImageSegmenter.load(GOLDEN / "segmenter.safetensors")
    same(seg.predict_proba(EXPECTED["segmenter_x"], threads=1), "segmenter_proba")
    assert np.array_equal(seg.predict(EXPECTED["segmenter_x"], threads=1), EXPECTED["segmenter_predict"])


def _release_dir(name):
    """A kind added after 0.1.0: its own directory, expected.json and expected.npz."""
    directory = GOLDEN / name
    meta = json.loads((directory / "expected.json").read_text(encoding="utf-8"))
    return directory, meta, np.load(directory / "expected.npz")


def _same_outputs(expected, actual):
    for name, value in actual.items():
        np.testing.assert_allclose(value, expected[name], rtol=0, atol=TOLERANCE, err_msg=name)


@pytest.mark.parametrize("name", ["sequence-classifier", "sequence-classifier-fcn"])
def test_sequence_classifier(name):
    directory, meta, expected = _release_dir(name)
    clf = lstmkit.SequenceClassifier.load(directory / f"{name}.safetensors")
    x = expected["x"]
    actual = {"proba": clf.predict_proba(x, threads=1)}
    actual.update({f"attention{i}": w for i, w in enumerate(clf.attention(x, threads=1))})
    _same_outputs(expected, actual)
    assert [str(label) for label in clf.predict(x, threads=1)] == meta["outputs"]["predict"]


def test_forecaster():
    directory, meta, expected = _release_dir("forecaster")
    f = lstmkit.Forecaster.load(directory / "forecaster.safetensors")
    args = dict(X_future=expected["x_future"], y=expected["y"], X=expected["x"])
    _same_outputs(expected, {"quantiles": f.predict_quantiles(**args), "point": f.predict(**args)})
    scores = f.evaluate(expected["y_all"], expected["x_all"], start=110, season=12, threads=1)
    for name, value in meta["outputs"]["evaluate"].items():
        assert scores[name] == pytest.approx(value, rel=1e-4, abs=TOLERANCE), name


@pytest.mark.parametrize("name", ["seq2seq", "seq2seq-gru"])
def test_seq2seq(name):
    directory, meta, expected = _release_dir("seq2seq")
    model = lstmkit.Seq2Seq.load(directory / f"{name}.safetensors")
    out, texts = meta["outputs"], meta["outputs"]["texts"]
    beam = model.translate(texts, beam=3, n_best=2, threads=1)
    tokens, sources, weights = model.attention(texts[0], beam=3)
    _same_outputs(expected, {f"{name}_beam_scores": np.array([[s for _, s in best] for best in beam], np.float32),
                                   f"{name}_attention": weights})
    assert model.translate(texts, beam=1, threads=1) == out[f"{name}_greedy"]
    assert [[t for t, _ in best] for best in beam] == out[f"{name}_beam"]
    assert [tokens, sources] == out[f"{name}_attention_tokens"]
