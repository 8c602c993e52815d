import pytest

from tests.explain.layouts import explain_project  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # As in tests/ml: the tiny models here run slower on threads that share the test
    # machine's cores with other suites than on one.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
