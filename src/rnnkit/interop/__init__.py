"""Models from other frameworks: ``rnnkit.interop.keras`` reads trained Keras files (needs ``rnnkit[keras]``)."""

from __future__ import annotations

from typing import Any


def load_keras(path: Any) -> Any:
    """``rnnkit.interop.keras.load_keras`` (imported on use, so h5py stays optional)."""
    from rnnkit.interop.keras import load_keras as _load

    return _load(path)


def import_keras(path: Any, out_dir: Any) -> Any:
    """``rnnkit.interop.keras.import_keras`` (imported on use)."""
    from rnnkit.interop.keras import import_keras as _import

    return _import(path, out_dir)


__all__ = ["import_keras", "load_keras"]
