"""SituatedQA's own page: upload a predictions file and see its exact match (Results → Evaluate)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.core.access import project_for_user
from ml.situatedqa import evaluate

from .evaluation import EvaluationRefused, cells_of, evaluation_upload, last_evaluations
from .schemas import VARIANT_LABELS, VARIANTS, config_of

CELL_LABELS = {
    "static": "Static (orig)",
    "sampled": "Sampled",
    "start": "Start",
    "total": "Total",
    "any": "Any (any_answer)",
    "common": "Common locations",
    "rare": "Rare locations",
}


class PredictionsForm(forms.Form):
    variant = forms.ChoiceField(
        choices=[(v, VARIANT_LABELS[v]) for v in VARIANTS], label="Questions about"
    )
    file = forms.FileField(
        label="Predictions (JSON lines)",
        help_text="The dataset's qa_data rows, each with a \u201cpred_answer\u201d: a string.",
    )


def _shown(evaluation) -> dict:
    cells = cells_of(evaluation.cells)
    return {
        "evaluation": evaluation,
        "variant_label": VARIANT_LABELS[evaluation.variant],
        "cells": [(CELL_LABELS[k], str(s)) for k, s in cells.items()],
        "report_text": evaluate.format_report(cells),
    }


@login_required
def evaluation_page(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the form and the last evaluation of each variant; POST: score an upload."""
    project = project_for_user(request, slug, write=request.method == "POST")
    error = ""
    config = config_of(project)
    initial = {"variant": next((v for v in VARIANTS if config.runs(v)), VARIANTS[0])}
    form = PredictionsForm(initial=initial)
    if request.method == "POST":
        form = PredictionsForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                outcome = evaluation_upload(
                    project=project,
                    variant=form.cleaned_data["variant"],
                    upload=upload,
                    name=upload.name,
                    user=request.user,
                )
            except EvaluationRefused as exc:
                error = str(exc)
            else:
                messages.success(
                    request,
                    f"Scored {upload.name}: {outcome.cells['total']} exact match over every "
                    "final row.",
                )
                return redirect(reverse("situatedqa:evaluate", args=[project.slug]))
    shown = [
        _shown(e)
        for v, e in sorted(last_evaluations(project).items(), key=lambda kv: VARIANTS.index(kv[0]))
    ]
    return render(
        request,
        "situatedqa/evaluate.html",
        {"project": project, "tab": "results", "form": form, "error": error, "shown": shown},
        status=400 if error or form.errors else 200,
    )
