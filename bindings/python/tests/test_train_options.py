"""The training loop's settings through Python (lstmkit._estimator.LOOP_PARAMS): each one
observable on a text classifier (the C ABI passes them by name, lk_train_options), and
the tokenizer's train taking the same. test_estimators.py checks that every estimator
accepts them."""

import time
from pathlib import Path

import numpy as np
import pytest

from lstmkit import TextClassifier, Tokenizer

REPO = Path(__file__).resolve().parents[3]
EN = REPO / "Tests" / "Fixtures" / "text" / "en.tsv"
CWS = REPO / "Tests" / "Fixtures" / "cws"
TINY = dict(embedding_dim=16, hidden_size=16, attention_size=8, min_count=1, seed=3)
FIT = dict(epochs=3, batch_size=16, threads=1, progress=False)


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
