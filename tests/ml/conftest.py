import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The test machine runs other suites beside this one on 2 cores; oversubscribed OpenMP
    # threads spin-wait and made these tests 3× slower than one thread does.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
