"""lstmkit.GRU against torch.nn.GRU itself (a bench check, not a test: PyTorch is never a
dependency of LSTMKit or its test suite). Run: python3 -m pytest -s bench/gru_vs_torch_test.py

Validates both lstmkit.GRU and the NumPy reference (bindings/python/tests/reference.py)
against torch.nn.GRU(batch_first=True) with pack_padded_sequence: forward output and h_n
within 1e-5 on ragged, bidirectional, multi-layer batches, with and without h0; and
that state_dicts move both ways unchanged. At the end it prints the largest difference
seen between lstmkit and torch. (Gradients: the Python GRU is inference only; the
engine's backward is checked against finite differences in Tests/LSTMKitTests/GRUTests.swift.)
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bindings" / "python" / "tests"))
import lstmkit  # noqa: E402
from reference import gru_reference  # noqa: E402

torch = pytest.importorskip("torch")

CONFIGS = [(1, 1, 1, False), (3, 5, 2, True), (8, 16, 3, True), (7, 9, 2, False), (32, 64, 2, True)]
WORST = {"y": 0.0, "h_n": 0.0}


def torch_forward(module, x, lengths, h0):
    xt = torch.from_numpy(x)
    hx = None if h0 is None else torch.from_numpy(h0)
    with torch.no_grad():
        if lengths is None:
            y, h = module(xt, hx)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                xt, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
            out, h = module(packed, hx)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return y.numpy(), h.numpy()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"D{c[0]}-H{c[1]}-L{c[2]}-{c[3]}")
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_matches_torch(config, ragged, with_h0):
    d, h, layers, bi = config
    torch.manual_seed(CONFIGS.index(config))
    module = torch.nn.GRU(d, h, num_layers=layers, bidirectional=bi, batch_first=True)
    model = lstmkit.GRU(d, h, num_layers=layers, bidirectional=bi)
    model.load_state_dict(module.state_dict())  # torch tensors, taken as they are

    rng = np.random.default_rng(5)
    batch, steps, k = 5, 7, 2 if bi else 1
    x = rng.standard_normal((batch, steps, d)).astype(np.float32)
    lengths = np.array([7, 2, 5, 1, 6]) if ragged else None
    h0 = rng.standard_normal((layers * k, batch, h)).astype(np.float32) if with_h0 else None

    expected = torch_forward(module, x, lengths, h0)
    y, h_n = model(x, lengths, h0)
    params = {name: t.detach().numpy() for name, t in module.state_dict().items()}
    ref = gru_reference(params, x, lengths, h0, num_layers=layers, bidirectional=bi)
    for name, got, want, r in zip(("y", "h_n"), (y, h_n), expected, ref):
        WORST[name] = max(WORST[name], float(np.abs(got - want).max()))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r, want, rtol=1e-5, atol=1e-5)


def test_state_dict_names_order_and_shapes_equal_torchs():
    for d, h, layers, bi in CONFIGS:
        module = torch.nn.GRU(d, h, num_layers=layers, bidirectional=bi, batch_first=True)
        ours = lstmkit.GRU(d, h, num_layers=layers, bidirectional=bi).state_dict()
        theirs = module.state_dict()
        assert list(ours) == list(theirs)
        assert [v.shape for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]


def test_lstmkit_weights_load_into_torch():
    model = lstmkit.GRU(4, 6, num_layers=2, bidirectional=True, seed=3)
    module = torch.nn.GRU(4, 6, num_layers=2, bidirectional=True, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)
    y, h_n = model(x)
    want = torch_forward(module, x, None, None)
    np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_n, want[1], rtol=1e-5, atol=1e-5)


def test_report_worst_difference():
    """Runs last (file order): prints the largest |lstmkit - torch| of the cases above."""
    print(f"\nlstmkit.GRU vs torch.nn.GRU {torch.__version__}: max |dy| = {WORST['y']:.3g}, "
          f"max |dh_n| = {WORST['h_n']:.3g} over {len(CONFIGS) * 4} cases (bar 1e-5)")
    assert max(WORST.values()) <= 1e-5
