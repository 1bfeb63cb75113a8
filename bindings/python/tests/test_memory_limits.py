"""Issue 17: allocations sized by the caller go through the engine's checked path.

Training (activations and gradients of batch x length, and the optimizer's copies of
the weights), model construction, the tokenizer's training corpus and the copies of
caller buffers are checked before anything is allocated: MemoryError with the engine's
message in Python, one line and exit code 1 in the CLI. Limits are shown under a small
LSTMKIT_MAX_ALLOC_BYTES, in fresh processes (the limit is read once per process).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from helpers import CLI, needs_cli

GOLDEN = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "golden"
TRAINING = re.compile(r"^training on a batch of \d+ examples? \(epoch 1's largest; batch_size \d+\) "
                      r"with the optimizer's state needs [\d.]+ [MG]B, more than LSTMKIT_MAX_ALLOC_BYTES \([\d.]+ MB\)$")


def run_limited(code, limit="2000000"):
    """Runs `code` in a fresh interpreter under LSTMKIT_MAX_ALLOC_BYTES; returns its stdout lines."""
    env = {**os.environ, "LSTMKIT_MAX_ALLOC_BYTES": limit}
    proc = subprocess.run([sys.executable, "-c", "import lstmkit, numpy as np\n" + code], env=env, capture_output=True,
                          text=True, timeout=300, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()


def memory_error(call):
    """Code printing the MemoryError of `call` (a statement), or failing."""
    return (f"try:\n    {call}\n    print('no error')\n"
            "except MemoryError as e:\n    print(str(e))\n")


# Small models, data whose training batches are larger than 2 MB: each kind must refuse
# in its training loop's check (the model and the data fit).
TRAINING_CASES = {
    "text_classifier": (
        "texts = [' '.join(f'w{(i * 7 + j) % 50}' for j in range(300)) for i in range(40)]\n"
        "labels = [i % 2 for i in range(40)]\n"
        "m = lstmkit.TextClassifier(hidden_size=32, embedding_dim=16, attention_size=8)\n",
        "m.fit(texts, labels, epochs=1, progress=False)"),
    "image_classifier": (
        "X = np.random.default_rng(0).random((80, 28, 28), dtype=np.float32); y = [i % 2 for i in range(80)]\n"
        "m = lstmkit.ImageClassifier(hidden_size=32)\n",
        "m.fit(X, y, epochs=1, verbose=False)"),
    "image_segmenter": (
        "X = np.random.default_rng(0).random((20, 64, 64), dtype=np.float32); y = (X > 0.5).astype(np.int32)\n"
        "m = lstmkit.ImageSegmenter(2, encoder_channels=[8, 16], hidden_size=8)\n",
        "m.fit(X, y, epochs=1, verbose=False)"),
    "sequence_classifier": (
        "X = np.random.default_rng(0).random((80, 2000, 1), dtype=np.float32); y = [i % 2 for i in range(80)]\n"
        "m = lstmkit.SequenceClassifier(members=1)\n",
        "m.fit(X, y, epochs=1, batch_size=64, progress=False)"),
    "forecaster": (
        "y = np.sin(np.arange(3000, dtype=np.float32) / 10)\n"
        "m = lstmkit.Forecaster(context=200, hidden_size=32)\n",
        "m.fit(y, epochs=1, batch_size=64, verbose=False)"),
    "tokenizer": (
        "words = ['北京', '大学', '我们', '今天', '天安门', '的', '学生']\n"
        "train = [' '.join(words[(i + j) % 7] for j in range(60)) for i in range(100)]\n",
        "lstmkit.Tokenizer.train(train, train[:10], epochs=1, hidden_size=32, progress=False)"),
}


@pytest.mark.parametrize("kind", sorted(TRAINING_CASES))
def test_training_beyond_memory_limit_is_refused_before_allocating(kind):
    setup, call = TRAINING_CASES[kind]
    out = run_limited(setup + memory_error(call))
    assert len(out) == 1 and TRAINING.match(out[0]), (kind, out)


def test_tokenizer_training_corpus_beyond_memory_limit_raises_memory_error():
    """Parsing a training corpus is checked first (24 bytes per byte of text at most)."""
    code = ("train = ['北京 大学 我们 今天 天安门 的 学生 ' * 20] * 200\n"
            + memory_error("lstmkit.Tokenizer.train(train, train[:5], epochs=1, progress=False)"))
    out = run_limited(code)
    assert len(out) == 1 and re.match(
        r"^a segmented corpus of \d+ bytes, parsed for training needs [\d.]+ MB, more than LSTMKIT_MAX_ALLOC_BYTES \(2.0 MB\)$",
        out[0]), out


def test_model_construction_beyond_memory_raises_memory_error():
    """Weights are estimated from the config and checked before the model is built."""
    # In a fresh process: before the check, building it aborted the process.
    out = run_limited(memory_error("lstmkit.LSTM(1, 8192, num_layers=1024)") + memory_error("lstmkit.GRU(1, 8192, num_layers=1024)"),
                      limit="0")
    assert len(out) == 2 and all(line.startswith("a recurrent layer with 549.6 billion weights needs 4.4 TB, more than ")
                                 for line in out), out
    code = ("X = np.zeros((2, 64, 64), dtype=np.float32); y = np.zeros((2, 64, 64), dtype=np.int32); y[0, 0, 0] = 1\n"
            + memory_error("lstmkit.ImageSegmenter(2, encoder_channels=[4096] * 6).fit(X, y, verbose=False)"))
    out = run_limited(code, limit="1000000000")
    assert len(out) == 1 and re.match(r"^an image segmenter of encoder channels \[4096, 4096, 4096, 4096, 4096, 4096\] "
                                      r"with [\d.]+ billion weights needs [\d.]+ GB, more than LSTMKIT_MAX_ALLOC_BYTES \(1.0 GB\)$",
                                      out[0]), out


def test_text_classifier_huge_text_is_not_tokenised_past_max_length():
    """A text is tokenised only up to max_length: predicting on 40 MB of text used to
    hold every token first (about 20 bytes each, 800 MB here)."""
    code = (
        "import resource\n"
        f"m = lstmkit.TextClassifier.load({str(GOLDEN / 'text-en.safetensors')!r})\n"
        "short = m.predict_proba(['good good good'])\n"
        "text = 'good ' * 8_000_000\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "p = m.predict_proba([text])\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(grown // 1024)\n"
        "print(bool(np.isfinite(p).all()))\n"
    )
    out = run_limited(code, limit="0")
    assert int(out[0]) < 150 and out[1] == "True", out


def test_sequence_classifier_and_forecaster_copies_are_checked():
    """The C doors' copies of the caller's sequences and series go through the checked
    path, as the image handles' copies do."""
    code = (
        "rng = np.random.default_rng(0)\n"
        f"s = lstmkit.SequenceClassifier.load({str(GOLDEN / 'sequence-classifier' / 'sequence-classifier.safetensors')!r})\n"
        f"f = lstmkit.Forecaster.load({str(GOLDEN / 'forecaster' / 'forecaster.safetensors')!r})\n"
        "X = rng.random((4, 80_000, 3), dtype=np.float32)\n"
        + memory_error("s.predict(X)")
        + "y = rng.random((600_000, 2), dtype=np.float32); x = rng.random((600_000, 1), dtype=np.float32)\n"
        + memory_error("f.predict(X_future=x[:4], y=y, X=x)")
    )
    out = run_limited(code)
    assert len(out) == 2, out
    assert re.match(r"^a copy of the \d+ values of x needs [\d.]+ MB, more than LSTMKIT_MAX_ALLOC_BYTES \(2.0 MB\)$", out[0]), out
    assert re.match(r"^a copy of the \d+ values of y needs [\d.]+ MB, more than LSTMKIT_MAX_ALLOC_BYTES \(2.0 MB\)$", out[1]), out


@needs_cli
def test_cli_training_beyond_memory_limit_is_one_line(tmp_path):
    """The CLI: one line naming the need and the limit, exit code 1, before any epoch."""
    lines = [f"{i % 2}\t" + " ".join(f"w{(i * 7 + j) % 50}" for j in range(300)) for i in range(40)]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "LSTMKIT_MAX_ALLOC_BYTES": "8000000"}
    proc = subprocess.run([str(CLI), "train-classifier", "--train", tmp_path / "train.tsv", "--dev", tmp_path / "train.tsv",
                           "--output", tmp_path / "m.safetensors", "--epochs", "1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lstmkit: error: ") and TRAINING.match(err[0][len("lstmkit: error: "):]), proc.stderr
    assert not (tmp_path / "m.safetensors").exists()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(("北京 大学 我们 今天 天安门 的 学生 " * 20 + "\n") * 200, encoding="utf-8")
    proc = subprocess.run([str(CLI), "train-tokenizer", "--train", corpus, "--dev", corpus, "--output", tmp_path / "t.safetensors"],
                          env={**env, "LSTMKIT_MAX_ALLOC_BYTES": "2000000"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and re.match(
        r"^lstmkit: error: a segmented corpus of \d+ bytes, parsed for training needs [\d.]+ MB, more than "
        r"LSTMKIT_MAX_ALLOC_BYTES \(2.0 MB\)$", proc.stderr.strip()), proc.stderr


def _address_space_6gb():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))


def test_allocation_the_system_refuses_is_memory_error_not_an_abort(tmp_path):
    """Past the limit's check, Memory.check tries the size with malloc. Release builds
    had optimised that try away (a malloc only freed may be dropped and assumed to
    succeed), so under an address-space limit a model within the machine's memory but
    beyond the process's aborted while it was being built ("failed to allocate 603979808
    bytes"). Shown with RLIMIT_AS = 6 GB and the byte limit out of the way."""
    env = {**os.environ, "LSTMKIT_MAX_ALLOC_BYTES": str(1 << 50)}
    code = ("import lstmkit\n"
            + memory_error("lstmkit.LSTM(1, 4096, num_layers=4, bidirectional=True)")
            + memory_error("lstmkit.Tokenizer.train(['北京 大学 我们 今天 天安门 的 学生 ' * 500] * 30000, ['北京 大学'], "
                           "epochs=1, progress=False)"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=_address_space_6gb, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.strip().splitlines()
    assert len(out) == 2, out
    assert re.match(r"^a recurrent layer with [\d.]+ billion weights needs [\d.]+ GB, which the system cannot allocate now$",
                    out[0]), out
    assert re.match(r"^a segmented corpus of \d+ bytes, parsed for training needs [\d.]+ GB, which the system cannot "
                    r"allocate now$", out[1]), out
    if CLI.is_file():
        lines = "\t".join(["0", "good"]) + "\n" + "\t".join(["1", "bad"]) + "\n"
        (tmp_path / "t.tsv").write_text(lines * 4, encoding="utf-8")
        proc = subprocess.run([str(CLI), "train-classifier", "--train", tmp_path / "t.tsv", "--dev", tmp_path / "t.tsv",
                               "--output", tmp_path / "m.safetensors", "--embedding-dim", "4096", "--hidden-size", "4096",
                               "--layers", "4"], env=env, capture_output=True, text=True, timeout=300,
                              preexec_fn=_address_space_6gb)
        assert proc.returncode == 1 and re.match(
            r"^lstmkit: error: a text classifier of \d+ tokens with [\d.]+ billion weights needs [\d.]+ GB, which the "
            r"system cannot allocate now$", proc.stderr.strip()), proc.stderr[-1500:]


def test_segmenter_confusion_matrix_beyond_memory_is_refused_before_training():
    """A segmenter's dev score holds a row of num_classes counts per gold class present
    (34 GB when all of the table's 65536 are): it was allocated unchecked after the
    first epoch. Now checked before training starts, and before evaluate predicts."""
    code = ("X = np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)\n"
            "M = np.arange(256, dtype=np.int32).reshape(4, 8, 8)\n"
            + memory_error("lstmkit.ImageSegmenter(16384, encoder_channels=[2], hidden_size=2).fit(X, M, validation_data=(X, M), "
                           "epochs=1, verbose=False)"))
    out = run_limited(code, limit="10000000")
    assert out == ["a confusion matrix of 16384 classes, 256 of them in the masks needs 33.7 MB, more than "
                   "LSTMKIT_MAX_ALLOC_BYTES (10.0 MB)"], out


def test_diverged_training_sequence_classifier_is_an_error_not_nan():
    """Found by the adversarial run's second pass: lk_sequence_classifier_train at a
    learning rate of FLT_MAX returned OK and a model whose probabilities were NaN. The
    member's predictions now refuse non-finite output, which the one Trainer reports as
    divergence (keeping the best weights)."""
    X = np.random.default_rng(0).random((16, 20, 2), dtype=np.float32)
    X[1::2] += 1
    y = [i % 2 for i in range(16)]
    m = lstmkit.SequenceClassifier(members=1, hidden_size=4)
    with pytest.raises(ValueError, match=r"training diverged at epoch 1, batch \d+: the network's output on the dev set "
                                         r"is not finite; lower the learning rate"):
        m.fit(X, y, validation_data=(X, y), epochs=1, learning_rate=3e38, progress=False)
