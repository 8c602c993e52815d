"""Frozen dataclass configs that describe themselves: JSON in and out, checked, and rich enough
for the platform to build a form and an API schema from them (no Django here).

A field's ``metadata`` may carry ``label``, ``help``, ``choices`` (a list of ``(value,
label)``), ``min``, ``max`` and ``advanced`` (not on the dashboard's form); ``checked()`` enforces them, so the form, the API and a run
started from code all refuse the same values with the same message.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Self


class TrainingError(Exception):
    """A run that cannot go on for a reason the researcher can fix (bad config, no data)."""


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What a form or a serializer needs to know of one config field."""

    name: str
    kind: type  # int | float | str | bool
    default: Any
    optional: bool  # None allowed (an empty form field)
    label: str
    help: str
    choices: list[tuple[Any, str]] | None
    min: float | None
    max: float | None
    advanced: bool  # left off the dashboard's form (its default applies); the API takes it


class Config:
    """Mix into a ``@dataclass(frozen=True)``; gives ``from_dict``, ``to_dict``, ``fields_spec``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(f"Unknown training setting(s): {', '.join(unknown)}.")
        return cls(**data).checked()

    @classmethod
    def fields_spec(cls) -> list[FieldSpec]:
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind, optional = _plain_type(hints[f.name])
            meta = f.metadata
            default = f.default if f.default is not dataclasses.MISSING else None
            specs.append(
                FieldSpec(
                    name=f.name,
                    kind=kind,
                    default=default,
                    optional=optional,
                    label=meta.get("label") or f.name.replace("_", " ").capitalize(),
                    help=meta.get("help", ""),
                    choices=list(meta["choices"]) if "choices" in meta else None,
                    min=meta.get("min"),
                    max=meta.get("max"),
                    advanced=bool(meta.get("advanced", False)),
                )
            )
        return specs

    def checked(self) -> Self:
        """Refuse a value outside its field's choices or range, naming the field."""
        for spec in self.fields_spec():
            value = getattr(self, spec.name)
            if value is None:
                if not spec.optional:
                    raise TrainingError(f"{spec.name} is required.")
                continue
            if spec.choices is not None and value not in [v for v, _ in spec.choices]:
                allowed = ", ".join(str(v) for v, _ in spec.choices)
                raise TrainingError(f"{spec.name} must be one of {allowed}, not {value!r}.")
            if spec.min is not None and spec.max is not None and not spec.min <= value <= spec.max:
                raise TrainingError(f"{spec.name} must be between {spec.min} and {spec.max}.")
            if spec.min is not None and value < spec.min:
                raise TrainingError(f"{spec.name} must be at least {spec.min}.")
            if spec.max is not None and value > spec.max:
                raise TrainingError(f"{spec.name} must be at most {spec.max}.")
        return self


def _plain_type(hint: Any) -> tuple[type, bool]:
    """(int | float | str | bool, optional) of a field's annotation."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _plain_type(inner[0])[0], True
    if hint in (int, float, str, bool):
        return hint, False
    raise TypeError(f"Config fields must be int, float, str or bool (or optional), not {hint!r}.")


def field(default: Any, **metadata: Any) -> Any:
    """``dataclasses.field`` with the form metadata as keywords."""
    return dataclasses.field(default=default, metadata=metadata)
