"""What the package checks itself, shared by every model: types Python must know before
the extension sees a value (paths, lists of str, callbacks), and a model as bytes for
pickling. Value rules (ranges) are the engine's: its messages name the argument."""

from __future__ import annotations

import operator
import os
import tempfile
from typing import Any, Callable, List, Optional, Union

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def int_arg(name: str, value: Any) -> int:
    """An int (NumPy ints too; not a bool): TypeError naming the argument otherwise."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return operator.index(value)


def path_arg(name: str, value: Any) -> Union[str, bytes]:
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a path (str, bytes or os.PathLike), got {type(value).__name__}")
    return os.fspath(value)


#: The most bytes a file read whole may hold: the engine's FileIO.defaultReadLimit (2 GiB).
READ_LIMIT = 1 << 31


def read_file(path: PathLike) -> bytes:
    """The bytes of a file read whole; OSError for one that does not end within
    READ_LIMIT bytes (/dev/zero, an endless pipe) instead of a MemoryError at the end."""
    with open(os.fspath(path), "rb") as f:
        data = f.read(READ_LIMIT + 1)
    if len(data) > READ_LIMIT:
        raise OSError(f"{os.fsdecode(path)} does not end within {READ_LIMIT} bytes (at most {READ_LIMIT} are read)")
    return data


def str_list(name: str, value: Any, allow_str: bool = False, allow_empty: bool = True) -> List[str]:
    """value as a list of str: an iterable of str, or one str if allow_str."""
    if isinstance(value, str) and allow_str:
        return [value]
    what = f"{'a str or ' if allow_str else ''}an iterable of str"
    if isinstance(value, str):
        raise TypeError(f"{name} must be {what}, not a str (wrap one text in a list)")
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__} (decode it first)")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}") from None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(item).__name__}")
    if not items and not allow_empty:
        raise ValueError(f"{name} is empty")
    return items


def callback_arg(name: str, value: Any) -> Optional[Callable[[str], Any]]:
    """A training's progress argument: True prints each line (flushed), False/None is
    silent, a callable receives each line."""
    if value is True:
        return lambda line: print(line, flush=True)
    if value is False or value is None:
        return None
    if callable(value):
        return value
    raise TypeError(f"{name} must be a bool or a callable, got {type(value).__name__}")


# -- a model as bytes: what pickling ships (the C ABI reads and writes files) -------------

def file_bytes(handle: Any) -> bytes:
    """The model file of a native handle, written in a private directory."""
    with tempfile.TemporaryDirectory(prefix="lstmkit-") as directory:
        path = os.path.join(directory, "model.safetensors")
        handle.save(path)
        with open(path, "rb") as f:
            return f.read()


def handle_from_bytes(load: Callable[[str], Any], data: bytes) -> Any:
    with tempfile.TemporaryDirectory(prefix="lstmkit-") as directory:
        path = os.path.join(directory, "model.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        return load(path)
