from tests.cophy.scenes import cophy_project  # noqa: F401
