import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """2 OpenMP threads on a shared 2-core machine stall at every barrier; the tiny test models
    run far faster (and steadier) on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
