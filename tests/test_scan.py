"""Linear-recurrence scans against a plain float64 loop; gradients; long-sequence accuracy."""

import pytest
import torch

from rnnkit.cells.scan import SCANS, linear_scan, scan_sequential


def _loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


def _coeffs(B: int, T: int, H: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    a = torch.rand(B, T, H, dtype=dtype) * 0.98 + 0.01  # in (0, 1) as minGRU's gates
    b = torch.rand(B, T, H, dtype=dtype) + 0.01  # positive, as the log scan needs
    h0 = torch.randn(B, H, dtype=dtype)
    return a, b, h0


@pytest.mark.parametrize("method", list(SCANS))
@pytest.mark.parametrize("T", [1, 2, 7, 33])
def test_scan_matches_loop(method: str, T: int) -> None:
    a, b, h0 = _coeffs(3, T, 5)
    torch.testing.assert_close(linear_scan(a, b, h0, method), _loop(a, b, h0))


@pytest.mark.parametrize("method", list(SCANS))
def test_scan_gradients_match_loop(method: str) -> None:
    a, b, h0 = (t.requires_grad_() for t in _coeffs(2, 9, 4))
    w = torch.randn(2, 9, 4, dtype=torch.float64)
    g = torch.autograd.grad((linear_scan(a, b, h0, method) * w).sum(), (a, b, h0))
    rg = torch.autograd.grad((_loop(a, b, h0) * w).sum(), (a, b, h0))
    for x, y in zip(g, rg):
        torch.testing.assert_close(x, y)


def test_sequential_custom_backward_gradcheck() -> None:
    a, b, h0 = (t.requires_grad_() for t in _coeffs(2, 6, 3))
    assert torch.autograd.gradcheck(scan_sequential, (a, b, h0))


def test_long_sequence_accuracy_float32() -> None:
    """At T=4096 the linear-space scans stay within 1e-4 relative of a float64 loop."""
    a, b, h0 = _coeffs(2, 4096, 8)
    ref = _loop(a, b, h0)
    for method in ("sequential", "parallel"):
        out = linear_scan(a.float(), b.float(), h0.float(), method).double()
        rel = ((out - ref).norm() / ref.norm()).item()
        assert rel < 1e-4, (method, rel)


def test_scan_errors() -> None:
    a, b, h0 = _coeffs(1, 3, 2)
    with pytest.raises(ValueError, match="unknown scan method 'fast'"):
        linear_scan(a, b, h0, "fast")
    with pytest.raises(ValueError, match=r"must both be \(B, T, H\)"):
        linear_scan(a, b[:, :2], h0)
