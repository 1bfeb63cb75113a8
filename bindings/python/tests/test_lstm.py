"""lstmkit.LSTM against the independent NumPy reference (reference.py)."""

import math

import numpy as np
import pytest

import lstmkit
from helpers import make_model, run_isolated
from reference import lstm_reference, param_names, param_shapes, random_params

TOL = dict(rtol=1e-5, atol=1e-5)

# (input_size, hidden_size, num_layers, bidirectional): sizes 1 and odd numbers included
CONFIGS = [
    (1, 1, 1, False),
    (1, 1, 1, True),
    (3, 5, 1, False),
    (3, 5, 2, True),
    (7, 1, 2, False),
    (1, 9, 3, True),
    (8, 16, 3, True),
    (5, 13, 2, False),
    (11, 3, 3, False),
]


def config_id(config):
    d, h, layers, bi = config
    return f"D{d}-H{h}-L{layers}-{'bi' if bi else 'uni'}"


def compare(model, params, config, x, lengths=None, state=None):
    d, h, layers, bi = config
    if state is None:
        y, (h_n, c_n) = model(x, lengths)
        ref = lstm_reference(params, x, lengths, num_layers=layers, bidirectional=bi)
    else:
        y, (h_n, c_n) = model(x, lengths, state)
        ref = lstm_reference(params, x, lengths, *state, num_layers=layers, bidirectional=bi)
    k = 2 if bi else 1
    batch, steps = x.shape[:2]
    assert y.dtype == np.float32 and y.shape == (batch, steps, k * h)
    assert h_n.dtype == np.float32 and h_n.shape == (layers * k, batch, h)
    assert c_n.dtype == np.float32 and c_n.shape == (layers * k, batch, h)
    np.testing.assert_allclose(y, ref[0], **TOL)
    np.testing.assert_allclose(h_n, ref[1], **TOL)
    np.testing.assert_allclose(c_n, ref[2], **TOL)
    return y, h_n, c_n


# -- the reference itself --------------------------------------------------------------


def test_reference_one_step_by_hand():
    """D = H = 1, one step from zero state: c = i*g, h = o*tanh(c)."""
    params = {
        "weight_ih_l0": np.array([[0.5], [-0.25], [1.0], [2.0]]),
        "weight_hh_l0": np.array([[0.3], [0.1], [-0.7], [0.2]]),
        "bias_ih_l0": np.array([0.1, 0.2, 0.3, 0.4]),
        "bias_hh_l0": np.array([-0.05, 0.0, 0.1, 0.0]),
    }
    x = np.array([[[1.5]]])
    sig = lambda z: 1.0 / (1.0 + math.exp(-z))  # noqa: E731
    i = sig(0.5 * 1.5 + 0.1 - 0.05)
    g = math.tanh(1.0 * 1.5 + 0.3 + 0.1)
    o = sig(2.0 * 1.5 + 0.4)
    c = i * g
    h = o * math.tanh(c)
    y, h_n, c_n = lstm_reference(params, x, num_layers=1, bidirectional=False)
    assert y[0, 0, 0] == pytest.approx(h, abs=1e-15)
    assert h_n[0, 0, 0] == pytest.approx(h, abs=1e-15)
    assert c_n[0, 0, 0] == pytest.approx(c, abs=1e-15)


def test_reference_padding_equals_unpadded_runs(rng):
    """With lengths, each sequence gives what it gives alone, unpadded."""
    config = (3, 4, 2, True)
    params = random_params(rng, *config)
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 1, 4])
    y, h_n, c_n = lstm_reference(params, x, lengths, num_layers=2, bidirectional=True)
    for b, n in enumerate(lengths):
        y1, h1, c1 = lstm_reference(params, x[b : b + 1, :n], num_layers=2, bidirectional=True)
        np.testing.assert_allclose(y[b, :n], y1[0], rtol=1e-12, atol=1e-12)
        assert np.all(y[b, n:] == 0.0)
        np.testing.assert_allclose(h_n[:, b], h1[:, 0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c_n[:, b], c1[:, 0], rtol=1e-12, atol=1e-12)


# -- lstmkit against the reference ------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "initial-state"])
def test_matches_reference(config, ragged, with_state):
    d, h, layers, bi = config
    seed = 4 * CONFIGS.index(config) + 2 * ragged + with_state
    rng = np.random.default_rng(seed)
    model, params = make_model(d, h, layers, bi, seed=seed)
    batch, steps = 4, 7
    x = rng.standard_normal((batch, steps, d)).astype(np.float32)
    lengths = np.array([7, 1, 4, 6], dtype=np.int32) if ragged else None
    state = None
    if with_state:
        k = 2 if bi else 1
        h0 = rng.standard_normal((layers * k, batch, h)).astype(np.float32)
        c0 = rng.standard_normal((layers * k, batch, h)).astype(np.float32)
        state = (h0, c0)
    compare(model, params, config, x, lengths, state)


def test_single_sequence_single_step():
    config = (2, 3, 1, True)
    model, params = make_model(*config, seed=5)
    x = np.array([[[0.25, -1.5]]], dtype=np.float32)
    compare(model, params, config, x)


def test_larger_batch_matches_reference():
    """Sizes where the BLAS path has real work: B=16, T=40, D=32, H=48."""
    config = (32, 48, 2, True)
    model, params = make_model(*config, seed=9)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((16, 40, 32)).astype(np.float32)
    lengths = rng.integers(1, 41, size=16).astype(np.int32)
    lengths[0] = 40
    compare(model, params, config, x, lengths)


def test_padding_outputs_zero_and_final_state_at_each_last_step():
    """Checked on lstmkit's own outputs, without the reference."""
    model, _ = make_model(3, 5, num_layers=2, bidirectional=True, seed=2)
    x = np.random.default_rng(4).standard_normal((3, 5, 3)).astype(np.float32)
    lengths = np.array([5, 2, 3])
    y, (h_n, _) = model(x, lengths)
    for b, n in enumerate(lengths):
        assert np.all(y[b, n:] == 0.0)
        assert np.all(y[b, :n] != 0.0)
        # last layer: forward state after step n-1, reverse state after step 0
        np.testing.assert_array_equal(h_n[2, b], y[b, n - 1, :5])
        np.testing.assert_array_equal(h_n[3, b], y[b, 0, 5:])


def test_padding_does_not_change_results():
    """A sequence padded with garbage gives the same as the unpadded one."""
    model, _ = make_model(4, 6, num_layers=2, bidirectional=True, seed=12)
    rng = np.random.default_rng(13)
    short = rng.standard_normal((1, 3, 4)).astype(np.float32)
    padded = np.concatenate([short, 100 * rng.standard_normal((1, 4, 4)).astype(np.float32)], 1)
    y1, (h1, c1) = model(short)
    y2, (h2, c2) = model(padded, [3])
    np.testing.assert_allclose(y2[:, :3], y1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h2, h1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c2, c1, rtol=1e-6, atol=1e-6)


def test_lengths_none_equals_all_full_lengths():
    model, _ = make_model(3, 4, num_layers=2, seed=1)
    x = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    a = model(x)
    b = model(x, np.array([5, 5]))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1][0], b[1][0])
    np.testing.assert_array_equal(a[1][1], b[1][1])


def test_state_is_carried_across_calls():
    """Running T steps at once equals two chunks with (h_n, c_n) carried (truncated BPTT)."""
    model, _ = make_model(3, 4, num_layers=2, seed=6)
    x = np.random.default_rng(7).standard_normal((2, 8, 3)).astype(np.float32)
    y, (h, c) = model(x)
    y1, state = model(x[:, :5])
    y2, (h2, c2) = model(x[:, 5:], state=state)
    np.testing.assert_allclose(np.concatenate([y1, y2], 1), y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h2, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c2, c, rtol=1e-6, atol=1e-6)


# -- input conversion -------------------------------------------------------------------


def test_input_dtypes_and_layouts_are_converted():
    model, _ = make_model(3, 4, bidirectional=True, seed=8)
    x = np.random.default_rng(9).standard_normal((2, 5, 3)).astype(np.float32)
    expected = model(x)[0]
    variants = {
        "float64": x.astype(np.float64),
        "list": x.tolist(),
        "fortran": np.asfortranarray(x),
        "strided": np.repeat(x, 2, axis=2)[:, :, ::2],
        "big-endian": x.astype(">f4"),
    }
    for name, value in variants.items():
        np.testing.assert_array_equal(model(value)[0], expected, err_msg=name)
    ints = np.arange(30).reshape(2, 5, 3) - 15
    np.testing.assert_array_equal(model(ints)[0], model(ints.astype(np.float32))[0])
    bools = ints > 0
    np.testing.assert_array_equal(model(bools)[0], model(bools.astype(np.float32))[0])
    lengths_variants = [[5, 3], np.array([5, 3], np.int64), np.array([5, 3], np.uint8), (5, 3)]
    ref = model(x, np.array([5, 3], np.int32))[0]
    for lengths in lengths_variants:
        np.testing.assert_array_equal(model(x, lengths)[0], ref)


def test_inputs_are_not_modified():
    model, _ = make_model(3, 4, num_layers=2, bidirectional=True, seed=8)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    h0 = rng.standard_normal((4, 2, 4)).astype(np.float32)
    c0 = rng.standard_normal((4, 2, 4)).astype(np.float32)
    lengths = np.array([5, 2], np.int32)
    copies = [a.copy() for a in (x, h0, c0, lengths)]
    model(x, lengths, (h0, c0))
    for before, after in zip(copies, (x, h0, c0, lengths)):
        np.testing.assert_array_equal(before, after)


def test_outputs_are_fresh_arrays():
    model, _ = make_model(2, 3, seed=1)
    x = np.ones((1, 2, 2), np.float32)
    y1, (h1, _) = model(x)
    y1[...] = 42.0
    h1[...] = 42.0
    y2, (h2, _) = model(x)
    assert not np.any(y2 == 42.0) and not np.any(h2 == 42.0)
    assert y2.flags.c_contiguous and y2.flags.writeable and y2.flags.owndata


# -- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_state_dict_names_shapes_and_order_are_pytorchs(config):
    model = lstmkit.LSTM(*config[:2], num_layers=config[2], bidirectional=config[3])
    sd = model.state_dict()
    assert list(sd) == param_names(config[2], config[3])
    assert model.param_names() == list(sd)
    shapes = param_shapes(*config)
    for name, value in sd.items():
        assert isinstance(value, np.ndarray) and value.dtype == np.float32
        assert value.shape == shapes[name], name


def test_state_dict_round_trip_is_exact(rng):
    config = (5, 7, 2, True)
    params = random_params(rng, *config)
    model = lstmkit.LSTM(5, 7, num_layers=2, bidirectional=True)
    model.load_state_dict(params)
    sd = model.state_dict()
    assert list(sd) == list(params)
    for name in params:
        np.testing.assert_array_equal(sd[name], params[name])
    # a second model fed with the first one's state_dict computes the same
    other = lstmkit.LSTM(5, 7, num_layers=2, bidirectional=True, seed=99)
    other.load_state_dict(sd)
    x = rng.standard_normal((2, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(model(x)[0], other(x)[0])


def test_state_dict_returns_copies():
    model = lstmkit.LSTM(2, 3)
    sd = model.state_dict()
    original = sd["weight_ih_l0"].copy()
    sd["weight_ih_l0"][...] = 7.0
    np.testing.assert_array_equal(model.state_dict()["weight_ih_l0"], original)


def test_load_state_dict_does_not_keep_caller_arrays(rng):
    params = random_params(rng, 2, 3, 1, False)
    model = lstmkit.LSTM(2, 3)
    model.load_state_dict(params)
    params["bias_ih_l0"][...] = 5.0
    assert not np.any(model.state_dict()["bias_ih_l0"] == 5.0)


def test_load_state_dict_partial_with_strict_false(rng):
    model = lstmkit.LSTM(2, 3, seed=4)
    before = model.state_dict()
    new_bias = rng.standard_normal(12).astype(np.float32)
    result = model.load_state_dict({"bias_hh_l0": new_bias}, strict=False)
    assert result.missing_keys == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0"]
    assert result.unexpected_keys == []
    after = model.state_dict()
    np.testing.assert_array_equal(after["bias_hh_l0"], new_bias)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0"):
        np.testing.assert_array_equal(after[name], before[name])


def test_load_state_dict_accepts_torch_like_tensors(rng):
    """Objects with .detach().cpu().numpy() (torch tensors) are accepted."""

    class FakeTensor:
        def __init__(self, array):
            self.array = array
            self.calls = []

        def detach(self):
            self.calls.append("detach")
            return self

        def cpu(self):
            self.calls.append("cpu")
            return self

        def numpy(self):
            self.calls.append("numpy")
            return self.array

    params = random_params(rng, 3, 2, 1, True)
    tensors = {name: FakeTensor(value) for name, value in params.items()}
    model = lstmkit.LSTM(3, 2, bidirectional=True)
    model.load_state_dict(tensors)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, params[name])
        assert tensors[name].calls == ["detach", "cpu", "numpy"]


def test_package_does_not_import_torch():
    code = "import sys, lstmkit; lstmkit.LSTM(2, 3); print('torch' in sys.modules)"
    assert run_isolated(code).strip() == "False"


# -- initialisation ---------------------------------------------------------------------


def test_same_seed_same_weights_different_seed_different_weights():
    a = lstmkit.LSTM(4, 6, num_layers=2, bidirectional=True, seed=123).state_dict()
    b = lstmkit.LSTM(4, 6, num_layers=2, bidirectional=True, seed=123).state_dict()
    c = lstmkit.LSTM(4, 6, num_layers=2, bidirectional=True, seed=124).state_dict()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name]), name


def test_same_seed_same_outputs():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    a = lstmkit.LSTM(4, 6, seed=5)(x)[0]
    b = lstmkit.LSTM(4, 6, seed=5)(x)[0]
    c = lstmkit.LSTM(4, 6, seed=6)(x)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("hidden", [1, 4, 25])
def test_initial_weights_are_uniform_in_pytorch_range(hidden):
    bound = 1.0 / math.sqrt(hidden)
    sd = lstmkit.LSTM(200, hidden, num_layers=2, bidirectional=True, seed=3).state_dict()
    values = np.concatenate([v.ravel() for v in sd.values()])
    assert np.all(np.abs(values) <= bound)
    # spread over the range, not a constant: a uniform sample fills it
    assert values.min() < -0.9 * bound and values.max() > 0.9 * bound
    assert abs(values.mean()) < 0.05 * bound
    assert np.std(values) == pytest.approx(bound / math.sqrt(3), rel=0.1)


# -- attributes, repr, module ----------------------------------------------------------


def test_attributes_and_repr():
    model = lstmkit.LSTM(8, 16, num_layers=2, bidirectional=True, dropout=0.1, seed=3)
    assert (model.input_size, model.hidden_size, model.num_layers) == (8, 16, 2)
    assert model.bidirectional is True
    assert model.dropout == 0.1
    assert repr(lstmkit.LSTM(8, 16, num_layers=2, bidirectional=True)) == (
        "LSTM(8, 16, num_layers=2, bidirectional=True)"
    )
    assert repr(lstmkit.LSTM(3, 4)) == "LSTM(3, 4)"
    assert repr(model) == "LSTM(8, 16, num_layers=2, bidirectional=True, dropout=0.1)"


def test_dropout_does_not_change_inference():
    params = random_params(np.random.default_rng(1), 3, 4, 2, False)
    plain = lstmkit.LSTM(3, 4, num_layers=2)
    dropped = lstmkit.LSTM(3, 4, num_layers=2, dropout=0.5)
    plain.load_state_dict(params)
    dropped.load_state_dict(params)
    x = np.random.default_rng(2).standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(plain(x)[0], dropped(x)[0])


def test_version_and_threads():
    from lstmkit import _native

    assert lstmkit.__version__ == _native.HEADER_VERSION
    assert all(part.isdigit() for part in lstmkit.__version__.split("."))
    assert _native.ABI_VERSION >= 1  # the import refuses a library of another ABI version
    before = lstmkit.get_num_threads()
    try:
        lstmkit.set_num_threads(1)
        assert lstmkit.get_num_threads() == 1
        lstmkit.set_num_threads(2)
        assert lstmkit.get_num_threads() == 2
    finally:
        lstmkit.set_num_threads(before)
    assert lstmkit.get_num_threads() == before


def test_results_do_not_depend_on_thread_count():
    model, _ = make_model(16, 32, num_layers=2, bidirectional=True, seed=3)
    x = np.random.default_rng(3).standard_normal((8, 12, 16)).astype(np.float32)
    before = lstmkit.get_num_threads()
    try:
        lstmkit.set_num_threads(1)
        one = model(x)[0]
        lstmkit.set_num_threads(2)
        two = model(x)[0]
    finally:
        lstmkit.set_num_threads(before)
    np.testing.assert_allclose(one, two, rtol=1e-6, atol=1e-6)


def test_model_format_error_is_a_value_error():
    assert issubclass(lstmkit.ModelFormatError, ValueError)
    assert lstmkit.ModelFormatError.__module__ == "lstmkit"
