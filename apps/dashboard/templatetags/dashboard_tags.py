"""Small formatting filters for the dashboard's numbers."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_text(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


@register.filter
def count(value: int | None) -> str:
    """A count with thousands separated: 980,004."""
    return "—" if value is None else f"{int(value):,}"


@register.filter
def number(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | str):  # text a task type already formatted stays as written
        return str(value)
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def as_json(value) -> str:
    """A payload as the researcher wrote it (JSON), not as Python prints it."""
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


@register.filter
def removed_summary(removed: dict | None) -> str:
    """What the cleaning rules left out, in words: "3 posts: 1 media, 2 duplicate" or ""."""
    counts = {rule: n for rule, n in (removed or {}).items() if n}
    if not counts:
        return ""
    total = sum(counts.values())
    parts = ", ".join(f"{n} {rule.replace('_', ' ')}" for rule, n in counts.items())
    return f"{total} row{'s' if total != 1 else ''} ({parts})"


@register.filter
def job_number(job) -> int:
    """``{{ job|job_number }}``: its number within the project ("Training #1"), not its id."""
    from apps.core.selectors import job_number as number

    return number(job)
