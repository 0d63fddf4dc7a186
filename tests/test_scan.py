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


@pytest.mark.parametrize(("method", "use_native"), [(m, False) for m in SCANS] + [("sequential", True)])
@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_cpu_time_chunks_equal_one_pass(method: str, cell: str, use_native: bool,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU scan path runs in cache-sized time chunks; with chunks of <= 16 steps over T=53 (four
    chunks, a ragged last one, lengths ending inside and between chunks, h0 != 0, both directions)
    outputs, final states and every gradient equal a single pass."""
    from rnnkit.layers import Stack, native, recurrent

    torch.manual_seed(0)
    stack = Stack(cell, 3, 5, bidirectional=True, impl="scan", scan_method=method).double()
    x = torch.randn(4, 53, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([53, 14, 40, 1])  # 14: ends exactly at a chunk boundary
    h0 = torch.randn(2, 4, 5, dtype=torch.float64)
    w = torch.randn(4, 53, 10, dtype=torch.float64)

    def run() -> tuple[torch.Tensor, ...]:
        stack.zero_grad()
        x.grad = None
        y, st = stack(x, (h0,), lengths=lengths)
        ((y * w).sum() + st[0].sum()).backward()
        return (y.detach(), st[0].detach(), x.grad.clone(), *(p.grad.clone() for p in stack.parameters()))

    if use_native and not native.load():
        pytest.skip(native.status())
    monkeypatch.setattr(native, "_enabled", [use_native])  # both loops run per chunk
    monkeypatch.setattr(recurrent, "CPU_SCAN_CHUNK_BYTES", 1 << 40)
    whole = run()
    monkeypatch.setattr(recurrent, "CPU_SCAN_CHUNK_BYTES", 1)  # -> the 16-step minimum
    assert recurrent._scan_chunk_steps(stack.cells[0], x) == 14  # 53 steps: 4 chunks of <= 16, balanced
    chunked = run()
    for a, b in zip(whole, chunked, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_one_node_coefficients_match_autograd_of_the_equations(cell: str) -> None:
    """minGRU/minLSTM compute (a, b) in one custom autograd node; values and gradients equal
    autograd through the written-out equations of the paper, and the closed-form backward passes
    a float64 gradcheck (large pre-activations on both sides of 0)."""
    import rnnkit.cells.minimal as mm
    from rnnkit.cells import CELLS

    torch.manual_seed(0)
    c = CELLS[cell](2, 5).double()
    fn = mm._MinGRUCoefficients if cell == "mingru" else mm._MinLSTMCoefficients
    xp = (torch.randn(3, 4, c.num_gates * 5, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(fn.apply, (xp,))
    wa, wb = torch.randn(3, 4, 5, dtype=torch.float64), torch.randn(3, 4, 5, dtype=torch.float64)
    a, b = c.coefficients(xp)
    (ga,) = torch.autograd.grad((a * wa + b * wb).sum(), xp)
    # the equations, written out and differentiated by autograd
    kz = xp.detach().clone().requires_grad_()
    if cell == "mingru":
        k1, kh = kz.chunk(2, -1)
        z = torch.sigmoid(k1)
        ea, eb = 1 - z, z * mm.g(kh)
    else:  # f' = σ(f) / (σ(f) + σ(i)), i' = 1 - f'
        kf, ki, kh = kz.chunk(3, -1)
        sf, si = torch.sigmoid(kf), torch.sigmoid(ki)
        ea, eb = sf / (sf + si), si / (sf + si) * mm.g(kh)
    torch.testing.assert_close((a.detach(), b.detach()), (ea.detach(), eb.detach()))
    (gr,) = torch.autograd.grad((ea * wa + eb * wb).sum(), kz)
    torch.testing.assert_close(ga, gr)
    with torch.no_grad():  # inference takes the same path
        torch.testing.assert_close(c.coefficients(xp), (a.detach(), b.detach()))


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_native_fused_scan_equals_the_python_path(cell: str, dtype: torch.dtype) -> None:
    """On CPU the sequential scan runs gates + scan fused in C++ (layers/native). Outputs, final
    states and every gradient equal the Python path (one-node coefficients + sequential scan):
    H=70 = one 64-wide block and a ragged one, lengths ending early, h0 != 0, both directions,
    pre-activations on both sides of g's kink; a float64 gradcheck of the fused node."""
    from rnnkit.layers import Stack, native, recurrent

    if not native.load():
        pytest.skip(native.status())
    torch.manual_seed(0)
    stack = Stack(cell, 3, 70, bidirectional=True, impl="scan", scan_method="sequential").to(dtype)
    with torch.no_grad():
        stack.cells[0].weight_ih.mul_(6.0)
    x = torch.randn(3, 9, 3, dtype=dtype, requires_grad=True)
    lengths, h0 = torch.tensor([9, 4, 1]), torch.randn(2, 3, 70, dtype=dtype)
    w = torch.randn(3, 9, 140, dtype=dtype)

    def run(on: bool) -> tuple[torch.Tensor, ...]:
        stack.zero_grad()
        x.grad = None
        with native.enabled(on):
            y, st = stack(x, (h0,), lengths=lengths)
        ((y * w).sum() + (st[0] * 1.7).sum()).backward()
        return (y.detach(), st[0].detach(), x.grad.clone(), *(p.grad.clone() for p in stack.parameters()))

    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-5}
    for a, b in zip(run(True), run(False), strict=True):
        torch.testing.assert_close(a, b, **tol)
    if dtype == torch.float64:
        xp = (torch.randn(2, 5, stack.cells[0].num_gates * 6, dtype=dtype) * 3).requires_grad_()
        h0s = torch.randn(2, 6, dtype=dtype, requires_grad=True)
        for ln in (None, torch.tensor([5, 2])):
            assert torch.autograd.gradcheck(lambda a, b, ln=ln: recurrent._NativeMinScan.apply(a, b, ln), (xp, h0s))
