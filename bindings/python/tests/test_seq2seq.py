"""lstmkit.Seq2Seq and the CLI's train-seq2seq / translate: a toy task (reversing short
strings of letters), translate and its n-best lists, attention, files, pickling,
scikit-learn's clone, defaults read from the library, and the bad input of issue 20
(empty source, unknown symbols, a source longer than any seen, beam 0, n_best > beam,
invalid text)."""

import pickle
import random

import numpy as np
import pytest

import lstmkit
from lstmkit import Seq2Seq, _native
from helpers import cli, cli_error, needs_cli

SMALL = dict(embedding_size=16, hidden_size=24, dropout=0.0, label_smoothing=0.0, seed=3)
FIT = dict(epochs=12, batch_size=16, learning_rate=0.01, patience=12, threads=1, progress=False)


def pairs(n, seed):
    rng = random.Random(seed)
    words = sorted({"".join(rng.choice("abcdef") for _ in range(rng.randint(2, 5))) for _ in range(3 * n)})
    rng.shuffle(words)
    return words[:n], [w[::-1] for w in words[:n]]


@pytest.fixture(scope="module")
def toy():
    X, y = pairs(700, 1)
    model = Seq2Seq(**SMALL).fit(X[:600], y[:600], validation_data=(X[600:650], y[600:650]), **FIT)
    return model, X[650:], y[650:]


def test_learns_and_translates(toy):
    model, X, y = toy
    out = model.translate(X, beam=1)
    assert all(isinstance(t, str) for t in out)
    assert sum(a == b for a, b in zip(out, y)) >= 40
    assert model.score(X, y) == pytest.approx(np.mean([a == b for a, b in zip(out, y)]))
    # n_best is at most the beam.
    with pytest.raises(ValueError, match="n_best"):
        model.translate(X[:2], beam=1, n_best=2)
    assert model.translate([], beam=1) == []


def test_defaults_come_from_the_library(toy):
    model, X, _ = toy
    d = _native.seq2seq_decoding_default()
    import inspect
    sig = inspect.signature(Seq2Seq.translate).parameters
    assert (sig["beam"].default, sig["n_best"].default, sig["length_penalty"].default) == (
        d["beam_size"], d["n_best"], d["length_penalty"])
    defaults = _native.train_config_default("seq2seq")
    assert Seq2Seq().hidden_size == int(defaults["hidden_size"]) and Seq2Seq().attention_score == defaults["score"]
    # The default beam (5) decodes; n-best lists come best first, distinct, with scores.
    assert len(model.translate(X[:3])) == 3
    for best in model.translate(X[:3], beam=4, n_best=3):
        texts, scores = zip(*best)
        assert len(set(texts)) == 3 and list(scores) == sorted(scores, reverse=True)


def test_attention(toy):
    model, _, _ = toy
    out, src, w = model.attention("abcd", beam=1)
    assert src == ["a", "b", "c", "d"] and out == list(model.translate(["abcd"], beam=1)[0])
    assert w.dtype == np.float32 and w.shape == (len(out), 4)
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(TypeError):
        model.attention(["abcd"])
    with pytest.raises(ValueError, match="no source token"):
        model.attention("", beam=1)


def test_bad_input(toy):
    model, _, _ = toy
    # Unknown symbols are the unknown token; a source longer than any seen decodes.
    long = "abcdef" * 10
    odd, far = model.translate(["xyzé", long], beam=1)
    assert isinstance(odd, str) and len(far) <= 2 * len(long)
    with pytest.raises(ValueError, match="text 1 has no source token"):
        model.translate(["ab", ""], beam=1)
    with pytest.raises(ValueError, match=r"^beam must be in \[1, 256\], got 0"):   # the argument's name
        model.translate(["ab"], beam=0)
    with pytest.raises(ValueError, match="n_best"):
        model.translate(["ab"], beam=1, n_best=3)
    with pytest.raises(TypeError):
        model.translate("ab", beam=1)
    with pytest.raises(TypeError):
        model.translate(["ab"], beam=1.5)
    with pytest.raises(ValueError):
        model.translate(["\ud800"], beam=1)  # a lone surrogate is no UTF-8
    with pytest.raises(ValueError, match="NUL"):
        model.translate(["a\0b"], beam=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        Seq2Seq().translate(["ab"])


def test_fit_errors():
    with pytest.raises(ValueError, match="source 1 has no token"):
        Seq2Seq(**SMALL).fit(["ab", "", "ba"], ["ba", "x", "ab"], validation_data=(["ab"], ["ba"]), **FIT)
    with pytest.raises(ValueError, match="2 sources but 1 targets"):
        Seq2Seq(**SMALL).fit(["ab", "ba"], ["ba"], **FIT)
    with pytest.raises(ValueError, match="score"):
        Seq2Seq(attention_score="cosine", **SMALL).fit(["ab", "ba"] * 5, ["ba", "ab"] * 5, **FIT)
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2Seq(hidden_size=0).fit(["ab", "ba"] * 5, ["ba", "ab"] * 5, **FIT)
    with pytest.raises(TypeError):
        Seq2Seq(bidirectional="yes").fit(["ab", "ba"] * 5, ["ba", "ab"] * 5, **FIT)


def test_files_params_pickle_clone(toy, tmp_path):
    model, X, _ = toy
    path = tmp_path / "toy.safetensors"
    model.save(path)
    loaded = Seq2Seq.load(path)
    # Training-only settings (label_smoothing, min_count) come back as the defaults; the cell as recorded.
    assert loaded.get_params() == dict(model.get_params(), label_smoothing=Seq2Seq().label_smoothing, min_count=Seq2Seq().min_count, cell="lstm")
    assert loaded.translate(X, beam=1) == model.translate(X, beam=1)
    again = pickle.loads(pickle.dumps(model))
    assert again.translate(X[:5], beam=1) == model.translate(X[:5], beam=1)
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    fresh = clone(Seq2Seq(attention_score="dot", cell="gru", **SMALL))
    assert fresh.attention_score == "dot" and fresh.cell == "gru" and "attention_score='dot'" in repr(fresh)
    assert sklearn is not None
    with pytest.raises(lstmkit.ModelFormatError):
        (tmp_path / "bad.safetensors").write_bytes(b"not a model")
        Seq2Seq.load(tmp_path / "bad.safetensors")


def test_options_by_name_reach_the_model():
    X, y = pairs(60, 2)
    model = Seq2Seq(embedding_size=4, hidden_size=3, bidirectional=False, bridge=False, attention_score="dot",
                    target_tokens="words", cell="gru", seed=5).fit(X, [" ".join(t) for t in y], epochs=1, threads=1, progress=False)
    assert (model.bidirectional, model.bridge, model.attention_score, model.cell) == (False, False, "dot", "gru")
    config = model._fitted().handle.config()
    assert (config["bidirectional"], config["bridge"], config["score"], config["target_tokens"]) == ("false", "false", "dot", "words")
    assert model._fitted().handle.setting("cell") == "gru"


@needs_cli
def test_cli(tmp_path):
    X, y = pairs(700, 1)
    (tmp_path / "train.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(X[:600], y[:600])))
    (tmp_path / "dev.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(X[600:650], y[600:650])))
    model = tmp_path / "m.safetensors"
    cli("train-seq2seq", "--train", tmp_path / "train.tsv", "--dev", tmp_path / "dev.tsv", "--output", model,
        "--embedding-size", 16, "--hidden-size", 24, "--dropout", 0, "--label-smoothing", 0, "--epochs", 12,
        "--batch-size", 16, "--learning-rate", 0.01, "--patience", 12, "--threads", 1, "--seed", 3)
    (tmp_path / "in.txt").write_text("\n".join(X[650:] + ["", "xyz"]) + "\n")
    out = cli("translate", "--model", model, "--beam", 1, tmp_path / "in.txt", "--attention-png", tmp_path / "a.png").stdout
    lines = out.split("\n")[:-1]
    assert len(lines) == len(X[650:]) + 2 and lines[-2] == ""   # one line out per line in; empty in, empty out
    assert sum(a == b for a, b in zip(lines, y[650:])) >= 40
    png = (tmp_path / "a.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Seq2Seq.load(model).translate(X[650:], beam=1) == lines[:-2]
    # Bad input: one line on stderr, exit code 1.
    assert "--beam-size must be in [1, 256], got 0" in cli_error("translate", "--model", model, "--beam", 0, tmp_path / "in.txt")
    assert "n_best" in cli_error("translate", "--model", model, "--beam", 1, "--n-best", 2, tmp_path / "in.txt")
    (tmp_path / "bad.txt").write_bytes(b"ab\xff\n")
    assert "not valid UTF-8" in cli_error("translate", "--model", model, "--beam", 1, tmp_path / "bad.txt")
    (tmp_path / "notab.tsv").write_text("ab\n")
    assert "line 1 has no tab" in cli_error("train-seq2seq", "--train", tmp_path / "notab.tsv", "--output", tmp_path / "x.st")
    assert "--score must be" in cli_error("train-seq2seq", "--train", tmp_path / "train.tsv", "--output", tmp_path / "x.st",
                                          "--score", "cosine")
    assert "is the input" in cli_error("train-seq2seq", "--train", tmp_path / "train.tsv", "--output", tmp_path / "train.tsv")


def test_n_best_lists_are_grouped_by_text():
    """n_best > 1 (beam search): the extension's NUL-separated texts and (n, n_best) scores come
    back as one list of (text, score) per text, best first (a stand-in handle, so this
    holds before beam search lands)."""
    class Handle:
        def translate(self, texts, decoding, threads):
            assert decoding == (4, 2, 0.5, 0) and threads == 3
            return "a\0b\0c\0", np.array([[-1, -2], [-3, -np.inf]], np.float32)

    model = Seq2Seq()
    model._set_model(Handle())
    assert model.translate(["x", "y"], beam=4, n_best=2, length_penalty=0.5, threads=3) == [
        [("a", -1.0), ("b", -2.0)], [("c", -3.0), ("", -np.inf)]]
