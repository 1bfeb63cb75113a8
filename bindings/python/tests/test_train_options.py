"""The training loop's settings through Python (lstmkit._estimator.LOOP_PARAMS): each one
observable on a text classifier (the C ABI passes them by name, lk_train_options), and
the tokenizer's train taking the same. test_estimators.py checks that every estimator
accepts them."""

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit import TextClassifier, Tokenizer

REPO = Path(__file__).resolve().parents[3]
EN = REPO / "Tests" / "Fixtures" / "text" / "en.tsv"
CWS = REPO / "Tests" / "Fixtures" / "cws"
TINY = dict(embedding_dim=16, hidden_size=16, attention_size=8, min_count=1, seed=3)
FIT = dict(epochs=3, batch_size=16, threads=1, progress=False)
CLI = Path(lstmkit.__file__).resolve().parent / "_bin" / "lstmkit-cli"
needs_cli = pytest.mark.skipif(not CLI.is_file(), reason="the package was built without lstmkit-cli")
LOOP_FLAGS = ["--schedule", "--average-decay", "--time-limit", "--checkpoint", "--resume", "--cell"]


@pytest.fixture(scope="module")
def data():
    rows = [line.split("\t", 1) for line in EN.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts, labels = [r[1] for r in rows], [r[0] for r in rows]
    return (texts[:240], labels[:240]), (texts[240:], labels[240:])


def probabilities(data, fit=None, **settings):
    (X, y), dev = data
    model = TextClassifier(**TINY, **settings).fit(X, y, validation_data=dev, **dict(FIT, **(fit or {})))
    return model.predict_proba(dev[0], threads=1)


@pytest.fixture(scope="module")
def plain(data):
    return probabilities(data)


def test_explicit_defaults_train_the_same_model(data, plain):
    assert np.array_equal(probabilities(data, cell="lstm", schedule="plateau", average_decay=0.0), plain)


def test_cosine_schedule_and_averaging_change_the_model(data, plain):
    assert np.abs(probabilities(data, schedule="cosine") - plain).max() > 1e-6
    assert np.abs(probabilities(data, average_decay=0.9) - plain).max() > 1e-6


def test_checkpoint_and_resume_continue_the_run(data, tmp_path):
    whole, split = tmp_path / "whole.ckpt", tmp_path / "split.ckpt"
    uninterrupted = probabilities(data, checkpoint=whole)
    assert whole.is_file()
    probabilities(data, fit=dict(epochs=1), checkpoint=split)
    lines = []
    resumed = probabilities(data, fit=dict(progress=lines.append), checkpoint=str(split), resume=True)
    assert sum("resumed from" in line for line in lines) == 1
    assert np.abs(resumed - uninterrupted).max() < 1e-4
    with pytest.raises((OSError, ValueError)):
        probabilities(data, checkpoint=tmp_path / "missing.ckpt", resume=True)


def test_time_limit_stops_training(data):
    lines = []
    start = time.monotonic()
    probabilities(data, fit=dict(epochs=100000, progress=lines.append), time_limit=1, schedule="cosine")
    assert 1 <= time.monotonic() - start < 60
    assert any("time limit" in line for line in lines)


def test_tokenizer_train_takes_the_loop_settings(tmp_path):
    tiny = dict(hidden_size=8, char_dim=8, bigram_dim=4, min_bigram_count=1, epochs=1, max_batches_per_epoch=3,
                seed=3, progress=False)
    checkpoint = tmp_path / "tok.ckpt"
    Tokenizer.train(CWS / "train.txt", CWS / "dev.txt", schedule="cosine", cell="lstm", time_limit=60,
                    checkpoint=checkpoint, **tiny)
    assert checkpoint.is_file()
    lines = []
    Tokenizer.train(CWS / "train.txt", CWS / "dev.txt", checkpoint=checkpoint, **dict(tiny, epochs=2, progress=lines.append))
    assert any("resumed from" in line for line in lines)  # an existing checkpoint resumes, as before
    with pytest.raises(ValueError, match="schedule must be plateau or cosine"):
        Tokenizer.train(CWS / "train.txt", CWS / "dev.txt", schedule="linear", **tiny)


def cli(*args):
    proc = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@needs_cli
@pytest.mark.parametrize("command", ["train-tokenizer", "train-classifier", "train-segmenter"])
def test_cli_every_train_command_has_the_loop_flags(command):
    usage = cli(command, "--help")
    assert all(flag in usage for flag in LOOP_FLAGS), usage


@needs_cli
def test_cli_loop_flags_train_a_text_classifier(tmp_path):
    """Through the CLI on one model: --cell lstm given equals the default; --schedule
    cosine and --average-decay change the model; --checkpoint writes one and --resume
    continues to the uninterrupted run's model; --time-limit stops training."""
    lines = [line for line in EN.read_text(encoding="utf-8").splitlines() if line.strip()]
    (tmp_path / "train.tsv").write_text("\n".join(lines[:240]) + "\n", encoding="utf-8")
    (tmp_path / "dev.tsv").write_text("\n".join(lines[240:]) + "\n", encoding="utf-8")
    (tmp_path / "in.txt").write_text("\n".join(line.split("\t", 1)[1] for line in lines[240:]) + "\n", encoding="utf-8")
    base = ["--train", tmp_path / "train.tsv", "--dev", tmp_path / "dev.tsv", "--embedding-dim", 16, "--hidden-size", 16,
            "--attention-size", 8, "--min-count", 1, "--batch-size", 16, "--seed", 3, "--threads", 1]

    def train(name, *flags, epochs=3):
        out = cli("train-classifier", *base, "--epochs", epochs, "--output", tmp_path / name, *flags)
        return out, cli("classify", "--model", tmp_path / name, "--probabilities", "--threads", 1, tmp_path / "in.txt")

    plain = train("plain.st")[1]
    assert train("lstm.st", "--cell", "lstm", "--schedule", "plateau")[1] == plain
    assert train("cosine.st", "--schedule", "cosine")[1] != plain
    assert train("avg.st", "--average-decay", "0.9")[1] != plain
    whole = train("whole.st", "--checkpoint", tmp_path / "whole.ckpt")[1]
    assert (tmp_path / "whole.ckpt").is_file()
    train("split.st", "--checkpoint", tmp_path / "split.ckpt", epochs=1)
    out, resumed = train("resumed.st", "--checkpoint", tmp_path / "split.ckpt", "--resume")
    assert "resumed from" in out

    def table(output):  # the printed probabilities (4 decimals)
        return np.array([[float(p.split("=")[1]) for p in line.split("\t")[1].split(" ")] for line in output.splitlines()])

    assert np.abs(table(whole) - table(resumed)).max() < 1e-3
    start = time.monotonic()
    out, _ = train("timed.st", "--time-limit", 0.02, "--schedule", "cosine", epochs=100000)
    assert "time limit" in out and time.monotonic() - start < 120
