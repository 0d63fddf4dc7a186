"""`rnnkit export` + `rnnkit serve`: a tiny trained language model exported with the CLI, the API
(httpx through FastAPI's TestClient: SSE streaming, limits as 4xx, OpenAPI, /health), the
onnxruntime step-graph generator against torch, and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")

from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.cli import app as cli_app  # noqa: E402
from rnnkit.serve import Limits, create_app  # noqa: E402

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A 1-layer LSTM char LM trained for 30 steps, saved, exported by `rnnkit export --int8`."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("serve") / "lm"
    rnnkit.CharLM(hidden_size=32, num_layers=1, embed_dim=16, max_steps=30, seq_len=32, batch_size=8,
                  verbose=0).fit(TEXT).save(run)
    res = CliRunner().invoke(cli_app, ["export", str(run), "--int8"])
    assert res.exit_code == 0, res.output
    assert "step:" in res.output and "top-1 agreement" in res.output
    return run


def _events(body: str) -> list[tuple[str, dict]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = block.split("\n")
        event = next((ln[7:] for ln in lines if ln.startswith("event: ")), "message")
        out.append((event, json.loads(next(ln[6:] for ln in lines if ln.startswith("data: ")))))
    return out


def test_export_manifest_and_onnx_generation_matches_torch(lm_run):
    from rnnkit.export.runtime import OnnxLM

    manifest = json.loads((lm_run / "onnx" / "export.json").read_text())
    assert set(manifest["graphs"]) == {"model", "step"}
    for g in manifest["graphs"].values():
        assert g["max_abs_err"] < 1e-5
        assert g["int8"]["max_rel_err"] <= g["int8"]["tolerance"]["max_rel_err"]
    lm = rnnkit.load(lm_run)
    want = lm.generate("the qu", 40, greedy=True)
    assert "".join(OnnxLM(lm_run / "onnx").generate("the qu", 40, greedy=True)) == want
    sampled = dict(temperature=0.9, top_k=5, seed=3)
    assert "".join(OnnxLM(lm_run / "onnx").generate("the", 30, **sampled)) == lm.generate("the", 30, **sampled)


@pytest.mark.parametrize("backend", ["onnx", "torch"])
def test_generate_streams_server_sent_events(lm_run, backend):
    client = TestClient(create_app(lm_run, backend=backend))
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["backend"] == ("onnxruntime" if backend == "onnx" else "torch")
    with client.stream("POST", "/generate", json={"prompt": "the ", "length": 12, "greedy": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _events(r.read().decode())
    assert [e for e, _ in events] == ["message"] * 12 + ["done"]
    text = "".join(d["text"] for e, d in events if e == "message")
    assert text == rnnkit.load(lm_run).generate("the ", 12, greedy=True)
    assert client.get("/health").json()["open_streams"] == 0


def test_limits_and_errors_are_4xx(lm_run):
    client = TestClient(create_app(lm_run, Limits(max_prompt_chars=50, max_length=20)))
    r = client.post("/generate", json={"prompt": "x" * 51})
    assert r.status_code == 413 and "limit of 50" in r.json()["detail"]
    assert client.post("/generate", json={"length": 21}).status_code == 413
    assert client.post("/generate", json={"temperature": -1}).status_code == 422
    assert client.post("/generate", json={"top_k": 0}).status_code == 422
    r = client.post("/classify", json={"inputs": ["a"]})
    assert r.status_code == 404 and "/generate" in r.json()["detail"]
    busy = TestClient(create_app(lm_run, Limits(max_streams=0), backend="torch"))
    r = busy.post("/generate", json={"length": 5})
    assert r.status_code == 429 and "busy" in r.json()["detail"]


def test_openapi_info_and_page(lm_run):
    client = TestClient(create_app(lm_run))
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/generate", "/classify", "/forecast", "/translate", "/health", "/info"} <= set(paths)
    info = client.get("/info").json()
    assert info["task"] == "charlm" and info["endpoint"] == "generate" and info["limits"]["max_streams"] == 8
    page = client.get("/")
    assert page.status_code == 200 and "Generate" in page.text and "http" not in page.text.split("<script>")[1]


def test_cli_errors_are_one_line(lm_run, tmp_path):
    res = CliRunner().invoke(cli_app, ["export", str(lm_run), "--format", "tflite"])
    assert res.exit_code == 2 and "unknown export format 'tflite'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(cli_app, ["serve", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_browser_streams_partial_text(lm_run):
    """Headless Chromium opens the page on 127.0.0.1, clicks Generate and sees text grow while the
    stream is still open (the page marks the output done only when the stream ends)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no system chromium (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    from rnnkit.serve.loadtest import running_server

    app = create_app(lm_run, backend="onnx")
    with running_server(app) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.wait_for_selector("#generate", state="visible")
            page.fill("#prompt", "the ")
            page.fill("#length", "1000")
            page.fill("#temperature", "0.8")
            page.click("#go")
            # partial text: longer than the prompt while the stream is still running
            page.wait_for_function("() => document.getElementById('output').dataset.state === 'streaming'"
                                   " && document.getElementById('output').textContent.length > 8", timeout=10000)
            partial = page.text_content("#output")
            page.wait_for_function("() => document.getElementById('output').dataset.state === 'done'", timeout=30000)
            final = page.text_content("#output")
        finally:
            browser.close()
    assert partial.startswith("the ") and len(partial) < len(final) == len("the ") + 1000
