"""Class labels shared by the classifiers: label arguments (str or int, kept as str in
the model) and scoring predictions against gold labels."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

#: A class label as a classifier takes it (kept as its str inside the model).
Label = Union[str, int]


def labels_arg(name: str, value: Any, count: int, mismatch: str) -> Tuple[List[str], bool]:
    """(labels as str, whether every label was an int). `mismatch` is the error when the
    count differs, with {n} for the number of labels given."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be a sequence of str or int, got {type(value).__name__}")
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {value.shape}")
        value = value.tolist()
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of str or int, got {type(value).__name__}") from None
    if len(items) != count:
        raise ValueError(mismatch.format(n=len(items)))
    out: List[str] = []
    all_int = True
    from_int: Dict[str, int] = {}  # an int label's text -> its first index
    from_str: Dict[str, int] = {}
    for i, label in enumerate(items):
        if isinstance(label, str):
            all_int = False
            if "\0" in label:
                raise ValueError(f"{name}[{i}] contains a NUL character")
            out.append(label)
            from_str.setdefault(label, i)
        elif isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
            out.append(str(int(label)))
            from_int.setdefault(out[-1], i)
        else:
            raise TypeError(f"{name}[{i}] must be a str or an int, got {type(label).__name__}")
    # Inside the model labels are text: 1 and "1" would silently become one class.
    for text in from_int.keys() & from_str.keys():
        raise ValueError(f"{name}[{from_int[text]}] is the int {text} and {name}[{from_str[text]}] the str "
                         f"{text!r}: they would be one class; give the labels one type")
    return out, all_int


def is_int_text(label: str) -> bool:
    try:
        return str(int(label)) == label
    except ValueError:
        return False


def score(model_labels: List[str], gold: Sequence[str], proba: np.ndarray) -> Dict[str, Any]:
    """accuracy, macro_f1 (the unweighted mean of per-class F1) and confusion (C x C,
    rows gold, columns predicted) of probabilities against gold labels; a label the
    model does not know is a ValueError naming it."""
    index = {label: i for i, label in enumerate(model_labels)}
    unknown = sorted(set(g for g in gold if g not in index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the model's classes {model_labels}")
    c = len(model_labels)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (np.array([index[g] for g in gold], dtype=np.int64), proba.argmax(axis=1)), 1)
    tp = np.diag(confusion).astype(np.float64)
    denom = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return {"accuracy": float(tp.sum() / max(len(gold), 1)), "macro_f1": float(f1.mean()), "confusion": confusion}
