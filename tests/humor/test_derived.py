"""Derived data (the computed score choices) lives in Project.derived, out of reach of the API."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_the_api_cannot_forge_the_score_choices(humor_project, owner):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    forged = {"config": {"score_meta": {"s_version": "forged"}}}
    response = client.patch(f"/api/projects/{humor_project.slug}/update/", forged, format="json")
    assert response.status_code == 400
    assert "score_meta" in response.json()["config"]
    humor_project.refresh_from_db()
    assert "score_meta" not in humor_project.config
    assert (humor_project.derived.get("score_meta") or {}).get("s_version") != "forged"
