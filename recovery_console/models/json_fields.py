"""Typed reads of one field of a settings record loaded from JSON; a wrong type raises ValueError naming the field."""

from __future__ import annotations

from typing import Any


def text(data: dict[str, Any], key: str) -> str:
    """A required string."""
    if key not in data:
        raise ValueError(f"'{key}' is missing")
    return _text(data[key], key)


def optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _text(value, key)


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a string, not {_kind(value)}")
    return value


def flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"'{key}' must be true or false, not {_kind(value)}")
    return value


def optional_count(data: dict[str, Any], key: str) -> int | None:
    """A non-negative integer, or null."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"'{key}' must be a non-negative whole number or null, not {_kind(value)}")
    return value


def texts(data: dict[str, Any], key: str) -> list[str]:
    """A list of strings (absent means empty)."""
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"'{key}' must be a list of strings, not {_kind(value)}")
    return list(value)


def mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    """An object with string keys (absent means empty)."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"'{key}' must be an object, not {_kind(value)}")
    return dict(value)


def _kind(value: object) -> str:
    names = {type(None): "null", bool: "true/false", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)
