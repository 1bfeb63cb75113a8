"""lstmkit.ImageSegmenter, the segmenter's command-line tool and its PNG codec.

The data are synthetic images made here (no downloads): mid-grey noise with one bright
square (class 1) and one dark square (class 2), the rest class 0 (background). Models
are tiny and train in well under a second. The PNG tests build PNGs with an independent
encoder (Python's zlib and struct: every filter type, zlib level 9, fixed-Huffman,
stored and split IDAT streams, each colour type) for the tool to read, and decode what
the tool writes with a small pure-Python decoder (zlib checks the Adler-32, zlib.crc32
the chunks).
"""

import struct
import zlib

import numpy as np
import pytest

import lstmkit
from lstmkit import ImageClassifier, ImageSegmenter, ModelFormatError
from helpers import (CLI, check_callback_exception_propagates, check_load_refuses_lstm_and_missing_files,
                     check_predict_threads, cli, cli_error, needs_cli)

TINY = dict(hidden_size=4, encoder_channels=(4, 8), seed=3)
FAST = dict(epochs=10, batch_size=8, learning_rate=0.02, log_every=4, verbose=False)


def squares(n, seed, h=12, w=12, channels=None):
    """(N, H, W[, C]) uint8 images and int64 masks (N, H, W): a bright square is class 1,
    a dark one class 2 (drawn second), the rest 0."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(90, 150, (n, h, w))
    m = np.zeros((n, h, w), np.int64)
    for i in range(n):
        for cls, value in ((1, 225), (2, 20)):
            s = min(int(rng.integers(3, 5)), h, w)
            t, left = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            x[i, t:t + s, left:left + s] = value + rng.uniform(-20, 20, (s, s))
            m[i, t:t + s, left:left + s] = cls
    x = np.clip(x, 0, 255).astype(np.uint8)
    if channels:
        x = np.repeat(x[..., None], channels, axis=3)
    return x, m


@pytest.fixture(scope="module")
def trained():
    """4 classes, of which the data use 3: class 3 is never seen, never predicted."""
    x, m = squares(96, 1)
    xd, md = squares(16, 2)
    xt, mt = squares(24, 3)
    lines = []
    seg = ImageSegmenter(4, **TINY).fit(x, m, validation_data=(xd, md), **dict(FAST, verbose=lines.append))
    return seg, lines, (xt, mt)


@pytest.fixture
def seg(trained):
    return trained[0]


# -- training and prediction ------------------------------------------------------------

def test_learns_squares(trained):
    seg, lines, (xt, mt) = trained
    result = seg.evaluate(xt, mt)
    assert result["pixel_accuracy"] > 0.95 and result["mean_iou"] > 0.85  # background alone: 0.83, 0.28
    assert any("epoch 1" in line for line in lines) and "96 images of 12×12×1" in lines[0]
    assert seg.channels == 1 and seg.num_classes == 4 and "channels=1" in repr(seg)


def test_predict_shapes_and_dtypes(seg, trained):
    xt = trained[2][0]
    masks = seg.predict(xt)
    assert masks.dtype == np.int64 and masks.shape == (24, 12, 12)
    proba = seg.predict_proba(xt)
    assert proba.dtype == np.float32 and proba.shape == (24, 12, 12, 4) and proba.flags.c_contiguous
    np.testing.assert_allclose(proba.sum(axis=3), 1.0, atol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=3), masks)
    assert not (masks == 3).any()


def test_any_size(seg):
    x, m = squares(3, 7, h=13, w=17)
    masks = seg.predict(x)
    assert masks.shape == (3, 13, 17)
    assert np.mean(masks == m) > 0.9
    assert seg.predict_proba(x).shape == (3, 13, 17, 4)
    for h, w in [(1, 1), (5, 3), (2, 31)]:
        assert seg.predict(np.full((2, h, w), 120, np.uint8)).shape == (2, h, w)


def test_input_layouts_agree(seg, trained):
    xt = trained[2][0][:6]
    expected = seg.predict_proba(xt)
    np.testing.assert_array_equal(seg.predict_proba(xt[..., None]), expected)   # (N, H, W, 1)
    np.testing.assert_array_equal(seg.predict_proba(xt.astype(np.float64)), expected)
    np.testing.assert_array_equal(seg.predict_proba(np.asfortranarray(xt)), expected)
    np.testing.assert_array_equal(seg.predict_proba(xt.tolist()), expected)
    alone = np.concatenate([seg.predict_proba(xt[i:i + 1]) for i in range(6)])
    np.testing.assert_allclose(alone, expected, rtol=1e-5, atol=1e-6)


def test_evaluate(seg, trained):
    xt, mt = trained[2]
    result = seg.evaluate(xt, mt.astype(np.uint8))
    assert set(result) == {"pixel_accuracy", "iou", "mean_iou", "confusion"}
    confusion = result["confusion"]
    assert confusion.shape == (4, 4) and confusion.dtype == np.int64 and confusion.sum() == mt.size
    pred = seg.predict(xt)
    assert result["pixel_accuracy"] == pytest.approx(np.mean(pred == mt))
    np.testing.assert_array_equal(confusion, np.bincount(mt.ravel() * 4 + pred.ravel(), minlength=16).reshape(4, 4))
    iou = result["iou"]
    assert len(iou) == 4 and np.isnan(iou[3])     # class 3 is neither in the masks nor predicted
    assert all(0 <= v <= 1 for v in iou[:3])
    assert result["mean_iou"] == pytest.approx(np.mean(iou[:3]))


def test_save_load_round_trip(seg, trained, tmp_path):
    xt = trained[2][0]
    path = tmp_path / "seg.safetensors"
    seg.save(path)
    back = ImageSegmenter.load(path)
    np.testing.assert_array_equal(back.predict_proba(xt), seg.predict_proba(xt))
    np.testing.assert_array_equal(back.predict(xt), seg.predict(xt))
    assert (back.num_classes, back.context, back.hidden_size, back.encoder_channels, back.batch_norm,
            back.upsampling, back.attention_gates, back.seed) == (4, "lstm", 4, (4, 8), True, "transposed", False, 3)
    assert back.channels == 1
    np.testing.assert_array_equal(ImageSegmenter.load(str(path)).predict(xt[:2]), seg.predict(xt[:2]))


def test_variants_train():
    x, m = squares(24, 4)
    rgb, mr = squares(24, 5, channels=3)
    variants = [
        (dict(context="conv"), dict(class_weights="balanced")),
        (dict(upsampling="bilinear", attention_gates=True), dict(class_weights=[0.5, 2, 2])),
        (dict(batch_norm=False, encoder_channels=(4, 4, 4)), dict(dice_weight=0.0, time_limit=60)),
        (dict(), dict(schedule="cosine", patience=1)),
        (dict(), dict(flip=True)),
    ]
    for model_args, fit_args in variants:
        seg = ImageSegmenter(3, **dict(TINY, **model_args)).fit(x, m, validation_split=0.25,
                                                                **dict(FAST, epochs=1, **fit_args))
        assert seg.predict(x[:2]).shape == (2, 12, 12)
        for name, value in model_args.items():
            assert getattr(seg, name) == value
    seg = ImageSegmenter(3, **TINY).fit(rgb, mr, validation_data=(rgb[:4, :9, :7], mr[:4, :9, :7]),
                                        **dict(FAST, epochs=1))
    assert seg.channels == 3 and seg.predict(rgb[:2, :5]).shape == (2, 5, 12)
    with pytest.raises(ValueError, match="3 channels"):
        seg.predict(x[:2])


def test_threads(seg, trained):
    xt = trained[2][0]
    check_predict_threads(seg.predict_proba, xt)


def test_progress(capsys):
    x, m = squares(8, 9)
    ImageSegmenter(3, **TINY).fit(x, m, **dict(FAST, epochs=1, verbose=True))
    assert "epoch 1" in capsys.readouterr().out

    check_callback_exception_propagates(
        lambda callback: ImageSegmenter(3, **TINY).fit(x, m, **dict(FAST, epochs=1, verbose=callback)))


# -- bad input --------------------------------------------------------------------------

def test_bad_constructor_args_are_refused_at_fit():
    """Arguments are stored as given (scikit-learn's convention) and checked by fit, by the
    engine's rules: the message names the argument."""
    x, m = squares(16, 10)
    for kwargs, error, match in [
        (dict(num_classes=1), ValueError, "num_classes"),
        (dict(num_classes=2.0), TypeError, "num_classes"),
        (dict(num_classes=3, context="gru"), ValueError, "context"),
        (dict(num_classes=3, upsampling="nearest"), ValueError, "upsampling"),
        (dict(num_classes=3, hidden_size=0), ValueError, "hidden_size"),
        (dict(num_classes=3, encoder_channels=()), ValueError, "encoder_channels"),
        (dict(num_classes=3, encoder_channels=(4,) * 7), ValueError, "encoder_channels"),
        (dict(num_classes=3, encoder_channels=(4, 0)), ValueError, r"encoder_channels\[1\]"),
        (dict(num_classes=3, encoder_channels=8), TypeError, "encoder_channels"),
        (dict(num_classes=3, batch_norm=1), TypeError, "batch_norm"),
        (dict(num_classes=3, seed=-1), ValueError, "seed"),
    ]:
        seg = ImageSegmenter(**kwargs)
        with pytest.raises(error, match=match):
            seg.fit(x, m * 0, **dict(FAST, epochs=1))


def test_bad_fit_input():
    x, m = squares(16, 10)
    seg = ImageSegmenter(3, **TINY)
    fit = dict(FAST, epochs=1)
    with pytest.raises(ValueError, match=r"masks must have shape \(N, H, W\) of X = \(16, 12, 12\), got \(15, 12, 12\)"):
        seg.fit(x, m[:-1], **fit)
    with pytest.raises(ValueError, match=r"got \(16, 12, 11\)"):
        seg.fit(x, m[:, :, :11], **fit)
    bad = m.copy()
    bad[5, 2, 7] = 3
    with pytest.raises(ValueError, match=r"masks\[5\] has label 3 at \(2, 7\); labels must be in \[0, 3\)"):
        seg.fit(x, bad, **fit)
    bad[5, 2, 7] = -1
    with pytest.raises(ValueError, match=r"masks\[5\] has label -1"):
        seg.fit(x, bad, **fit)
    with pytest.raises(ValueError, match=r"validation masks\[0\] has label 9"):
        seg.fit(x, m, validation_data=(x[:2], np.full((2, 12, 12), 9)), **fit)
    with pytest.raises(TypeError, match="integer class indices"):
        seg.fit(x, m.astype(np.float32), **fit)
    with pytest.raises(ValueError, match="no images"):
        seg.fit(x[:0], m[:0], **fit)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        seg.fit(x[0], m[0], **fit)
    with pytest.raises(ValueError, match="empty dimension"):
        seg.fit(x[:, :0], m[:, :0], **fit)
    nan = x.astype(np.float32)
    nan[7, 3, 2] = np.nan
    with pytest.raises(ValueError, match=r"X\[7\] holds a NaN pixel"):
        seg.fit(nan, m, **fit)
    nan[7, 3, 2] = np.inf
    with pytest.raises(ValueError, match=r"validation X\[7\] holds an infinite pixel"):
        seg.fit(x, m, validation_data=(nan, m), **fit)
    with pytest.raises(ValueError, match="3 channels but the training images have 1"):
        seg.fit(x, m, validation_data=(np.repeat(x[..., None], 3, axis=3), m), **fit)
    with pytest.raises(TypeError, match="validation_data"):
        seg.fit(x, m, validation_data=x, **fit)
    with pytest.raises(ValueError, match="too few"):
        seg.fit(x[:1], m[:1], **fit)
    for value, match in [([1, 2], "num_classes = 3"), ([1, -1, 1], r"class_weights\[1\]"),
                         ([1, np.nan, 1], r"class_weights\[1\]"), ([0, 0, 0], "all 0"), ("equal", "balanced")]:
        with pytest.raises(ValueError, match=match):
            seg.fit(x, m, class_weights=value, **fit)
    for name, value in [("epochs", 0), ("batch_size", 0), ("patience", 0), ("threads", 0), ("log_every", 0),
                        ("learning_rate", -1.0), ("clip_norm", 0.0), ("decay_factor", 1.5), ("time_limit", 0.5),
                        ("dice_weight", -1.0), ("dice_weight", float("nan")), ("validation_split", 1.0)]:
        with pytest.raises(ValueError, match=name):
            seg.fit(x, m, **dict(fit, **{name: value}))
    with pytest.raises(ValueError, match="schedule"):
        seg.fit(x, m, **dict(fit, schedule="step"))
    with pytest.raises(TypeError, match="flip"):
        seg.fit(x, m, **dict(fit, flip=1))
    with pytest.raises(TypeError, match="verbose"):
        seg.fit(x, m, **dict(fit, verbose=3))
    with pytest.raises(RuntimeError, match="not fitted"):
        seg.predict(x)


def test_bad_predict_input(seg, trained):
    xt, mt = trained[2]
    with pytest.raises(ValueError, match=r"1 channel, \(N, H, W, 1\) or \(N, H, W\)"):
        seg.predict(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="no images"):
        seg.predict(xt[:0])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        seg.predict_proba(xt[0])
    bad = xt[:5].astype(np.float32)
    bad[4, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"X\[4\] holds a NaN pixel"):
        seg.predict(bad)
    with pytest.raises(ValueError, match="threads"):
        seg.predict_proba(xt, threads=0)
    with pytest.raises(ValueError, match="float32"):
        seg.predict(np.full((1, 8, 8), 2**40 + 1, np.int64))
    with pytest.raises(TypeError, match="dtype"):
        seg.predict(np.full((1, 4, 4), "a"))
    bad = mt[:2].copy()
    bad[1, 11, 3] = 4
    with pytest.raises(ValueError, match=r"masks\[1\] has label 4 at \(11, 3\)"):
        seg.evaluate(xt[:2], bad)
    with pytest.raises(ValueError, match=r"masks must have shape"):
        seg.evaluate(xt[:2], mt[:3])
    np.testing.assert_array_equal(seg.predict_proba(xt[:5]), seg.predict_proba(xt[:5]))


def test_wrong_model_kinds(seg, tmp_path):
    seg_path = tmp_path / "seg.safetensors"
    seg.save(seg_path)
    with pytest.raises(ModelFormatError, match="image_segmenter") as info:
        ImageClassifier.load(seg_path)
    assert "image_classifier" in str(info.value)
    x, _ = squares(16, 11)
    clf_path = tmp_path / "clf.safetensors"
    ImageClassifier(hidden_size=4).fit(x, np.arange(16) % 2, epochs=1, verbose=False).save(clf_path)
    with pytest.raises(ModelFormatError, match="image_classifier") as info:
        ImageSegmenter.load(clf_path)
    assert "image_segmenter" in str(info.value) and isinstance(info.value, ValueError)
    check_load_refuses_lstm_and_missing_files(ImageSegmenter, tmp_path)


# -- PNG files, built and read independently ----------------------------------------------

SAMPLES = {0: 1, 2: 3, 4: 2, 6: 4}


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter_row(kind, row, prev, bpp):
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
        out[i] = (x - predictor) % 256
    return bytes(out)


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(samples, colour_type, filters=(0,), level=9, strategy=zlib.Z_DEFAULT_STRATEGY, idat_parts=1,
             depth=8, interlace=0, extra_chunks=()):
    """A PNG of samples (H, W, S) uint8, built with zlib and struct only: row r uses filter
    filters[r % len(filters)]."""
    h, w, s = samples.shape
    assert s == SAMPLES[colour_type]
    raw, prev = bytearray(), bytes(w * s)
    for r in range(h):
        row = samples[r].tobytes()
        kind = filters[r % len(filters)]
        raw.append(kind)
        raw += _filter_row(kind, row, prev, s)
        prev = row
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    stream = compressor.compress(bytes(raw)) + compressor.flush()
    cuts = np.linspace(0, len(stream), idat_parts + 1).astype(int)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, interlace))
    for kind, data in extra_chunks:
        png += _chunk(kind, data)
    for a, b in zip(cuts[:-1], cuts[1:]):
        png += _chunk(b"IDAT", stream[a:b])
    return png + _chunk(b"IEND", b"")


def read_png(data):
    """A minimal PNG decoder (8-bit, non-interlaced): (H, W[, C]) uint8, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", None
    while True:
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body), kind
        at += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, colour, _, _, interlace = header
    assert depth == 8 and interlace == 0
    s = SAMPLES[colour]
    raw = zlib.decompress(idat)   # checks the Adler-32
    out, prev = [], bytes(w * s)
    for r in range(h):
        kind, row = raw[r * (w * s + 1)], bytearray(raw[r * (w * s + 1) + 1:(r + 1) * (w * s + 1)])
        for i in range(len(row)):
            a = row[i - s] if i >= s else 0
            b, c = prev[i], prev[i - s] if i >= s else 0
            row[i] = (row[i] + [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]) % 256
        out.append(bytes(row))
        prev = bytes(row)
    pixels = np.frombuffer(b"".join(out), np.uint8).reshape(h, w, s)
    return pixels[..., 0] if s == 1 else pixels




def inspect_png(path):
    """(shape, sum, first values) as `lstmkit-cli inspect` reports them."""
    out = cli("inspect", path).stdout
    shape = out.split("as an array: shape ")[1].splitlines()[0]
    total = int(out.split(" sum ")[1].splitlines()[0])
    first = [int(v) for v in out.split("first values: ")[1].split()]
    return shape, total, first


def expected_view(samples, colour_type):
    """What the reader gives for samples: alpha dropped, grey without a channel axis."""
    keep = samples[..., :1] if colour_type in (0, 4) else samples[..., :3]
    return keep[..., 0] if keep.shape[2] == 1 else keep


@needs_cli
@pytest.mark.parametrize("colour_type, filters, level, strategy, parts", [
    (0, (0,), 9, zlib.Z_DEFAULT_STRATEGY, 1),
    (0, (1,), 9, zlib.Z_DEFAULT_STRATEGY, 1),
    (0, (2,), 9, zlib.Z_DEFAULT_STRATEGY, 1),
    (0, (3,), 9, zlib.Z_DEFAULT_STRATEGY, 1),
    (0, (4,), 9, zlib.Z_DEFAULT_STRATEGY, 1),
    (2, (0, 1, 2, 3, 4), 9, zlib.Z_DEFAULT_STRATEGY, 3),   # dynamic Huffman, split IDAT
    (2, (4, 3), 9, zlib.Z_FIXED, 1),                        # fixed Huffman
    (4, (2, 1), 0, zlib.Z_DEFAULT_STRATEGY, 2),             # stored blocks; alpha dropped
    (6, (3, 4, 0), 9, zlib.Z_RLE, 1),
    (6, (1,), 9, zlib.Z_HUFFMAN_ONLY, 4),
])
def test_png_reader(tmp_path, colour_type, filters, level, strategy, parts):
    rng = np.random.default_rng(colour_type * 10 + len(filters))
    h, w = 13, 17
    # Smooth gradients (so that filters and back-references matter) plus noise.
    base = (np.add.outer(np.arange(h) * 7, np.arange(w) * 3)[..., None] + np.arange(SAMPLES[colour_type]) * 50)
    samples = ((base + rng.integers(0, 6, base.shape)) % 256).astype(np.uint8)
    path = tmp_path / "in.png"
    path.write_bytes(make_png(samples, colour_type, filters, level, strategy, parts))
    view = expected_view(samples, colour_type)
    shape, total, first = inspect_png(path)
    assert shape == str(view.shape) and total == int(view.sum())
    assert first == view.ravel()[:8].tolist()


@needs_cli
def test_png_reader_large_dynamic(tmp_path):
    # Long runs and repeats: length/distance codes far back, several deflate blocks.
    rng = np.random.default_rng(5)
    tile = rng.integers(0, 256, (4, 300, 3), dtype=np.uint8)
    samples = np.concatenate([tile] * 40 + [rng.integers(0, 256, (60, 300, 3), dtype=np.uint8)])
    path = tmp_path / "big.png"
    path.write_bytes(make_png(samples, 2, (0, 1, 2, 3, 4), idat_parts=7))
    shape, total, first = inspect_png(path)
    assert shape == "(220, 300, 3)" and total == int(samples.sum()) and first == samples.ravel()[:8].tolist()


@needs_cli
def test_png_reader_errors(tmp_path):
    grey = np.arange(35, dtype=np.uint8).reshape(5, 7, 1)
    good = make_png(grey, 0)

    def refused(data, needle):
        path = tmp_path / "bad.png"
        path.write_bytes(data)
        message = cli_error("inspect", path)
        assert needle in message, message

    refused(make_png(np.zeros((5, 7, 1), np.uint8), 0, depth=16), "bit depth is 16")
    refused(make_png(grey, 0, interlace=1), "interlaced")
    palette = bytearray(make_png(grey, 0))
    palette[25] = 3   # colour type byte of IHDR
    palette[29:33] = struct.pack(">I", zlib.crc32(bytes(palette[12:29])))
    refused(bytes(palette), "palette")
    corrupt = bytearray(good)
    corrupt[-20] ^= 0xFF   # inside IDAT: its CRC no longer matches
    refused(bytes(corrupt), "CRC-32")
    refused(good[:-30], "truncated")
    stream = bytearray(zlib.compress(bytes(8 * 5)))   # 5 rows of a filter byte and 7 pixels
    stream[-1] ^= 1
    adler = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 5, 8, 0, 0, 0, 0)) + \
        _chunk(b"IDAT", bytes(stream)) + _chunk(b"IEND", b"")
    refused(adler, "Adler-32")
    short = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 6, 8, 0, 0, 0, 0)) + \
        _chunk(b"IDAT", zlib.compress(bytes(8 * 5))) + _chunk(b"IEND", b"")
    refused(short, "need 48")   # 5 rows of data for 6
    raw = bytearray(8 * 5)
    raw[8] = 7   # row 1's filter type
    refused(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 7, 5, 8, 0, 0, 0, 0)) +
            _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b""), "filter type 7")
    refused(good[:8] + _chunk(b"IEND", b""), "not IHDR")
    refused(make_png(grey, 0, extra_chunks=[(b"ZZZZ", b"x")]), "unknown critical chunk ZZZZ")
    ancillary = tmp_path / "ok.png"
    ancillary.write_bytes(make_png(grey, 0, extra_chunks=[(b"tEXt", b"a\0b"), (b"gAMA", b"\0\0\xb1\x8f")]))
    assert inspect_png(ancillary)[1] == int(grey.sum())


# -- the command-line tool ----------------------------------------------------------------

@needs_cli
def test_cli_train_segment_eval(tmp_path):
    x, m = squares(96, 21)
    xd, md = squares(16, 22)
    xt, mt = squares(24, 23)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", m.astype(np.uint8))
    np.save(tmp_path / "xd.npy", xd.astype(np.float64))
    np.save(tmp_path / "md.npy", md.astype(np.int32))
    np.save(tmp_path / "xt.npy", xt)
    np.save(tmp_path / "mt.npy", mt)
    model = tmp_path / "seg.safetensors"
    out = cli("train-segmenter", "--train", tmp_path / "x.npy", "--train-masks", tmp_path / "m.npy",
              "--dev", tmp_path / "xd.npy", "--dev-masks", tmp_path / "md.npy", "--output", model,
              "--hidden-size", 4, "--encoder-channels", "4,8", "--epochs", 10, "--batch-size", 8,
              "--learning-rate", 0.02, "--log-every", 4, "--seed", 3, "--balance-classes").stdout
    assert "epoch 1 batch 4/12" in out and "3 classes" in out and "model written" in out
    loaded = ImageSegmenter.load(model)
    assert loaded.num_classes == 3 and loaded.context == "lstm"

    # .npy in, .npy out (int64 (N, H, W)), probabilities as predict_proba gives them.
    cli("segment-image", "--model", model, tmp_path / "xt.npy", "--output", tmp_path / "pred.npy",
        "--probabilities-npy", tmp_path / "p.npy")
    pred = np.load(tmp_path / "pred.npy")
    assert pred.dtype == np.int64 and pred.shape == (24, 12, 12)
    np.testing.assert_array_equal(pred, loaded.predict(xt))
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), loaded.predict_proba(xt), rtol=1e-5, atol=1e-6)
    assert np.mean(pred == mt) > 0.95
    summary = cli("segment-image", "--model", model, tmp_path / "xt.npy").stdout.splitlines()
    assert len(summary) == 24 and summary[0].startswith(f"{tmp_path / 'xt.npy'}[0]\t12×12\t0: ")

    # PNG in (13 x 17, each colour type the model can take), PNG out: the class index as grey.
    odd, odd_masks = squares(2, 24, h=13, w=17)
    inputs = []
    for i, (colour, filters) in enumerate([(0, (0, 1, 2, 3, 4)), (4, (4,))]):
        samples = odd[i][..., None] if colour == 0 else np.stack([odd[i], np.full_like(odd[i], 200)], axis=2)
        path = tmp_path / f"img{i}.png"
        path.write_bytes(make_png(samples, colour, filters))
        inputs.append(path)
    cli("segment-image", "--model", model, inputs[0], "--output", tmp_path / "mask0.png",
        "--probabilities-npy", tmp_path / "p0.npy")
    np.testing.assert_allclose(np.load(tmp_path / "p0.npy"), loaded.predict_proba(odd[:1]), rtol=1e-5, atol=1e-6)
    mask0 = read_png((tmp_path / "mask0.png").read_bytes())
    assert mask0.dtype == np.uint8 and mask0.shape == (13, 17)
    np.testing.assert_array_equal(mask0, loaded.predict(odd[:1])[0])
    (tmp_path / "masks").mkdir()
    cli("segment-image", "--model", model, *inputs, tmp_path / "xt.npy", "--output", tmp_path / "masks")
    np.testing.assert_array_equal(read_png((tmp_path / "masks" / "img1.png").read_bytes()), loaded.predict(odd[1:2])[0])
    np.testing.assert_array_equal(read_png((tmp_path / "masks" / "xt-5.png").read_bytes()), pred[5])
    # A mask of more than 65535 bytes: several stored deflate blocks.
    big = np.random.default_rng(25).integers(0, 256, (1, 260, 270), dtype=np.uint8)
    (tmp_path / "big.png").write_bytes(make_png(big[0][..., None], 0, (1, 2)))
    cli("segment-image", "--model", model, tmp_path / "big.png", "--output", tmp_path / "big-mask.png")
    np.testing.assert_array_equal(read_png((tmp_path / "big-mask.png").read_bytes()), loaded.predict(big)[0])

    lines = cli("eval-segmenter", tmp_path / "xt.npy", "--masks", tmp_path / "mt.npy", "--model", model).stdout
    assert "24 images of 12×12" in lines and "images/s" in lines and "pixel accuracy" in lines and "mean IoU" in lines
    score = loaded.evaluate(xt, mt)
    assert f"mean IoU {score['mean_iou'] * 100:.2f}" in lines
    assert f"  2: {score['iou'][2] * 100:.2f}" in lines

    # Errors: one line, exit code 1.
    np.save(tmp_path / "m_short.npy", m[:95])
    assert "must be (N, H, W) = (96, 12, 12)" in cli_error(
        "train-segmenter", "--train", tmp_path / "x.npy", "--train-masks", tmp_path / "m_short.npy",
        "--dev", tmp_path / "xd.npy", "--dev-masks", tmp_path / "md.npy", "--output", tmp_path / "n.safetensors")
    bad = mt.copy()
    bad[3, 4, 5] = 7
    np.save(tmp_path / "bad.npy", bad)
    assert "mask 3 has label 7 at (4, 5)" in cli_error("eval-segmenter", tmp_path / "xt.npy", "--masks",
                                                       tmp_path / "bad.npy", "--model", model)
    assert "training set: mask 3 has label 7" in cli_error(
        "train-segmenter", "--train", tmp_path / "xt.npy", "--train-masks", tmp_path / "bad.npy",
        "--dev", tmp_path / "xd.npy", "--dev-masks", tmp_path / "md.npy", "--output", tmp_path / "n.safetensors",
        "--num-classes", 3)
    np.save(tmp_path / "float.npy", mt.astype(np.float32))
    assert "integers" in cli_error("eval-segmenter", tmp_path / "xt.npy", "--masks", tmp_path / "float.npy",
                                   "--model", model)
    assert "--context" in cli_error("train-segmenter", "--train", tmp_path / "x.npy", "--train-masks",
                                    tmp_path / "m.npy", "--dev", tmp_path / "xd.npy", "--dev-masks",
                                    tmp_path / "md.npy", "--output", tmp_path / "n.safetensors", "--context", "gru")
    rgb = tmp_path / "rgb.png"
    rgb.write_bytes(make_png(np.zeros((4, 4, 3), np.uint8), 2))
    assert "RGB PNG" in cli_error("segment-image", "--model", model, rgb)
    assert "different sizes" in cli_error("segment-image", "--model", model, *inputs, tmp_path / "xt.npy",
                                          "--output", tmp_path / "all.npy")
    assert "3 images" in cli_error("segment-image", "--model", model, inputs[0], inputs[1], inputs[0],
                                   "--output", tmp_path / "one.png")
    (tmp_path / "notes.txt").write_text("hello")
    assert "neither a .npy file nor a PNG" in cli_error("segment-image", "--model", model, tmp_path / "notes.txt")
    lstm_path = tmp_path / "lstm.safetensors"
    lstmkit.LSTM(3, 4).save(lstm_path)
    message = cli_error("segment-image", "--model", lstm_path, tmp_path / "xt.npy")
    assert '"lstm"' in message and "image_segmenter" in message
