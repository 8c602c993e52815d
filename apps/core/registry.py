"""The task-type registry: the only place the platform learns what task types exist.

Each task app registers one object in its ``AppConfig.ready()``. ``crowd``, ``dashboard`` and
``api`` reach task types only through :func:`get` and :func:`all_task_types`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import pydantic
from django.core.exceptions import ValidationError

# Results types live in .results; re-exported here for task types that import them from registry.
from .qualification import Qualification
from .results import Figure, Metric, Results, Table  # noqa: F401

if TYPE_CHECKING:
    from .models import Item, Participant, Project

_LINE_PREFIX = re.compile(r"^Line (\d+): ")


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
        # The line has a column of its own: a reason that starts "Line 3: " would say it twice.
        prefix = f"Line {line}: "
        if line and reason.startswith(prefix):
            reason = reason[len(prefix) :]
        self.errors.append((line, reason))

    def failed(self, message: str) -> None:
        """The whole file was refused (``ImportFailed``): its line, if it names one, is kept."""
        match = _LINE_PREFIX.match(message)
        self.created = 0
        self.error(int(match.group(1)) if match else 0, message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
            "removed_by_rule": self.removed_by_rule,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class ImportField:
    """One field (JSON key or CSV column) of an import format, as the Data tab explains it."""

    name: str
    description: str
    required: bool = False


@dataclass(frozen=True)
class ImportFormat:
    """One file shape a task type imports, told to the researcher before their first upload.

    ``example`` is one row as it appears in the file; ``sample`` a whole small file that
    imports cleanly into a new project of the task type (the contract suite checks it), every
    row becoming an item. ``extension`` picks the reader: ``jsonl``, ``json``, ``csv`` or ``zip``.
    """

    key: str
    title: str
    extension: str
    description: str
    fields: tuple[ImportField, ...]
    example: str
    sample: str
    # A zip format (``extension="zip"``: a manifest with media) builds its sample archive
    # here; ``sample`` is then the manifest's text and ``sample_items`` the items it makes.
    sample_zip: Callable[[], bytes] | None = None
    sample_items: int | None = None

    def sample_content(self) -> bytes:
        return self.sample_zip() if self.sample_zip is not None else self.sample.encode()

    @property
    def filename(self) -> str:
        return f"sample-{self.key}.{self.extension}"

    @property
    def required(self) -> list[ImportField]:
        return [f for f in self.fields if f.required]

    @property
    def optional(self) -> list[ImportField]:
        return [f for f in self.fields if not f.required]


# The row keys every task type's generic import reads (``importing.default_item_spec``).
GENERIC_IMPORT_FIELDS = (
    ImportField("id", "Unique name of the item in this project (or external_id).", True),
    ImportField("kind", "regular (default), gold or attention."),
    ImportField("gold", "The known answer of a gold or attention item, as a JSON object."),
    ImportField("priority", "A number; higher is served first."),
    ImportField("group", "A participant gets at most one item of a group."),
    ImportField("wanted_answers", "Answers wanted for this item; empty means the overlap."),
    ImportField("lists", "The lists of a balanced design the item is in, e.g. [0, 2]."),
    ImportField("media", 'A file in the uploaded zip, or {"key": "file", …} for several files.'),
)


def generic_import_format(
    *, payload: tuple[ImportField, ...], rows: list[dict[str, Any]]
) -> ImportFormat:
    """The JSON-lines format of ``default_item_spec`` with a task type's own payload fields.

    ``rows`` become the sample file (the first one the example); other keys of a row are
    stored as the item's payload.
    """
    import json

    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    return ImportFormat(
        key="jsonl",
        title="JSON lines",
        extension="jsonl",
        description="One JSON object per line. Keys the platform does not read are kept "
        "as the item's payload. The same rows are accepted as a JSON array or as a CSV "
        "file with these columns.",
        fields=(GENERIC_IMPORT_FIELDS[0], *payload, *GENERIC_IMPORT_FIELDS[1:]),
        example=lines[0],
        sample="\n".join(lines) + "\n",
    )


@dataclass(frozen=True)
class DemoProject:
    """One project ``make demo`` seeds for a task type: slug ``demo-<key>``, or
    ``demo-<key>-<suffix>`` when ``suffix`` is set; ``config`` overrides the default settings
    before ``seed_demo`` runs (a task type with several designs shows each in its own)."""

    suffix: str = ""
    title: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def slug(self, key: str) -> str:
        return f"demo-{key}-{self.suffix}" if self.suffix else f"demo-{key}"


@dataclass(frozen=True)
class ChildSpec:
    """One item of the next stage that ``advance`` asks for (see ``item_children_create``).

    ``key`` names the child among its parent's children; the same key twice is the same child,
    which is what makes a redelivered advance harmless. ``exclude`` lists participant ids who may
    not answer it (a validation excludes the author whose answer it checks). ``external_id``
    defaults to ``<parent id>/<key>``; ``priority`` to the parent's.
    """

    key: str
    stage: str
    payload: dict[str, Any] = field(default_factory=dict)
    wanted_answers: int | None = None
    exclude: tuple[int, ...] = ()
    group: str = ""
    priority: float | None = None
    external_id: str = ""


class EmptyConfig(pydantic.BaseModel):
    """The settings of a task type that has none."""

    model_config = pydantic.ConfigDict(extra="forbid")


class InvalidValue(ValidationError):
    """A config or an answer its schema refuses, with each message on the field it belongs to.

    ``fields`` maps a dotted field path (``"study.size"``; ``""`` for the value as a whole) to
    its messages. The settings form, the annotate form and the API all read ``fields``; code
    that only needs text reads ``messages`` like any ``ValidationError``.
    """

    def __init__(self, fields: Mapping[str, list[str]]):
        self.fields = {path: list(messages) for path, messages in fields.items()}
        super().__init__(
            [f"{path}: {m}" if path else m for path, ms in self.fields.items() for m in ms]
        )

    @classmethod
    def from_pydantic(
        cls, exc: pydantic.ValidationError, friendly: Mapping[str, str] | None = None
    ) -> InvalidValue:
        """Group pydantic's errors by field path; ``friendly`` replaces a field's messages."""
        fields: dict[str, list[str]] = {}
        for error in exc.errors():
            path = ".".join(str(part) for part in error.get("loc", ()))
            top = path.split(".", 1)[0]
            message = (friendly or {}).get(path) or (friendly or {}).get(top) or error["msg"]
            message = message.removeprefix("Value error, ")
            if message not in fields.setdefault(path, []):
                fields[path].append(message)
        return cls(fields)


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (and tuples) turned into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars (np.float64, np.int64, np.bool_)
        return json_ready(value.tolist())
    if isinstance(value, float) and value != value:  # NaN has no JSON spelling
        return None
    return value


@dataclass(frozen=True)
class NativeFormat:
    """A record set's own file layout beside JSONL and CSV, e.g. a dataset's official
    JSON lines, byte for byte. ``write`` streams the file's bytes in pieces."""

    title: str  # the download's name on the Export tab: "Official JSONL"
    extension: str  # the file's: "jsonl"
    content_type: str
    write: Callable[[Project], Iterable[bytes]]


@dataclass(frozen=True)
class RecordSet:
    """One named export of a task type: streamed records and their columns (CSV order)."""

    key: str
    title: str
    description: str
    columns: list[str]
    records: Callable[[Project], Iterable[dict]]
    native: NativeFormat | None = None


@dataclass(frozen=True)
class AggregationMethod:
    key: str
    title: str


NOMINAL_AGGREGATION = [
    AggregationMethod("majority", "Majority vote"),
    AggregationMethod("dawid_skene", "Dawid–Skene"),
]


class TaskType(Protocol):
    """Every member the platform calls on a task type (crowd, dashboard, api, training, core).

    ``PydanticTaskType`` supplies the generic ones; a task app overrides what it needs.
    """

    # identity
    key: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    level_of_measurement: ClassVar[str]  # Krippendorff: nominal | ordinal | interval | ratio
    citation: ClassVar[str]  # BibTeX of the paper whose protocol it follows ("" = none)

    # the schemas of Project.config and Annotation.value (read-only, so a subclass fits)
    @property
    def Config(self) -> type[pydantic.BaseModel]: ...  # noqa: N802
    @property
    def Answer(self) -> type[pydantic.BaseModel]: ...  # noqa: N802

    # settings
    def default_config(self) -> dict: ...
    def clean_config(self, config: Mapping[str, Any]) -> dict: ...
    def config_saved(self, project: Project, before: dict) -> str | None: ...

    # data in; ``imports_zip``: a .zip upload goes to ``import_items`` whole (the task type
    # reads it, e.g. a manifest with audio), instead of the core's data-file-plus-media zip
    imports_zip: ClassVar[bool]

    def import_formats(self) -> list[ImportFormat]: ...
    def import_items(self, project: Project, upload) -> ImportReport: ...
    def demo_projects(self) -> list[DemoProject]: ...
    def seed_demo(self, project: Project) -> None: ...
    def simulate_answer(self, item: Item, rng: random.Random) -> dict: ...

    # the annotator
    allow_skip: ClassVar[bool]
    skip_label: ClassVar[str]
    qualification: ClassVar[Qualification | None]  # a check before the first item, or None
    # serve items of equal priority in an order of each participant's own (a listening test),
    # rather than oldest first
    shuffle_items: ClassVar[bool]

    def form_template_for(self, item: Item) -> str: ...
    # media keys of ``item`` the participant must hear to the end before answering, checked
    # on the server from the player's play events (``apps.core.plays``); [] for none
    def must_play(self, item: Item) -> list[str]: ...
    # what an answer sent before those media were played to the end is told (``missing``:
    # the keys not yet played)
    def unplayed_message(self, item: Item, missing: list[str]) -> str: ...
    def item_context(self, item: Item, participant: Participant) -> dict: ...
    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any: ...
    def form_data_for(self, item: Item, value: Mapping[str, Any]) -> dict[str, str]: ...
    def validate(self, item: Item, value: Any) -> dict: ...
    def label_of(self, value: Any) -> Any: ...
    def gold_correct(self, item: Item, value: Any) -> bool: ...

    # stages: called by a Celery task once ``item`` has its wanted answers; the children it
    # returns become items of the next stage (``form_template_for`` picks each stage's form)
    def advance(self, item: Item) -> list[ChildSpec]: ...

    # results and data out
    aggregation_methods: ClassVar[list[AggregationMethod]]

    def results(self, project: Project) -> Results: ...
    def exports(self) -> list[RecordSet]: ...
    def aggregated_records(self, project: Project) -> Iterable[dict] | None: ...

    # pages of its own, mounted at /projects/<slug>/<key>/ (empty: none)
    def urlpatterns(self) -> list: ...


class PydanticTaskType:
    """The generic half of a task type, driven by its pydantic ``Config`` and ``Answer``.

    ``Answer``'s top-level fields are the annotate form's field names; ``label_field`` names
    the one that holds the categorical/ordinal label used for agreement and aggregation.
    """

    key: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    level_of_measurement: ClassVar[str] = "nominal"
    # The paper whose protocol the task type follows, as BibTeX; the dataset card cites it.
    citation: ClassVar[str] = ""
    Config: ClassVar[type[pydantic.BaseModel]] = EmptyConfig
    Answer: ClassVar[type[pydantic.BaseModel]]
    label_field: ClassVar[str | None] = None
    # Messages for the annotator, per Answer field, instead of pydantic's wording.
    answer_messages: ClassVar[dict[str, str]] = {}
    form_template: ClassVar[str]
    allow_skip: ClassVar[bool] = False
    skip_label: ClassVar[str] = "Skip"
    qualification: ClassVar[Qualification | None] = None
    aggregation_methods: ClassVar[list[AggregationMethod]] = NOMINAL_AGGREGATION
    imports_zip: ClassVar[bool] = False
    shuffle_items: ClassVar[bool] = False

    # settings
    def default_config(self) -> dict:
        return self.Config().model_dump(mode="json")

    def config_of(self, project: Project) -> pydantic.BaseModel:
        return self.Config.model_validate(project.config or {})

    def clean_config(self, config: Mapping[str, Any]) -> dict:
        try:
            return self.Config.model_validate(dict(config)).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise InvalidValue.from_pydantic(exc) from None

    def config_saved(self, project: Project, before: dict) -> str | None:
        """Called after the researcher saved new settings (``before`` = the old config).

        A task type whose derived data depends on its settings starts recomputing here and
        returns a sentence for the researcher; None when there is nothing to say.
        """
        return None

    # data in
    def import_formats(self) -> list[ImportFormat]:
        """The file shapes ``import_items`` reads, shown on the Data tab with a sample file.

        The generic shape with a ``text`` payload; a task type whose items need other fields
        overrides this (its sample must import cleanly: the contract suite imports it).
        """
        return [
            generic_import_format(
                payload=(ImportField("text", "What the participant reads."),),
                rows=[
                    {"id": "item-1", "text": "The first item."},
                    {"id": "item-2", "text": "The second item.", "priority": 1},
                ],
            )
        ]

    def item_spec(self, row):
        """Turn one uploaded row into an ItemSpec (raise importing.RowError for a bad row)."""
        from .importing import default_item_spec

        return default_item_spec(row)

    def import_items(self, project: Project, upload) -> ImportReport:
        """Generic JSONL/JSON/CSV import through ``item_spec``; all-or-nothing."""
        from .importing import ImportFailed, items_import, iter_rows

        try:
            return items_import(
                project=project, rows=iter_rows(upload, upload.name), to_spec=self.item_spec
            )
        except ImportFailed as exc:
            report = ImportReport()
            report.failed(str(exc))
            return report

    def demo_projects(self) -> list[DemoProject]:
        """The demo projects to seed (``seed_demo`` fills each); one with the defaults."""
        return [DemoProject(title=f"Demo: {self.title}")]

    def seed_demo(self, project: Project) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no demo.")

    def simulate_answer(self, item: Item, rng: random.Random) -> dict:
        """A plausible answer for ``item``, for the demo's simulated participants."""
        raise NotImplementedError(f"{type(self).__name__} cannot simulate answers.")

    # the annotator
    def form_template_for(self, item: Item) -> str:
        return self.form_template

    def must_play(self, item: Item) -> list[str]:
        return []

    def unplayed_message(self, item: Item, missing: list[str]) -> str:
        if len(missing) == 1:
            return "Please listen to the whole clip before you answer."
        return "Please listen to every clip to the end before you answer."

    def item_context(self, item: Item, participant: Participant) -> dict:
        return {}

    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any:
        """The POSTed form as an answer: one form field per top-level ``Answer`` field."""
        return {name: data.get(name) for name in self.Answer.model_fields}

    def form_data_for(self, item: Item, value: Mapping[str, Any]) -> dict[str, str]:
        """The form fields a browser posts for ``value`` (the inverse of ``value_from_form``)."""
        return {name: "" if v is None else str(v) for name, v in value.items()}

    def validate(self, item: Item, value: Any) -> dict:
        try:
            return self.Answer.model_validate(value).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise InvalidValue.from_pydantic(exc, self.answer_messages) from None

    def label_of(self, value: Any) -> Any:
        if self.label_field is None or not isinstance(value, dict):
            return None
        return value.get(self.label_field)

    def gold_correct(self, item: Item, value: Any) -> bool:
        return self.label_of(value) == self.label_of(item.gold_value)

    # stages
    def advance(self, item: Item) -> list[ChildSpec]:
        """The next stage's items once ``item`` has its wanted answers; none by default.

        Called from a Celery task, possibly more than once for one item (redelivery, a retry):
        return the same ``ChildSpec`` keys each time and nothing is created twice. Read the
        answers with ``item.annotations``; return [] while the outcome asks for no next stage.
        """
        return []

    # results and data out
    def results(self, project: Project) -> Results:
        return Results()

    def exports(self) -> list[RecordSet]:
        return []

    def aggregated_records(self, project: Project) -> Iterable[dict] | None:
        """The rows of the Hugging Face export's ``aggregated`` config; None = the core's.

        The core aggregates nominal labels itself (Dawid–Skene posterior and vote share per
        item, from ``label_of``). A task type whose answers are scores returns its own rows
        instead, one dict per item (e.g. MOS: mean score and its 95 % interval), in a stable
        order (an interrupted export skips the rows it already wrote). Each dict holds
        ``item_id`` (the item's external id), ``method`` (the method's name) and the same
        keys every time, with str, int, float, bool or None values or lists of them; the
        column types are read from the first shard's rows. Leave out blocked participants'
        answers. Return a generator: the export also calls this to learn whether the task
        type supplies the rows, and a generator costs nothing until it is read.
        """
        return None

    def urlpatterns(self) -> list:
        return []


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


def task_type_urlpatterns() -> list:
    """Each task type's own pages, mounted at ``/projects/<slug>/<key>/`` (namespace = key).

    Their views take ``slug`` and must reach the project through ``project_for_user``.
    """
    from django.urls import include, path

    return [
        path(f"projects/<slug:slug>/{t.key}/", include((patterns, t.key)))
        for t in all_task_types()
        if (patterns := t.urlpatterns())
    ]


def choices() -> list[tuple[str, str]]:
    return [(t.key, t.title) for t in all_task_types()]


def validation_message(exc: ValidationError) -> str:
    return "; ".join(exc.messages)


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """``exc``'s messages by field path (``""``: not about one field)."""
    if isinstance(exc, InvalidValue):
        return exc.fields
    if hasattr(exc, "error_dict"):
        return {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"": list(exc.messages)}
