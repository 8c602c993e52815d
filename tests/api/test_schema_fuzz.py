"""Schemathesis: a bounded number of generated requests per operation of the OpenAPI schema,
sent through the WSGI app with a researcher's token; none may answer with a server error."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from tests.api.helpers import three_workers_and_one_spammer

# Reading the schema needs no database: drf-spectacular builds it from the code.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def in_test_transaction(db):
    # As Django's test client does: the test's transaction must outlive each request.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_project(project):
    three_workers_and_one_spammer(project)
    return project


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error(
    case, in_test_transaction, fuzz_project, researcher
):
    token = Token.objects.get_or_create(user=researcher)[0]
    if case.path_parameters and "slug" in case.path_parameters:
        # Half the examples aim at a real project, so the handlers behind the 404 run too.
        if len(str(case.query)) % 2 == 0:
            case.path_parameters["slug"] = fuzz_project.slug
    response = case.call(headers={"Authorization": f"Token {token.key}"})
    case.validate_response(response, checks=[not_a_server_error])
