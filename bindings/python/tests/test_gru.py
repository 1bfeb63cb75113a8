"""lstmkit.GRU against the independent NumPy reference (reference.gru_reference), its
PyTorch-shaped API, files, and bad input."""

import copy
import pickle

import numpy as np
import pytest

import lstmkit
from reference import gru_reference, param_names, param_shapes, random_params

TOL = dict(rtol=1e-5, atol=1e-5)

CONFIGS = [(1, 1, 1, False), (3, 5, 1, True), (3, 5, 2, True), (7, 4, 3, False), (8, 16, 2, True)]


def make_gru(d, h, layers, bi, seed=7):
    model = lstmkit.GRU(d, h, num_layers=layers, bidirectional=bi)
    params = random_params(np.random.default_rng(seed), d, h, layers, bi, scale=0.6, gates=3)
    model.load_state_dict(params)
    return model, params


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"D{c[0]}-H{c[1]}-L{c[2]}-{'bi' if c[3] else 'uni'}")
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_reference(config, ragged, with_h0):
    d, h, layers, bi = config
    model, params = make_gru(*config)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, d)).astype(np.float32)
    lengths = np.array([6, 2, 5, 1]) if ragged else None
    k = 2 if bi else 1
    h0 = rng.uniform(-0.5, 0.5, (layers * k, 4, h)).astype(np.float32) if with_h0 else None
    y, h_n = model(x, lengths, h0)
    ref_y, ref_h = gru_reference(params, x, lengths, h0, num_layers=layers, bidirectional=bi)
    assert y.dtype == np.float32 and y.shape == (4, 6, k * h)
    assert h_n.dtype == np.float32 and h_n.shape == (layers * k, 4, h)
    np.testing.assert_allclose(y, ref_y, **TOL)
    np.testing.assert_allclose(h_n, ref_h, **TOL)
    if ragged:
        assert not y[1, 2:].any() and not y[3, 1:].any()  # padding outputs 0


def test_reference_padding_equals_unpadded_runs():
    model, params = make_gru(3, 4, 2, True)
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    y, h_n = model(x, lengths=[5, 3])
    y1, h1 = model(x[1:2, :3])
    np.testing.assert_allclose(y[1:2, :3], y1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h_n[:, 1:2], h1, rtol=1e-6, atol=1e-6)


def test_state_is_carried_across_calls():
    model, _ = make_gru(2, 3, 2, False)
    x = np.random.default_rng(2).standard_normal((2, 8, 2)).astype(np.float32)
    _, whole = model(x)
    _, first = model.forward(x[:, :5])
    _, second = model.forward(x[:, 5:], h0=first)
    np.testing.assert_allclose(second, whole, rtol=1e-6, atol=1e-6)


def test_state_dict_names_shapes_and_order_are_pytorchs():
    model = lstmkit.GRU(3, 5, num_layers=2, bidirectional=True)
    sd = model.state_dict()
    assert list(sd) == param_names(2, True) == model.param_names()
    assert {k: v.shape for k, v in sd.items()} == param_shapes(3, 5, 2, True, gates=3)
    bound = 1 / np.sqrt(5)
    assert all(np.abs(v).max() <= bound for v in sd.values())


def test_attributes_repr_and_seed():
    model = lstmkit.GRU(4, 3, num_layers=2, bidirectional=True, dropout=0.1, seed=5)
    assert (model.input_size, model.hidden_size, model.num_layers, model.bidirectional, model.dropout, model.seed) == (
        4, 3, 2, True, 0.1, 5)
    assert repr(model) == "GRU(4, 3, num_layers=2, bidirectional=True, dropout=0.1)"
    same = lstmkit.GRU(4, 3, num_layers=2, bidirectional=True, dropout=0.1, seed=5).state_dict()
    assert all(np.array_equal(same[k], v) for k, v in model.state_dict().items())


def test_save_load_pickle_copy(tmp_path):
    model, _ = make_gru(3, 4, 2, True)
    x = np.random.default_rng(4).standard_normal((3, 5, 3)).astype(np.float32)
    expected = model(x, [5, 4, 1])
    path = tmp_path / "gru.safetensors"
    model.save(path)
    for other in (lstmkit.GRU.load(path), pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert isinstance(other, lstmkit.GRU) and repr(other) == repr(model)
        got = other(x, [5, 4, 1])
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    # Each raw layer refuses the other's file, naming both kinds.
    with pytest.raises(lstmkit.ModelFormatError, match="gru.*lstm|lstm.*gru"):
        lstmkit.load(path)
    lstm_path = tmp_path / "lstm.safetensors"
    lstmkit.LSTM(3, 4).save(lstm_path)
    with pytest.raises(lstmkit.ModelFormatError, match="gru.*lstm|lstm.*gru"):
        lstmkit.GRU.load(lstm_path)
    with pytest.raises(OSError):
        lstmkit.GRU.load(tmp_path / "missing.safetensors")


def test_bad_input_raises_and_the_model_still_works():
    model, _ = make_gru(2, 3, 1, True)
    x = np.ones((2, 4, 2), np.float32)
    expected = model(x)
    bad_calls = [
        (ValueError, lambda: model(np.ones((2, 4, 3), np.float32))),
        (ValueError, lambda: model(np.ones((2, 4), np.float32))),
        (ValueError, lambda: model(np.ones((0, 4, 2), np.float32))),
        (ValueError, lambda: model(x, lengths=[4, 0])),
        (ValueError, lambda: model(x, lengths=[4, 5])),
        (ValueError, lambda: model(x, lengths=[4])),
        (TypeError, lambda: model(x, lengths=[4.0, 2.0])),
        (ValueError, lambda: model(x, h0=np.zeros((1, 2, 3), np.float32))),
        (ValueError, lambda: model(np.full((2, 4, 2), np.nan, np.float32))),
        (ValueError, lambda: model(x, h0=np.full((2, 2, 3), np.inf, np.float32))),
        (TypeError, lambda: model(np.array([["a"]]))),
        (KeyError, lambda: model.load_state_dict({"weight_ih_l5": np.zeros(3)})),
        (KeyError, lambda: model.load_state_dict({"weight_ih_l0": np.zeros((9, 2))})),
        (ValueError, lambda: model.load_state_dict({"weight_ih_l0": np.zeros((12, 2))}, strict=False)),
        (ValueError, lambda: lstmkit.GRU(0, 3)),
        (ValueError, lambda: lstmkit.GRU(2, 3, dropout=1.5)),
        (TypeError, lambda: lstmkit.GRU("2", 3)),
    ]
    for error, call in bad_calls:
        with pytest.raises(error):
            call()
    got = model(x)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_gru_forward_takes_no_cell_state():
    model = lstmkit.GRU(2, 3)
    with pytest.raises(TypeError):
        model(np.ones((1, 2, 2), np.float32), None, None, None)
    with pytest.raises(ValueError, match="c0"):
        model._handle.forward(np.ones((1, 2, 2), np.float32), None, None, np.zeros((1, 1, 3), np.float32))


def test_a_task_model_with_cell_gru_trains_saves_and_loads(tmp_path):
    """The GRU through a model's `cell` (the estimators' loop setting): the file records
    the cell and holds gru.* tensors with 3H rows, and the loaded model predicts the same."""
    from pathlib import Path

    rows = [line.split("\t", 1) for line in
            (Path(__file__).resolve().parents[3] / "Tests/Fixtures/text/en.tsv").read_text(encoding="utf-8").splitlines()]
    labels, texts = [r[0] for r in rows[:120]], [r[1] for r in rows[:120]]
    clf = lstmkit.TextClassifier(embedding_dim=8, hidden_size=8, attention_size=4, min_count=1, seed=3, cell="gru")
    clf.fit(texts, labels, epochs=2, progress=False)
    path = tmp_path / "text-gru.safetensors"
    clf.save(path)
    header = path.read_bytes()[8:8 + int.from_bytes(path.read_bytes()[:8], "little")].decode()
    assert '"cell":"gru"' in header and '"gru.weight_hh_l0"' in header and "[24,8]" in header
    back = lstmkit.TextClassifier.load(path)
    assert back.cell == "gru"
    np.testing.assert_array_equal(back.predict_proba(texts[:20]), clf.predict_proba(texts[:20]))
