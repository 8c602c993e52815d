"""The Train form and the model-loop settings form (validation only; services do the work)."""

from __future__ import annotations

from django import forms

from .models import ModelLoopSettings

LABEL_SOURCES = [
    ("reaction", "Reaction labels"),
    ("human", "Human labels (majority of annotators)"),
    ("both", "Human labels where present, else reaction labels"),
]


class TrainForm(forms.Form):
    target = forms.ChoiceField(choices=[])
    label_source = forms.ChoiceField(choices=LABEL_SOURCES, initial="reaction")
    epochs = forms.IntegerField(min_value=1, max_value=100, initial=3)
    lr = forms.FloatField(label="Learning rate", min_value=1e-7, max_value=0.1, initial=2e-5)
    batch_size = forms.IntegerField(min_value=1, max_value=1024, initial=16)
    max_samples = forms.IntegerField(
        min_value=1, required=False, help_text="Cap on training posts; empty = all."
    )
    encoder = forms.CharField(
        max_length=300,
        required=False,
        help_text="A Hugging Face id or a path on the worker; empty = the bundled MiniLM-L6 "
        "(or the server's CHORUS_TEXT_ENCODER).",
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=13)

    def __init__(self, *args, targets: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target"].choices = targets
        if targets:
            self.fields["target"].initial = targets[0][0]

    def config(self) -> dict:
        """The ``ml`` config keys, as the trainer's dataclass names them."""
        data = dict(self.cleaned_data)
        data["encoder"] = data["encoder"].strip()
        return data


class LoopSettingsForm(forms.Form):
    prefill = forms.BooleanField(
        required=False,
        label="Pre-fill annotators' answers with the active model's prediction",
        help_text="Off by default: a shown answer anchors people.",
    )
    active_learning = forms.ChoiceField(
        choices=ModelLoopSettings.ActiveLearning.choices,
        help_text="Sets unlabeled items' priority so the most informative are served first.",
    )
