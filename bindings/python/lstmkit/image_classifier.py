"""lstmkit.ImageClassifier: image (and frame-sequence) classification with an LSTM over
the rows of an image, or over the feature rows or frames of a small CNN, trained by
LSTMKit.

    >>> from lstmkit import ImageClassifier
    >>> clf = ImageClassifier(kind="rows", hidden_size=64)
    >>> clf.fit(X_train, y_train, epochs=5)         # X: (N, H, W[, C]) uint8 or float
    >>> clf.predict(X_test)                          # array of labels, y's type
    >>> clf.predict_proba(X_test).shape              # (N, len(clf.classes_))
    >>> clf.evaluate(X_test, y_test)["accuracy"]
    >>> clf.save("digits.safetensors"); ImageClassifier.load("digits.safetensors")

Images are NumPy arrays, channels last: (N, H, W) for grey images, (N, H, W, C), or for
kind "cnn" sequences of frames (N, T, H, W, C). Any real dtype is accepted and converted
to float32 (C-contiguous); uint8 pixels stay 0..255. The model normalises pixels with
the mean and standard deviation of the training images, so any scale works, but
predict must be given the scale fit was given (do not train on 0..255 and predict on
0..1).

Labels are strings inside the model. Integer labels are accepted: they are stored as
their decimal strings, and when every training label was an integer (not a bool),
``predict`` returns an int64 array and ``classes_`` is int64; otherwise they are str
arrays. This holds after ``save``/``load`` too when every class label of the loaded
model is the decimal form of an integer.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._labels import is_int_text, labels_arg, score
from .tokenizer import PathLike, _fraction_arg, _float_value, _int_arg, _learning_rate, _path_arg, _print_line

__all__ = ["ImageClassifier"]

_KINDS = {"rows": 0, "cnn": 1}
_POOLING = {"last": 0, "mean": 1, "max": 2, "attention": 3}


def _images_arg(name: str, value: Any, frames: bool = True) -> np.ndarray:
    """value as an array of images (N, H, W), (N, H, W, C) or, with `frames`,
    (N, T, H, W, C), with at least one image and no empty dimension. The native layer
    converts it to float32 (C-contiguous) and names values float32 cannot hold."""
    if isinstance(value, np.ndarray):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be a NumPy array of images, got {type(value).__name__}: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers (it is converted to float32), got dtype {arr.dtype}")
    if frames and arr.ndim not in (3, 4, 5):
        raise ValueError(f"{name} must have shape (N, H, W), (N, H, W, C) or (N, T, H, W, C), got {arr.shape}")
    if not frames and arr.ndim not in (3, 4):
        raise ValueError(f"{name} must have shape (N, H, W) or (N, H, W, C), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} holds no images (shape {arr.shape})")
    if min(arr.shape[1:]) == 0:
        raise ValueError(f"{name} has an empty dimension: shape {arr.shape}")
    return arr


def _check_finite(name: str, X: np.ndarray) -> None:
    """ValueError naming the first image of X that holds a NaN or infinite pixel."""
    if X.dtype.kind != "f":
        return
    finite = np.isfinite(X.reshape(X.shape[0], -1))
    if not finite.all():
        flat = int(np.argmin(finite.ravel()))
        i, j = divmod(flat, finite.shape[1])
        value = X.reshape(X.shape[0], -1)[i, j]
        raise ValueError(f"{name}[{i}] holds a{' NaN' if np.isnan(value) else 'n infinite'} pixel "
                         f"(at flat index {j} of that image); pixels must be finite")


def _verbose_callback(verbose: Any) -> Optional[Callable[[str], Any]]:
    if verbose is True:
        return _print_line
    if verbose is False or verbose is None:
        return None
    if callable(verbose):
        return verbose
    raise TypeError(f"verbose must be a bool or a callable, got {type(verbose).__name__}")


def _positive_float(name: str, value: Any) -> float:
    value = _float_value(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


class ImageClassifier:
    """An unfitted image classifier (sklearn-like): configure, then ``fit``.

    Args:
        kind: "rows" (default): the image's rows are the LSTM's time steps; "cnn": conv
            blocks (3x3 conv, ReLU, 2x2 max-pool) first, then the rows of the feature
            map, or for (N, T, H, W, C) input each frame's feature map, are the steps.
        hidden_size, num_layers: LSTM sizes (hidden_size per direction).
        bidirectional: a BiLSTM (default) or a forward LSTM.
        columns: kind "rows" only: a second LSTM also reads the columns.
        conv_channels: kind "cnn": output channels of each conv block (1 to 8 blocks);
            H and W must be at least 2**len(conv_channels).
        pooling: "last" (default), "mean", "max" or "attention" over the LSTM's steps.
        attention_size: the attention layer's size (pooling="attention").
        dropout: on the pooled features, in [0, 1).
        seed: initialisation, dropout, shuffling and the validation split.
    """

    def __init__(
        self,
        kind: str = "rows",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        columns: bool = False,
        conv_channels: Sequence[int] = (32, 64),
        pooling: str = "last",
        attention_size: int = 64,
        dropout: float = 0.25,
        seed: int = 1,
    ) -> None:
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
        if not isinstance(pooling, str) or pooling not in _POOLING:
            raise ValueError(f"pooling must be one of {sorted(_POOLING)}, got {pooling!r}")
        for name, value in (("bidirectional", bidirectional), ("columns", columns)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
        if columns and kind != "rows":
            raise ValueError("columns=True applies to kind='rows' only")
        if isinstance(conv_channels, (str, bytes)) or not hasattr(conv_channels, "__iter__"):
            raise TypeError(f"conv_channels must be a sequence of ints, got {type(conv_channels).__name__}")
        channels = [_int_arg(f"conv_channels[{i}]", c, 1, 4096) for i, c in enumerate(conv_channels)]
        if not 1 <= len(channels) <= 8:
            raise ValueError(f"conv_channels must hold 1 to 8 sizes, got {len(channels)}")
        self.kind = kind
        self.hidden_size = _int_arg("hidden_size", hidden_size, 1, 4096)
        self.num_layers = _int_arg("num_layers", num_layers, 1, 16)
        self.bidirectional = bool(bidirectional)
        self.columns = bool(columns)
        self.conv_channels = tuple(channels)
        self.pooling = pooling
        self.attention_size = _int_arg("attention_size", attention_size, 1, 4096)
        self.dropout = _fraction_arg("dropout", dropout)
        self.seed = _int_arg("seed", seed, 0, 2**64 - 1)
        self._handle: Any = None
        self._labels: List[str] = []
        self._int_labels = False
        self._threads = 2

    # -- fitting -----------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        validation_data: Optional[Tuple[Any, Any]] = None,
        *,
        validation_split: float = 0.1,
        epochs: int = 15,
        batch_size: int = 64,
        learning_rate: float = 0.001,
        clip_norm: float = 5.0,
        patience: int = 3,
        decay_factor: float = 0.5,
        time_limit: Optional[float] = None,
        threads: int = 2,
        log_every: int = 200,
        verbose: Union[bool, Callable[[str], Any]] = True,
    ) -> "ImageClassifier":
        """Trains on (X, y), early-stopping on the accuracy on validation data, and
        keeps the weights of the best epoch. Returns self.

        validation_data: an (X_val, y_val) pair; without it the last
        ``validation_split`` of a shuffle (seeded by ``seed``) of the training data is
        held out (held-out images whose label is left without a training example are
        dropped from it). The pixel mean and std come from the training images.
        time_limit: seconds (>= 1); no epoch starts after it. After an epoch without
        a better validation accuracy the learning rate is multiplied by decay_factor;
        after ``patience`` such epochs training stops.
        verbose: True prints each progress line, False is silent, a callable receives
        the lines. Training runs with the GIL released.
        """
        X = _images_arg("X", X)
        str_labels, all_int = labels_arg("y", y, X.shape[0], f"X holds {X.shape[0]} images but y holds {{n}} labels")
        if len(set(str_labels)) < 2:
            raise ValueError(f"y holds a single class ({str_labels[0]!r}): a classifier needs at least 2")
        _check_finite("X", X)  # before any split, so that the index is the caller's
        if X.ndim == 5 and self.kind != "cnn":
            raise ValueError(f"X has shape {X.shape}: sequences of frames (N, T, H, W, C) need kind='cnn'")
        epochs = _int_arg("epochs", epochs, 1)
        batch_size = _int_arg("batch_size", batch_size, 1, 65536)
        learning_rate = _learning_rate(learning_rate)
        clip_norm = _positive_float("clip_norm", clip_norm)
        patience = _int_arg("patience", patience, 1)
        decay_factor = _positive_float("decay_factor", decay_factor)
        if decay_factor > 1:
            raise ValueError(f"decay_factor must be in (0, 1], got {decay_factor}")
        if time_limit is None:
            limit = 0.0
        else:
            limit = _float_value("time_limit", time_limit)
            if not (math.isfinite(limit) and limit >= 1):
                raise ValueError(f"time_limit must be None or at least 1 (seconds), got {time_limit}")
        threads = _int_arg("threads", threads, 1, 1024)
        log_every = _int_arg("log_every", log_every, 1)
        callback = _verbose_callback(verbose)

        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be an (X, y) pair")
            dev_X = _images_arg("validation X", validation_data[0])
            dev_labels, _ = labels_arg("validation y", validation_data[1], dev_X.shape[0],
                                       f"validation X holds {dev_X.shape[0]} images but validation y holds {{n}} labels")
            train_X, train_labels = X, str_labels
            unseen = sorted(set(dev_labels) - set(train_labels))
            if unseen:
                raise ValueError(f"validation labels {unseen} do not occur in y")
        else:
            if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
                raise TypeError(f"validation_split must be a float, got {type(validation_split).__name__}")
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            n = X.shape[0]
            n_dev = max(1, int(round(n * validation_split)))
            if n - n_dev < 2:
                raise ValueError(f"{n} images are too few to hold out a validation_split of {validation_split}")
            order = list(range(n))
            random.Random(self.seed).shuffle(order)
            train_idx, dev_idx = order[: n - n_dev], order[n - n_dev:]
            train_labels = [str_labels[i] for i in train_idx]
            if len(set(train_labels)) < 2:
                raise ValueError("after holding out the validation split, the training labels hold a single class")
            known = set(train_labels)
            kept = [i for i in dev_idx if str_labels[i] in known]
            if not kept:
                raise ValueError("no held-out image has a label seen in training: pass validation_data")
            train_X = X[np.array(train_idx)]
            dev_X = X[np.array(kept)]
            dev_labels = [str_labels[i] for i in kept]

        config = _native.image_classifier_train_config_default()
        config.update(
            kind=_KINDS[self.kind],
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=int(self.bidirectional),
            columns=int(self.columns),
            conv_channels=list(self.conv_channels),
            pooling=_POOLING[self.pooling],
            attention_size=self.attention_size,
            dropout=self.dropout,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            clip_norm=clip_norm,
            patience=patience,
            decay_factor=decay_factor,
            time_limit=limit,
            threads=threads,
            log_every=log_every,
            seed=self.seed,
        )
        handle = _native.image_classifier_train(train_X, train_labels, dev_X, dev_labels, config, callback)
        self._set_handle(handle, all_int)
        self._threads = threads
        return self

    def _set_handle(self, handle: Any, int_labels: bool) -> None:
        self._handle = handle
        self._labels = handle.labels()
        self._int_labels = int_labels and all(is_int_text(label) for label in self._labels)

    # -- the fitted model ----------------------------------------------------------------

    def _fitted(self) -> Any:
        if self._handle is None:
            raise RuntimeError("this ImageClassifier is not fitted yet: call fit() or ImageClassifier.load()")
        return self._handle

    @property
    def labels(self) -> List[str]:
        """The class labels as the model keeps them (str), in the column order of
        predict_proba."""
        self._fitted()
        return list(self._labels)

    @property
    def classes_(self) -> np.ndarray:
        """The class labels in the column order of predict_proba: int64 when every
        training label was an int, else str."""
        self._fitted()
        if self._int_labels:
            return np.array([int(label) for label in self._labels], dtype=np.int64)
        return np.array(self._labels, dtype=str)

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """The shape of one example: (H, W, C), or (T, H, W, C) for frame sequences."""
        return self._fitted().input_shape()

    # -- prediction --------------------------------------------------------------------

    def predict_proba(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities, float32 of shape (N, len(classes_)); rows sum to 1.
        X has the shape of the training images ((N, H, W) is accepted for one channel).
        Runs with the GIL released, on up to ``threads`` threads (default: fit's)."""
        handle = self._fitted()
        X = _images_arg("X", X)
        threads = self._threads if threads is None else _int_arg("threads", threads, 1, 1024)
        return handle.predict_proba(X, threads)

    def predict(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """The most probable class of each image, as an array of classes_'s dtype."""
        proba = self.predict_proba(X, threads=threads)
        return self.classes_[proba.argmax(axis=1)]

    def evaluate(self, X: Any, y: Any, *, threads: Optional[int] = None) -> Dict[str, Any]:
        """Scores predictions against gold labels: a dict with accuracy, macro_f1 (the
        unweighted mean of per-class F1), confusion (C x C int64 array, rows gold,
        columns predicted, in classes_ order) and labels (classes_ as a list). A label
        the model does not know is a ValueError naming it."""
        self._fitted()
        X = _images_arg("X", X)
        gold, _ = labels_arg("y", y, X.shape[0], f"X holds {X.shape[0]} images but y holds {{n}} labels")
        result = score(self._labels, gold, self.predict_proba(X, threads=threads))
        result["labels"] = self.classes_.tolist()
        return result

    # -- files -------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the model file (atomically)."""
        self._fitted().save(_path_arg("path", path))

    @classmethod
    def load(cls, path: PathLike) -> "ImageClassifier":
        """Reads a model file written by save(). OSError if it cannot be read;
        lstmkit.ModelFormatError (a ValueError) if it is corrupt or holds another kind
        of model (the message names both kinds). The returned object's ``kind`` is the
        file's; its other hyper-parameters are the defaults (the file's own are what
        count)."""
        handle = _native.image_classifier_load(_path_arg("path", path))
        self = cls(kind=handle.kind())
        labels = handle.labels()
        self._set_handle(handle, all(is_int_text(label) for label in labels))
        return self

    def __repr__(self) -> str:
        if self._handle is None:
            return f"ImageClassifier(kind={self.kind!r}, hidden_size={self.hidden_size}, unfitted)"
        return (f"ImageClassifier(kind={self.kind!r}, input_shape={self.input_shape}, "
                f"classes={self.classes_.tolist()!r})")
