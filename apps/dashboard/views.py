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
