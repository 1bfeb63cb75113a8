"""Model files: save/load round trips, atomic writes, paths."""

import os

import numpy as np
import pytest

import lstmkit
from helpers import make_model

CONFIGS = [(1, 1, 1, False), (5, 4, 2, True), (7, 9, 3, False), (3, 2, 3, True)]


def _input(d, seed=0):
    return np.random.default_rng(seed).standard_normal((3, 6, d)).astype(np.float32)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"D{c[0]}-H{c[1]}-L{c[2]}-{c[3]}")
def test_round_trip_is_bit_identical(tmp_path, config):
    model, _ = make_model(*config, seed=sum(config))
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = lstmkit.load(path)

    assert (loaded.input_size, loaded.hidden_size, loaded.num_layers, loaded.bidirectional) == (
        model.input_size, model.hidden_size, model.num_layers, model.bidirectional)
    assert repr(loaded) == repr(model)
    a, b = model.state_dict(), loaded.state_dict()
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
        assert a[name].tobytes() == b[name].tobytes(), name

    x = _input(config[0])
    lengths = [6, 1, 4]
    ya, (ha, ca) = model(x, lengths)
    yb, (hb, cb) = loaded(x, lengths)
    assert ya.tobytes() == yb.tobytes()
    assert ha.tobytes() == hb.tobytes() and ca.tobytes() == cb.tobytes()


def test_round_trip_keeps_dropout_and_seed_config(tmp_path):
    model = lstmkit.LSTM(4, 3, num_layers=2, dropout=0.25, seed=77)
    model.save(tmp_path / "m.safetensors")
    loaded = lstmkit.load(tmp_path / "m.safetensors")
    assert loaded.dropout == 0.25
    assert loaded.num_layers == 2 and not loaded.bidirectional


def test_save_leaves_no_temporary_files(tmp_path):
    model, _ = make_model(5, 4, 2, True)
    model.save(tmp_path / "a.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["a.safetensors"]
    model.save(tmp_path / "a.safetensors")  # overwrite
    model.save(tmp_path / "b.safetensors")
    assert sorted(os.listdir(tmp_path)) == ["a.safetensors", "b.safetensors"]


def test_failed_save_leaves_no_files(tmp_path):
    model, _ = make_model(2, 3)
    target = tmp_path / "is_a_directory"
    target.mkdir()
    with pytest.raises(OSError):
        model.save(target)
    assert sorted(os.listdir(tmp_path)) == ["is_a_directory"]
    assert os.listdir(target) == []


def test_save_overwrites_existing_model(tmp_path):
    path = tmp_path / "m.safetensors"
    first, _ = make_model(3, 4, seed=1)
    second, _ = make_model(3, 4, num_layers=2, bidirectional=True, seed=2)
    first.save(path)
    second.save(path)
    loaded = lstmkit.load(path)
    assert loaded.num_layers == 2 and loaded.bidirectional
    x = _input(3)
    np.testing.assert_array_equal(loaded(x)[0], second(x)[0])


def test_loading_does_not_depend_on_cwd(tmp_path, monkeypatch):
    model, _ = make_model(4, 5, 2, True, seed=3)
    (tmp_path / "models").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "models")
    model.save("relative.safetensors")  # relative to the cwd at save time
    absolute = tmp_path / "models" / "relative.safetensors"
    assert absolute.is_file()

    monkeypatch.chdir(tmp_path / "elsewhere")
    x = _input(4)
    expected = model(x)[0]
    np.testing.assert_array_equal(lstmkit.load(absolute)(x)[0], expected)
    np.testing.assert_array_equal(lstmkit.load("../models/relative.safetensors")(x)[0], expected)
    with pytest.raises(OSError):
        lstmkit.load("relative.safetensors")  # not here


def test_path_types(tmp_path):
    model, _ = make_model(2, 3, seed=4)
    x = _input(2)
    expected = model(x)[0]

    class CustomPath:
        def __init__(self, path):
            self.path = path

        def __fspath__(self):
            return self.path

    paths = [
        tmp_path / "pathlib.safetensors",
        str(tmp_path / "str.safetensors"),
        os.fsencode(tmp_path / "bytes.safetensors"),
        CustomPath(str(tmp_path / "custom.safetensors")),
        tmp_path / "ünïcode 模型 with spaces.safetensors",
    ]
    for path in paths:
        model.save(path)
        np.testing.assert_array_equal(lstmkit.load(path)(x)[0], expected)
    assert len(os.listdir(tmp_path)) == len(paths)


@pytest.mark.parametrize("bad", [None, 3, 1.5, ["a"]])
def test_bad_path_types(tmp_path, bad):
    model, _ = make_model(2, 3)
    with pytest.raises(TypeError):
        model.save(bad)
    with pytest.raises(TypeError):
        lstmkit.load(bad)


def test_loaded_model_is_independent_of_file(tmp_path):
    path = tmp_path / "m.safetensors"
    model, _ = make_model(3, 4, seed=5)
    model.save(path)
    loaded = lstmkit.load(path)
    path.unlink()
    x = _input(3)
    np.testing.assert_array_equal(loaded(x)[0], model(x)[0])


def test_loaded_model_accepts_new_weights(tmp_path):
    path = tmp_path / "m.safetensors"
    model, _ = make_model(3, 4, seed=5)
    model.save(path)
    loaded = lstmkit.load(path)
    other, params = make_model(3, 4, seed=6)
    loaded.load_state_dict(params)
    x = _input(3)
    np.testing.assert_array_equal(loaded(x)[0], other(x)[0])


def test_pickle_and_deepcopy_round_trip():
    import copy
    import pickle

    model, _ = make_model(3, 4, num_layers=2, bidirectional=True, seed=8)
    x = _input(3)
    expected = model(x)[0]
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone is not model and repr(clone) == repr(model)
        assert clone._handle is not model._handle
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(clone.state_dict()[name], value)
        np.testing.assert_array_equal(clone(x)[0], expected)


def test_saving_over_a_file_keeps_its_mode_and_writes_through_links(tmp_path):
    # issue 17: a 0600 model became 0644, and a symlink was replaced by a regular file
    import os
    import stat
    model = lstmkit.LSTM(3, 4, seed=1)
    target = tmp_path / "model.safetensors"
    model.save(target)
    os.chmod(target, 0o600)
    model.save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    other = lstmkit.LSTM(3, 4, seed=2)
    other.save(link)
    assert link.is_symlink()
    assert lstmkit.load(target).state_dict()["weight_ih_l0"].tolist() == other.state_dict()["weight_ih_l0"].tolist()
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_save_to_a_symlink_loop_keeps_the_link(tmp_path):
    """Issue 17's second adversarial run: saving to a link that points to itself replaced
    the link with the model file; now OSError ("too many levels of symbolic links")."""
    import pytest
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop)
    with pytest.raises(OSError, match="too many levels of symbolic links"):
        lstmkit.LSTM(3, 4, seed=1).save(loop)
    assert loop.is_symlink()


def test_save_over_a_fifo_or_device_keeps_it(tmp_path):
    """Issue 17's second adversarial run: saving to a path that names a device, FIFO or
    socket replaced it with the model file (`--output /dev/zero`, run as root, replaced
    /dev/zero); now OSError and the node stays."""
    import os
    import stat
    import pytest
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        lstmkit.LSTM(3, 4, seed=1).save(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
