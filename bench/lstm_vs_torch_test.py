"""Cross-check with PyTorch itself (a bench check, not a test: PyTorch is never a
dependency of LSTMKit or its test suite). Run: python3 -m pytest bench/lstm_vs_torch_test.py

Validates both lstmkit and the NumPy reference against torch.nn.LSTM(batch_first=True)
with pack_padded_sequence, and that state_dicts move both ways unchanged.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bindings" / "python" / "tests"))
import lstmkit  # noqa: E402
from reference import lstm_reference  # noqa: E402

torch = pytest.importorskip("torch")

CONFIGS = [(1, 1, 1, False), (3, 5, 2, True), (8, 16, 3, True), (7, 9, 2, False)]


def torch_forward(module, x, lengths, state):
    xt = torch.from_numpy(x)
    hx = None if state is None else tuple(torch.from_numpy(s) for s in state)
    with torch.no_grad():
        if lengths is None:
            y, (h, c) = module(xt, hx)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                xt, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
            out, (h, c) = module(packed, hx)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(
                out, batch_first=True, total_length=x.shape[1])
    return y.numpy(), h.numpy(), c.numpy()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"D{c[0]}-H{c[1]}-L{c[2]}-{c[3]}")
@pytest.mark.parametrize("ragged", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_matches_torch(config, ragged, with_state):
    d, h, layers, bi = config
    torch.manual_seed(CONFIGS.index(config))
    module = torch.nn.LSTM(d, h, num_layers=layers, bidirectional=bi, batch_first=True)
    model = lstmkit.LSTM(d, h, num_layers=layers, bidirectional=bi)
    model.load_state_dict(module.state_dict())  # torch tensors, taken as they are

    rng = np.random.default_rng(5)
    batch, steps, k = 4, 6, 2 if bi else 1
    x = rng.standard_normal((batch, steps, d)).astype(np.float32)
    lengths = np.array([6, 2, 5, 1]) if ragged else None
    state = None
    if with_state:
        state = tuple(rng.standard_normal((layers * k, batch, h)).astype(np.float32)
                      for _ in range(2))

    expected = torch_forward(module, x, lengths, state)
    y, (h_n, c_n) = model(x, lengths, state)
    params = {name: t.detach().numpy() for name, t in module.state_dict().items()}
    ref = lstm_reference(params, x, lengths, *(state or (None, None)),
                         num_layers=layers, bidirectional=bi)
    for got, want, r in zip((y, h_n, c_n), expected, ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(r, want, rtol=1e-5, atol=1e-5)


def test_state_dict_names_order_and_shapes_equal_torchs():
    for d, h, layers, bi in CONFIGS:
        module = torch.nn.LSTM(d, h, num_layers=layers, bidirectional=bi, batch_first=True)
        ours = lstmkit.LSTM(d, h, num_layers=layers, bidirectional=bi).state_dict()
        theirs = module.state_dict()
        assert list(ours) == list(theirs)
        assert [v.shape for v in ours.values()] == [tuple(v.shape) for v in theirs.values()]


def test_lstmkit_weights_load_into_torch():
    model = lstmkit.LSTM(4, 6, num_layers=2, bidirectional=True, seed=3)
    module = torch.nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)
    want = torch_forward(module, x, None, None)
    y, (h_n, c_n) = model(x)
    np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_n, want[1], rtol=1e-5, atol=1e-5)


def test_requires_grad_tensors_are_accepted():
    module = torch.nn.LSTM(3, 2, batch_first=True)
    assert all(p.requires_grad for p in module.parameters())
    model = lstmkit.LSTM(3, 2)
    model.load_state_dict(dict(module.named_parameters()))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, getattr(module, name).detach().numpy())
