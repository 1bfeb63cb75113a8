"""The translation peer (bench/translate_peer.py) is LSTMKit's Seq2Seq with word tokens
and a vocabulary cap: a model trained by `lstmkit-bench g2p train source_tokens=words
target_tokens=words min_count=2` on made-up word pairs, loaded into the peer, has the
peer's vocabularies (the same rare words cut), decodes the dev sources exactly as
`lstmkit-bench g2p decode` does, and the peer's dev score equals the exact match and
token accuracy LSTMKit reports. Also: bench/translate_bench.py's detokeniser undoes its
tokeniser on the Spanish punctuation. A bench check (PyTorch is never a dependency):

    python3 -m pytest bench/translate_peer_test.py

lstmkit-bench is built in debug unless LSTMKIT_BENCH names one.
"""
import json
import os
import random
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import g2p_peer  # noqa: E402
import translate_peer  # noqa: E402
from attention_vs_torch_test import bench_binary  # noqa: E402,F401 (a fixture)
from g2p_peer_test import read_safetensors  # noqa: E402


def made_up_pairs(n, rng):
    """Sentences over 12 common words and 30 rare ones → the words reversed, each with a
    suffix (a toy translation with its own target vocabulary)."""
    common = [f"w{i}" for i in range(12)]
    rare = [f"r{i}" for i in range(30)]
    pairs = []
    for _ in range(n):
        words = [rng.choice(rare) if rng.random() < 0.08 else rng.choice(common) for _ in range(rng.randint(2, 6))]
        pairs.append((" ".join(words), " ".join(w + "x" for w in reversed(words))))
    return pairs


@pytest.fixture(scope="module")
def trained(bench_binary, tmp_path_factory):  # noqa: F811
    tmp = tmp_path_factory.mktemp("translate")
    rng = random.Random(3)
    for name, n in (("train", 400), ("dev", 60)):
        with open(tmp / f"{name}.tsv", "w", encoding="utf-8") as f:
            f.writelines(f"{a}\t{b}\n" for a, b in made_up_pairs(n, rng))
    path = tmp / "model.safetensors"
    out = subprocess.run([bench_binary, "g2p", "train", str(tmp / "train.tsv"), str(tmp / "dev.tsv"), str(path), "1",
                          "source_tokens=words", "target_tokens=words", "min_count=2", "epochs=3"],
                         stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(out.stdout), path, tmp


def test_lstmkit_word_model_in_the_peer_decodes_and_scores_the_same(trained, bench_binary):  # noqa: F811
    info, path, tmp = trained
    meta, tensors = read_safetensors(path)
    sources, targets = g2p_peer.read_pairs(tmp / "train.tsv")
    source, target = g2p_peer.Vocabulary(sources, str.split, 2), g2p_peer.Vocabulary(targets, str.split, 2)
    # The same capped vocabularies: some rare words are cut (they are <unk>).
    assert source.tokens[4:] == json.loads(meta["source_vocabulary"])
    assert target.tokens[4:] == json.loads(meta["target_vocabulary"])
    assert len(source.tokens) < len(g2p_peer.Vocabulary(sources, str.split).tokens)
    peer = g2p_peer.Seq2Seq(len(source.tokens), len(target.tokens))
    assert sum(p.numel() for p in peer.parameters()) == info["parameters"]
    peer.load_state_dict({(name.replace("_l0", "") if name.startswith("decoder.") else name): torch.from_numpy(t.copy())
                          for name, t in tensors.items()})
    dev_sources, dev_targets = g2p_peer.read_pairs(tmp / "dev.tsv")
    out = subprocess.run([bench_binary, "g2p", "decode", str(path), str(tmp / "dev.tsv"), "1"],
                         stdout=subprocess.PIPE, check=True, text=True)
    lstmkit = json.loads(out.stdout)["predictions"]
    ids = g2p_peer.decode(peer, [source.encode(s) for s in dev_sources])
    assert [g2p_peer.texts(target, i) for i in ids] == lstmkit
    # The peer's dev score is LSTMKit's (the best epoch's weights are the saved ones).
    # After 3 epochs the model is half-trained: some outputs exact, many of another
    # length than their target, so every part of the score counts.
    score = translate_peer.dev_score(ids, [target.encode(t) for t in dev_targets])
    assert 0 < info["dev_token_accuracy"] < 1
    assert score == pytest.approx(info["dev_exact_match"] + 1e-3 * info["dev_token_accuracy"], abs=1e-9)


def test_detokenize_undoes_tokenize():
    pytest.importorskip("sacrebleu")   # translate_bench imports it
    import translate_bench
    verse = "¡OH Jehová, (dice) cuánto se han multiplicado! ¿Quién sabe? Kadesh-barnea: sí; no."
    words = translate_bench.tokenize(verse, "words")
    assert words == "¡ oh jehová , ( dice ) cuánto se han multiplicado ! ¿ quién sabe ? kadesh-barnea : sí ; no ."
    assert translate_bench.detokenize(words, "words") == verse.lower()
