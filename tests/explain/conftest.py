from tests.explain.layouts import explain_project  # noqa: F401
