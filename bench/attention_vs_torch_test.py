"""Cross-check of the attention layers with PyTorch (a bench check, not a test: PyTorch is
never a dependency of LSTMKit or its test suite). Run:

    python3 -m pytest bench/attention_vs_torch_test.py

The layers have no front door yet, so the LSTMKit side runs through the bench binary
(`lstmkit-bench attention`, bench/swift/AttentionCheck.swift), built here in debug with
`swift build --product lstmkit-bench` unless LSTMKIT_BENCH names one. Every tensor is
made by PyTorch, saved as .npy under its state_dict name and loaded by LSTMKit under the
same name (the module tree's), so both sides run the same weights:

- encoder-decoder attention (Luong dot / general, Bahdanau additive; input-feeding
  output tanh(W_c [c; h])) against a PyTorch re-implementation of the formulas, with
  ragged sources and a row -> source map (beams sharing a source), and LSTMKit's one
  step at a time against the same PyTorch output;
- multi-head self-attention against torch.nn.MultiheadAttention with a key padding
  mask, and the block LayerNorm(x + attention(x)) against nn.LayerNorm on top of it
  (LSTMKit outputs 0 at padded positions, so only valid positions are compared);
- the same layers' backward, and the classifiers' self_attention pooling (the block,
  then additive attention over its valid outputs) forward and backward, on ragged
  batches: the input's gradient and every tensor's against autograd's, for an output
  gradient that is 0 at padded positions (LSTMKit's padded outputs are constant 0).
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def bench_binary():
    if os.environ.get("LSTMKIT_BENCH"):
        return os.environ["LSTMKIT_BENCH"]
    subprocess.run(["swift", "build", "--product", "lstmkit-bench"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    return str(REPO / ".build" / "debug" / "lstmkit-bench")


def run_lstmkit(binary, tmp_path, module, inputs, kind, *extra):
    for name, tensor in module.state_dict().items():
        np.save(tmp_path / f"{name}.npy", tensor.detach().numpy())
    for name, array in inputs.items():
        np.save(tmp_path / f"{name}.npy", array)
    subprocess.run([binary, "attention", str(tmp_path), kind, *map(str, extra)], check=True)
    return lambda name: np.load(tmp_path / f"{name}.npy")


class Attention(torch.nn.Module):
    """Encoder-decoder attention by the formulas, with OpenNMT-py's tensor names."""

    def __init__(self, score, d, e, a, o):
        super().__init__()
        self.score = score
        if score == "general":
            self.linear_in = torch.nn.Linear(e, d, bias=False)
        if score == "additive":
            self.linear_context = torch.nn.Linear(e, a, bias=False)
            self.linear_query = torch.nn.Linear(d, a, bias=False)
            self.v = torch.nn.Parameter(torch.randn(a))
        self.linear_out = torch.nn.Linear(e + d, o, bias=False)

    def forward(self, states, lengths, queries, sources):
        h = states[sources]                                      # (N, T_src, E)
        padded = torch.arange(h.shape[1])[None, :] >= lengths[sources][:, None]
        if self.score == "dot":
            scores = queries @ h.transpose(1, 2)
        elif self.score == "general":
            scores = queries @ self.linear_in(h).transpose(1, 2)
        else:
            hidden = self.linear_context(h)[:, None, :, :] + self.linear_query(queries)[:, :, None, :]
            scores = (torch.tanh(hidden) * self.v).sum(-1)
        alpha = torch.softmax(scores.masked_fill(padded[:, None, :], float("-inf")), dim=-1)
        context = alpha @ h
        return torch.tanh(self.linear_out(torch.cat([context, queries], dim=-1))), alpha, context


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_encoder_decoder_matches_torch(bench_binary, tmp_path, score):
    torch.manual_seed(["dot", "general", "additive"].index(score))
    e, d = 16, 16 if score == "dot" else 12
    module = Attention(score, d, e, 10, 12)
    rng = np.random.default_rng(7)
    lengths = np.array([7, 3, 5, 1], dtype=np.int64)
    sources = np.array([0, 1, 1, 2, 3, 3], dtype=np.int64)
    states = rng.standard_normal((4, 7, e)).astype(np.float32)
    queries = rng.standard_normal((6, 5, d)).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in module(*map(torch.from_numpy, (states, lengths, queries, sources)))]
    got = run_lstmkit(bench_binary, tmp_path, module,
                      dict(states=states, lengths=lengths, queries=queries, sources=sources), score)
    for name, expected in zip(("out", "weights", "context"), want):
        np.testing.assert_allclose(got(name), expected, **TOL, err_msg=name)
    np.testing.assert_allclose(got("step_out"), want[0], **TOL, err_msg="step by step")
    padded = np.broadcast_to(np.arange(7)[None, None, :] >= lengths[sources][:, None, None], want[1].shape)
    assert np.all(got("weights")[padded] == 0)


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.self_attn = torch.nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm = torch.nn.LayerNorm(d)

    def forward(self, x, padded, with_norm):
        y, weights = self.self_attn(x, x, x, key_padding_mask=padded, need_weights=True,
                                    average_attn_weights=False)
        return (self.norm(x + y) if with_norm else y), weights


@pytest.mark.parametrize("kind", ["self", "block"])
def test_self_attention_matches_torch(bench_binary, tmp_path, kind):
    torch.manual_seed(11)
    d, heads = 16, 4
    module = Block(d, heads)
    with torch.no_grad():   # non-zero biases and norm: every tensor matters
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    rng = np.random.default_rng(8)
    lengths = np.array([6, 3, 1], dtype=np.int64)
    x = rng.standard_normal((3, 6, d)).astype(np.float32)
    padded = np.arange(6)[None, :] >= lengths[:, None]
    with torch.no_grad():
        y, weights = (t.numpy() for t in module(torch.from_numpy(x), torch.from_numpy(padded), kind == "block"))
    if kind == "self":
        module = module.self_attn
    got = run_lstmkit(bench_binary, tmp_path, module, dict(x=x, lengths=lengths), kind, heads)
    valid = ~padded
    np.testing.assert_allclose(got("out")[valid], y[valid], **TOL)
    assert np.all(got("out")[padded] == 0)
    ours = got("weights").transpose(0, 2, 1, 3)   # (N, T, H, T): index by valid queries
    np.testing.assert_allclose(ours[valid], weights.transpose(0, 2, 1, 3)[valid], **TOL)


class Pool(torch.nn.Module):
    """The self_attention pooling: the block, then additive attention (LSTMKit's names)."""

    def __init__(self, d, heads, a):
        super().__init__()
        self.self_attention = Block(d, heads)
        self.attention = torch.nn.Module()
        self.attention.projection = torch.nn.Linear(d, a)
        self.attention.context = torch.nn.Parameter(torch.randn(a) / a ** 0.5)

    def forward(self, x, padded):
        z, _ = self.self_attention(x, padded, True)
        scores = torch.tanh(self.attention.projection(z)) @ self.attention.context
        alpha = torch.softmax(scores.masked_fill(padded, float("-inf")), dim=-1)
        return (alpha[:, :, None] * z).sum(1), alpha


@pytest.mark.parametrize("kind", ["self", "block", "pool"])
def test_self_attention_gradients_match_torch(bench_binary, tmp_path, kind):
    torch.manual_seed(12)
    d, heads = 12, 3
    module = Pool(d, heads, 5) if kind == "pool" else Block(d, heads)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    rng = np.random.default_rng(9)
    lengths = np.array([5, 2, 1, 4], dtype=np.int64)
    x = rng.standard_normal((4, 5, d)).astype(np.float32)
    padded = np.arange(5)[None, :] >= lengths[:, None]
    xt = torch.from_numpy(x).requires_grad_(True)
    out, weights = module(xt, torch.from_numpy(padded)) if kind == "pool" else module(xt, torch.from_numpy(padded), kind == "block")
    dy = rng.standard_normal(tuple(out.shape)).astype(np.float32)
    if kind != "pool":
        dy[padded] = 0   # LSTMKit's padded outputs are constant 0: torch's must not count
    (out * torch.from_numpy(dy)).sum().backward()
    if kind == "self":
        module = module.self_attn
    got = run_lstmkit(bench_binary, tmp_path, module, dict(x=x, lengths=lengths, dy=dy), kind, heads)
    valid = ~padded
    if kind == "pool":
        np.testing.assert_allclose(got("out"), out.detach().numpy(), **TOL)
        np.testing.assert_allclose(got("weights"), weights.detach().numpy(), **TOL)
    else:
        np.testing.assert_allclose(got("out")[valid], out.detach().numpy()[valid], **TOL)
    np.testing.assert_allclose(got("dx"), xt.grad.numpy(), **TOL, err_msg="dx")
    assert np.all(got("dx")[padded] == 0)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(got("grad." + name), p.grad.numpy(), **TOL, err_msg=name)
