"""Golden files: models of every kind written by an earlier release
(Tests/Fixtures/golden, made by make_golden.py there) must keep loading and give the
outputs that release recorded. Discrete outputs (words, tags, labels, masks) must be
equal; float outputs bit-identical on a CPU with the same vector extensions and
OPENBLAS_CORETYPE as the one that wrote them, within 1e-5 elsewhere (the gate kernels
and OpenBLAS pick their code paths by CPU, which moves the last bits)."""

import json
from pathlib import Path

import numpy as np
import pytest

import lstmkit

GOLDEN = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "golden"
META = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))
OUT = META["outputs"]
EXPECTED = np.load(GOLDEN / "expected.npz")


def _cpu_signature():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_golden_cpu", GOLDEN / "make_golden.py")
    # Only the helper is needed; the module's import of lstmkit is the installed one.
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cpu_signature()


SAME_CPU = {k: v for k, v in _cpu_signature().items() if k != "model"} == {
    k: v for k, v in META["cpu"].items() if k != "model"}


def same(actual, name):
    expected = EXPECTED[name]
    actual = np.asarray(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (name, actual.shape, actual.dtype)
    if SAME_CPU:
        assert np.array_equal(actual, expected), f"{name}: max |diff| {np.max(np.abs(actual - expected))}"
    else:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5, err_msg=name)


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


def _same_outputs(meta, expected, actual):
    """Bit-identical on the CPU that wrote the file, within 1e-5 elsewhere; True if same CPU."""
    same_cpu = {k: v for k, v in _cpu_signature().items() if k != "model"} == {
        k: v for k, v in meta["cpu"].items() if k != "model"}
    for name, value in actual.items():
        if same_cpu:
            assert np.array_equal(value, expected[name]), name
        else:
            np.testing.assert_allclose(value, expected[name], rtol=0, atol=1e-5, err_msg=name)
    return same_cpu


@pytest.mark.parametrize("name", ["sequence-classifier", "sequence-classifier-fcn"])
def test_sequence_classifier(name):
    directory, meta, expected = _release_dir(name)
    clf = lstmkit.SequenceClassifier.load(directory / f"{name}.safetensors")
    x = expected["x"]
    actual = {"proba": clf.predict_proba(x, threads=1)}
    actual.update({f"attention{i}": w for i, w in enumerate(clf.attention(x, threads=1))})
    _same_outputs(meta, expected, actual)
    assert [str(label) for label in clf.predict(x, threads=1)] == meta["outputs"]["predict"]


def test_forecaster():
    directory, meta, expected = _release_dir("forecaster")
    f = lstmkit.Forecaster.load(directory / "forecaster.safetensors")
    args = dict(X_future=expected["x_future"], y=expected["y"], X=expected["x"])
    same_cpu = _same_outputs(meta, expected, {"quantiles": f.predict_quantiles(**args), "point": f.predict(**args)})
    scores = f.evaluate(expected["y_all"], expected["x_all"], start=110, season=12, threads=1)
    for name, value in meta["outputs"]["evaluate"].items():
        assert scores[name] == pytest.approx(value, rel=0 if same_cpu else 1e-4, abs=0 if same_cpu else 1e-5), name


@pytest.mark.parametrize("name", ["seq2seq", "seq2seq-gru"])
def test_seq2seq(name):
    directory, meta, expected = _release_dir("seq2seq")
    model = lstmkit.Seq2Seq.load(directory / f"{name}.safetensors")
    out, texts = meta["outputs"], meta["outputs"]["texts"]
    beam = model.translate(texts, beam=3, n_best=2, threads=1)
    tokens, sources, weights = model.attention(texts[0], beam=3)
    _same_outputs(meta, expected, {f"{name}_beam_scores": np.array([[s for _, s in best] for best in beam], np.float32),
                                   f"{name}_attention": weights})
    assert model.translate(texts, beam=1, threads=1) == out[f"{name}_greedy"]
    assert [[t for t, _ in best] for best in beam] == out[f"{name}_beam"]
    assert [tokens, sources] == out[f"{name}_attention_tokens"]
