"""A model as bytes: what pickling ships (the model file, written and read in a private
temporary directory, since the C ABI reads and writes files)."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable


def file_bytes(handle: Any) -> bytes:
    """The model file of a native handle, as bytes (written in a private directory)."""
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
