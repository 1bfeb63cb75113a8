"""The G2P peer (bench/g2p_peer.py) is LSTMKit's Seq2Seq: a model trained by
`lstmkit-bench g2p train` on Tests/Fixtures/g2p (one encoder layer, and two), loaded into the peer under the model
file's names, decodes the dev words exactly as `lstmkit-bench g2p decode` does (greedy and
beam 5); and the peer's own beam search is consistent (beam 1 is greedy, batched equals
one at a time).
A bench check (PyTorch is never a dependency of LSTMKit):

    python3 -m pytest bench/g2p_peer_test.py

lstmkit-bench is built in debug unless LSTMKIT_BENCH names one (as in
attention_vs_torch_test.py).
"""
import json
import math
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g2p_peer  # noqa: E402
from g2p_peer import read_safetensors  # noqa: E402,F401 (translate_peer_test.py reads it from here)
from attention_vs_torch_test import REPO, bench_binary  # noqa: E402,F401 (a fixture)

FIXTURES = REPO / "Tests" / "Fixtures" / "g2p"


@pytest.fixture(scope="module", params=[1, 2], ids=["1 encoder layer", "2 encoder layers"])
def trained(request, bench_binary, tmp_path_factory):  # noqa: F811
    path = tmp_path_factory.mktemp("g2p") / "model.safetensors"
    out = subprocess.run([bench_binary, "g2p", "train", str(FIXTURES / "train.tsv"), str(FIXTURES / "dev.tsv"), str(path),
                          "1", "epochs=4", f"num_layers={request.param}"], stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout), path


def test_lstmkit_weights_in_the_peer_decode_the_same(trained, bench_binary):  # noqa: F811
    info, path = trained
    words, prons = g2p_peer.read_pairs(FIXTURES / "train.tsv")
    source, target = g2p_peer.Vocabulary(words, list), g2p_peer.Vocabulary(prons, str.split)
    # The same tensors, names and shapes (strict loading), the same parameter count ...
    peer, file_source, file_target, _ = g2p_peer.load_lstmkit(path)
    assert sum(p.numel() for p in peer.parameters()) == info["parameters"]
    # ... the same vocabularies as the peer builds from the training pairs ...
    assert (source.tokens, source.ids) == (file_source.tokens, file_source.ids)
    assert (target.tokens, target.ids) == (file_target.tokens, file_target.ids)
    # ... and the same greedy outputs (the model learnt something: not all alike).
    dev = [line.split("\t")[0] for line in open(FIXTURES / "dev.tsv", encoding="utf-8")]
    out = subprocess.run([bench_binary, "g2p", "decode", str(path), str(FIXTURES / "dev.tsv"), "1"],
                         stdout=subprocess.PIPE, check=True, text=True)
    lstmkit = json.loads(out.stdout)["predictions"]
    assert len(set(lstmkit)) > 5
    ours = [g2p_peer.texts(target, ids) for ids in g2p_peer.decode(peer, [source.encode(w) for w in dev])]
    assert ours == lstmkit
    # ... and beam 5 (the same search: bench/g2p_decode_speed.py compares on the dev split).
    out = subprocess.run([bench_binary, "g2p", "decode", str(path), str(FIXTURES / "dev.tsv"), "1", "beam_size=5"],
                         stdout=subprocess.PIPE, check=True, text=True)
    beam = [g2p_peer.texts(target, ids) for ids in g2p_peer.decode(peer, [source.encode(w) for w in dev], beam=5)]
    assert beam == json.loads(out.stdout)["predictions"]


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


def test_read_safetensors_widens_every_float_type(tmp_path):
    """A model file may store F16 or BF16 (quantised or converted): read as F32 values."""
    import numpy as np
    values = np.array([1.5, -2.25, 0.0, 1024.0], dtype=np.float32)   # exact in every type
    blobs = {"F32": values.tobytes(), "F16": values.astype("<f2").tobytes(), "F64": values.astype("<f8").tobytes(),
             "BF16": (values.view(np.uint32) >> 16).astype("<u2").tobytes()}
    header, data = {"__metadata__": {"kind": "test"}}, b""
    for dtype, blob in blobs.items():
        header[dtype] = {"dtype": dtype, "shape": [2, 2], "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header).encode()
    (tmp_path / "t.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + data)
    meta, tensors = read_safetensors(tmp_path / "t.safetensors")
    assert meta == {"kind": "test"}
    for dtype in blobs:
        assert tensors[dtype].dtype == np.float32 and (tensors[dtype] == values.reshape(2, 2)).all(), dtype
