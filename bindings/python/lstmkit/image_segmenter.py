"""lstmkit.ImageSegmenter: a class for every pixel, with a U-Net-shaped network whose
context comes from an LSTM sweep over the rows and columns of the encoder's feature map
(or, as an ablation, from two convolutions), trained by LSTMKit.

    >>> from lstmkit import ImageSegmenter
    >>> seg = ImageSegmenter(num_classes=11)                # context="lstm" or "conv"
    >>> seg.fit(X_train, masks_train, epochs=10)            # X: (N, H, W[, C]); masks (N, H, W)
    >>> seg.predict(X_test)                                 # int64 masks (N, H, W)
    >>> seg.predict_proba(X_test).shape                     # (N, H, W, K) float32
    >>> seg.evaluate(X_test, masks_test)["mean_iou"]
    >>> seg.save("seg.safetensors"); ImageSegmenter.load("seg.safetensors")

Images are NumPy arrays, channels last: (N, H, W) for grey images or (N, H, W, C). Any
real dtype is accepted and converted to float32 (C-contiguous); uint8 pixels stay
0..255. The model normalises pixels with the mean and standard deviation of the
training images, so any scale works, but predict must be given the scale fit was given.
H and W can be anything from 1 up, and need not be the training size: masks always
come back with the input's H x W.

Masks are integer arrays (N, H, W) of class indices in [0, num_classes); class 0 is
usually the background.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._estimator import (SEED, Estimator, c_value, flag, int_in, int_sequence, one_of, split_validation,
                         validation_pair, validation_split_arg)
from .image_classifier import _images_arg as _image_batch_arg, _check_finite, _positive_float, _time_limit, _verbose_callback
from .tokenizer import _float_value, _int_arg, _learning_rate

__all__ = ["ImageSegmenter"]

_CONTEXTS = {"lstm": 0, "conv": 1}
_UPSAMPLING = {"transposed": 0, "bilinear": 1}
_SCHEDULES = {"plateau": 0, "cosine": 1}
_MAX_BLOCKS = 6

#: The C ABI's defaults (lk_image_segmenter_train_config_default): the one definition.
_D = _native.image_segmenter_train_config_default()


def _images_arg(name: str, value: Any) -> np.ndarray:
    """value as an array of images (N, H, W) or (N, H, W, C) (see image_classifier)."""
    return _image_batch_arg(name, value, frames=False)


def _masks_arg(name: str, value: Any, images: np.ndarray, images_name: str, num_classes: int) -> np.ndarray:
    """value as int32 masks (N, H, W) for `images`, every label in [0, num_classes);
    errors name the mask, the pixel and the label."""
    if isinstance(value, np.ndarray):
        masks = value
    else:
        try:
            masks = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must be an integer array (N, H, W), got {type(value).__name__}: {e}") from None
    if masks.dtype.kind not in "biu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {masks.dtype}")
    want = images.shape[:3]
    if masks.shape != want:
        raise ValueError(f"{name} must have shape (N, H, W) of {images_name} = {want}, got {masks.shape}")
    flat = masks.reshape(masks.shape[0], -1)
    bad = (flat < 0) | (flat >= num_classes)
    if bad.any():
        i, j = divmod(int(np.argmax(bad.ravel())), flat.shape[1])
        r, c = divmod(j, masks.shape[2])
        raise ValueError(f"{name}[{i}] has label {int(flat[i, j])} at ({r}, {c}); labels must be in [0, {num_classes})")
    return np.ascontiguousarray(masks, dtype=np.int32)


def _class_weights_arg(value: Any, num_classes: int) -> Tuple[bool, Optional[np.ndarray]]:
    """(balance_classes, explicit weights or None) from fit's class_weights."""
    if value is None:
        return False, None
    if isinstance(value, str):
        if value != "balanced":
            raise ValueError(f"class_weights must be None, 'balanced' or {num_classes} weights, got {value!r}")
        return True, None
    try:
        weights = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"class_weights must be None, 'balanced' or a sequence of {num_classes} floats, "
                        f"got {type(value).__name__}") from None
    if weights.shape != (num_classes,):
        raise ValueError(f"class_weights must hold num_classes = {num_classes} weights, got shape {weights.shape}")
    bad = ~(np.isfinite(weights) & (weights >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"class_weights[{i}] is {weights[i]}; weights must be finite and >= 0")
    if not (weights > 0).any():
        raise ValueError("class_weights are all 0; at least one must be > 0")
    return False, weights.astype(np.float32)


class ImageSegmenter(Estimator):
    """An unfitted image segmenter (scikit-learn's estimator contract): configure, then
    ``fit``.

    Args:
        num_classes: K, the classes per pixel, background included (>= 2).
        context: "lstm" (default): a BiLSTM over every row of the encoder's feature map,
            then one over every column (ReNet's sweep), so each pixel sees the whole
            image; "conv": the ablation, two 3x3 convolutions with about as many weights.
        hidden_size: LSTM units per direction (the context has 2 * hidden_size channels).
        encoder_channels: output channels of each encoder block (1 to 6 blocks); each
            block halves H and W (inputs are padded inside, so any size works).
        batch_norm: BatchNorm in every conv block.
        upsampling: "transposed" (a 2x2 transposed conv) or "bilinear" (bilinear x2, then
            a 1x1 conv).
        attention_gates: an attention gate on each skip connection.
        seed: initialisation, shuffling and the validation split.
    """

    _estimator_type = "segmenter"
    _SCORE = "mean_iou"
    _C_DEFAULTS = _D
    _LOAD = _native.image_segmenter_load
    _PARAMS = {
        "num_classes": int_in(2, 65536),
        "context": one_of(_CONTEXTS),
        "hidden_size": int_in(1, 4096),
        "encoder_channels": int_sequence(1, 4096, _MAX_BLOCKS),
        "batch_norm": flag,
        "upsampling": one_of(_UPSAMPLING),
        "attention_gates": flag,
        "seed": SEED,
    }

    def __init__(
        self,
        num_classes: int,
        context: str = c_value(_D, "context", _PARAMS),
        hidden_size: int = c_value(_D, "hidden_size", _PARAMS),
        encoder_channels: Sequence[int] = c_value(_D, "encoder_channels", _PARAMS),
        batch_norm: bool = c_value(_D, "batch_norm", _PARAMS),
        upsampling: str = c_value(_D, "upsampling", _PARAMS),
        attention_gates: bool = c_value(_D, "attention_gates", _PARAMS),
        seed: int = c_value(_D, "seed", _PARAMS),
    ) -> None:
        self._init_params(locals())

    # -- fitting -----------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        validation_data: Optional[Tuple[Any, Any]] = None,
        *,
        validation_split: Optional[float] = None,
        epochs: int = c_value(_D, "epochs"),
        batch_size: int = c_value(_D, "batch_size"),
        learning_rate: float = c_value(_D, "learning_rate"),
        clip_norm: float = c_value(_D, "clip_norm"),
        schedule: str = "plateau",
        flip: bool = bool(_D["flip"]),
        patience: int = c_value(_D, "patience"),
        decay_factor: float = c_value(_D, "decay_factor"),
        time_limit: Optional[float] = None,
        dice_weight: float = c_value(_D, "dice_weight"),
        class_weights: Union[None, str, Sequence[float], np.ndarray] = None,
        threads: int = c_value(_D, "threads"),
        log_every: int = c_value(_D, "log_every"),
        verbose: Union[bool, Callable[[str], Any]] = True,
    ) -> "ImageSegmenter":
        """Trains on (X, y) — images and their masks (N, H, W) —, early-stopping on the mean IoU on validation data, and
        keeps the weights of the best epoch. Returns self.

        validation_data: an (X_val, masks_val) pair (its H and W may differ from X's);
        without it the last ``validation_split`` (default 0.1) of a shuffle (seeded by ``seed``) of the
        training images is held out. The pixel mean and std come from the training
        images. The loss is cross-entropy + dice_weight * soft Dice. class_weights: None
        (all 1), "balanced" (median-frequency balancing from the training masks) or
        num_classes weights >= 0 for the cross-entropy. time_limit: seconds (>= 1); training
        stops at the first batch end after it, then the validation set is scored.
        schedule "plateau": after an epoch without a better validation mean IoU the
        learning rate is multiplied by decay_factor; after ``patience`` such epochs
        training stops. schedule "cosine": the rate follows half a cosine down to 0 over
        time_limit (else the epochs), batch by batch, with no early stop. flip: augment
        by mirroring each training image and its mask left to right with probability 1/2
        (for data whose labels survive a mirror). verbose: True prints each progress
        line, False is silent, a callable receives the lines. Training runs with the GIL
        released.
        ValueError if training diverges (a NaN or infinite loss or gradient): lower
        learning_rate.
        """
        params = self._params()
        num_classes = params["num_classes"]
        X = _images_arg("X", X)
        masks = _masks_arg("masks", y, X, "X", num_classes)
        _check_finite("X", X)  # before any split, so that the index is the caller's
        split = validation_split_arg(validation_data, validation_split)
        epochs = _int_arg("epochs", epochs, 1)
        batch_size = _int_arg("batch_size", batch_size, 1, 65536)
        learning_rate = _learning_rate(learning_rate)
        clip_norm = _positive_float("clip_norm", clip_norm)
        if not isinstance(schedule, str) or schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {sorted(_SCHEDULES)}, got {schedule!r}")
        if not isinstance(flip, bool):
            raise TypeError(f"flip must be True or False, got {flip!r}")
        patience = _int_arg("patience", patience, 1)
        decay_factor = _positive_float("decay_factor", decay_factor)
        if decay_factor > 1:
            raise ValueError(f"decay_factor must be in (0, 1], got {decay_factor}")
        limit = _time_limit(time_limit)
        dice = _float_value("dice_weight", dice_weight)
        if not (math.isfinite(dice) and dice >= 0):
            raise ValueError(f"dice_weight must be finite and >= 0, got {dice_weight}")
        balance, weights = _class_weights_arg(class_weights, num_classes)
        threads = _int_arg("threads", threads, 1, 1024)
        log_every = _int_arg("log_every", log_every, 1)
        callback = _verbose_callback(verbose)

        if validation_data is not None:
            dev_X, dev_masks = validation_pair(validation_data, "X, masks")
            dev_X = _images_arg("validation X", dev_X)
            dev_masks = _masks_arg("validation masks", dev_masks, dev_X, "validation X", num_classes)
            _check_finite("validation X", dev_X)
            channels = X.shape[3] if X.ndim == 4 else 1
            dev_channels = dev_X.shape[3] if dev_X.ndim == 4 else 1
            if dev_channels != channels:
                raise ValueError(f"the validation images have {dev_channels} channels but the training images "
                                 f"have {channels}")
            train_X, train_masks = X, masks
        else:
            train, held_out = split_validation(X.shape[0], split, params["seed"], "images")
            train_X, train_masks = X[np.array(train)], masks[np.array(train)]
            dev_X, dev_masks = X[np.array(held_out)], masks[np.array(held_out)]

        config = self._c_config(params, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                clip_norm=clip_norm, schedule=_SCHEDULES[schedule], flip=int(flip),
                                patience=patience, decay_factor=decay_factor, time_limit=limit, dice_weight=dice,
                                balance_classes=int(balance), threads=threads, log_every=log_every)
        self._set_model(_native.image_segmenter_train(train_X, train_masks, dev_X, dev_masks, config, weights,
                                                      callback))
        self._threads = threads
        return self

    # -- the fitted model ----------------------------------------------------------------

    @property
    def channels(self) -> int:
        """C, the channels of the images the model takes (1 for (N, H, W) images)."""
        return self._fitted().handle.channels()

    def _fitted_repr(self) -> str:
        return f"channels={self.channels}"

    # -- prediction --------------------------------------------------------------------

    def predict_proba(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities of every pixel, float32 (N, H, W, K); each pixel's K values
        sum to 1. X: (N, H, W[, C]) with the model's channels, any H and W. Runs with the
        GIL released, on up to ``threads`` threads (default: fit's)."""
        handle = self._fitted().handle
        X = _images_arg("X", X)
        return handle.predict_proba(X, self._fit_threads(threads))

    def predict(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """The most probable class of every pixel: int64 masks (N, H, W)."""
        handle = self._fitted().handle
        X = _images_arg("X", X)
        return handle.predict(X, self._fit_threads(threads)).astype(np.int64)

    def evaluate(self, X: Any, y: Any, *, threads: Optional[int] = None) -> Dict[str, Any]:
        """Scores predicted masks against gold ones (y, int (N, H, W)): a dict with pixel_accuracy (the share
        of pixels right), iou (a list of K floats: TP / (TP + FP + FN) per class, NaN for a
        class neither in the gold masks nor predicted), mean_iou (the mean of the
        defined IoUs) and confusion (K x K int64, rows gold, columns predicted)."""
        handle = self._fitted().handle
        X = _images_arg("X", X)
        gold = _masks_arg("masks", y, X, "X", handle.num_classes())
        confusion, accuracy, mean_iou = handle.evaluate(X, gold, self._fit_threads(threads))
        tp = np.diag(confusion).astype(np.float64)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        return {
            "pixel_accuracy": float(accuracy),
            "iou": [float(v) for v in iou],
            "mean_iou": float(mean_iou),
            "confusion": confusion,
        }
