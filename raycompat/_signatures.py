"""Checking the arguments of ``.remote()`` calls against the function's signature, as Ray does."""

from __future__ import annotations

import inspect
from typing import Any


def check_signature(signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise TypeError at ``.remote()`` when the arguments do not fit, as Ray does."""
    if signature is not None:
        signature.bind(*args, **kwargs)


def signature_of(fn: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None
