"""lstmkit.LSTM and lstmkit.GRU: PyTorch's nn.LSTM / nn.GRU (batch_first=True) semantics on
the LSTMKit engine, for inference; one implementation (_RecurrentLayer) for both."""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional, Tuple

import numpy as np

from . import _native
from ._args import PathLike, path_arg

__all__ = ["LSTM", "GRU", "load"]


class IncompatibleKeys(NamedTuple):
    """What load_state_dict(strict=False) left out (as PyTorch returns it)."""

    missing_keys: list
    unexpected_keys: list


def _to_numpy(value: Any) -> Any:
    """Torch tensors (anything with .detach().cpu().numpy()) become NumPy arrays."""
    if not isinstance(value, np.ndarray) and hasattr(value, "detach"):
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
        value = value.numpy()
    return value


def _lengths_arg(lengths: Any, batch: int, steps: int) -> np.ndarray:
    """lengths as int32 (batch,), each in [1, steps]."""
    n = np.asarray(lengths)
    if n.dtype.kind not in "iu" and not (n.size == 0 and n.dtype.kind == "f"):  # [] is float64
        raise TypeError(f"lengths must be an array of integers, got dtype {n.dtype}")
    if n.shape != (batch,):
        raise ValueError(f"lengths must have shape (batch,) = ({batch},), got {n.shape}")
    bad = (n < 1) | (n > steps)
    if bad.any():
        i = int(np.argmax(bad))
        v = int(n[i])
        if not -(2**31) <= v < 2**31:
            raise ValueError(f"lengths[{i}] = {v} does not fit in int32")
        raise ValueError(f"lengths[{i}] = {v} is out of range: every length must be in [1, {steps}] "
                         "(the number of steps in x)")
    return n.astype(np.int32, copy=False)


class _RecurrentLayer:
    """What the raw recurrent layers share: construction, config, parameters with
    PyTorch's names, pickling and files. Subclasses name their native functions and
    give ``forward`` its PyTorch signature."""

    _create: Any = None  # _native.<prefix>_create
    _load: Any = None  # _native.<prefix>_load

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        if isinstance(bidirectional, (bool, np.bool_)):
            bidirectional = int(bool(bidirectional))
        self._set_handle(self._create(input_size, hidden_size, num_layers, bidirectional, dropout, seed))

    @classmethod
    def _from_handle(cls, handle: Any) -> Any:
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

    input_size = property(lambda self: self._config["input_size"])
    hidden_size = property(lambda self: self._config["hidden_size"])
    num_layers = property(lambda self: self._config["num_layers"])
    bidirectional = property(lambda self: self._config["bidirectional"])
    dropout = property(lambda self: self._config["dropout"])
    seed = property(lambda self: self._config["seed"])

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

    def _run(self, x: Any, lengths: Any, states: Tuple[Tuple[str, Any], ...]) -> tuple:
        """Checks x, lengths and the initial states (name, value or None) the handle
        takes, then runs it: (y, h_n, c_n), c_n None for a GRU."""
        D = self.input_size
        x = _native.as_float32(x, "x")
        if x.ndim != 3:
            raise ValueError(f"x must be a 3-D array of shape (batch, steps, {D}), got a {x.ndim}-D array of shape "
                             f"{x.shape}")
        if x.shape[2] != D:
            raise ValueError(f"x must have shape (batch, steps, {D}), got {x.shape}")
        B, T = x.shape[:2]
        if B < 1 or T < 1:
            raise ValueError(f"x must hold at least one sequence and one time step, got shape {x.shape}")
        if lengths is not None:
            lengths = _lengths_arg(lengths, B, T)
        want = (self.num_layers * (2 if self.bidirectional else 1), B, self.hidden_size)
        arrays = []
        for name, s in states:
            if s is not None:
                s = _native.as_float32(_to_numpy(s), name)
                if s.shape != want:
                    raise ValueError(f"{name} must have shape (num_layers*num_directions, batch, hidden_size) = "
                                     f"{want}, got {s.shape}")
            arrays.append(s)
        h0, c0 = (arrays + [None])[:2]
        return self._handle.forward(x, lengths, h0, c0)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- parameters ----------------------------------------------------------------

    def param_names(self) -> list:
        """Parameter names in PyTorch's order."""
        return list(self._handle.params())

    def state_dict(self) -> dict:
        """name -> float32 array (copies), with PyTorch's names, shapes and order."""
        return self._handle.params()

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Replaces parameters from a mapping name -> array (or torch tensor).

        Every key must be a parameter name (KeyError lists the unknown ones); with
        strict=True every parameter must be present (KeyError lists the missing ones).
        All values are checked (dtype, shape, finiteness) before any is set, so a
        failed call leaves the model unchanged.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        current = self.state_dict()
        unexpected = [key for key in state_dict if key not in current]
        if unexpected:
            raise KeyError(f"unknown parameter names {unexpected} for {self!r}; its parameters are {list(current)}")
        missing = [name for name in current if name not in state_dict]
        if strict and missing:
            raise KeyError(f"missing parameters {missing} for {self!r} (pass strict=False to allow)")
        converted = []
        for name in current:
            if name in state_dict:
                values = _native.as_float32(_to_numpy(state_dict[name]), name)
                if values.shape != current[name].shape:
                    raise ValueError(f"{name} must have shape {current[name].shape}, got {values.shape}")
                converted.append((name, values))
        # All at once under the handle's write lock: all or nothing, and a forward
        # running in another thread sees either the old or the new weights.
        self._handle.set_params(converted)
        return IncompatibleKeys(missing_keys=missing, unexpected_keys=[])

    # -- pickling (copy.deepcopy, multiprocessing) and files -------------------------

    def __reduce__(self):
        config = (self.input_size, self.hidden_size, self.num_layers, self.bidirectional, self.dropout, self.seed)
        return (_rebuild, (type(self), config, self.state_dict()))

    def save(self, path: PathLike) -> None:
        """Writes the model file (safetensors layout); atomic: all or nothing."""
        self._handle.save(path_arg("path", path))

    def quantize(self) -> Any:
        """int8 weights (and "<name>_scale"s) in place (docs/QUANTIZATION.md); ValueError if already int8."""
        self._handle.quantize()
        return self

    @classmethod
    def load(cls, path: PathLike) -> Any:
        """Reads a model file written by save (or the C ABI's lk_<layer>_save).

        OSError if the file cannot be read; lstmkit.ModelFormatError (a ValueError) if it
        is corrupt, truncated or of another kind (an LSTM's file for a GRU, ...).
        """
        return cls._from_handle(cls._load(path_arg("path", path)))


class LSTM(_RecurrentLayer):
    """A stack of LSTM layers, PyTorch's ``nn.LSTM(batch_first=True)`` for inference.

    Gate order i, f, g, o; two biases per layer and direction; parameters named
    ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``..._reverse``), so ``load_state_dict(torch_lstm.state_dict())`` works unchanged.
    Weights start as U(-1/sqrt(H), 1/sqrt(H)) drawn from ``seed``. The engine checks the
    arguments (ValueError naming the one out of range; TypeError for a wrong type).
    """

    _create = staticmethod(_native.lstm_create)
    _load = staticmethod(_native.lstm_load)

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
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise TypeError("state must be a tuple (h0, c0) or None")
        if state is not None and (state[0] is None or state[1] is None):
            raise ValueError("state must hold both h0 and c0 (or pass state=None)")
        h0, c0 = state if state is not None else (None, None)
        y, h_n, c_n = self._run(x, lengths, (("h0", h0), ("c0", c0)))
        return y, (h_n, c_n)


class GRU(_RecurrentLayer):
    """A stack of GRU layers, PyTorch's ``nn.GRU(batch_first=True)`` for inference.

    Gates r, z, n in PyTorch's order: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``; parameters named as the LSTM's with (3H, ...) shapes,
    so ``load_state_dict(torch_gru.state_dict())`` works unchanged. No cell state.
    Weights start as U(-1/sqrt(H), 1/sqrt(H)) drawn from ``seed``.
    """

    _create = staticmethod(_native.gru_create)
    _load = staticmethod(_native.gru_load)

    def forward(self, x: Any, lengths: Any = None, h0: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """Runs the GRU over a batch (inference: no dropout).

        x        (B, T, D) array, converted to float32
        lengths  (B,) integers in [1, T], or None for "all T"; steps past a sequence's
                 length are padding: their outputs are 0 and they leave the state alone
        h0       (L*K, B, H) initial state, or None for zeros
        returns  (output, h_n) as torch: output (B, T, K*H), h_n (L*K, B, H), float32
        """
        y, h_n, _ = self._run(x, lengths, (("h0", h0),))
        return y, h_n


def _rebuild(cls: type, config: tuple, state_dict: dict) -> _RecurrentLayer:
    """Unpickles an LSTM or a GRU: same config, same weights."""
    model = cls.__new__(cls)
    _RecurrentLayer.__init__(model, *config)
    if any(name.endswith("_scale") for name in state_dict):
        model.quantize()
    model.load_state_dict(state_dict)
    return model


def load(path: PathLike) -> LSTM:
    """Reads an LSTM model file written by LSTM.save (or the C ABI's lk_lstm_save).

    OSError if the file cannot be read; lstmkit.ModelFormatError (a ValueError) if it
    is corrupt, truncated or of another kind.
    """
    return LSTM.load(path)
