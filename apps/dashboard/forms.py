"""Dashboard forms. The task type's settings form is built from its config schema:
one field per simple top-level key (text, number, yes/no), the rest as a JSON object,
all validated by the task type's ``clean_config`` with the errors put on the right field."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.core import registry
from apps.core.models import Project

CONFIG_PREFIX = "cfg_"


def _config_schema(task_type) -> dict[str, Any]:
    """The JSON schema's properties of the task type's pydantic ``Config``."""
    return task_type.Config.model_json_schema().get("properties", {})


def _simple_field(key: str, default: Any, schema: dict[str, Any]) -> forms.Field | None:
    label = schema.get("title") or key.replace("_", " ").capitalize()
    help_text = schema.get("description", "")
    if "enum" in schema and isinstance(default, str):
        # Choices read as words: the schema's "choice_labels" name them, else the value does.
        words = schema.get("choice_labels", {})
        choices = [(v, words.get(v) or v.replace("_", " ").capitalize()) for v in schema["enum"]]
        return forms.ChoiceField(label=label, help_text=help_text, choices=choices)
    if isinstance(default, bool):
        return forms.BooleanField(label=label, help_text=help_text, required=False)
    if isinstance(default, int):
        return forms.IntegerField(label=label, help_text=help_text)
    if isinstance(default, float):
        return forms.FloatField(label=label, help_text=help_text)
    if isinstance(default, str):
        return forms.CharField(label=label, help_text=help_text, required=False)
    return None


class ProjectSettingsForm(forms.Form):
    """Everything a researcher may change on a project, the task type's settings included."""

    title = forms.CharField(max_length=200)
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Markdown; shown to participants before they start.",
    )
    consent_text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    overlap = forms.IntegerField(
        min_value=1, max_value=100, initial=3, help_text="Answers wanted per item."
    )
    items_per_participant = forms.IntegerField(
        min_value=1, required=False, help_text="Most items one participant may do; empty = no cap."
    )
    reservation_minutes = forms.IntegerField(
        min_value=1,
        max_value=24 * 60,
        initial=10,
        label="Reservation time (minutes)",
        help_text="How long an item stays reserved for the participant who opened it.",
    )
    gold_rate = forms.FloatField(
        min_value=0,
        max_value=1,
        initial=0,
        help_text="Share of served items that are gold or attention checks (0–1).",
    )
    gold_block_below = forms.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        label="Block when gold accuracy is below",
        help_text="0–1; empty = never block automatically.",
    )
    gold_block_after = forms.IntegerField(
        min_value=1,
        initial=5,
        label="…after this many gold items",
    )
    fast_block_below_s = forms.FloatField(
        min_value=0,
        required=False,
        label="Block when the median seconds per item is below",
        help_text="Empty = never block for speed (fast answerers are still flagged).",
    )
    fast_block_after = forms.IntegerField(
        min_value=1, initial=10, required=False, label="…after this many items (default 10)"
    )
    constant_block_after = forms.IntegerField(
        min_value=2,
        required=False,
        label="Block after this many identical answers in a row",
        help_text="Empty = never block for it (they are still flagged).",
    )
    completion_code = forms.CharField(
        max_length=40, required=False, help_text="Shown on the done page; empty = a new code."
    )
    screen_out_code = forms.CharField(
        max_length=40,
        required=False,
        help_text="Shown (and sent back to Prolific) when a participant fails the task's "
        "qualification; empty = no code.",
    )
    config_json = forms.CharField(
        required=False,
        label="Other settings (JSON)",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="The task type's settings that have no field of their own.",
    )

    def __init__(self, *args, task_type, config: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_type = task_type
        defaults = task_type.default_config()
        current = {**defaults, **(config or {})}
        schema = _config_schema(task_type)
        self.simple_keys: list[str] = []
        for key, default in defaults.items():
            field = _simple_field(key, default, schema.get(key, {}))
            if field is not None:
                self.fields[CONFIG_PREFIX + key] = field
                self.initial.setdefault(CONFIG_PREFIX + key, current.get(key))
                self.simple_keys.append(key)
        rest = {k: v for k, v in current.items() if k not in self.simple_keys}
        self.initial.setdefault("config_json", json.dumps(rest, indent=2) if rest else "{}")
        self.cleaned_config: dict = {}

    head_names: tuple[str, ...] = ()

    @property
    def config_fields(self):
        return [self[CONFIG_PREFIX + key] for key in self.simple_keys]

    @property
    def head_fields(self):
        return [self[name] for name in self.head_names]

    @property
    def main_fields(self):
        return [
            self[name]
            for name in self.fields
            if not name.startswith(CONFIG_PREFIX) and name not in self.head_names
        ]

    def clean_completion_code(self) -> str:
        return self.cleaned_data["completion_code"].strip()

    def clean_screen_out_code(self) -> str:
        return self.cleaned_data["screen_out_code"].strip()

    def clean(self):
        cleaned = super().clean()
        raw = (cleaned.get("config_json") or "").strip() or "{}"
        try:
            config = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.add_error("config_json", f"Not valid JSON (line {exc.lineno}: {exc.msg}).")
            return cleaned
        if not isinstance(config, dict):
            self.add_error("config_json", "Must be a JSON object ({…}).")
            return cleaned
        for key in self.simple_keys:
            name = CONFIG_PREFIX + key
            if name in cleaned and cleaned[name] is not None:
                config[key] = cleaned[name]
        try:
            self.cleaned_config = self.task_type.clean_config(
                {**self.task_type.default_config(), **config}
            )
        except ValidationError as exc:
            # Each message goes on the field it is about; the rest onto the JSON box.
            for path, errors in registry.field_errors(exc).items():
                top = path.split(".", 1)[0]
                field = CONFIG_PREFIX + top if top in self.simple_keys else "config_json"
                for message in errors:
                    self.add_error(field, f"{path}: {message}" if path else message)
        return cleaned

    def project_fields(self) -> dict[str, Any]:
        """The Project fields this form sets (config separately, in ``cleaned_config``)."""
        data = self.cleaned_data
        fields = {
            "title": data["title"],
            "instructions": data["instructions"],
            "consent_text": data["consent_text"],
            "overlap": data["overlap"],
            "items_per_participant": data["items_per_participant"],
            "reservation_ttl": timedelta(minutes=data["reservation_minutes"]),
            "gold_rate": data["gold_rate"],
            "gold_block_below": data["gold_block_below"],
            "gold_block_after": data["gold_block_after"],
            "screen_out_code": data["screen_out_code"],
            "fast_block_below_s": data["fast_block_below_s"],
            "fast_block_after": data["fast_block_after"] or 10,
            "constant_block_after": data["constant_block_after"],
        }
        if data["completion_code"]:
            fields["completion_code"] = data["completion_code"]
        return fields

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        return {
            "title": project.title,
            "instructions": project.instructions,
            "consent_text": project.consent_text,
            "overlap": project.overlap,
            "items_per_participant": project.items_per_participant,
            "reservation_minutes": int(project.reservation_ttl.total_seconds() // 60),
            "gold_rate": project.gold_rate,
            "gold_block_below": project.gold_block_below,
            "gold_block_after": project.gold_block_after,
            "fast_block_below_s": project.fast_block_below_s,
            "fast_block_after": project.fast_block_after,
            "constant_block_after": project.constant_block_after,
            "completion_code": project.completion_code,
            "screen_out_code": project.screen_out_code,
        }


class ProjectCreateForm(ProjectSettingsForm):
    slug = forms.SlugField(max_length=80, help_text="Part of the participant link: /p/<slug>/.")
    task_type_key = forms.ChoiceField(label="Task type", choices=())

    head_names = ("title", "slug", "task_type_key")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["task_type_key"].choices = registry.choices()
        self.initial["task_type_key"] = self.task_type.key
        self.fields["consent_text"].initial = Project._meta.get_field("consent_text").default
        # Choosing another task type reloads its settings fields in place (htmx).
        self.fields["task_type_key"].widget.attrs.update(
            {
                "hx-post": reverse("dashboard:project_new"),
                "hx-target": "#project-form",
                "hx-swap": "outerHTML",
                "hx-vals": '{"switch": "1"}',
            }
        )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Project.objects.filter(slug=slug).exists():
            raise ValidationError(f"A project with the address {slug!r} exists; pick another.")
        return slug


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="JSONL, JSON, CSV, or a zip holding one of those with the media it names."
    )


class BlockForm(forms.Form):
    blocked = forms.BooleanField(required=False)
    reason = forms.CharField(max_length=200, required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Project.Status.choices)
