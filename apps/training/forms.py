"""The Train form and the model-loop settings form, built from what the trainer declares.

The Train form has one field per field of the trainer's frozen dataclass ``Config``
(``ml.config.FieldSpec``: type, default, label, help, choices, range); the same specs build the
train API's input serializer (``apps/training/api.py``), so the two accept the same values.
"""

from __future__ import annotations

from typing import Any

from django import forms

from ml.config import FieldSpec, TrainingError

from .trainers import Trainer


def _form_field(spec: FieldSpec) -> forms.Field:
    common: dict[str, Any] = {
        "label": spec.label,
        "help_text": spec.help,
        "required": not spec.optional and spec.kind is not bool and spec.kind is not str,
        "initial": spec.default,
    }
    if spec.choices is not None:
        return forms.TypedChoiceField(
            choices=[(v, label) for v, label in spec.choices], coerce=spec.kind, **common
        )
    if spec.kind is bool:
        return forms.BooleanField(**common)
    if spec.kind is int:
        return forms.IntegerField(min_value=spec.min, max_value=spec.max, **common)
    if spec.kind is float:
        return forms.FloatField(min_value=spec.min, max_value=spec.max, **common)
    return forms.CharField(max_length=300, strip=True, **common)


class TrainForm(forms.Form):
    """``TrainForm(data, trainer=…)``: the trainer's settings, checked by its Config."""

    def __init__(self, *args, trainer: Trainer | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.trainer = trainer
        self.specs = trainer.Config.fields_spec() if trainer else []
        for spec in self.specs:
            if not spec.advanced:
                self.fields[spec.name] = _form_field(spec)

    def clean(self):
        cleaned = super().clean()
        if self.trainer is not None and not self.errors:
            try:
                self.trainer.Config.from_dict(self.config())
            except TrainingError as exc:
                self.add_error(_field_named(str(exc), self.specs), str(exc))
        return cleaned

    def config(self) -> dict:
        """The trainer's config keys; an empty optional field is None, its default elsewhere."""
        data = {}
        for spec in self.specs:
            if spec.advanced:
                data[spec.name] = spec.default
                continue
            value = self.cleaned_data.get(spec.name)
            if value in (None, "") and spec.kind is not str:
                value = None if spec.optional else spec.default
            data[spec.name] = value
        return data


def _field_named(message: str, specs: list[FieldSpec]) -> str | None:
    """The field a Config message starts with ("epochs must be …"), else None (the form)."""
    first = message.split(" ", 1)[0]
    return first if first in {s.name for s in specs} else None


class LoopSettingsForm(forms.Form):
    prefill = forms.BooleanField(
        required=False,
        label="Pre-fill annotators' answers with the active model's prediction",
        help_text="Off by default: a shown answer anchors people.",
    )
    active_learning = forms.ChoiceField(
        choices=(),
        help_text="Sets unlabeled items' priority so the most informative are served first.",
    )

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["active_learning"].choices = choices
