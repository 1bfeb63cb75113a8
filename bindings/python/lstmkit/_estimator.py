"""What every task model shares: scikit-learn's estimator contract and fit, written once.

- The constructor's arguments are its signature, whose defaults come from the C ABI's
  ``*_default()`` config (``c_defaults``: the library writes it as text, by field
  name), never typed twice. They are stored UNCHANGED (scikit-learn's ``clone``
  requires the very objects back) and checked by ``fit``: Python checks each type
  against its default's (``setting_arg``) and passes every value by name, and the
  engine checks every value, its message naming the argument ("hidden_size must be in
  [1, 4096], got 0").
- ``get_params`` / ``set_params``, a ``repr`` of the arguments that differ from their
  defaults, ``score`` and ``__sklearn_tags__`` make the models work with ``clone``,
  ``Pipeline``, ``cross_val_score`` and ``GridSearchCV`` (scikit-learn is imported only
  by the methods it calls).
- ``fit(X, y, validation_data=None, validation_split=None, ...)`` is one body (``_fit``);
  a model supplies how its data are checked (``_inputs``, ``_targets``) and its native
  training call (``_TRAIN``). Its signature's shared part (the data arguments and the
  loop arguments it takes: ``FIT_ARGS``) is declared once, by ``fit_args``.
- The training loop's settings, the same for every model (``LOOP_PARAMS``: schedule,
  average_decay, weight_decay, time_limit, checkpoint, resume, cell), are constructor arguments of
  every estimator through its ``**loop``, written here once; None (their default) is
  the engine's default. ``loop_settings`` passes them to the C ABI by name.
- The fitted model is one immutable snapshot (``Fitted``), swapped in by one
  assignment: a ``predict`` running while ``fit`` finishes on another thread uses the
  old model or the new one, never a mix.
- ``save`` / ``load`` (with the file's hyper-parameters) and pickling as the model
  file's bytes, once.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
from typing import Any, Callable, ClassVar, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ._args import PathLike, callback_arg, file_bytes, handle_from_bytes, int_arg, path_arg
from ._labels import is_int_text, score

#: The share of the training data held out when neither validation_data nor
#: validation_split is given.
DEFAULT_VALIDATION_SPLIT = 0.1

#: The training loop's settings every model takes; None is the engine's default.
#:   schedule: "plateau" (the learning rate decays after an epoch without a better
#:       validation score; training stops after ``patience`` such epochs) or "cosine"
#:       (half a cosine down to 0 over time_limit, else the epochs; no early stop).
#:   average_decay: in [0, 1); > 0 scores and keeps a moving average of the weights with
#:       this decay per step (Polyak averaging, e.g. 0.999); 0 the weights as trained.
#:   time_limit: seconds (>= 1); training stops at the first batch end after it.
#:   checkpoint: a path written (atomically) after every epoch.
#:   resume: True continues from ``checkpoint`` (same data and settings): the result
#:       equals the uninterrupted run.
#:   cell: the recurrent layer's cell, "lstm" or "gru".
#:   weight_decay: in [0, 1); decoupled weight decay (AdamW): each step shrinks the
#:       weights by learning rate × this; 0 (the default) none.
LOOP_PARAMS = ("schedule", "average_decay", "weight_decay", "time_limit", "checkpoint", "resume", "cell")


def loop_settings(values: Dict[str, Any], config: Dict[str, Any]) -> None:
    """Puts the loop settings of `values` that are not None into the config dict, which
    the extension passes to the library by name as text for it to check (checkpoint as
    checkpoint_path)."""
    for name in LOOP_PARAMS:
        value = values.get(name)
        if value is None:
            continue
        if name == "resume":
            config[name] = setting_arg(name, value, False)
        else:
            config["checkpoint_path" if name == "checkpoint" else name] = (
                path_arg(name, value) if name == "checkpoint" else value)


def c_defaults(config: Dict[str, str]) -> Callable[[str], Any]:
    """A model's ``_d``: the default of a field of its C default config (the extension's
    train_config_default: text by field name), as Python takes it (from_text), for its
    signatures."""
    return lambda field: from_text(config[field])


def c_settings(defaults: Dict[str, str], values: Dict[str, Any]) -> Dict[str, Any]:
    """The `values` that are fields of the C config whose defaults are `defaults`
    (loop settings aside), checked against their defaults' types: the config dict the
    extension passes to the library by name."""
    return {name: setting_arg(name, value, from_text(defaults[name])) for name, value in values.items()
            if name in defaults and name not in LOOP_PARAMS}


def from_text(text: str, like: Any = None) -> Any:
    """A config field's or setting's text as Python holds it: of the type of `like` when
    given (a loaded model's value, read as its signature default's type), else a bool
    ("true"/"false"), an int, a float (the C float's shortest decimal form: 0.3), a
    tuple ("32,64"; "0.1,0.5,0.9") or the name."""
    if isinstance(like, tuple) or text == "":  # "": an empty list (conv_filters' default)
        return tuple(from_text(v) for v in text.split(",")) if text else ()
    if isinstance(like, bool) or text in ("true", "false"):
        return text in ("true", "1")
    if isinstance(like, str):
        return text
    for parse in (int, float):
        with contextlib.suppress(ValueError):
            return parse(text)
    return tuple(from_text(v) for v in text.split(",")) if "," in text else text


def setting_arg(name: str, value: Any, default: Any) -> Any:
    """An argument as the extension passes it by name (as str(value), a bool as 1/0),
    checked against its default's type: a bool, a str (a name: the library checks it),
    a sequence of ints or floats (as "32,64"), an int, or a number. The values are the
    engine's to check."""
    if isinstance(default, bool):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        what = "a bool"
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
        what = "a str"
    elif isinstance(default, tuple):
        if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
            item = 0.0 if any(isinstance(v, float) for v in default) else 0
            return ",".join(str(setting_arg(f"{name}[{i}]", v, item)) for i, v in enumerate(value))
        what = "a sequence"
    elif isinstance(default, int):
        return int_arg(name, value)
    else:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            return float(value)
        what = "a number"
    raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


Progress = Union[bool, Callable[[str], Any], None]

#: fit's training-loop arguments, written once: a model's fit takes those it names in
#: ``fit_args``. Each: (annotation, doc); the default is the model's C config's field of
#: that name, but schedule's and time_limit's (None: the constructor's) and progress's / verbose's (True).
FIT_ARGS: Dict[str, Tuple[Any, str]] = {
    "epochs": (int, "passes over the training data at most"),
    "batch_size": (int, "examples per step"),
    "learning_rate": (float, "Adam's learning rate"),
    "clip_norm": (float, "the gradients' norm is clipped to this"),
    "patience": (int, "epochs without a better validation score before training stops"),
    "decay_factor": (float, "the learning rate's factor after an epoch without a better validation score"),
    "schedule": (Optional[str], "\"plateau\" or \"cosine\"; None: the constructor's"),
    "time_limit": (Optional[float], "seconds (>= 1); None: the constructor's"),
    "threads": (int, "worker threads training runs on (and predict's default); OpenBLAS's own threads: lstmkit.set_num_threads"),
    "log_every": (int, "a progress line every this many batches"),
    "progress": (Progress, "True prints each progress line, False/None is silent, a callable receives them"),
    "verbose": (Progress, "as progress"),
}
_FIT_DEFAULTS = {"schedule": None, "time_limit": None, "progress": True, "verbose": True}


def fit_args(defaults: Callable[[str], Any], names: str, data: bool = True) -> Callable[[Callable[..., Any]], Any]:
    """Declares the shared part of a model's fit: the def names its own arguments and
    takes the rest as ``**args``; this adds (with `data`) ``validation_data`` (positional,
    after the def's positional ones) and ``validation_split``, then the loop arguments
    `names` (space-separated keys of FIT_ARGS) with the model's defaults (`defaults`: its
    ``_d``). The signature (help(), inspect.signature) and the docstring list them all; a
    call binds to it, so every argument reaches the def, by name in ``args``."""
    def declare(fit: Callable[..., Any]) -> Any:
        own = list(inspect.signature(fit).parameters.values())
        positional = [p for p in own if p.kind is p.POSITIONAL_OR_KEYWORD]
        keyword = [p for p in own if p.kind is p.KEYWORD_ONLY]
        shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=FIT_ARGS[name][0],
                                    default=_FIT_DEFAULTS[name] if name in _FIT_DEFAULTS else defaults(name))
                  for name in names.split()]
        if data:
            positional.append(inspect.Parameter("validation_data", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                default=None, annotation=Optional[Tuple[Any, Any]]))
            shared.insert(0, inspect.Parameter("validation_split", inspect.Parameter.KEYWORD_ONLY, default=None,
                                               annotation=Optional[float]))
        signature = inspect.signature(fit).replace(parameters=positional + shared + keyword)
        names_own = {p.name for p in own}

        @functools.wraps(fit)
        def bound_fit(*given: Any, **named: Any) -> Any:
            call = signature.bind(*given, **named)
            call.apply_defaults()
            values = call.arguments
            args = {name: values.pop(name) for name in list(values) if name not in names_own}
            return fit(**values, **args)

        bound_fit.__signature__ = signature  # type: ignore[attr-defined]
        bound_fit.__doc__ = (fit.__doc__ or "").rstrip() + "\n" + "".join(
            f"        {p.name} (default {p.default!r}): {FIT_ARGS[p.name][1]}.\n" for p in shared if p.name in FIT_ARGS)
        return bound_fit
    return declare


#: How every estimator's fit docstring starts and ends (Estimator.__init_subclass__); a
#: model's own fit docstring holds what is its own.
FIT_HEAD = """Trains on ({pair}), early-stopping on the {score} on validation data, and keeps
        the weights of the best epoch. Returns self.

        validation_data: a pair ({pair}); without it the last ``validation_split``
        (default 0.1) of a shuffle (seeded by ``seed``) of the training data is held out
        (a classifier drops held-out examples whose label no training example has).
        """
FIT_TAIL = """
        The loop: after an epoch without a better validation {score} (schedule
        "plateau") the learning rate is multiplied by decay_factor, and after
        ``patience`` such epochs training stops; schedule "cosine" follows half a cosine
        down to 0 over time_limit (seconds, >= 1), else the epochs, with no early stop.
        schedule and time_limit None: the constructor's. Training runs with the GIL
        released.
        ValueError for an argument out of range (the message names it), or if training
        diverges (a NaN or infinite loss or gradient): lower learning_rate.
        """


class Fitted(NamedTuple):
    """A fitted model: the native handle and, for a classifier, its class labels (str, in
    column order) and whether they come back as ints."""

    handle: Any
    labels: Tuple[str, ...] = ()
    int_labels: bool = False


class Estimator:
    """The base of TextClassifier, ImageClassifier and ImageSegmenter (see the module).
    Every one takes the training loop's settings (``LOOP_PARAMS``) as keyword arguments
    of its constructor."""

    #: The native load (path -> handle) and train functions of the model kind.
    _LOAD: ClassVar[Callable[[str], Any]]
    _TRAIN: ClassVar[Callable[..., Any]]
    #: The C ABI's default train config, as text by field name (the one definition of
    #: every default).
    _C_DEFAULTS: ClassVar[Dict[str, str]] = {}
    #: How fit names its data in messages: the (inputs, targets) pair and the items.
    _PAIR: ClassVar[str] = "X, y"
    _ITEMS: ClassVar[str] = "images"
    #: "classifier" (labels, accuracy) or "segmenter" (masks, mean IoU).
    _estimator_type: ClassVar[str] = "classifier"
    #: What score() returns: the evaluate() entry scikit-learn maximises.
    _SCORE: ClassVar[str] = "accuracy"
    #: Whether X is an array (images) rather than a list of str (texts).
    _takes_arrays: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Gives a model's fit the docstring's shared parts (FIT_HEAD, FIT_TAIL)."""
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is not None and fit.__doc__ and "validation_data" in inspect.signature(fit).parameters:
            words = {"pair": cls._PAIR, "score": cls._SCORE.replace("_", " ").replace("mean iou", "mean IoU")}
            fit.__doc__ = FIT_HEAD.format(**words) + fit.__doc__.lstrip() + FIT_TAIL.format(**words)

    @classmethod
    def _param_names(cls) -> List[str]:
        """The model's constructor arguments, then the loop's (its ``**loop``) that it does
        not name itself (a model whose C config has a cell may take it as its own)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        own = [p.name for p in parameters if p.name != "self" and p.kind is not p.VAR_KEYWORD]
        return own + [name for name in LOOP_PARAMS if name not in own]

    def _init_params(self, values: Dict[str, Any]) -> None:
        """Stores the constructor's arguments (its locals()), the loop's from its **loop."""
        values = dict(values)
        loop = values.pop("loop", {})
        unknown = sorted(set(loop) - set(LOOP_PARAMS))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}")
        values.update((name, loop.get(name, values.get(name))) for name in LOOP_PARAMS)
        for name in self._param_names():
            setattr(self, name, values[name])
        self._model: Optional[Fitted] = None
        self._threads: Any = 2

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

    def _fitted(self) -> Fitted:
        """The fitted model: one snapshot, to be used for the whole of a call."""
        model = self._model
        if model is None:
            name = type(self).__name__
            raise RuntimeError(f"this {name} is not fitted yet: call fit() or {name}.load()")
        return model

    def _predict_threads(self, threads: Any) -> Any:
        """predict's threads argument: fit's count when None (the extension checks it)."""
        return self._threads if threads is None else threads

    def predict_proba(self, X: Any, *, threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities, float32: (len(X), len(classes_)) for a classifier, (N, H, W,
        K) for the segmenter (X of any H and W, with the model's channels); each
        example's (pixel's) values sum to 1. Runs with the GIL released, on up to
        ``threads`` threads (default: fit's)."""
        model = self._fitted()
        return model.handle.predict_proba(self._inputs(X, model=model), self._predict_threads(threads))

    # -- fit, for every model ----------------------------------------------------------------

    def _fit(self, X: Any, y: Any, args: Dict[str, Any], *extra: Any) -> "Estimator":
        """fit's body: `args` are fit's arguments by name (validation_data and
        validation_split among them); those named like a field of the C config are that
        field, `extra` goes to _train after the config."""
        validation_data = args["validation_data"]
        split = validation_split_arg(validation_data, args["validation_split"])
        X = self._inputs(X)
        y, all_int = self._targets(y, X)
        self._check_training(y)
        if validation_data is not None:
            dev = validation_data
            if not isinstance(dev, (tuple, list)) or len(dev) != 2:
                raise TypeError(f"validation_data must be an ({self._PAIR}) pair")
            dev_X = self._inputs(dev[0], "validation ")
            dev_y, _ = self._targets(dev[1], dev_X, "validation ")
            self._check_validation(X, y, dev_X, dev_y)
            train_X, train_y = X, y
        else:
            labels = y if self._estimator_type == "classifier" else None
            train, held_out = split_validation(len(X), split, int_arg("seed", self.seed), self._ITEMS, labels)
            train_X, train_y, dev_X, dev_y = _take(X, train), _take(y, train), _take(X, held_out), _take(y, held_out)
        callback = callback_arg("progress" if "progress" in args else "verbose", args.get("progress", args.get("verbose")))
        handle = self._TRAIN(train_X, train_y, dev_X, dev_y, self._train_config(args), *extra, callback)
        self._set_model(handle, all_int)
        self._threads = args["threads"]
        return self

    def _train_config(self, args: Dict[str, Any]) -> Dict[str, Any]:
        """The config dict a fit passes to the library by name: the constructor's arguments
        and fit's (`args`), fit's own loop arguments (time_limit, schedule) overriding the
        constructor's unless None."""
        values = dict(self.get_params(), **{k: v for k, v in args.items() if not (k in LOOP_PARAMS and v is None)})
        config = c_settings(self._C_DEFAULTS, values)
        loop_settings(values, config)
        return config

    # A model defines _inputs(X, prefix="", model=None) -> X checked (for `model`'s input
    # when given; `prefix` starts the names in messages) and _targets(y, X, prefix="",
    # model=None) -> (y checked against X, whether every label was an int); it may add
    # rules on the training targets and between training and validation data:

    def _check_training(self, y: Any) -> None:
        pass

    def _check_validation(self, X: Any, y: Any, dev_X: Any, dev_y: Any) -> None:
        pass

    # -- scikit-learn's contract -------------------------------------------------------

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor arguments, as given (scikit-learn's contract)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Estimator":
        """Sets constructor arguments (checked at fit, as the constructor's are); the
        model must be fitted again for them to take effect. Returns self."""
        names = self._param_names()
        for name in params:
            if name not in names:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters are: {', '.join(names)}")
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

    def __repr__(self) -> str:
        defaults = dict.fromkeys(LOOP_PARAMS)
        defaults.update((name, p.default) for name, p in inspect.signature(type(self).__init__).parameters.items())
        shown = [f"{name}={value!r}" for name, value in self.get_params().items()
                 if defaults.get(name, inspect.Parameter.empty) is inspect.Parameter.empty
                 or not _same(value, defaults[name])]
        fitted = self._fitted_repr() if self._handle is not None else ""
        return f"{type(self).__name__}({', '.join(shown)}){'; fitted: ' + fitted if fitted else ''}"

    def _fitted_repr(self) -> str:
        return ""

    # -- files and pickling: the model file, its bytes ------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the model file (atomically)."""
        self._fitted().handle.save(path_arg("path", path))

    def quantize(self) -> "Estimator":
        """int8 weights in place, for inference (docs/QUANTIZATION.md); ValueError if already int8."""
        self._fitted().handle.quantize()
        return self

    @classmethod
    def load(cls, path: PathLike) -> "Estimator":
        """Reads a model file written by save(). OSError if it cannot be read;
        lstmkit.ModelFormatError (a ValueError) if it is corrupt or holds another kind
        of model (the message names both kinds). The returned object's hyper-parameters
        are the file's (read through the C ABI's get_config, and by name those its struct
        lacks, such as cell); those that only shape training (such as min_count) are the
        defaults. Integer class labels come back as ints when every class is the decimal
        form of an int."""
        handle = cls._LOAD(path_arg("path", path))
        config = handle.config()
        defaults = {name: None if p.default is p.empty else p.default
                    for name, p in inspect.signature(cls.__init__).parameters.items()}
        params = {}
        for name in cls._param_names():
            if name in config and name not in LOOP_PARAMS:  # the struct's loop fields hold defaults
                params[name] = from_text(config[name], defaults.get(name))
            else:  # KeyError: the model does not record it (a training setting)
                with contextlib.suppress(KeyError):
                    params[name] = from_text(handle.setting(name), defaults.get(name))
        self = cls(**params)
        self._set_model(handle, int_labels=True)
        return self

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


def _take(items: Any, indices: List[int]) -> Any:
    return items[np.array(indices)] if isinstance(items, np.ndarray) else [items[i] for i in indices]


class Classifier(Estimator):
    """The classifiers: labels are str inside the model; when every training label was an
    int (not a bool) and every class is the decimal form of one, they come back as ints
    (``classes_``: a list for texts, an array for images)."""

    def _classes(self, model: Fitted) -> Any:
        return [int(label) if model.int_labels else label for label in model.labels]

    @property
    def classes_(self) -> Any:
        """The class labels, in the column order of predict_proba."""
        return self._classes(self._fitted())

    def _check_training(self, y: List[str]) -> None:
        if len(set(y)) < 2:
            raise ValueError(f"the training labels hold a single class ({y[0]!r}): a classifier needs at least 2")

    def _check_validation(self, X: Any, y: List[str], dev_X: Any, dev_y: List[str]) -> None:
        unseen = sorted(set(dev_y) - set(y))
        if unseen:
            raise ValueError(f"validation labels {unseen} do not occur in the training labels")

    def _fitted_repr(self) -> str:
        return f"classes={np.asarray(self._classes(self._fitted())).tolist()!r}"

    def predict(self, X: Any, *, threads: Optional[int] = None) -> Any:
        """The most probable class of each example (of classes_'s type)."""
        model = self._fitted()
        best = model.handle.predict_proba(self._inputs(X, model=model), self._predict_threads(threads)).argmax(axis=1)
        classes = self._classes(model)
        return classes[best] if isinstance(classes, np.ndarray) else [classes[j] for j in best]

    def evaluate(self, X: Any, y: Any, *, threads: Optional[int] = None) -> Dict[str, Any]:
        """Scores predictions against gold labels: a dict with accuracy, macro_f1 (the
        unweighted mean of per-class F1), confusion (C x C int64 array, rows gold,
        columns predicted, in classes_ order) and labels (classes_ as a list). A label
        the model does not know is a ValueError naming it."""
        model = self._fitted()
        X = self._inputs(X, model=model)
        gold, _ = self._targets(y, X)
        result = score(list(model.labels), gold, model.handle.predict_proba(X, self._predict_threads(threads)))
        result["labels"] = np.asarray(self._classes(model)).tolist()
        return result


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
        raise ValueError(f"no held-out {items[:-1]} has a label seen in training: pass validation_data")
    return train, kept
