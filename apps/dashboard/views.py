"""The researcher dashboard: one function view per page; htmx requests get a named partial."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from apps.core import exporting, hfdataset, registry
from apps.core import figures as figure_drawing
from apps.core import selectors as core_selectors
from apps.core.access import project_for_user, projects_for_user
from apps.core.jobs import job_cancel as core_job_cancel
from apps.core.mediaserve import media_response
from apps.core.models import Job, Participant, Project
from apps.core.qualification import qualification_of
from apps.core.results_cache import results_for_page, results_stored
from apps.core.services import PROLIFIC_REDIRECT, project_create
from apps.core.uploads import upload_preview

from . import selectors, services
from .forms import BlockForm, ProjectCreateForm, ProjectSettingsForm, StatusForm, UploadForm


def _tab(
    request: HttpRequest,
    project: Project,
    tab: str,
    template: str,
    context: dict,
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    name = f"{template}#{partial}" if partial and request.htmx else template
    return render(request, name, {"project": project, "tab": tab, **context}, status=status)


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = (
        projects_for_user(request.user)
        .annotate(n_items=Count("items", distinct=True))
        .order_by("-created_at")
    )
    titles = dict(registry.choices())
    rows = [(p, titles.get(p.task_type, p.task_type)) for p in projects]
    return render(request, "dashboard/project_list.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    keys = [key for key, _ in registry.choices()]
    if not keys:
        raise Http404("No task type is registered.")
    chosen = request.POST.get("task_type_key") or request.GET.get("task_type") or keys[0]
    if chosen not in keys:
        chosen = keys[0]
    task_type = registry.get(chosen)
    if request.method == "POST" and not request.POST.get("switch"):
        form = ProjectCreateForm(request.POST, task_type=task_type)
        if form.is_valid():
            project = project_create(
                owner=request.user,
                slug=form.cleaned_data["slug"],
                task_type=task_type.key,
                config=form.cleaned_config,
                status=Project.Status.DRAFT,
                **form.project_fields(),
            )
            messages.success(request, f"Project “{project.title}” created. Now import its items.")
            return redirect("dashboard:data", project.slug)
    else:
        # A task-type switch keeps what was typed in the common fields.
        data = request.POST.copy() if request.method == "POST" else None
        initial = {
            k: v
            for k, v in (data or {}).items()
            if k not in ("config_json",) and not k.startswith("cfg_")
        }
        form = ProjectCreateForm(task_type=task_type, initial=initial)
    template = "dashboard/project_new.html"
    if request.htmx:
        template += "#project-form"
    return render(request, template, {"form": form, "task_type": task_type})


@login_required
@require_http_methods(["GET", "POST"])
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug, write=request.method == "POST")
    task_type = registry.get(project.task_type)
    if request.method == "POST":
        form = ProjectSettingsForm(request.POST, task_type=task_type, config=project.config)
        if form.is_valid():
            note = services.project_settings_update(
                project=project, config=form.cleaned_config, **form.project_fields()
            )
            messages.success(request, f"Settings saved. {note or ''}".strip())
            return redirect("dashboard:project_detail", project.slug)
    else:
        form = ProjectSettingsForm(
            task_type=task_type,
            config=project.config,
            initial=ProjectSettingsForm.initial_for(project),
        )
    counts = selectors.project_counts(project=project)
    return _tab(
        request,
        project,
        "overview",
        "dashboard/project_detail.html",
        {
            "form": form,
            "task_type": task_type,
            "counts": counts,
            "can_write": project.role != "viewer",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_data(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug, write=request.method == "POST")
    context: dict = {"form": UploadForm(), "can_write": project.role != "viewer"}
    status = 200
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        context["form"] = form
        if form.is_valid():
            upload = form.cleaned_data["file"]
            rows, context["preview_error"] = upload_preview(upload, upload.name)
            context["preview"] = _preview_rows(rows)
            problem = services.upload_problem(name=upload.name, size=upload.size)
            if problem:
                context["report"] = {"created": 0, "errors": [{"line": 0, "reason": problem}]}
                status = 400
            else:
                outcome = services.items_import_start(
                    project=project, upload=upload, user=request.user
                )
                if isinstance(outcome, Job):
                    context["job"] = outcome
                else:
                    context["report"] = outcome.as_dict()
                    status = 200 if outcome.ok else 400
        else:
            status = 400
    context["jobs"] = selectors.import_jobs(project=project)
    query = request.GET.get("q", "").strip()[:200]
    context["items"] = selectors.items_page(
        project=project, query=query, page=request.GET.get("page") or 1
    )
    context["query"] = query
    context["counts"] = selectors.project_counts(project=project)
    task_type = registry.get(project.task_type)
    context["formats"] = task_type.import_formats()
    context["task_type_title"] = task_type.title
    return _tab(request, project, "data", "dashboard/data.html", context, status=status)


def _preview_rows(rows) -> list[dict]:
    """The upload's first rows as the researcher wrote them: JSON, or why a row is unreadable.

    The reader marks an unreadable row with an internal key; the page says the reason instead.
    """
    import json

    out = []
    for row in rows:
        problem = row.data.get("__error__") if isinstance(row.data, dict) else None
        text = "" if problem else json.dumps(row.data, ensure_ascii=False, default=str)
        out.append({"line": row.line, "json": text, "problem": problem or ""})
    return out


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """The owner's Delete: a page that says what will be lost, whose form deletes it."""
    project = project_for_user(request, slug, owner=True)
    if request.method == "POST":
        if request.POST.get("confirm_slug", "").strip() != project.slug:
            messages.error(request, "Type the project's slug to confirm; nothing was deleted.")
            return redirect("dashboard:project_delete", project.slug)
        title = project.title
        services.project_delete(project=project)
        messages.success(request, f"Project “{title}” and everything in it were deleted.")
        return redirect("dashboard:project_list")
    summary = selectors.project_delete_summary(project=project)
    return _tab(request, project, "overview", "dashboard/project_delete.html", {"summary": summary})


@login_required
@require_http_methods(["GET", "HEAD"])
def import_sample(request: HttpRequest, slug: str, key: str) -> HttpResponse:
    """A sample file of one of the task type's import formats, to start from or to try."""
    project = project_for_user(request, slug)
    formats = {f.key: f for f in registry.get(project.task_type).import_formats()}
    fmt = formats.get(key)
    if fmt is None:
        raise Http404("No such import format.")
    types = {"csv": "text/csv", "json": "application/json", "jsonl": "application/x-ndjson"}
    if fmt.extension == "zip":
        response = HttpResponse(fmt.sample_content(), content_type="application/zip")
    else:
        response = HttpResponse(
            fmt.sample_content(),
            content_type=f"{types.get(fmt.extension, 'text/plain')}; charset=utf-8",
        )
    response["Content-Disposition"] = f'attachment; filename="{fmt.filename}"'
    return response


@login_required
@require_http_methods(["GET", "HEAD"])
def item_media(request: HttpRequest, slug: str, item_id: int, key: str) -> HttpResponse:
    """An item's media file for the project's members (the Data preview's players)."""
    project = project_for_user(request, slug)
    media = core_selectors.item_media_for_project(project=project, item_id=item_id, key=key)
    if media is None:
        raise Http404("No such file.")
    return media_response(request, media)


@login_required
def job_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for_user(request, slug)
    job = Job.objects.filter(project=project, pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    return render(request, "dashboard/data.html#job", {"project": project, "job": job})


@login_required
@require_POST
def job_cancel(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    """Stop an import: the worker sees it within a second and rolls everything back."""
    project = project_for_user(request, slug, write=True)
    job = Job.objects.filter(project=project, pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    core_job_cancel(job)
    job.refresh_from_db()
    if request.htmx:
        return render(request, "dashboard/data.html#job", {"project": project, "job": job})
    messages.success(
        request, f"Import #{core_selectors.job_number(job)} cancelled; nothing from it is kept."
    )
    return redirect("dashboard:data", project.slug)


@login_required
@require_http_methods(["GET", "POST"])
def project_launch(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug, write=request.method == "POST")
    if request.method == "POST":
        form = StatusForm(request.POST)
        if form.is_valid():
            try:
                services.project_status_set(project=project, status=form.cleaned_data["status"])
                messages.success(request, f"The project is now {project.get_status_display()}.")
            except services.StatusRefused as exc:
                messages.error(request, str(exc))
        return redirect("dashboard:launch", project.slug)
    link = request.build_absolute_uri(reverse("crowd:entry", args=[project.slug]))
    context = {
        "link": link,
        "prolific_url": link + "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}"
        "&SESSION_ID={{%SESSION_ID%}}",
        "prolific_completion": PROLIFIC_REDIRECT.format(code=project.completion_code),
        "mturk_xml": (
            '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
            'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">\n'
            f"  <ExternalURL>{link}</ExternalURL>\n"
            "  <FrameHeight>0</FrameHeight>\n</ExternalQuestion>"
        ),
        "transitions": [
            (status, label, services.TRANSITION_CONFIRM.get(status, ""))
            for status, label in services.TRANSITIONS.get(project.status, [])
        ],
        "can_write": project.role != "viewer",
        "gold_unserved": selectors.gold_unserved(project),
    }
    return _tab(request, project, "launch", "dashboard/launch.html", context)


@login_required
def project_progress(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug)
    counts = selectors.project_counts(project=project)
    return _tab(
        request,
        project,
        "progress",
        "dashboard/progress.html",
        {"counts": counts},
        partial="counts",
    )


def _method(request: HttpRequest, project: Project) -> str:
    method = request.GET.get("method", "majority")
    return (
        method if method in {m.key for m in exporting.aggregation_methods(project)} else "majority"
    )


@login_required
def project_quality(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug)
    method = _method(request, project)
    page = results_for_page(project=project)
    quality = selectors.project_quality(project=project, method=method, data=page.quality)
    qualification = qualification_of(registry.get(project.task_type), project)
    return _tab(
        request,
        project,
        "quality",
        "dashboard/quality.html",
        {
            "quality": quality,
            "qualification": qualification,
            "qualification_minutes": round(qualification.valid_for.total_seconds() / 60)
            if qualification and qualification.valid_for
            else None,
            "qualification_counts": core_selectors.qualification_counts(project=project),
            "page": page,
            "methods": [(m.key, m.title) for m in exporting.aggregation_methods(project)],
            "method": method,
            "can_write": project.role != "viewer",
            "gold_unserved": selectors.gold_unserved(project),
        },
        partial="quality-body",
    )


@login_required
@require_POST
def participant_block(request: HttpRequest, slug: str, public_id: str) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    participant = Participant.objects.filter(project=project, public_id=public_id).first()
    if participant is None:
        raise Http404("No such participant.")
    form = BlockForm(request.POST)
    if form.is_valid():
        services.participant_block_set(
            participant=participant,
            blocked=form.cleaned_data["blocked"],
            reason=form.cleaned_data["reason"],
        )
        verb = "blocked" if form.cleaned_data["blocked"] else "unblocked"
        messages.success(request, f"{participant.display_name} {verb}.")
    return redirect(
        reverse("dashboard:quality", args=[project.slug]) + f"#p-{participant.public_id}"
    )


@login_required
def project_results(request: HttpRequest, slug: str) -> HttpResponse:
    """The task type's results as last computed; htmx polls the body while they are stale."""
    project = project_for_user(request, slug)
    page = results_for_page(project=project)
    figures = [
        {
            "figure": figure,
            "svg": page.svg.get(figure.key, ""),
            "table": figure.table(),
            "png": reverse("dashboard:results_figure", args=[project.slug, figure.key, "png"]),
            "downloads": [
                (
                    fmt.upper(),
                    reverse("dashboard:results_figure", args=[project.slug, figure.key, fmt]),
                )
                for fmt in figure_drawing.FORMATS
            ],
        }
        for figure in page.results.figures
    ]
    return _tab(
        request,
        project,
        "results",
        "dashboard/results.html",
        {
            "page": page,
            "results": page.results,
            "figures": figures,
            "task_type": registry.get(project.task_type),
        },
        partial="results-body",
    )


@login_required
def results_figure(request: HttpRequest, slug: str, key: str, fmt: str) -> HttpResponse:
    """One figure of the stored results as SVG, PDF or PNG, named for a paper's figure folder."""
    project = project_for_user(request, slug)
    if fmt not in figure_drawing.FORMATS:
        raise Http404("Figures come as svg, pdf or png.")
    try:
        figure = results_stored(project=project).figure(key)
    except KeyError:
        raise Http404("No such figure in this project's results.") from None
    response = HttpResponse(
        figure_drawing.render(figure, fmt), content_type=figure_drawing.FORMATS[fmt]
    )
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{figure.key}.{fmt}"'
    return response


@login_required
def project_export(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug)
    return _tab(
        request,
        project,
        "export",
        "dashboard/export.html",
        {
            "downloads": exporting.export_catalog(project),
            "counts": selectors.project_counts(project=project),
            "hf_jobs": hfdataset.hf_exports_for(project)[:5],
        },
    )


def _hf_job(project: Project, job_id: int) -> Job:
    job = hfdataset.hf_exports_for(project).filter(pk=job_id).first()
    if job is None:
        raise Http404("No such export.")
    return job


@login_required
@require_POST
def hf_export_start(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    job = hfdataset.hf_export_start(project=project, user=request.user)
    messages.success(
        request,
        f"Hugging Face export #{core_selectors.job_number(job)} started; it runs in the background.",
    )
    return redirect("dashboard:export", project.slug)


@login_required
def hf_export_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for_user(request, slug)
    job = _hf_job(project, job_id)
    return render(request, "dashboard/export.html#hf_job", {"project": project, "job": job})


@login_required
@require_POST
def hf_export_cancel(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for_user(request, slug, write=True)
    job = _hf_job(project, job_id)
    core_job_cancel(job)
    job.refresh_from_db()
    if request.htmx:
        return render(request, "dashboard/export.html#hf_job", {"project": project, "job": job})
    return redirect("dashboard:export", project.slug)


@login_required
def hf_export_download(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = project_for_user(request, slug)
    return hfdataset.zip_response(_hf_job(project, job_id))


@login_required
def export_download(request: HttpRequest, slug: str, what: str, fmt: str) -> StreamingHttpResponse:
    project = project_for_user(request, slug)
    if fmt not in exporting.FORMATS and fmt != exporting.NATIVE:
        raise Http404("Unknown format.")
    try:
        return exporting.export_response(project, what=what, fmt=fmt)
    except exporting.UnknownExport as exc:
        raise Http404(str(exc)) from None


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        had_one = Token.objects.filter(user=request.user).exists()
        services.api_token_renew(user=request.user)
        messages.success(
            request,
            "A new API token was made; the old one no longer works."
            if had_one
            else "Your API token was made. Copy it below.",
        )
        return redirect("dashboard:api_token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "dashboard/api_token.html", {"token": token})
