"""LSTMKit: an LSTM engine on OpenBLAS, with NumPy in and NumPy out.

    >>> import numpy as np, lstmkit
    >>> lstm = lstmkit.LSTM(8, 16, num_layers=2, bidirectional=True, seed=1)
    >>> y, (h_n, c_n) = lstm(np.zeros((4, 10, 8), np.float32), lengths=[10, 7, 3, 1])
    >>> y.shape, h_n.shape
    ((4, 10, 32), (4, 4, 16))

    >>> gru = lstmkit.GRU(8, 16, bidirectional=True)   # nn.GRU: (output, h_n), no cell state
    >>> y, h_n = gru(np.zeros((4, 10, 8), np.float32), lengths=[10, 7, 3, 1])

    >>> tok = lstmkit.Tokenizer.load()   # Chinese word segmentation (bundled model)
    >>> words = tok.cut("我爱北京天安门")  # a list of str that joins back to the text

    >>> clf = lstmkit.TextClassifier().fit(texts, labels)   # text classification
    >>> clf.predict(["a fine film"])

    >>> img = lstmkit.ImageClassifier(kind="rows").fit(X, y)   # images (N, H, W[, C])
    >>> img.predict(X_test)

    >>> seg = lstmkit.ImageSegmenter(num_classes=11).fit(X, masks)   # a class per pixel
    >>> seg.predict(X_test)                                          # masks (N, H, W)
"""

from __future__ import annotations

from . import _native
from ._native import ModelFormatError
from .classifier import TextClassifier
from .forecaster import Forecaster
from .image_classifier import ImageClassifier
from .image_segmenter import ImageSegmenter
from .lstm import GRU, LSTM, IncompatibleKeys, load
from .tokenizer import Tokenizer
from .sequence_classifier import SequenceClassifier
from .seq2seq import Seq2Seq

__all__ = [
    "LSTM",
    "GRU",
    "Forecaster",
    "ImageClassifier",
    "ImageSegmenter",
    "IncompatibleKeys",
    "ModelFormatError",
    "TextClassifier",
    "Tokenizer",
    "SequenceClassifier",
    "Seq2Seq",
    "load",
    "set_num_threads",
    "get_num_threads",
    "kernels",
    "limit_other_blas",
    "other_blas_pools",
    "__version__",
]

#: The library's version (lk_version()).
__version__: str = _native.VERSION


def set_num_threads(n: int) -> None:
    """Sets the number of threads LSTMKit's BLAS uses (n >= 1).

    NumPy's own BLAS has a separate thread pool; during LSTMKit calls it is held at
    one thread (see limit_other_blas).
    """
    _native.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads LSTMKit's BLAS currently uses."""
    return _native.get_num_threads()


def kernels() -> dict:
    """The kernels this process runs, chosen for the CPU at first use:
    {"float32": LSTMKit's cell kernels ("avx512f", "avx2_fma", "baseline"), "packed": its
    packed GEMM ("avx512", "avx2_fma", "plain"), "int8": its int8 GEMM ("avx512vnni",
    "avx2", "plain"), "openblas": OpenBLAS's core ("SkylakeX", "Haswell", ...)}.

    The environment variable LSTMKIT_MAX_ISA ("avx2" or "plain"), set before the first
    LSTMKit call, caps LSTMKit's three and OPENBLAS_CORETYPE OpenBLAS's: a larger CPU then
    runs a smaller one's code paths (docs/PERFORMANCE.md, "Kernels").
    """
    return dict(pair.split("=", 1) for pair in _native.kernels().split())


def limit_other_blas(on: bool = True) -> None:
    """Holds the process's other OpenBLAS thread pools (NumPy's, SciPy's) at one thread
    while a LSTMKit call runs, so that they and LSTMKit's threads do not oversubscribe
    the cores; their thread counts are restored when the last overlapping call ends.

    On by default (LSTMKIT_LIMIT_OTHER_BLAS=0 in the environment turns it off at
    import). Calling this also looks again for OpenBLAS builds loaded since the import.
    Only OpenBLAS builds are recognised (not MKL or BLIS); the OpenBLAS LSTMKit itself
    uses follows set_num_threads.
    """
    if not isinstance(on, bool):
        raise TypeError(f"on must be True or False, got {on!r}")
    _native.limit_other_blas(on)


def other_blas_pools() -> list:
    """The other OpenBLAS pools found: a list of {"file": path, "threads": current count}."""
    return [{"file": f, "threads": n} for f, n in _native.other_blas_pools()]
