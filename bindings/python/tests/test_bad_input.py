"""Bad input raises a clear Python exception, and the model keeps working afterwards."""

import json
import math
import struct

import numpy as np
import pytest

import lstmkit
from helpers import assert_still_works, run_isolated
from reference import random_params

# small_model (conftest): 2-layer BiLSTM, D=5, H=4; x (3, 6, 5); state (4, 3, 4)


def check(small_model, exception, match, call):
    """call(model, x, lengths) raises exception(match); the model still works after."""
    if match == "":
        match = None  # any message
    model, x, lengths, expected = small_model
    with pytest.raises(exception, match=match):
        call(model, x, lengths)
    assert_still_works(model, x, lengths, expected)


# -- x ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [(6, 5), (5,), (), (1, 3, 6, 5)],
    ids=["2-D", "1-D", "0-D", "4-D"],
)
def test_x_wrong_rank(small_model, shape):
    bad = np.zeros(shape, np.float32)
    check(small_model, ValueError, r"x must be a 3-D array", lambda m, x, n: m(bad))


def test_x_wrong_rank_message_names_shapes(small_model):
    model, *_ = small_model
    with pytest.raises(ValueError) as info:
        model(np.zeros((6, 5), np.float32))
    assert "(batch, steps, 5)" in str(info.value) and "(6, 5)" in str(info.value)


def test_x_wrong_feature_size(small_model):
    bad = np.zeros((2, 3, 7), np.float32)
    check(
        small_model,
        ValueError,
        r"^x must have shape \(batch, steps, 5\), got \(2, 3, 7\)$",
        lambda m, x, n: m(bad),
    )


@pytest.mark.parametrize("shape", [(0, 3, 5), (2, 0, 5), (0, 0, 5)])
def test_empty_batch_or_steps(small_model, shape):
    bad = np.zeros(shape, np.float32)
    check(small_model, ValueError, r"at least one sequence and one time step",
          lambda m, x, n: m(bad))


@pytest.mark.parametrize(
    "value",
    [
        np.zeros((3, 6, 5), np.complex64),
        np.zeros((3, 6, 5), np.complex128),
        np.full((3, 6, 5), None, dtype=object),
        np.full((3, 6, 5), "a"),
        np.full((3, 6, 5), b"a"),
        [[["1.0"] * 5] * 6] * 3,
        np.zeros((3, 6, 5), "datetime64[s]"),
    ],
    ids=["complex64", "complex128", "object", "unicode", "bytes", "list-of-str", "datetime"],
)
def test_x_wrong_dtype(small_model, value):
    check(small_model, TypeError, r"^x must be an array of real numbers",
          lambda m, x, n: m(value))


def test_x_object_array_of_numbers_is_still_rejected(small_model):
    value = np.ones((3, 6, 5), dtype=object)
    check(small_model, TypeError, r"x must be an array of real numbers", lambda m, x, n: m(value))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_x_non_finite(small_model, bad):
    def call(model, x, lengths):
        x = x.copy()
        x[1, 2, 3] = bad
        model(x, lengths)

    check(small_model, ValueError, r"x must hold finite values", call)


def test_x_float64_overflowing_float32(small_model):
    def call(model, x, lengths):
        big = np.zeros(x.shape)
        big[0, 0, 0] = 1e300
        model(big, lengths)

    check(small_model, ValueError, r"^x holds 1e\+300 \(flat index 0\), outside the float32 range$",
          call)


def test_x_integers_float32_cannot_hold(small_model):
    def call(model, x, lengths):
        big = np.zeros(x.shape, np.int64)
        big[0, 0, 0] = 2**24 + 1
        model(big, lengths)

    check(small_model, ValueError, r"x holds the integer 16777217", call)


def test_x_large_but_exact_integers_are_accepted(small_model):
    model, x, lengths, _ = small_model
    exact = np.zeros(x.shape, np.int64)
    exact[0, 0, 0] = 2**40  # a power of two: exact in float32
    exact[0, 0, 1] = -(2**24)
    y1 = model(exact, lengths)[0]
    y2 = model(exact.astype(np.float32), lengths)[0]
    np.testing.assert_array_equal(y1, y2)


def test_x_ragged_nested_list(small_model):
    check(small_model, ValueError, r"", lambda m, x, n: m([[[1.0] * 5], [[1.0] * 4]]))


# -- lengths ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lengths, match",
    [
        ([6, 2], r"lengths must have shape \(batch,\) = \(3,\), got \(2,\)"),
        ([6, 2, 4, 1], r"lengths must have shape \(batch,\) = \(3,\), got \(4,\)"),
        ([[6, 2, 4]], r"lengths must have shape \(batch,\) = \(3,\), got \(1, 3\)"),
        (6, r"lengths must have shape \(batch,\) = \(3,\), got \(\)"),
        ([], r"lengths must have shape \(batch,\) = \(3,\), got \(0,\)"),
        ([6, 0, 4], r"lengths\[1\] = 0 is out of range"),
        ([6, 2, 7], r"lengths\[2\] = 7 is out of range: every length must be in \[1, 6\]"),
        ([-1, 2, 4], r"lengths\[0\] = -1 is out of range"),
        ([6, 2, 2**31], r"lengths\[2\] = 2147483648 does not fit in int32"),
        ([6, 2, -(2**40)], r"does not fit in int32"),
        (np.array([6, 2, 2**63], np.uint64), r"does not fit in int32"),
    ],
)
def test_lengths_bad_values(small_model, lengths, match):
    check(small_model, ValueError, match, lambda m, x, n: m(x, lengths))


@pytest.mark.parametrize(
    "lengths",
    [[6.0, 2.0, 4.0], np.array([6, 2, 4], np.float32), [True, True, True], ["6", "2", "4"],
     np.array([6, 2, 4], np.complex64), [6, None, 4]],
    ids=["float-list", "float32", "bool", "str", "complex", "None-inside"],
)
def test_lengths_bad_dtype(small_model, lengths):
    check(small_model, TypeError, r"^lengths must be an array of integers",
          lambda m, x, n: m(x, lengths))


# -- state ------------------------------------------------------------------------------


def _state(shape=(4, 3, 4)):
    rng = np.random.default_rng(0)
    return rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "h_shape, c_shape, which",
    [
        ((2, 3, 4), (4, 3, 4), "h0"),  # L*K wrong
        ((4, 3, 4), (4, 2, 4), "c0"),  # batch wrong
        ((4, 3, 5), (4, 3, 4), "h0"),  # hidden wrong
        ((3, 4), (4, 3, 4), "h0"),  # rank
        ((4, 3, 4), (1, 4, 3, 4), "c0"),
    ],
)
def test_state_bad_shapes(small_model, h_shape, c_shape, which):
    h0, c0 = _state(h_shape)[0], _state(c_shape)[1]
    got = h_shape if which == "h0" else c_shape
    match = rf"^{which} must have shape .* = \(4, 3, 4\), got \({', '.join(map(str, got))}\)$"
    check(small_model, ValueError, match, lambda m, x, n: m(x, n, (h0, c0)))


def test_state_only_one_given(small_model):
    h0, _ = _state()
    check(small_model, ValueError, r"both h0 and c0", lambda m, x, n: m(x, n, (h0, None)))
    check(small_model, ValueError, r"h0 and c0 must be given together",
          lambda m, x, n: m._handle.forward(x, n, h0, None))


@pytest.mark.parametrize("state", [np.zeros((4, 3, 4)), (np.zeros((4, 3, 4)),), "hc"])
def test_state_not_a_pair(small_model, state):
    check(small_model, TypeError, r"state must be a tuple \(h0, c0\)",
          lambda m, x, n: m(x, n, state))


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_state_non_finite(small_model, which, bad):
    state = list(_state())
    state[which] = state[which].copy()
    state[which][3, 2, 1] = bad
    name = "h0" if which == 0 else "c0"
    check(small_model, ValueError, rf"^{name} must hold finite values",
          lambda m, x, n: m(x, n, tuple(state)))


def test_state_complex(small_model):
    h0, c0 = _state()
    check(small_model, TypeError, r"^c0 must be an array of real numbers",
          lambda m, x, n: m(x, n, (h0, c0.astype(np.complex64))))


# -- load_state_dict --------------------------------------------------------------------


def _params():
    return random_params(np.random.default_rng(21), 5, 4, 2, True)


def test_unknown_keys_are_listed(small_model):
    def call(model, x, lengths):
        d = _params()
        d["weight_ih_l2"] = d["weight_ih_l0"]
        d["bogus"] = np.zeros(3)
        model.load_state_dict(d)

    check(small_model, KeyError, r"unknown parameter names \['weight_ih_l2', 'bogus'\]", call)


def test_unknown_keys_rejected_even_when_not_strict(small_model):
    check(small_model, KeyError, r"unknown parameter names \['extra'\]",
          lambda m, x, n: m.load_state_dict({"extra": np.zeros(1)}, strict=False))


def test_missing_keys_are_listed(small_model):
    def call(model, x, lengths):
        d = _params()
        del d["bias_hh_l1_reverse"]
        del d["weight_ih_l0"]
        model.load_state_dict(d)

    check(small_model, KeyError, r"missing parameters \['weight_ih_l0', 'bias_hh_l1_reverse'\]",
          call)


@pytest.mark.parametrize(
    "name, shape",
    [("weight_ih_l0", (16, 4)), ("weight_ih_l1", (16, 4)), ("weight_hh_l0_reverse", (4, 16)),
     ("bias_ih_l0", (16, 1)), ("bias_hh_l1", (15,))],
)
def test_wrong_parameter_shape(small_model, name, shape):
    shapes = {"weight_ih_l0": (16, 5), "weight_ih_l1": (16, 8), "weight_hh_l0_reverse": (16, 4),
              "bias_ih_l0": (16,), "bias_hh_l1": (16,)}

    def call(model, x, lengths):
        d = _params()
        d[name] = np.zeros(shape, np.float32)
        model.load_state_dict(d)

    want = ", ".join(map(str, shapes[name])) + ("," if len(shapes[name]) == 1 else "")
    got = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    check(small_model, ValueError, rf"^{name} must have shape \({want}\), got \({got}\)$", call)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_weights(small_model, bad):
    def call(model, x, lengths):
        d = _params()
        d["weight_hh_l1"] = d["weight_hh_l1"].copy()
        d["weight_hh_l1"][2, 3] = bad
        model.load_state_dict(d)

    check(small_model, ValueError, r"^weight_hh_l1 must hold finite values", call)


def test_complex_weights(small_model):
    def call(model, x, lengths):
        d = _params()
        d["bias_ih_l0"] = d["bias_ih_l0"].astype(np.complex64)
        model.load_state_dict(d)

    check(small_model, TypeError, r"^bias_ih_l0 must be an array of real numbers", call)


def test_failed_load_state_dict_changes_nothing(small_model):
    """All values are checked before any is set: a late bad value leaves the model as it was."""
    model, x, lengths, expected = small_model
    before = model.state_dict()
    d = _params()
    d["bias_hh_l1_reverse"] = np.full(16, np.nan, np.float32)  # the last one in order
    with pytest.raises(ValueError):
        model.load_state_dict(d)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert_still_works(model, x, lengths, expected)


def test_set_params_unknown_name_is_key_error(small_model):
    check(small_model, KeyError, r"", lambda m, x, n: m._handle.set_params([("nope", np.zeros(16, np.float32))]))


def test_state_dict_must_be_a_mapping(small_model):
    check(small_model, TypeError, r"state_dict must be a mapping",
          lambda m, x, n: m.load_state_dict([("weight_ih_l0", np.zeros((16, 5)))]))


# -- constructor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exception",
    [
        (dict(input_size=4, hidden_size=0), ValueError),
        (dict(input_size=4, hidden_size=-3), ValueError),
        (dict(input_size=0, hidden_size=3), ValueError),
        (dict(input_size=-1, hidden_size=3), ValueError),
        (dict(input_size=4, hidden_size=3, num_layers=0), ValueError),
        (dict(input_size=4, hidden_size=3, num_layers=-2), ValueError),
        (dict(input_size=4, hidden_size=3, bidirectional=2), ValueError),
        (dict(input_size=4, hidden_size=3, dropout=math.nan), ValueError),
        (dict(input_size=4, hidden_size=3, dropout=1.5), ValueError),
        (dict(input_size=4, hidden_size=3, dropout=1.0), ValueError),
        (dict(input_size=4, hidden_size=3, dropout=-0.1), ValueError),
        (dict(input_size=4, hidden_size=3, dropout=math.inf), ValueError),
        (dict(input_size=4, hidden_size=2**40), ValueError),
        (dict(input_size=4, hidden_size=3, seed=-1), ValueError),
        (dict(input_size=4, hidden_size=3, seed=2**64), ValueError),
        (dict(input_size=4.0, hidden_size=3), TypeError),
        (dict(input_size=4, hidden_size="3"), TypeError),
        (dict(input_size=4, hidden_size=3, dropout="0.1"), TypeError),
        (dict(input_size=4, hidden_size=3, seed=1.5), TypeError),
    ],
)
def test_constructor_errors(kwargs, exception):
    with pytest.raises(exception):
        lstmkit.LSTM(**kwargs)
    assert lstmkit.LSTM(4, 3).hidden_size == 3  # the library still works


@pytest.mark.parametrize(
    "sizes", [(2**30, 2**30), (2**31 - 1, 2**31 - 1), (1, 2**31 - 1), (2**31 - 1, 1)]
)
def test_constructor_too_large_is_refused_cleanly(sizes):
    """Sizes whose weights cannot exist: MemoryError or ValueError, not a crash.

    Run in a child process, so a crash in the library fails this test only."""
    out = run_isolated(
        "import lstmkit\n"
        "try:\n"
        f"    lstmkit.LSTM({sizes[0]}, {sizes[1]}, num_layers=2, bidirectional=True)\n"
        "except (MemoryError, ValueError) as exc:\n"
        "    print('refused:', type(exc).__name__, exc)\n"
        "else:\n"
        "    print('created')\n"
        "print(lstmkit.LSTM(2, 3).hidden_size)\n"
    )
    assert out.startswith("refused: "), out
    assert out.rstrip().endswith("3")


def test_set_num_threads_bad():
    before = lstmkit.get_num_threads()
    for n, exception in [(0, ValueError), (-1, ValueError), (2**40, ValueError), (1.5, TypeError)]:
        with pytest.raises(exception):
            lstmkit.set_num_threads(n)
    with pytest.raises(ValueError):
        lstmkit._native.set_num_threads(0)
    assert lstmkit.get_num_threads() == before


# -- model files ------------------------------------------------------------------------


def _read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _write_safetensors(path, header, data, pad_to=None):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad_to is not None and len(text) <= pad_to:  # keep the data where it was
        text += b" " * (pad_to - len(text))
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


@pytest.fixture
def saved(small_model, tmp_path):
    model = small_model[0]
    path = tmp_path / "model.safetensors"
    model.save(path)
    return path


def test_load_missing_file(small_model, tmp_path):
    check(small_model, OSError, r"", lambda m, x, n: lstmkit.load(tmp_path / "missing.safetensors"))


def test_load_directory(small_model, tmp_path):
    check(small_model, (OSError, ValueError), r"", lambda m, x, n: lstmkit.load(tmp_path))


def test_load_path_with_nul(small_model, tmp_path):
    check(small_model, ValueError, r"", lambda m, x, n: lstmkit.load(str(tmp_path) + "/a\0b"))


def test_save_into_missing_directory(small_model, tmp_path):
    check(small_model, OSError, r"", lambda m, x, n: m.save(tmp_path / "no" / "such" / "m.safetensors"))
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("keep", [0, 3, 8, 20, -1, -4])
def test_load_truncated_file(small_model, saved, keep):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:keep] if keep >= 0 else raw[: len(raw) + keep])
    check(small_model, lstmkit.ModelFormatError, r"", lambda m, x, n: lstmkit.load(saved))


@pytest.mark.parametrize(
    "content",
    [b"\x00" * 64, b"hello, this is not a model file at all" * 4,
     np.random.default_rng(1).bytes(4096), b"\xff" * 8 + b"{}"],
    ids=["zeros", "text", "random", "huge-length"],
)
def test_load_garbage_file(small_model, tmp_path, content):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(content)
    check(small_model, ValueError, r"", lambda m, x, n: lstmkit.load(path))
    with pytest.raises(lstmkit.ModelFormatError):
        lstmkit.load(path)


def test_saved_file_is_standard_safetensors(small_model, saved):
    """8-byte little-endian header length, JSON header, little-endian float32 data."""
    model = small_model[0]
    header, data = _read_safetensors(saved)
    sd = model.state_dict()
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert set(tensors) == set(sd)
    for name, info in tensors.items():
        assert info["dtype"] == "F32"
        assert tuple(info["shape"]) == sd[name].shape
        start, end = info["data_offsets"]
        value = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
        np.testing.assert_array_equal(value, sd[name])


def _altered(saved, change):
    """Rewrites the header of a saved model with change(header) applied."""
    raw = saved.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = _read_safetensors(saved)
    change(header)
    _write_safetensors(saved, header, data, pad_to=n)


def _first_tensor(header):
    return next(k for k in header if k != "__metadata__")


ALTERATIONS = {
    "shape": lambda h: h["weight_ih_l0"].__setitem__("shape", [16, 6]),
    "shape-rank": lambda h: h["bias_ih_l0"].__setitem__("shape", [4, 4]),
    "dtype-F64": lambda h: h["weight_hh_l0"].__setitem__("dtype", "F64"),
    "dtype-F16": lambda h: h["bias_hh_l0"].__setitem__("dtype", "F16"),
    "dtype-bogus": lambda h: h["bias_hh_l0"].__setitem__("dtype", "Q7"),
    "offsets-past-end": lambda h: h["bias_hh_l1"].__setitem__("data_offsets", [10**9, 10**9 + 64]),
    "offsets-reversed": lambda h: h["bias_hh_l1"].__setitem__(
        "data_offsets", h["bias_hh_l1"]["data_offsets"][::-1]),
    "offsets-wrong-size": lambda h: h["bias_ih_l1"].__setitem__(
        "data_offsets", [h["bias_ih_l1"]["data_offsets"][0], h["bias_ih_l1"]["data_offsets"][0] + 4]),
    "tensor-missing": lambda h: h.pop("weight_hh_l1_reverse"),
    "tensor-renamed": lambda h: h.__setitem__("weight_hh_l7", h.pop("weight_hh_l1")),
    "metadata-missing": lambda h: h.pop("__metadata__", None) and None,
}


@pytest.mark.parametrize("what", list(ALTERATIONS))
def test_load_altered_header(small_model, saved, what):
    """A file with the right layout but an inconsistent header is refused."""
    header, _ = _read_safetensors(saved)
    if what == "metadata-missing" and "__metadata__" not in header:
        pytest.fail("the saved file has no __metadata__ (model kind, sizes): DESIGN.md wants it")
    _altered(saved, ALTERATIONS[what])
    check(small_model, lstmkit.ModelFormatError, r"", lambda m, x, n: lstmkit.load(saved))


def test_load_altered_metadata_sizes(small_model, saved):
    """Hyper-parameters in __metadata__ that contradict the tensors are refused."""
    header, _ = _read_safetensors(saved)
    meta = header.get("__metadata__")
    assert meta, "the saved file has no __metadata__"
    changed = False
    for key in list(meta):
        if "hidden" in key.lower() and str(meta[key]).isdigit():
            meta[key] = str(int(meta[key]) + 1)
            changed = True
    assert changed, f"no hidden-size entry in __metadata__: {meta}"
    _write_safetensors(saved, header, _read_safetensors(saved)[1])
    check(small_model, lstmkit.ModelFormatError, r"", lambda m, x, n: lstmkit.load(saved))


def test_load_header_length_altered(small_model, saved):
    raw = bytearray(saved.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    for bad in (n + 1, n - 1, len(raw), 2**63, 0):
        raw[:8] = struct.pack("<Q", bad)
        saved.write_bytes(bytes(raw))
        check(small_model, lstmkit.ModelFormatError, r"", lambda m, x, n: lstmkit.load(saved))


def test_load_non_finite_weights_in_file(small_model, saved):
    header, data = _read_safetensors(saved)
    start, _ = header["weight_ih_l0"]["data_offsets"]
    data = bytearray(data)
    data[start : start + 4] = struct.pack("<f", math.nan)
    _write_safetensors(saved, header, bytes(data))
    check(small_model, lstmkit.ModelFormatError, r"", lambda m, x, n: lstmkit.load(saved))


@pytest.mark.parametrize(
    "key, value",
    [("hidden_size", "2147483647"), ("hidden_size", "1073741824"), ("input_size", "2147483647"),
     ("num_layers", "2147483647"), ("hidden_size", "99999999999999999999"), ("hidden_size", "-4"),
     ("num_layers", "0"), ("dropout", "nan"), ("bidirectional", "maybe"), ("kind", "tokenizer"),
     ("format_version", "999")],
)
def test_load_crafted_metadata(small_model, saved, key, value):
    """Hyper-parameters in a crafted file are checked like the constructor's arguments:
    ModelFormatError, never a crash (run in a child process so a crash fails this only)."""
    header, data = _read_safetensors(saved)
    assert key in header["__metadata__"], header["__metadata__"]
    header["__metadata__"][key] = value
    _write_safetensors(saved, header, data)
    out = run_isolated(
        "import lstmkit\n"
        "try:\n"
        f"    lstmkit.load({str(saved)!r})\n"
        "except lstmkit.ModelFormatError as exc:\n"
        "    print('refused:', exc)\n"
        "else:\n"
        "    print('loaded')\n"
    )
    assert out.startswith("refused: "), out


@pytest.mark.parametrize("value", ["2147483648", "99999999999999999999", "-1", "x"])
def test_lstmkit_num_threads_out_of_range_is_ignored_at_import(value):
    # issue 17: LSTMKIT_NUM_THREADS=2147483648 was a trap (SIGILL) at import
    out = run_isolated("import os; os.environ['LSTMKIT_NUM_THREADS'] = %r; os.environ['OPENBLAS_NUM_THREADS'] = '1'\n"
                       "import lstmkit; print(lstmkit.get_num_threads())" % value)
    assert out.strip() == "1"
