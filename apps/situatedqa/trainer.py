"""The SituatedQA trainer: the temporal / geographic / neither classifier of ``ml.situatedqa``.

It learns from the official id_data train questions plus the project's own stage-1
decisions (``selectors.Question.decision``, the rule the results and exports use), scores
the official dev questions it was not taught, and classifies every stage-1 question; the
normalised entropy of a prediction is its uncertainty, so active learning serves the
questions the model is least sure of first (stage-2 and stage-3 items sit on a higher base
priority, so collection and validation are never held back by it).

No pre-fill: showing the model's guess would anchor the very judgement stage 1 collects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from apps.core.models import Project
from apps.training.trainers import UNCERTAINTY, PredictionRow, Trainer, TrainOutcome
from ml.situatedqa.config import ContextTrainConfig

from . import selectors

# The classifier's labels (ml.situatedqa.data.LABELS), named here so the web process that
# builds records never imports the torch half of ml/.
TEMPORAL, GEOGRAPHIC, NEITHER = "temporal", "geographic", "neither"
_DEPENDENT_LABEL = {"temp": TEMPORAL, "geo": GEOGRAPHIC}


def label_of(question: selectors.Question) -> str | None:
    """A stage-1 question's training label from its decision; None when it teaches nothing.

    Dependent in the temporal variant → temporal, in the geographic one → geographic; not
    dependent → neither; malformed or not decided yet → None (predicted, not learnt from).
    """
    decision = question.decision
    if decision == selectors.DEPENDENT:
        return _DEPENDENT_LABEL.get(question.variant)
    if decision == selectors.NOT_DEPENDENT:
        return NEITHER
    return None


class SituatedQATrainer(Trainer):
    key = "situatedqa"
    title = "Context classifier (temporal / geographic / neither, MiniLM)"
    Config = ContextTrainConfig
    metrics = [
        ("accuracy", "Accuracy (dev)"),
        ("macro_f1", "Macro-F1 (dev)"),
        ("f1_temporal", "F1 depends on time"),
        ("f1_geographic", "F1 depends on place"),
        ("f1_neither", "F1 neither"),
        ("majority_accuracy", "Majority-class accuracy"),
        ("n_train", "Training questions"),
        ("n_test", "Dev questions scored"),
    ]
    metric_help = {
        "accuracy": "Share of the official dev questions classified right.",
        "macro_f1": "Mean of the three classes' F1, each class counting the same.",
        "f1_temporal": "F1 of the class \u201cthe answer depends on when it is asked\u201d.",
        "f1_geographic": "F1 of the class \u201cthe answer depends on where it is asked\u201d.",
        "f1_neither": "F1 of the class \u201cdepends on neither\u201d.",
        "majority_accuracy": "Accuracy of always answering the most frequent training label: "
        "the baseline to beat.",
    }
    smoke_config = {"max_official_rows": 40, "max_dev_rows": 20, "epochs": 2}
    summary_fields = ["epochs", "hidden", "official_data", "finetune"]
    active_learning = [UNCERTAINTY]

    def records(self, project: Project, config: ContextTrainConfig) -> list[dict]:
        """One record per stage-1 question, in item order; ``label`` None when undecided."""
        return [
            {"item_id": q.item_id, "text": q.text, "label": label_of(q)}
            for q in selectors.questions(project)
        ]

    def train(
        self, records, config: ContextTrainConfig, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        from ml.situatedqa.train import train

        result = train(records, config, device, progress, out_dir)
        return TrainOutcome(
            result.metrics, config.to_dict(), config.seed, result.snapshot["counts"]
        )

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        """``{"label", "probabilities", "confidence"}`` per question; uncertainty = entropy/ln 3."""
        from ml.situatedqa.predict import Predictor

        outputs = Predictor(artifact_dir, device).predict(records, progress=progress)
        return [
            PredictionRow(
                record["item_id"],
                {
                    "label": out.label,
                    "probabilities": {k: round(p, 4) for k, p in out.probabilities.items()},
                    "confidence": round(out.confidence, 4),
                },
                out.uncertainty,
            )
            for record, out in zip(records, outputs, strict=True)
        ]


SITUATEDQA_TRAINER = SituatedQATrainer()
