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

Images are as lstmkit.ImageClassifier's (its module says how pixels are read and
normalised), single images (N, H, W) or (N, H, W, C) of any H and W from 1 up, which
need not be the training size: masks always come back with the input's H x W.

Masks are integer arrays (N, H, W) of class indices in [0, num_classes); class 0 is
usually the background.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._args import int_arg
from ._estimator import Estimator, Fitted, c_defaults, fit_args
from .image_classifier import example_shape, images_arg

__all__ = ["ImageSegmenter"]

#: The C ABI's defaults (lk_image_segmenter_train_config_default): the one definition.
_D = _native.train_config_default("image_segmenter")
_d = c_defaults(_D)


def _masks_arg(name: str, value: Any, images: np.ndarray, images_name: str, num_classes: int) -> np.ndarray:
    """value as int32 masks (N, H, W) for `images`, every label in [0, num_classes);
    errors name the mask, the pixel and the label."""
    masks = np.asarray(value)
    if masks.dtype.kind not in "biu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {masks.dtype}")
    if masks.shape != images.shape[:3]:
        raise ValueError(f"{name} must have shape (N, H, W) of {images_name} = {images.shape[:3]}, got {masks.shape}")
    flat = masks.reshape(masks.shape[0], -1)
    bad = (flat < 0) | (flat >= num_classes)
    if bad.any():
        i, j = divmod(int(np.argmax(bad.ravel())), flat.shape[1])
        r, c = divmod(j, masks.shape[2])
        raise ValueError(f"{name}[{i}] has label {int(flat[i, j])} at ({r}, {c}); labels must be in [0, {num_classes})")
    return np.ascontiguousarray(masks, dtype=np.int32)


def _class_weights_arg(value: Any) -> Tuple[bool, Optional[np.ndarray]]:
    """(balance_classes, explicit weights or None) from fit's class_weights; the engine
    checks the weights."""
    if value is None or isinstance(value, str):
        if value not in (None, "balanced"):
            raise ValueError(f"class_weights must be None, 'balanced' or a weight per class, got {value!r}")
        return value == "balanced", None
    try:
        return False, np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"class_weights must be None, 'balanced' or a sequence of floats, got {type(value).__name__}") from None


class ImageSegmenter(Estimator):
    """An unfitted image segmenter (scikit-learn's estimator contract): configure, then
    ``fit``. The arguments are checked by ``fit``.

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
        **loop: the training loop's settings, as every model's (None: the default):
            schedule, average_decay, time_limit, checkpoint, resume, cell (see Estimator).

    predict_proba gives float32 (N, H, W, K), each pixel's K values summing to 1;
    predict int64 masks (N, H, W); X may have any H and W, with the model's channels.
    """

    _estimator_type, _SCORE, _PAIR = "segmenter", "mean_iou", "X, masks"
    _C_DEFAULTS = _D
    _LOAD, _TRAIN = _native.image_segmenter_load, _native.image_segmenter_train

    def __init__(
        self,
        num_classes: int,
        context: str = _d("context"),
        hidden_size: int = _d("hidden_size"),
        encoder_channels: Sequence[int] = _d("encoder_channels"),
        batch_norm: bool = _d("batch_norm"),
        upsampling: str = _d("upsampling"),
        attention_gates: bool = _d("attention_gates"),
        seed: int = _d("seed"),
        **loop: Any,
    ) -> None:
        self._init_params(locals())

    @fit_args(_d, "epochs batch_size learning_rate clip_norm schedule patience decay_factor time_limit threads "
                  "log_every verbose")
    def fit(self, X: Any, y: Any, *, flip: bool = _d("flip"), dice_weight: float = _d("dice_weight"),
            class_weights: Union[None, str, Sequence[float], np.ndarray] = None, **args: Any) -> "ImageSegmenter":
        """
        X: images (N, H, W[, C]), y their masks (N, H, W); validation images may have
        another H and W. The pixel mean and std come from the training images. The loss
        is cross-entropy + dice_weight * soft Dice. class_weights: None (all 1),
        "balanced" (median-frequency balancing from the training masks) or num_classes
        weights >= 0 for the cross-entropy. time_limit: training stops at the first batch
        end after it, then the validation set is scored. flip: augment by mirroring each
        training image and its mask left to right with probability 1/2 (for data whose
        labels survive a mirror).
        """
        balance_classes, weights = _class_weights_arg(class_weights)
        return self._fit(X, y, dict(args, flip=flip, dice_weight=dice_weight, balance_classes=balance_classes), weights)

    def _inputs(self, X: Any, prefix: str = "", model: Optional[Fitted] = None) -> np.ndarray:
        X = images_arg(prefix + "X", X, frames=False)
        c = None if model is None else int(model.handle.setting("channels"))
        if c is not None and example_shape(X)[-1] != c:
            raise ValueError(f"X has shape {X.shape}: this model takes images of {c} channel{'' if c == 1 else 's'}, "
                             f"(N, H, W, {c}){' or (N, H, W)' if c == 1 else ''}")
        return X

    def _targets(self, y: Any, X: np.ndarray, prefix: str = "", model: Optional[Fitted] = None) -> Any:
        k = int_arg("num_classes", self.num_classes) if model is None else int(model.handle.setting("num_classes"))
        return _masks_arg(prefix + "masks", y, X, prefix + "X", k), False

    def _check_validation(self, X: np.ndarray, y: Any, dev_X: np.ndarray, dev_y: Any) -> None:
        if example_shape(dev_X)[-1] != example_shape(X)[-1]:
            raise ValueError(f"the validation images have {example_shape(dev_X)[-1]} channels but the training "
                             f"images have {example_shape(X)[-1]}")

    @property
    def channels(self) -> int:
        """C, the channels of the images the model takes (1 for (N, H, W) images)."""
        return int(self._fitted().handle.setting("channels"))

    def _fitted_repr(self) -> str:
        return f"channels={self.channels}"

    def predict(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """The most probable class of every pixel: int64 masks (N, H, W)."""
        model = self._fitted()
        return model.handle.predict(self._inputs(X, model=model), self._predict_threads(threads)).astype(np.int64)

    def evaluate(self, X: Any, y: Any, *, threads: Optional[int] = None) -> Dict[str, Any]:
        """Scores predicted masks against gold ones (y, int (N, H, W)): a dict with
        pixel_accuracy (the share of pixels right), iou (a list of K floats: TP / (TP +
        FP + FN) per class, NaN for a class neither in the gold masks nor predicted),
        mean_iou (the mean of the defined IoUs) and confusion (K x K int64, rows gold,
        columns predicted)."""
        model = self._fitted()
        X = self._inputs(X, model=model)
        gold, _ = self._targets(y, X, model=model)
        confusion, accuracy, mean_iou = model.handle.evaluate(X, gold, self._predict_threads(threads))
        tp = np.diag(confusion).astype(np.float64)
        union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        return {"pixel_accuracy": float(accuracy), "iou": [float(v) for v in iou], "mean_iou": float(mean_iou),
                "confusion": confusion}
