"""Issue 17: inputs that once crashed the host process now raise (Python) or fail with
one line and exit code 1 (the command-line tool). Each test is named after its case."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

import lstmkit
from lstmkit import ImageClassifier, ImageSegmenter, TextClassifier, Tokenizer

REPO = Path(__file__).resolve().parents[3]
CWS = REPO / "Tests" / "Fixtures" / "cws"
EN = REPO / "Tests" / "Fixtures" / "text" / "en.tsv"
CLI = Path(lstmkit.__file__).resolve().parent / "_bin" / "lstmkit-cli"
needs_cli = pytest.mark.skipif(not CLI.is_file(), reason="the package was built without lstmkit-cli")

DIVERGED = r"^training diverged at epoch \d+, batch \d+: the (loss|gradient norm) is .*; lower the learning rate$"


def cli_error(*args, stdin=None):
    """Runs a command that must fail: exit code 1 and one line on stderr."""
    proc = subprocess.run([str(CLI), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmkit: error: "), proc.stderr
    return lines[0]


def text_data():
    rows = [line.split("\t", 1) for line in EN.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r[1] for r in rows][:80], [r[0] for r in rows][:80]


def quadrants(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(90, 45, (n, 8, 8))
    for i, c in enumerate(y):
        r, col = divmod(int(c), 2)
        x[i, 4 * r:4 * r + 4, 4 * col:4 * col + 4] += 70
    return np.clip(x, 0, 255).astype(np.float32), y


def squares(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(90, 150, (n, 12, 12)).astype(np.float32)
    m = np.zeros((n, 12, 12), np.int64)
    for i in range(n):
        t, left = rng.integers(0, 8, 2)
        x[i, t:t + 4, left:left + 4] = 225
        m[i, t:t + 4, left:left + 4] = 1
    return x, m


# -- item 1: training that diverges --------------------------------------------------------

def test_diverged_training_tokenizer():
    with pytest.raises(ValueError, match=DIVERGED):
        Tokenizer.train(CWS / "train.txt", CWS / "dev.txt", learning_rate=1e9, epochs=3, max_batches_per_epoch=4,
                        hidden_size=8, char_dim=8, bigram_dim=4, min_bigram_count=1, progress=False)


def test_diverged_training_text_classifier():
    texts, labels = text_data()
    with pytest.raises(ValueError, match=DIVERGED):
        TextClassifier(embedding_dim=8, hidden_size=8, attention_size=4, min_count=1).fit(
            texts, labels, validation_data=(texts, labels), learning_rate=1e30, epochs=5, batch_size=8, progress=False)


def test_diverged_training_image_classifier():
    # (At 1e30 the loss only reaches 1e30, finite, once training flushes denormals to zero.)
    x, y = quadrants(40, 1)
    with pytest.raises(ValueError, match=DIVERGED):
        ImageClassifier(kind="cnn", hidden_size=8, conv_channels=(4,)).fit(
            x, y, validation_data=(x, y), learning_rate=1e38, epochs=5, batch_size=8, verbose=False)


def test_diverged_training_image_segmenter():
    x, m = squares(16, 1)
    with pytest.raises(ValueError, match=DIVERGED):
        ImageSegmenter(2, hidden_size=2, encoder_channels=(2,)).fit(
            x, m, validation_data=(x, m), learning_rate=1e30, epochs=5, batch_size=4, verbose=False)


@needs_cli
def test_diverged_training_cli(tmp_path):
    tok = tmp_path / "tok.safetensors"
    message = cli_error("train-tokenizer", "--train", CWS / "train.txt", "--dev", CWS / "dev.txt", "--output", tok,
                        "--learning-rate", 1e9, "--epochs", 3, "--max-batches", 4, "--hidden-size", 8,
                        "--char-dim", 8, "--bigram-dim", 4, "--min-bigram-count", 1)
    assert "training diverged at epoch" in message and message.endswith("lower the learning rate")
    (tmp_path / "t.tsv").write_text("".join(f"{label}\t{text}\n" for text, label in zip(*text_data())))
    message = cli_error("train-classifier", "--train", tmp_path / "t.tsv", "--dev", tmp_path / "t.tsv",
                        "--output", tmp_path / "c.safetensors", "--learning-rate", 1e30, "--epochs", 5,
                        "--batch-size", 8, "--embedding-dim", 8, "--hidden-size", 8, "--min-count", 1)
    assert "training diverged at epoch" in message
    x, y = quadrants(40, 1)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    message = cli_error("train-classifier", "--kind", "cnn", "--train", tmp_path / "x.npy", "--train-labels",
                        tmp_path / "y.npy", "--dev", tmp_path / "x.npy", "--dev-labels", tmp_path / "y.npy",
                        "--output", tmp_path / "i.safetensors", "--learning-rate", 1e38, "--epochs", 5,
                        "--batch-size", 8, "--hidden-size", 8, "--conv-channels", "4")
    assert "training diverged at epoch" in message
    x, m = squares(16, 1)
    np.save(tmp_path / "sx.npy", x)
    np.save(tmp_path / "sm.npy", m)
    message = cli_error("train-segmenter", "--train", tmp_path / "sx.npy", "--train-masks", tmp_path / "sm.npy",
                        "--dev", tmp_path / "sx.npy", "--dev-masks", tmp_path / "sm.npy",
                        "--output", tmp_path / "s.safetensors", "--learning-rate", 1e30, "--epochs", 5,
                        "--batch-size", 4, "--hidden-size", 2, "--encoder-channels", "2")
    assert "training diverged at epoch" in message


DEV_OVERFLOW = (r"^training diverged at epoch 1, batch \d+: the network's output on the dev set is not finite; "
                r"lower the learning rate$")


def test_diverged_training_image_classifier_dev_output_overflows():
    """A CNN at learning rate 1e30 keeps finite losses and gradients but its weights grow
    until the dev set's logits overflow: fit raised "image 0 overflows the network ... its
    pixels are far outside the training scale" about the user's own dev images. Now the
    divergence error. The rows classifier at 1e30 saturates instead (every value stays
    finite): that training completes, as any finite training does, with finite
    probabilities."""
    x, y = quadrants(64, 0)
    xd, yd = quadrants(32, 1)
    with pytest.raises(ValueError, match=DEV_OVERFLOW):
        ImageClassifier(kind="cnn").fit(x, y, validation_data=(xd, yd), learning_rate=1e30, epochs=3, verbose=False)
    rows = ImageClassifier(kind="rows").fit(x, y, validation_data=(xd, yd), learning_rate=1e30, epochs=3, verbose=False)
    p = rows.predict_proba(xd)
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1, atol=1e-5)


@needs_cli
def test_diverged_training_image_classifier_dev_output_overflows_cli(tmp_path):
    x, y = quadrants(64, 0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    message = cli_error("train-classifier", "--kind", "cnn", "--train", tmp_path / "x.npy", "--train-labels",
                        tmp_path / "y.npy", "--dev", tmp_path / "x.npy", "--dev-labels", tmp_path / "y.npy",
                        "--output", tmp_path / "i.safetensors", "--learning-rate", 1e30, "--epochs", 3)
    import re
    assert re.match(DEV_OVERFLOW, message.removeprefix("lstmkit: error: ")), message
    assert not (tmp_path / "i.safetensors").exists()


# -- item 8: a tampered model file ---------------------------------------------------------

GOLDEN = REPO / "Tests" / "Fixtures" / "golden"


def with_metadata(src, dst, **changes):
    """The model file src with metadata values replaced, written to dst."""
    import json
    import struct
    data = src.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header["__metadata__"].update({k: str(v) for k, v in changes.items()})
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    dst.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])
    return dst


@pytest.mark.parametrize("cls, name, key, value", [
    (TextClassifier, "text-en", "embedding_dim", 2147483647),
    (TextClassifier, "text-en", "embedding_dim", 4096),
    (TextClassifier, "text-en", "attention_size", 2147483647),
    (TextClassifier, "text-en", "attention_size", 4096),
    (TextClassifier, "text-en", "bigram_dim", 2147483647),
    (TextClassifier, "text-en", "bigram_dim", 4096),
    (Tokenizer, "tokenizer", "character_dim", 2147483647),
    (Tokenizer, "tokenizer", "character_dim", 4096),
    (Tokenizer, "tokenizer", "bigram_dim", 2147483647),
    (Tokenizer, "tokenizer", "bigram_dim", 4096),
    (ImageSegmenter, "segmenter", "encoder_channels", "4096,4096,4096,4096,4096,4096"),
    (ImageClassifier, "image-cnn", "conv_channels", "4096,4096"),
    (ImageClassifier, "image-rows", "num_layers", 8),
    (lstmkit, "lstm", "hidden_size", 4096),   # lstmkit.load
])
def test_tampered_model_file(tmp_path, cls, name, key, value):
    """Refused with the key named, quickly (once an abort, or a minute and 22.7 GB)."""
    import time
    path = with_metadata(GOLDEN / f"{name}.safetensors", tmp_path / "m.safetensors", **{key: value})
    start = time.perf_counter()
    with pytest.raises(lstmkit.ModelFormatError, match=key.replace("character_dim", "char(acter)?_dim")):
        cls.load(path)
    assert time.perf_counter() - start < 5


# -- item 4: never OK with NaN -------------------------------------------------------------

@pytest.mark.parametrize("name", ["image-rows", "image-cnn", "segmenter"])
def test_flt_max_pixels_never_nan(tmp_path, name):
    """Pixels of FLT_MAX through a model trained on a small pixel scale overflowed to NaN
    probabilities (and an all-zero mask) with no error: now a ValueError naming the image,
    and a finite answer for the golden model itself."""
    cls = ImageSegmenter if name == "segmenter" else ImageClassifier
    model = cls.load(GOLDEN / f"{name}.safetensors")
    shape = (16, 16, model.channels) if name == "segmenter" else model.input_shape
    x = np.full((1,) + tuple(shape), np.finfo(np.float32).max, np.float32)
    probabilities = model.predict_proba(x)
    assert np.isfinite(probabilities).all()
    tampered = cls.load(with_metadata(GOLDEN / f"{name}.safetensors", tmp_path / "m.safetensors", pixel_std=0.01))
    with pytest.raises(ValueError, match=r"image 0 overflows the network"):
        tampered.predict_proba(x)
    with pytest.raises(ValueError, match=r"image 0 overflows the network"):
        tampered.predict(x)


# -- item 9: inputs without end -------------------------------------------------------------

@needs_cli
def test_cli_segment_dev_zero():
    """`segment /dev/zero` grew until an allocation failed and aborted (after 4 GB): now
    refused at the documented 2 GiB limit with one line and exit code 1."""
    message = cli_error("segment", "/dev/zero")
    assert "does not end within 2147483648 bytes" in message, message


def test_tokenizer_train_dev_zero(tmp_path):
    """Tokenizer.train('/dev/zero') raised a MemoryError with no message after 7.5 GB."""
    with pytest.raises(OSError, match="does not end within 2147483648 bytes"):
        Tokenizer.train("/dev/zero", "/dev/zero", epochs=1)


# -- item 10: the command-line tool's lines and arguments ----------------------------------

def cli_ok(*args, stdin=None):
    proc = subprocess.run([str(CLI), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@needs_cli
def test_cli_crlf_lines_segment():
    out = cli_ok("segment", stdin="我爱北京\r\n天安门\r\n")
    assert out.splitlines() == ["我 爱 北京", "天安门"] and "\r" not in out


@needs_cli
def test_cli_empty_stdin_segment_prints_nothing():
    assert cli_ok("segment", stdin="") == ""


@needs_cli
def test_cli_crlf_lines_classify(tmp_path):
    model = GOLDEN / "text-en.safetensors"
    texts = [f"a film number {i}, fine and good" for i in range(10)]
    out = cli_ok("classify", "--model", model, stdin="".join(t + "\r\n" for t in texts))
    assert len(out.splitlines()) == 10
    assert out == cli_ok("classify", "--model", model, stdin="".join(t + "\n" for t in texts))


@needs_cli
@pytest.mark.parametrize("threads", [0, 2147483648, -1])
def test_cli_threads_out_of_range(tmp_path, threads):
    """Every command with --threads refuses 0 and 2^31 with one line, before any work."""
    x, m = tmp_path / "x.npy", tmp_path / "m.npy"
    np.save(x, np.zeros((1, 12, 12), np.float32))
    np.save(m, np.zeros((1, 12, 12), np.int64))
    seg, cls = GOLDEN / "segmenter.safetensors", GOLDEN / "text-en.safetensors"
    out = tmp_path / "out.safetensors"
    commands = [
        ["segment"],
        ["train-tokenizer", "--train", CWS / "train.txt", "--dev", CWS / "dev.txt", "--output", out],
        ["eval-tokenizer", CWS / "test.txt"],
        ["train-classifier", "--train", EN, "--dev", EN, "--output", out],
        ["classify", "--model", cls],
        ["eval-classifier", EN, "--model", cls],
        ["train-segmenter", "--train", x, "--train-masks", m, "--dev", x, "--dev-masks", m, "--output", out],
        ["segment-image", x, "--model", seg],
        ["eval-segmenter", x, "--masks", m, "--model", seg],
    ]
    for command in commands:
        message = cli_error(*command, f"--threads={threads}", stdin="我爱北京\n")
        assert f"--threads must be in [1, 1024], got {threads}" in message, (command, message)
    assert not out.exists()


# -- item 9: one checked allocation path ----------------------------------------------------

OUT_OF_MEMORY = r"predicting 1 image of 16384×16384 needs [\d.]+ [GT]B, more than this machine's memory"


def test_segmenter_predict_16384_square_raises_memory_error():
    """ImageSegmenter.predict on a 16384×16384 image aborted the process allocating
    68.7 GB: now a MemoryError saying how much, checked before the image is read (the
    zeros are never touched, so the test costs address space, not memory)."""
    model = ImageSegmenter.load(GOLDEN / "segmenter.safetensors")
    x = np.zeros((1, 16384, 16384, model.channels), np.float32)
    with pytest.raises(MemoryError, match=OUT_OF_MEMORY):
        model.predict(x)
    with pytest.raises(MemoryError, match=OUT_OF_MEMORY):
        model.predict_proba(x, threads=2)
    with pytest.raises(MemoryError, match=OUT_OF_MEMORY):
        model.evaluate(x, np.zeros((1, 16384, 16384), np.int64))
    assert model.predict(x[:, :16, :16]).shape == (1, 16, 16)


def run_measured(args, env=None):
    """Runs the CLI; returns (exit code, stderr, peak resident set in bytes). The peak is
    the process's own VmHWM, polled until it exits (rusage would count the forked
    interpreter's pages too)."""
    import os
    import time
    proc = subprocess.Popen([str(CLI), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=None if env is None else {**os.environ, **env})
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) * 1024)
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.005)
    return proc.returncode, proc.stderr.read().decode(), peak


@needs_cli
def test_cli_segment_image_memory_estimate_bounds_peak(tmp_path):
    """The segmenter's estimate is an upper bound of what a prediction holds: the peak
    resident set of `segment-image` on a 512×512 image, less that of an 8×8 one (the
    program and the model), stays below the estimate its error states under
    LSTMKIT_MAX_ALLOC_BYTES, and that error is one line with exit code 1."""
    rng = np.random.default_rng(0)
    big, small = tmp_path / "big.npy", tmp_path / "small.npy"
    np.save(big, rng.uniform(0, 255, (1, 512, 512, 3)).astype(np.float32))
    np.save(small, rng.uniform(0, 255, (1, 8, 8, 3)).astype(np.float32))
    model = GOLDEN / "segmenter.safetensors"
    code, stderr, _ = run_measured(["segment-image", "--model", model, big], env={"LSTMKIT_MAX_ALLOC_BYTES": "20000000"})
    assert code == 1 and len(stderr.strip().splitlines()) == 1, stderr
    import re
    found = re.search(r"predicting 1 image of 512×512 needs ([\d.]+) MB, more than LSTMKIT_MAX_ALLOC_BYTES \(20.0 MB\)", stderr)
    assert found, stderr
    estimate = float(found.group(1)) * 1e6
    code, stderr, peak = run_measured(["segment-image", "--model", model, big])
    assert code == 0, stderr
    code, stderr, base = run_measured(["segment-image", "--model", model, small])
    assert code == 0, stderr
    assert peak - base <= estimate, (peak - base, estimate)
    assert estimate <= 4 * (peak - base), (peak - base, estimate)   # an upper bound, not a wild one


@needs_cli
def test_cli_segment_image_16384_square_png(tmp_path):
    """`segment-image` on a PNG of 16384×16384 pixels (a valid, highly compressed file):
    one line saying how much memory it would need, exit code 1, where the library
    aborted. The model is a one-channel segmenter trained here (a grey PNG)."""
    import zlib, struct
    x, m = squares(8, 0)
    model_path = tmp_path / "seg.safetensors"
    ImageSegmenter(2, encoder_channels=[4], hidden_size=4).fit(x, m, epochs=1).save(model_path)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    side = 16384
    z = zlib.compressobj(9)
    row = bytes(1 + side)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    png = tmp_path / "huge.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                    + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    message = cli_error("segment-image", "--model", model_path, png)
    assert "predicting 1 image of 16384×16384 needs" in message and "more than" in message, message


def test_tokenizer_cut_beyond_memory_limit_raises_memory_error(tmp_path):
    """Segmenting holds about 25 bytes per byte of text (a 2 GiB line would need ~64 GB
    and abort): checked first, through Memory.check. Shown under a small
    LSTMKIT_MAX_ALLOC_BYTES, in a fresh process (the limit is read once)."""
    import os
    import sys
    code = (
        "import lstmkit, sys\n"
        f"t = lstmkit.Tokenizer.load({str(GOLDEN / 'tokenizer.safetensors')!r})\n"
        "assert t.cut('我爱北京') \n"
        "try:\n"
        "    t.cut('我' * 100000)\n"
        "except MemoryError as e:\n"
        "    print(e)\n"
    )
    env = {**os.environ, "LSTMKIT_MAX_ALLOC_BYTES": "2000000"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("segmenting 300000 bytes of text needs 9.6 MB, more than "
                                  "LSTMKIT_MAX_ALLOC_BYTES (2.0 MB)"), out.stdout
    if CLI.is_file():
        (tmp_path / "long.txt").write_text("我" * 100000 + "\n", encoding="utf-8")
        proc = subprocess.run([str(CLI), "segment", "--model", GOLDEN / "tokenizer.safetensors", tmp_path / "long.txt"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and proc.stderr.strip() == (
            "lstmkit: error: segmenting 300000 bytes of text needs 9.6 MB, more than LSTMKIT_MAX_ALLOC_BYTES (2.0 MB)"), proc.stderr


@needs_cli
def test_cli_output_to_a_fifo_is_refused_before_training(tmp_path):
    """`--output` naming a device or FIFO: the model replaced the node (as root,
    `--output /dev/zero` replaced /dev/zero) and a checkpoint was left beside it. Now one
    line before any training, and nothing is written."""
    import os
    import stat
    (tmp_path / "t.tsv").write_text("".join(f"{label}\t{text}\n" for text, label in zip(*text_data())))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    message = cli_error("train-classifier", "--train", tmp_path / "t.tsv", "--dev", tmp_path / "t.tsv",
                        "--output", fifo, "--epochs", 1, "--embedding-dim", 8, "--hidden-size", 8, "--min-count", 1)
    assert "it is not a regular file" in message, message
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "t.tsv"]
