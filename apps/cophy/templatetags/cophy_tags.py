"""Template filters for the CoPhy forms: an earlier answer's parts, to fill the form again."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def _word(value: Any) -> str:
    if value is True or str(value).lower() in ("yes", "true", "1", "on"):
        return "yes"
    if value is False or str(value).lower() in ("no", "false", "0", "off"):
        return "no"
    return ""


@register.filter
def said_moves(value: Any, color: str) -> str:
    """ "yes" / "no" / "" for the block ``color`` in an answer (stored or as posted)."""
    moves = value.get("moves") if isinstance(value, dict) else None
    return _word(moves.get(color)) if isinstance(moves, dict) else ""


@register.filter
def said(value: Any, key: str) -> str:
    """ "yes" / "no" / "" for a yes/no field of an answer."""
    return _word(value.get(key)) if isinstance(value, dict) else ""


@register.filter
def field(value: Any, key: str) -> str:
    """A field of an answer as text, "" when missing."""
    got = value.get(key) if isinstance(value, dict) else None
    return "" if got is None else str(got)
