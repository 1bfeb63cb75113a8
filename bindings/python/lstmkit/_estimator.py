"""What every task model shares: scikit-learn's estimator contract, written once.

- Constructor arguments are declared once per model, in ``_PARAMS`` (name -> checker),
  in the constructor's order. The constructor checks each and stores it UNCHANGED
  (scikit-learn's ``clone`` requires the very objects back); ``_params()`` gives the
  checked, normalised values that ``fit`` uses. Defaults come from the C ABI's
  ``*_default()`` configs (``c_value``), never typed twice.
- ``get_params`` / ``set_params`` (checked like the constructor), a ``repr`` showing
  the arguments that differ from their defaults, ``score`` (accuracy, or mean IoU for
  the segmenter), and ``__sklearn_tags__`` make the models work with ``clone``,
  ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``. scikit-learn is never imported
  here except by those methods scikit-learn itself calls.
- ``fit(X, y, validation_data=None, validation_split=None)`` is the same on every
  model; ``split_validation`` holds out the validation share the same way everywhere.
- The fitted model is one immutable snapshot (``Fitted``: the native handle with its
  labels), swapped in by one assignment: a ``predict`` running while ``fit`` finishes
  on another thread uses the old model or the new one, never a mix.
- ``save`` / ``load`` / the "not fitted" error, and pickling (``copy``, ``deepcopy``,
  multiprocessing, joblib) as the model file's bytes, once.
"""

from __future__ import annotations

import inspect
import random
from typing import Any, Callable, ClassVar, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from ._labels import is_int_text, labels_arg
from ._model_bytes import file_bytes, handle_from_bytes
from .tokenizer import _INT32_MAX, PathLike, _fraction_arg, _int_arg, _path_arg

#: The share of the training data held out when neither validation_data nor
#: validation_split is given.
DEFAULT_VALIDATION_SPLIT = 0.1


def c_value(config: Dict[str, Any], field: str, params: Optional[Dict[str, Callable]] = None) -> Any:
    """A C config's `field` as Python takes it, by the field's checker in `params`: a
    bool for a flag, the name for a one_of enum, a tuple for a list, a float as written
    in C (the C float's shortest decimal form: 0.3, not 0.30000001192092896), else the
    int. For the C defaults in signatures and the hyper-parameters of a loaded file."""
    value = config[field]
    check = (params or {}).get(field)
    if check is flag:
        return bool(value)
    if hasattr(check, "choices"):
        return next(name for name, code in check.choices.items() if code == value)
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, float):
        return float(str(np.float32(value)))
    return value


def to_c(check: Callable, value: Any) -> Any:
    """A checked Python value as the C config holds it (the inverse of c_value)."""
    if check is flag:
        return int(value)
    if hasattr(check, "choices"):
        return check.choices[value]
    if isinstance(value, tuple):
        return list(value)
    return value


# -- constructor argument checkers: (name, value) -> normalised value ----------------------

def int_in(low: int, high: int = _INT32_MAX) -> Callable[[str, Any], int]:
    return lambda name, value: _int_arg(name, value, low, high)


def fraction(name: str, value: Any) -> float:
    """A rate in [0, 1)."""
    return _fraction_arg(name, value)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def one_of(choices: Dict[str, int]) -> Callable[[str, Any], str]:
    """A name among `choices` ({name: the C enum's code})."""
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
        return value
    check.choices = choices  # type: ignore[attr-defined]
    return check


def int_sequence(low: int, high: int, max_len: int) -> Callable[[str, Any], Tuple[int, ...]]:
    """1 to max_len ints in [low, high]."""
    def check(name: str, value: Any) -> Tuple[int, ...]:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{name} must be a sequence of ints, got {type(value).__name__}")
        items = tuple(_int_arg(f"{name}[{i}]", v, low, high) for i, v in enumerate(value))
        if not 1 <= len(items) <= max_len:
            raise ValueError(f"{name} must hold 1 to {max_len} sizes, got {len(items)}")
        return items
    return check


SEED = int_in(0, 2**64 - 1)


class Fitted(NamedTuple):
    """A fitted model: the native handle and, for a classifier, its class labels (str, in
    column order) and whether they come back as ints."""

    handle: Any
    labels: Tuple[str, ...] = ()
    int_labels: bool = False

    def out(self, label: str) -> Any:
        return int(label) if self.int_labels else label


class Estimator:
    """The base of TextClassifier, ImageClassifier and ImageSegmenter (see the module)."""

    #: The native load function of the model kind (path -> handle).
    _LOAD: ClassVar[Callable[[str], Any]]

    #: name -> checker(name, value) returning the normalised value or raising
    #: TypeError/ValueError; in the constructor's order.
    _PARAMS: ClassVar[Dict[str, Callable[[str, Any], Any]]] = {}
    #: "classifier" (labels, accuracy) or "segmenter" (masks, mean IoU).
    _estimator_type: ClassVar[str] = "classifier"
    #: The C ABI's default train config (the one definition of every default).
    _C_DEFAULTS: ClassVar[Dict[str, Any]] = {}
    #: What score() returns: the evaluate() entry scikit-learn maximises.
    _SCORE: ClassVar[str] = "accuracy"
    #: Whether X is an array (images) rather than a list of str (texts).
    _takes_arrays: ClassVar[bool] = True

    def _init_params(self, values: Dict[str, Any]) -> None:
        self._checked(values)
        for name in self._PARAMS:
            setattr(self, name, values[name])
        self._model: Optional[Fitted] = None
        self._threads = 2

    def _set_model(self, handle: Any, int_labels: bool = False) -> None:
        """Makes `handle` the fitted model, in one assignment. Labels that are not all
        decimal ints do not come back as ints, whatever `int_labels` says."""
        labels = tuple(handle.labels()) if hasattr(handle, "labels") else ()
        self._model = Fitted(handle, labels, int_labels and all(is_int_text(label) for label in labels))

    @property
    def _handle(self) -> Any:
        """The fitted model's native handle, or None."""
        model = self._model
        return None if model is None else model.handle

    def _c_config(self, params: Dict[str, Any], **fit_options: Any) -> Dict[str, Any]:
        """The C train config: the defaults, the checked constructor arguments, then
        fit's own options (already in C form)."""
        config = dict(self._C_DEFAULTS)
        config.update({name: to_c(self._PARAMS[name], value) for name, value in params.items()})
        config.update(fit_options)
        return config

    @classmethod
    def _from_c_config(cls, config: Dict[str, Any]) -> "Estimator":
        """An unfitted model whose constructor arguments are those of a C config."""
        return cls(**{name: c_value(config, name, cls._PARAMS) for name in cls._PARAMS})

    def _fit_threads(self, threads: Any) -> int:
        """predict's threads argument: fit's count when None."""
        return self._threads if threads is None else _int_arg("threads", threads, 1, 1024)

    def _params(self) -> Dict[str, Any]:
        """The constructor arguments checked and normalised (for fit and the file)."""
        return self._checked(self.get_params())

    def _checked(self, values: Dict[str, Any]) -> Dict[str, Any]:
        """`values` (every constructor argument) checked one by one, then together;
        normalised."""
        params = {name: check(name, values[name]) for name, check in self._PARAMS.items()}
        self._check_together(params)
        return params

    def _check_together(self, params: Dict[str, Any]) -> None:
        """Rules between arguments (each already checked alone); a model overrides it."""

    # -- scikit-learn's contract -------------------------------------------------------

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor arguments, as given (scikit-learn's contract)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> "Estimator":
        """Sets constructor arguments (checked as the constructor checks them); the
        model must be fitted again for them to take effect. Returns self."""
        for name in params:
            if name not in self._PARAMS:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters are: {', '.join(self._PARAMS)}")
        self._checked(dict(self.get_params(), **params))
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type="classifier" if classifier else None,
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags() if classifier else None,
            input_tags=InputTags(two_d_array=False, three_d_array=self._takes_arrays, string=not self._takes_arrays),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return self._handle is not None

    def score(self, X: Any, y: Any) -> float:
        """Accuracy on (X, y) for a classifier, mean IoU for the segmenter: the number
        scikit-learn's cross_val_score and GridSearchCV maximise by default."""
        return float(self.evaluate(X, y)[self._SCORE])

    def evaluate(self, X: Any, y: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        defaults = {name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()}
        shown = [f"{name}={value!r}" for name, value in self.get_params().items()
                 if defaults.get(name, inspect.Parameter.empty) is inspect.Parameter.empty
                 or not _same(value, defaults[name])]
        fitted = self._fitted_repr() if self._handle is not None else ""
        return f"{type(self).__name__}({', '.join(shown)}){'; fitted: ' + fitted if fitted else ''}"

    def _fitted_repr(self) -> str:
        return ""

    # -- the fitted model ------------------------------------------------------------------

    def _fitted(self) -> Fitted:
        """The fitted model: one snapshot, to be used for the whole of a call."""
        model = self._model
        if model is None:
            name = type(self).__name__
            raise RuntimeError(f"this {name} is not fitted yet: call fit() or {name}.load()")
        return model

    def save(self, path: PathLike) -> None:
        """Writes the model file (atomically)."""
        self._fitted().handle.save(_path_arg("path", path))

    @classmethod
    def load(cls, path: PathLike) -> "Estimator":
        """Reads a model file written by save(). OSError if it cannot be read;
        lstmkit.ModelFormatError (a ValueError) if it is corrupt or holds another kind
        of model (the message names both kinds). The returned object's hyper-parameters
        are the file's (read through the C ABI's get_config); those that only shape
        training (such as min_count) are the defaults. Integer class labels come back
        as ints when every class is the decimal form of an int."""
        handle = cls._LOAD(_path_arg("path", path))
        self = cls._from_c_config(handle.config())
        self._set_model(handle, int_labels=True)
        return self

    # -- pickling: the constructor arguments and the model file's bytes ----------------------

    def __getstate__(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {"params": self.get_params(), "threads": self._threads}
        model = self._model
        if model is not None:
            state["model"] = file_bytes(model.handle)
            state["int_labels"] = model.int_labels
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._init_params(state["params"])
        self._threads = state["threads"]
        if "model" in state:
            self._set_model(handle_from_bytes(type(self)._LOAD, state["model"]), state["int_labels"])


def _same(value: Any, default: Any) -> bool:
    try:
        return value is default or (type(value) is type(default) and bool(value == default))
    except (TypeError, ValueError):
        return False


class Classifier(Estimator):
    """The classifiers' labels: str inside the model; when every training label was an
    int (not a bool) and every class is the decimal form of one, they come back as ints."""

    @staticmethod
    def _training_labels(name: str, labels: Any, count: int, mismatch: str) -> Tuple[List[str], bool]:
        """fit's labels: as str, with at least 2 classes."""
        out, all_int = labels_arg(name, labels, count, mismatch)
        if len(set(out)) < 2:
            raise ValueError(f"{name} hold a single class ({out[0]!r}): a classifier needs at least 2")
        return out, all_int

    @staticmethod
    def _check_known(validation: List[str], training: List[str]) -> None:
        unseen = sorted(set(validation) - set(training))
        if unseen:
            raise ValueError(f"validation labels {unseen} do not occur in the training labels")

    def _fitted_repr(self) -> str:
        model = self._fitted()
        return f"classes={list(map(model.out, model.labels))!r}"


def validation_split_arg(validation_data: Any, validation_split: Any) -> float:
    """The share to hold out: validation_split (in (0, 1)) or the default, 0 when
    validation_data is given; both at once is an error."""
    if validation_data is not None:
        if validation_split is not None:
            raise ValueError("pass validation_data or validation_split, not both")
        return 0.0
    if validation_split is None:
        return DEFAULT_VALIDATION_SPLIT
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
        raise TypeError(f"validation_split must be a float, got {type(validation_split).__name__}")
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    return float(validation_split)


def validation_pair(value: Any, what: str) -> Tuple[Any, Any]:
    """validation_data as a (inputs, targets) pair."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"validation_data must be an ({what}) pair")
    return value[0], value[1]


def split_validation(n: int, split: float, seed: int, items: str,
                     labels: Optional[List[str]] = None) -> Tuple[List[int], List[int]]:
    """(train, validation) indices: the last `split` of a shuffle of range(n) seeded by
    `seed` is held out. With labels, training keeps at least 2 items of at least 2
    classes, and held-out items whose label is left without a training example are
    dropped from validation."""
    n_dev = max(1, int(round(n * split)))
    if n - n_dev < (2 if labels is not None else 1):
        raise ValueError(f"{n} {items} are too few to hold out a validation_split of {split}: pass validation_data")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    train, held_out = order[: n - n_dev], order[n - n_dev:]
    if labels is None:
        return train, held_out
    known = {labels[i] for i in train}
    if len(known) < 2:
        raise ValueError("after holding out the validation split, the training labels hold a single class")
    kept = [i for i in held_out if labels[i] in known]
    if not kept:
        raise ValueError(f"no held-out {items[:-1] if items.endswith('s') else items} has a label seen in "
                         "training: pass validation_data")
    return train, kept
