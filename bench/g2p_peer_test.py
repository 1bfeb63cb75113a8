"""The G2P peer (bench/g2p_peer.py) is LSTMKit's Seq2Seq: a model trained by
`lstmkit-bench g2p train` on Tests/Fixtures/g2p, loaded into the peer under the model
file's names, decodes the dev words exactly as `lstmkit-bench g2p decode` does; and the
peer's own beam search is consistent (beam 1 is greedy, batched equals one at a time).
A bench check (PyTorch is never a dependency of LSTMKit):

    python3 -m pytest bench/g2p_peer_test.py

lstmkit-bench is built in debug unless LSTMKIT_BENCH names one (as in
attention_vs_torch_test.py).
"""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g2p_peer  # noqa: E402
from attention_vs_torch_test import REPO, bench_binary  # noqa: E402,F401 (a fixture)

FIXTURES = REPO / "Tests" / "Fixtures" / "g2p"


def read_safetensors(path):
    """(metadata, {name: float32 array}) of a safetensors file."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", name
        start, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + n + start:8 + n + end], dtype="<f4").reshape(t["shape"])
    return meta, tensors


@pytest.fixture(scope="module")
def trained(bench_binary, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("g2p") / "model.safetensors"
    out = subprocess.run([bench_binary, "g2p", "train", str(FIXTURES / "train.tsv"), str(FIXTURES / "dev.tsv"), str(path),
                          "1", "epochs=4"], stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout), path


def test_lstmkit_weights_in_the_peer_decode_the_same(trained, bench_binary):  # noqa: F811
    info, path = trained
    meta, tensors = read_safetensors(path)
    words, prons = g2p_peer.read_pairs(FIXTURES / "train.tsv")
    source, target = g2p_peer.Vocabulary(words, list), g2p_peer.Vocabulary(prons, str.split)
    # The same vocabularies (ids 0-3 are the specials, not in the file)...
    assert source.tokens[4:] == json.loads(meta["source_vocabulary"])
    assert target.tokens[4:] == json.loads(meta["target_vocabulary"])
    # ... the same tensors, names and shapes (strict loading), the same parameter count ...
    peer = g2p_peer.Seq2Seq(len(source.tokens), len(target.tokens))
    assert sum(p.numel() for p in peer.parameters()) == info["parameters"]
    # (The peer's decoder is an nn.LSTMCell: its names lack the layer suffix "_l0".)
    peer.load_state_dict({(name.replace("_l0", "") if name.startswith("decoder.") else name): torch.from_numpy(t.copy())
                          for name, t in tensors.items()})
    # ... and the same greedy outputs (the model learnt something: not all alike).
    dev = [line.split("\t")[0] for line in open(FIXTURES / "dev.tsv", encoding="utf-8")]
    out = subprocess.run([bench_binary, "g2p", "decode", str(path), str(FIXTURES / "dev.tsv"), "1"],
                         stdout=subprocess.PIPE, check=True, text=True)
    lstmkit = json.loads(out.stdout)["predictions"]
    assert len(set(lstmkit)) > 5
    ours = [g2p_peer.texts(target, ids) for ids in g2p_peer.decode(peer, [source.encode(w) for w in dev])]
    assert ours == lstmkit


def test_peer_beam_search_is_consistent():
    torch.manual_seed(0)
    model = g2p_peer.Seq2Seq(30, 20, embedding=8, hidden=8).eval()
    with torch.no_grad():
        model.generator.bias[g2p_peer.EOS] -= 1.0       # longer outputs: more to disagree on
    sources = [[4 + (i * 7 + j) % 20 for j in range(1 + i % 6)] for i in range(40)]
    limits = [math.ceil(2 * len(s)) for s in sources]
    with torch.inference_mode():
        greedy = g2p_peer.greedy(model, sources, limits, 1, 1.0)
        assert g2p_peer.beam_search(model, sources, limits, 1, 0.0) == greedy
        beam = g2p_peer.beam_search(model, sources, limits, 5, 1.0)
        assert beam == [g2p_peer.beam_search(model, [s], [n], 5, 1.0)[0] for s, n in zip(sources, limits)]
    assert sum(b != g for b, g in zip(beam, greedy)) > 5
    assert all(len(b) <= n for b, n in zip(beam, limits))
