"""The Models tab: versions side by side, the Train form, active version, pre-fill and AL."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.access import project_for_user
from apps.core.jobs import job_cancel as core_job_cancel
from apps.core.models import Membership, Project
from apps.core.selectors import job_number

from . import selectors, services, trainers
from .forms import LoopSettingsForm, TrainForm

PAGE = "training/model_list.html"


def _can_write(project: Project) -> bool:
    return project.role in (Membership.Role.OWNER, Membership.Role.RESEARCHER)


def _cell(value) -> str:
    if value is None:
        return "–"
    if value == "":
        return "default"  # an empty setting means the trainer's default (e.g. the encoder)
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _page_context(
    project: Project,
    *,
    form: TrainForm | None = None,
    settings_form: LoopSettingsForm | None = None,
) -> dict:
    trainer = trainers.find(project.task_type)
    versions = list(selectors.modelversions_for(project))
    columns = selectors.metric_columns(trainer, versions)
    summary = selectors.config_columns(trainer)
    for version in versions:
        version.metric_cells = [_cell(version.metrics.get(key)) for key, _ in columns]
        version.config_cells = [_cell(version.config.get(name)) for name, _ in summary]
        version.data_warning = selectors.modelversion_data_warning(version)
    loop = selectors.modelloop_settings_for(project)
    if form is None:
        form = TrainForm(trainer=trainer)
    if settings_form is None:
        settings_form = LoopSettingsForm(
            initial={"prefill": loop.prefill, "active_learning": loop.active_learning},
            choices=services.active_learning_choices(project),
        )
    return {
        "project": project,
        "tab": "models",
        "trainer": trainer,
        "versions": versions,
        "metric_columns": [
            (key, label, (trainer.metric_help if trainer else {}).get(key, ""))
            for key, label in columns
        ],
        "metric_legend": selectors.metric_legend(trainer, columns),
        "config_columns": [label for _, label in summary],
        # Version, config and metric columns, then Predicted and Active.
        "table_width": 1 + len(summary) + len(columns) + 2,
        "loop": loop,
        "jobs": selectors.training_jobs_for(project),
        "form": form,
        "settings_form": settings_form,
        "can_write": _can_write(project),
        "item_count": selectors.regular_item_count(project),
    }


@login_required
@require_GET
def model_list(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug)
    context = _page_context(project)
    if request.htmx and request.GET.get("part") == "versions":
        return render(request, f"{PAGE}#versions", context)
    return render(request, PAGE, context)


@login_required
@require_POST
def model_train(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    trainer = trainers.find(project.task_type)
    form = TrainForm(request.POST, trainer=trainer)
    if trainer is None or not form.is_valid():
        if trainer is None:
            form.add_error(
                None, f"No model can be trained for task type {project.task_type!r} yet."
            )
        context = _page_context(project, form=form)
        if request.htmx:
            # The form posts into the jobs list; its errors belong in the form itself. htmx
            # swaps no 4xx answer, so this one is a 200 that retargets.
            response = render(request, f"{PAGE}#train-form", context)
            response["HX-Retarget"] = "#train-form"
            response["HX-Reswap"] = "outerHTML"
            return response
        return render(request, PAGE, context, status=400)
    job = services.training_start(project=project, user=request.user, config=form.config())
    if request.htmx:
        return render(request, f"{PAGE}#jobs", _page_context(project))
    messages.success(request, f"Training #{job_number(job)} queued.")
    return redirect("training:model_list", slug=project.slug)


@login_required
@require_POST
def modelversion_activate(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    version = selectors.modelversion_for(project, pk)
    services.modelversion_activate(project=project, version=version)
    if request.htmx:
        return render(request, f"{PAGE}#versions", _page_context(project))
    messages.success(request, f"Version {version.number} is now active.")
    return redirect("training:model_list", slug=project.slug)


@login_required
@require_POST
def modelversion_predict(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    version = selectors.modelversion_for(project, pk)
    job = services.prediction_start(version=version, user=request.user)
    if request.htmx:
        return render(request, f"{PAGE}#jobs", _page_context(project))
    messages.success(request, f"Prediction #{job_number(job)} queued.")
    return redirect("training:model_list", slug=project.slug)


@login_required
@require_POST
def modelloop_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    form = LoopSettingsForm(request.POST, choices=services.active_learning_choices(project))
    if not form.is_valid():
        context = _page_context(project, settings_form=form)
        if request.htmx:
            return render(request, f"{PAGE}#loop-settings", context)  # htmx swaps no 4xx
        return render(request, PAGE, context, status=400)
    services.modelloop_settings_update(
        project=project,
        prefill=form.cleaned_data["prefill"],
        active_learning=form.cleaned_data["active_learning"],
    )
    if request.htmx:
        context = _page_context(project)
        context["saved"] = True
        return render(request, f"{PAGE}#loop-settings", context)
    messages.success(request, "Model settings saved.")
    return redirect("training:model_list", slug=project.slug)


def _job_response(request: HttpRequest, project: Project, job) -> HttpResponse:
    response = render(
        request,
        "training/_job.html",
        {"job": job, "project": project, "can_write": _can_write(project)},
    )
    if job.is_done:
        # Tells the page to reload its versions table once, when polling sees the job end.
        response["HX-Trigger"] = "job-finished"
    return response


@login_required
@require_GET
def job_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(request, slug)
    job = selectors.job_for(project, pk)
    if not request.htmx:
        return redirect("training:model_list", slug=project.slug)
    return _job_response(request, project, job)


@login_required
@require_POST
def job_cancel(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    job = selectors.job_for(project, pk)
    core_job_cancel(job)
    job.refresh_from_db()
    if request.htmx:
        return _job_response(request, project, job)
    messages.success(request, f"Job #{job_number(job)} cancelled.")
    return redirect("training:model_list", slug=project.slug)
