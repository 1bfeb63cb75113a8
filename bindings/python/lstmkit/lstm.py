"""lstmkit.LSTM: PyTorch's nn.LSTM(batch_first=True) semantics on the LSTMKit engine."""

from __future__ import annotations

import operator
import os
from typing import Any, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np

from . import _native

__all__ = ["LSTM", "load"]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_INT32_MAX = 2**31 - 1


class IncompatibleKeys(NamedTuple):
    """What load_state_dict(strict=False) left out (as PyTorch returns it)."""

    missing_keys: list
    unexpected_keys: list


def _int_arg(name: str, value: Any) -> int:
    """An int argument as PyTorch takes it (bool/float rejected, NumPy ints fine)."""
    if isinstance(value, (bool, np.bool_)) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = operator.index(value)
    if not -(2**31) <= value <= _INT32_MAX:
        raise ValueError(f"{name} = {value} is out of range (at most {_INT32_MAX})")
    return value


def _to_numpy(value: Any) -> Any:
    """Torch tensors (anything with .detach().cpu().numpy()) become NumPy arrays."""
    if not isinstance(value, np.ndarray) and hasattr(value, "detach"):
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        value = value.numpy()
    return value


class LSTM:
    """A stack of LSTM layers, PyTorch's ``nn.LSTM(batch_first=True)`` for inference.

    Gate order i, f, g, o; two biases per layer and direction; parameters named
    ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``..._reverse``), so ``load_state_dict(torch_lstm.state_dict())`` works unchanged.
    Weights start as U(-1/sqrt(H), 1/sqrt(H)) drawn from ``seed``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        input_size = _int_arg("input_size", input_size)
        hidden_size = _int_arg("hidden_size", hidden_size)
        num_layers = _int_arg("num_layers", num_layers)
        if isinstance(bidirectional, (bool, np.bool_)):
            bidirectional = int(bool(bidirectional))
        else:
            bidirectional = _int_arg("bidirectional", bidirectional)
        if isinstance(dropout, (bool, np.bool_)) or not isinstance(
            dropout, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"dropout must be a float, got {type(dropout).__name__}")
        if isinstance(seed, (bool, np.bool_)) or not hasattr(seed, "__index__"):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        seed = operator.index(seed)
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        handle = _native.lstm_create(
            input_size, hidden_size, num_layers, bidirectional, float(dropout), seed
        )
        self._set_handle(handle)

    @classmethod
    def _from_handle(cls, handle: Any) -> "LSTM":
        self = cls.__new__(cls)
        self._set_handle(handle)
        return self

    def _set_handle(self, handle: Any) -> None:
        self._handle = handle
        config = handle.config()
        # The library stores dropout as float32: show the shortest decimal that
        # round-trips (0.1, not 0.10000000149011612).
        config["dropout"] = float(str(np.float32(config["dropout"])))
        self._config = config

    # -- configuration -------------------------------------------------------------

    @property
    def input_size(self) -> int:
        return self._config["input_size"]

    @property
    def hidden_size(self) -> int:
        return self._config["hidden_size"]

    @property
    def num_layers(self) -> int:
        return self._config["num_layers"]

    @property
    def bidirectional(self) -> bool:
        return self._config["bidirectional"]

    @property
    def dropout(self) -> float:
        return self._config["dropout"]

    @property
    def seed(self) -> int:
        return self._config["seed"]

    def __repr__(self) -> str:
        parts = [str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if self.bidirectional:
            parts.append("bidirectional=True")
        if self.dropout != 0.0:
            parts.append(f"dropout={self.dropout}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # -- inference -----------------------------------------------------------------

    def forward(
        self,
        x: Any,
        lengths: Any = None,
        state: Optional[Tuple[Any, Any]] = None,
    ) -> Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        """Runs the LSTM over a batch (inference: no dropout).

        x        (B, T, D) array, converted to float32
        lengths  (B,) integers in [1, T], or None for "all T"; steps past a sequence's
                 length are padding: their outputs are 0 and they leave the state alone
        state    (h0, c0), each (L*K, B, H), or None for zeros
        returns  y (B, T, K*H) and (h_n, c_n), each (L*K, B, H), float32
        """
        if state is None:
            h0 = c0 = None
        else:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise TypeError("state must be a tuple (h0, c0) or None")
            h0, c0 = state
            if h0 is None or c0 is None:
                raise ValueError("state must hold both h0 and c0 (or pass state=None)")
        y, h_n, c_n = self._handle.forward(x, lengths, h0, c0)
        return y, (h_n, c_n)

    def __call__(self, *args: Any, **kwargs: Any) -> Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
        return self.forward(*args, **kwargs)

    # -- parameters ----------------------------------------------------------------

    def param_names(self) -> list:
        """Parameter names in PyTorch's order."""
        return self._handle.param_names()

    def state_dict(self) -> dict:
        """name -> float32 array (copies), with PyTorch's names, shapes and order."""
        return {name: self._handle.get_param(name) for name in self._handle.param_names()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Replaces parameters from a mapping name -> array (or torch tensor).

        Every key must be a parameter name (KeyError lists the unknown ones); with
        strict=True every parameter must be present (KeyError lists the missing ones).
        All values are checked (dtype, shape, finiteness) before any is set, so a
        failed call leaves the model unchanged.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        names = self._handle.param_names()
        known = set(names)
        unexpected = [key for key in state_dict if key not in known]
        if unexpected:
            raise KeyError(
                f"unknown parameter names {unexpected} for {self!r}; "
                f"its parameters are {names}"
            )
        missing = [name for name in names if name not in state_dict]
        if strict and missing:
            raise KeyError(f"missing parameters {missing} for {self!r} (pass strict=False to allow)")

        converted = []
        for name in names:
            if name not in state_dict:
                continue
            values = _native.as_float32(_to_numpy(state_dict[name]), name)
            expected = self._handle.param_shape(name)
            if values.shape != expected:
                raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
            converted.append((name, values))
        # All at once under the handle's write lock: all or nothing, and a forward
        # running in another thread sees either the old or the new weights.
        self._handle.set_params(converted)
        return IncompatibleKeys(missing_keys=missing, unexpected_keys=[])

    # -- pickling (copy.deepcopy, multiprocessing) ----------------------------------

    def __reduce__(self):
        config = (self.input_size, self.hidden_size, self.num_layers, self.bidirectional,
                  self.dropout, self.seed)
        return (_rebuild, (type(self), config, self.state_dict()))

    # -- files ---------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the model file (safetensors layout); atomic: all or nothing."""
        self._handle.save(os.fspath(path))


def _rebuild(cls: type, config: tuple, state_dict: dict) -> LSTM:
    """Unpickles an LSTM: same config, same weights."""
    input_size, hidden_size, num_layers, bidirectional, dropout, seed = config
    model = cls.__new__(cls)
    LSTM.__init__(model, input_size, hidden_size, num_layers, bidirectional, dropout, seed)
    model.load_state_dict(state_dict)
    return model


def load(path: PathLike) -> LSTM:
    """Reads an LSTM model file written by LSTM.save (or the C ABI's lk_lstm_save).

    OSError if the file cannot be read; lstmkit.ModelFormatError (a ValueError) if it
    is corrupt, truncated or of another kind.
    """
    return LSTM._from_handle(_native.lstm_load(os.fspath(path)))
