"""The task-type registry: the only place the platform learns what task types exist.

Each task app registers one object in its ``AppConfig.ready()``. ``crowd``, ``dashboard`` and
``api`` reach task types only through :func:`get` and :func:`all_task_types`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from django.core.exceptions import ValidationError

# Results types live in .results; re-exported here for task types that import them from registry.
from .results import Figure, Metric, Results, Table  # noqa: F401

if TYPE_CHECKING:
    from .models import Item, Participant, Project


@dataclass
class ImportReport:
    """What an import did: rows created, and every rejected row with its line and reason."""

    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    removed_by_rule: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, line: int, reason: str) -> None:
        self.errors.append((line, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
            "removed_by_rule": self.removed_by_rule,
            "notes": self.notes,
        }


class TaskType(Protocol):
    key: str
    title: str
    form_template: str  # template of the annotator's form, rendered inside the item card

    def import_items(self, project: Project, upload) -> ImportReport: ...
    def validate(self, item: Item, value: Any) -> dict: ...
    def results(self, project: Project) -> Results: ...
    def export_records(self, project: Project) -> Iterator[dict]: ...


class BaseTaskType:
    """Defaults shared by task types; a task type overrides what it needs."""

    key: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    form_template: ClassVar[str]
    # Krippendorff level of measurement for agreement: nominal | ordinal | interval | ratio.
    level_of_measurement: ClassVar[str] = "nominal"
    # Whether participants may skip an item ("can't tell").
    allow_skip: ClassVar[bool] = False
    skip_label: ClassVar[str] = "Skip"

    def default_config(self) -> dict:
        return {}

    def clean_config(self, config: Mapping[str, Any]) -> dict:
        return dict(config)

    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any:
        """Turn the annotator's POSTed form into an answer value (validated after)."""
        skip = {"csrfmiddlewaretoken", "client_token", "duration_ms"}
        return {k: data.get(k) for k in data if k not in skip}

    def label_of(self, value: Any) -> Any:
        """The categorical/ordinal label inside an answer, for agreement and aggregation."""
        return value

    def gold_correct(self, item: Item, value: Any) -> bool:
        return self.label_of(value) == self.label_of(item.gold_value)

    def config_saved(self, project: Project, before: dict) -> str | None:
        """Called after the researcher saved new settings (``before`` = the old config).

        A task type whose derived data depends on its settings starts recomputing here and
        returns a sentence for the researcher; None when there is nothing to say.
        """
        return None

    def item_context(self, item: Item, participant: Participant) -> dict:
        return {}

    def seed_demo(self, project: Project) -> None:
        raise NotImplementedError

    def validate(self, item: Item, value: Any) -> dict:
        raise NotImplementedError

    def item_spec(self, row):
        """Turn one uploaded row into an ItemSpec (raise importing.RowError for a bad row)."""
        from .importing import default_item_spec

        spec = default_item_spec(row)
        return spec

    def import_items(self, project: Project, upload) -> ImportReport:
        """Generic JSONL/JSON/CSV import through ``item_spec``; all-or-nothing."""
        from .importing import ImportFailed, items_import, iter_rows

        try:
            return items_import(
                project=project, rows=iter_rows(upload, upload.name), to_spec=self.item_spec
            )
        except ImportFailed as exc:
            report = ImportReport()
            report.error(0, str(exc))
            return report

    def results(self, project: Project) -> Results:
        return Results()

    def export_records(self, project: Project) -> Iterator[dict]:
        return iter(())


_REGISTRY: dict[str, TaskType] = {}

# Functions ``(assignment) -> value | None`` asked, in order, for a pre-filled answer when an
# item is reserved (the model loop registers one; the first non-None answer wins).
_PREFILL_PROVIDERS: list = []


def register_prefill_provider(provider) -> None:
    if provider not in _PREFILL_PROVIDERS:
        _PREFILL_PROVIDERS.append(provider)


def prefill_for(assignment) -> Any:
    for provider in _PREFILL_PROVIDERS:
        value = provider(assignment)
        if value is not None:
            return value
    return None


class UnknownTaskType(LookupError):
    pass


def register(task_type: TaskType) -> None:
    existing = _REGISTRY.get(task_type.key)
    if existing is not None and type(existing) is not type(task_type):
        raise ValueError(f"Task type {task_type.key!r} is registered twice.")
    _REGISTRY[task_type.key] = task_type


def unregister(key: str) -> None:
    _REGISTRY.pop(key, None)


def get(key: str) -> TaskType:
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownTaskType(f"No task type {key!r} is registered.") from None


def all_task_types() -> list[TaskType]:
    return sorted(_REGISTRY.values(), key=lambda t: t.key)


def choices() -> list[tuple[str, str]]:
    return [(t.key, t.title) for t in all_task_types()]


def validation_message(exc: ValidationError) -> str:
    return "; ".join(exc.messages)
