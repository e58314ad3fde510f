"""Input checks shared by the helpers: one message style, ``"<name> must be <allowed>, got <value>"``.

Each check returns the value it accepted (converted where that is harmless), so callers write
``amount = fraction("amount", amount)``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(name: str, value: Any) -> int:
    """Accept an int >= 1 (not a bool)."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def non_negative_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    """Accept an int >= 0 (not a bool), and ``None`` where ``allow_none``."""
    if value is None and allow_none:
        return None
    if not _is_int(value) or value < 0:
        allowed = "a non-negative int or None" if allow_none else "a non-negative int"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def fraction(name: str, value: Any, open_right: bool = False) -> float:
    """Accept a real number in [0, 1] (in [0, 1) with ``open_right``) and return it as a float."""
    ok = (_is_int(value) or isinstance(value, float)) and 0 <= value and (
        value < 1 if open_right else value <= 1)
    if not ok:
        raise ValueError(f"{name} must be a fraction in [0, {'1)' if open_right else '1]'}, got {value!r}")
    return float(value)


def positive_number(name: str, value: Any) -> float:
    """Accept a real number > 0 (not a bool)."""
    if not (_is_int(value) or isinstance(value, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def one_of(name: str, value: Any, allowed: Collection) -> Any:
    """Accept one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")
    return value


def callable_(name: str, value: Any, what: str) -> Any:
    """Accept a callable; ``what`` says which kind is expected (raises TypeError)."""
    if not callable(value):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value
