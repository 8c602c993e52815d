from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core import registry
from apps.core.access import projects_for_user


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


def _project_page(request: HttpRequest, slug: str, tab: str, title: str) -> HttpResponse:
    # Placeholder page until the dashboard issue fills each tab in.
    from apps.core.access import project_for_user

    project = project_for_user(request, slug)
    return render(request, "dashboard/tab_placeholder.html",
                  {"project": project, "tab": tab, "title": title})


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/tab_placeholder.html", {"title": "New project"})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "overview", "Overview")


@login_required
def project_data(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "data", "Data")


@login_required
def project_launch(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "launch", "Launch")


@login_required
def project_progress(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "progress", "Progress")


@login_required
def project_quality(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "quality", "Quality")


@login_required
def project_results(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "results", "Results")


@login_required
def project_export(request: HttpRequest, slug: str) -> HttpResponse:
    return _project_page(request, slug, "export", "Export")
