"""The record base: ``to_dict``/``from_dict`` from the dataclass fields, nested records included."""

from __future__ import annotations

import dataclasses
import typing
from enum import Enum
from typing import Any, TypeVar

from lfe.errors import Problem, SettingsError

R = TypeVar("R", bound="Record")


class Record:
    """Mixin for frozen dataclasses: the field names are the stored key names.

    ``from_dict`` ignores keys it does not know and leaves missing ones at their defaults, so a
    record written by an older or newer lfe still reads. A field typed as another record (or a
    tuple or dict of them) is converted both ways.
    """

    def to_dict(self) -> dict[str, Any]:
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name in data:
                values[field.name] = _typed(hints[field.name], data[field.name])
        return cls(**values)


def not_positive(**values: int | None) -> list[Problem]:
    """ "must be positive, got V" for each given value below 1 (None: not given)."""
    return [
        Problem(name, f"must be positive, got {value}")
        for name, value in values.items()
        if value is not None and value < 1
    ]


def negative(**values: int) -> list[Problem]:
    """ "must be 0 or more, got V" for each value below 0."""
    return [
        Problem(name, f"must be 0 or more, got {value}")
        for name, value in values.items()
        if value < 0
    ]


def not_one_of(field: str, value: Any, choices: tuple[str, ...]) -> list[Problem]:
    """ "'V' is not one of A, B" when ``value`` is not a choice."""
    return (
        []
        if value in choices
        else [Problem(field, f"{value!r} is not one of {', '.join(choices)}")]
    )


def refuse(problems: list[Problem]) -> None:
    """One ``SettingsError`` naming every problem, if there are any."""
    if problems:
        raise SettingsError.of(*problems)


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _typed(hint: Any, value: Any) -> Any:
    """``value`` read back as ``hint``: records from dicts, tuples from lists, anything else as
    is."""
    if value is None:
        return None
    options = (
        [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if _is_optional(hint)
        else [hint]
    )
    target = options[0] if len(options) == 1 else None
    if isinstance(target, type) and issubclass(target, Enum):
        return target(value)
    if isinstance(target, type) and issubclass(target, Record):
        # an optional record an older lfe wrote as {} when there was none
        return None if value == {} and _is_optional(hint) else target.from_dict(value)
    if typing.get_origin(target) is tuple:
        [item, *_] = typing.get_args(target)
        return tuple(_typed(item, entry) for entry in value)
    if typing.get_origin(target) is dict:
        _, item = typing.get_args(target)
        return {key: _typed(item, entry) for key, entry in value.items()}
    return value


def _is_optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)
