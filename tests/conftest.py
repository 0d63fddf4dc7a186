import pytest
import torch

from rnnkit.layers import native


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


@pytest.fixture(params=["native", "python"])
def loop(request):
    """Run the test once with the native C++ loops and once with the Python loops (test_fastlstm.py,
    test_fastgru.py)."""
    if request.param == "native" and not native.load():
        pytest.skip(native.status())
    with native.enabled(request.param == "native"):
        yield request.param
