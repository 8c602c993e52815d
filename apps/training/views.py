from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.core.access import project_for_user


@login_required
def model_list(request: HttpRequest, slug: str) -> HttpResponse:
    # Placeholder until the model-loop issue fills the Models tab in.
    project = project_for_user(request, slug)
    return render(request, "dashboard/tab_placeholder.html",
                  {"project": project, "tab": "models", "title": "Models"})
