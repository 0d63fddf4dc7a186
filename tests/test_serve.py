"""`rnnkit export` + `rnnkit serve`: a tiny trained language model exported with the CLI, the API
(httpx through FastAPI's TestClient: SSE streaming, limits as 4xx, OpenAPI, /health), the
onnxruntime step-graph generator against torch, and the page in headless Chromium; /classify,
/forecast and /translate on tiny classifier, forecaster (trained from a CSV file) and seq2seq runs
agree with the estimators' own predict / translate, and their limits and bad inputs are 4xx."""

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
            # partial text: the first text longer than the prompt seen while the stream still runs, recorded by
            # an observer of every change (polling can miss a stream that ends within one poll)
            page.evaluate("""() => { const o = document.getElementById('output'); window.partial = null;
                new MutationObserver(() => { if (window.partial === null && o.dataset.state === 'streaming'
                    && o.textContent.length > 8) window.partial = o.textContent; })
                  .observe(o, {childList: true, subtree: true, characterData: true, attributes: true}); }""")
            page.click("#go")
            page.wait_for_function("() => document.getElementById('output').dataset.state === 'done'", timeout=30000)
            partial, final = page.evaluate("window.partial"), page.text_content("#output")
        finally:
            browser.close()
    assert partial.startswith("the ") and len(partial) < len(final) == len("the ") + 1000


# --------------------------------------------------------------------------- classify, forecast, translate

@pytest.fixture(scope="module")
def clf_run(tmp_path_factory):
    """A word-level text classifier trained for one epoch on 40 short texts."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("serve") / "clf"
    texts = [f"{'great fine' if i % 2 else 'awful dull'} film the {i % 3}" for i in range(40)]
    rnnkit.SequenceClassifier(hidden_size=8, embed_dim=6, tokenizer="word", random_state=0, verbose=0,
                              overrides=("data.baselines=false",)).fit(
        texts, ["pos" if i % 2 else "neg" for i in range(40)], epochs=1).save(run)
    return run


@pytest.fixture(scope="module")
def fc_csv(tmp_path_factory):
    import numpy as np

    csv = tmp_path_factory.mktemp("serve") / "sales.csv"
    csv.write_text("date,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{10 + np.sin(i / 2):.4f}\n"
                                        for i in range(60)))
    return csv


def _forecaster(csv, run, **kw):
    """A tiny forecaster trained for 4 steps from the CSV file (it reads the file again to forecast)."""
    torch.manual_seed(0)
    rnnkit.Forecaster(horizon=6, context=12, hidden_size=8, ensemble=1, max_steps=4, batch_size=8, random_state=0,
                      verbose=0, overrides=("data.baselines=naive",), **kw).fit_dataset(str(csv)).save(run)
    return run


@pytest.fixture(scope="module")
def fc_run(fc_csv):
    """Recursive (so it forecasts past its trained horizon) with Gaussian intervals."""
    return _forecaster(fc_csv, fc_csv.parent / "fc", strategy="recursive", loss="gaussian")


@pytest.fixture(scope="module")
def s2s_run(tmp_path_factory):
    """A char-level reverser with additive attention, 40 steps (its outputs are not empty)."""
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("serve") / "s2s"
    pairs = [(w, w[::-1]) for w in ("abc", "bca", "cab", "abca", "bbca", "acab", "cabb", "aacb", "bcab", "caab") * 3]
    rnnkit.Seq2Seq(hidden_size=16, embed_size=8, max_steps=40, lr=0.03, batch_size=8, random_state=0,
                   verbose=0).fit(pairs, validation_data=pairs[:4]).save(run)
    return run


def _detail(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    return json.dumps(r.json()["detail"])


def test_classify_matches_the_estimator(clf_run):
    client = TestClient(create_app(clf_run))
    assert client.get("/info").json()["endpoint"] == "classify"
    texts = ["great fine film", "awful dull the 2", "unseen words only"]
    r = client.post("/classify", json={"inputs": texts})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    est = rnnkit.load(clf_run)
    proba, labels = est.predict_proba(texts), est.predict(texts)
    assert len(preds) == 3
    for p, row, label in zip(preds, proba, labels):
        assert set(p) == {"label", "probability", "probabilities"} and p["label"] == label
        assert list(p["probabilities"]) == [str(c) for c in est.classes_]
        assert list(p["probabilities"].values()) == pytest.approx(row.tolist(), abs=1e-6)
        assert p["probability"] == pytest.approx(row.max(), abs=1e-6)


def test_classify_limits_and_bad_input(clf_run):
    client = TestClient(create_app(clf_run, Limits(max_inputs=2, max_input_chars=20)))
    assert "limit of 2" in _detail(client.post("/classify", json={"inputs": ["a", "b", "c"]}), 413)
    d = _detail(client.post("/classify", json={"inputs": ["fine", "x" * 21]}), 413)
    assert "inputs[1]" in d and "21" in d and "limit of 20" in d
    assert "inputs[1]: empty text" in _detail(client.post("/classify", json={"inputs": ["fine", "  "]}), 422)
    assert "at least 1 item" in _detail(client.post("/classify", json={"inputs": []}), 422)
    assert "valid string" in _detail(client.post("/classify", json={"inputs": [3]}), 422)
    assert "inputs" in _detail(client.post("/classify", json={}), 422)
    for path, body in (("/forecast", {}), ("/translate", {"texts": ["a"]}), ("/generate", {})):
        assert "this server offers /classify" in _detail(client.post(path, json=body), 404)


def test_classify_series_bad_numbers(tmp_path):
    import numpy as np

    X = np.random.default_rng(0).normal(size=(24, 6)).astype(np.float32)
    run = rnnkit.SequenceClassifier(hidden_size=4, random_state=0, verbose=0).fit(
        X, (X.mean(1) > 0).astype(int), epochs=1).save(tmp_path / "series")
    client = TestClient(create_app(run))
    r = client.post("/classify", json={"inputs": ["0.1,0.5,-0.3,1"]})
    assert r.status_code == 200
    want = rnnkit.load(run).predict_proba([np.array([0.1, 0.5, -0.3, 1], dtype=np.float32)])[0]
    assert list(r.json()["predictions"][0]["probabilities"].values()) == pytest.approx(want.tolist(), abs=1e-6)
    assert "cannot read '1,x' as numbers" in _detail(client.post("/classify", json={"inputs": ["1,x"]}), 422)
    assert "NaN or infinite" in _detail(client.post("/classify", json={"inputs": ["1,nan"]}), 422)
    assert "2 features per step, expected 1" in _detail(client.post("/classify", json={"inputs": ["1,2;3,4"]}), 422)


def test_forecast_matches_the_estimator(fc_run, fc_csv):
    import numpy as np

    client = TestClient(create_app(fc_run))
    assert client.get("/info").json()["endpoint"] == "forecast"
    fc = client.post("/forecast", json={"history": 5}).json()
    est = rnnkit.load(fc_run)
    want = est.predict()
    assert fc["series"] == ["y"] and fc["times"] == list(want["time"]) == ["2005-01", "2005-02", "2005-03",
                                                                           "2005-04", "2005-05", "2005-06"]
    for key in ("mean", "lower", "upper"):
        assert np.asarray(fc[key]).shape == (1, 6)
        np.testing.assert_allclose(fc[key][0], want[key], rtol=1e-6)
    assert fc["interval"] == pytest.approx(0.9) and np.all(np.asarray(fc["lower"]) < np.asarray(fc["upper"]))
    rows = [line.split(",") for line in fc_csv.read_text().splitlines()[1:]]
    assert fc["history_times"] == [t for t, _ in rows[-5:]]
    np.testing.assert_allclose(fc["history"][0], [float(v) for _, v in rows[-5:]])
    held = client.post("/forecast", json={"holdout": True, "history": 3}).json()
    np.testing.assert_allclose(held["actual"][0], [float(v) for _, v in rows[-6:]])
    np.testing.assert_allclose(held["mean"][0], est.predict(holdout=True)["mean"], rtol=1e-6)
    assert held["history_times"] == [t for t, _ in rows[-9:-6]]
    longer = client.post("/forecast", json={"horizon": 12}).json()  # recursive: past the trained horizon
    assert len(longer["times"]) == 12 and longer["times"][-1] == "2005-12"
    np.testing.assert_allclose(longer["mean"][0], est.predict(horizon=12)["mean"], rtol=1e-6)
    np.testing.assert_allclose(longer["mean"][0][:6], fc["mean"][0], rtol=1e-6)
    again = client.post("/forecast", json={})  # the longer horizon is not left on the model
    assert again.status_code == 200, again.text
    np.testing.assert_allclose(again.json()["mean"][0], fc["mean"][0], rtol=1e-6)


def test_forecast_limits_and_bad_input(fc_run, fc_csv):
    client = TestClient(create_app(fc_run, Limits(max_horizon=10)))
    d = _detail(client.post("/forecast", json={"horizon": 11}), 413)
    assert "horizon is 11, over the server's limit of 10" in d
    assert "horizon" in _detail(client.post("/forecast", json={"horizon": 0}), 422)
    assert "history" in _detail(client.post("/forecast", json={"history": 0}), 422)
    assert "holdout" in _detail(client.post("/forecast", json={"holdout": "maybe"}), 422)
    for path, body in (("/classify", {"inputs": ["1"]}), ("/translate", {"texts": ["a"]}), ("/generate", {})):
        assert "this server offers /forecast" in _detail(client.post(path, json=body), 404)
    direct = TestClient(create_app(_forecaster(fc_csv, fc_csv.parent / "direct")))
    d = _detail(direct.post("/forecast", json={"horizon": 7}), 422)
    assert "trained for horizon 6; a direct model cannot forecast 7 steps" in d
    assert len(direct.post("/forecast", json={"horizon": 3}).json()["mean"][0]) == 3


def test_forecaster_fitted_in_memory_is_refused_at_start(tmp_path):
    import numpy as np

    from rnnkit.errors import RnnkitError

    rnnkit.Forecaster(horizon=4, context=8, hidden_size=4, ensemble=1, max_steps=2, batch_size=8, verbose=0,
                      overrides=("data.baselines=naive",)).fit(10 + np.sin(np.arange(40) / 2)).save(tmp_path / "m")
    with pytest.raises(RnnkitError, match="trained on data given in memory"):
        create_app(tmp_path / "m")
    res = CliRunner().invoke(cli_app, ["serve", str(tmp_path / "m")])
    assert res.exit_code == 2 and "data given in memory" in res.output and "Traceback" not in res.output


def test_translate_matches_the_estimator(s2s_run):
    client = TestClient(create_app(s2s_run))
    assert client.get("/info").json()["endpoint"] == "translate"
    texts = ["abc", "cabb", "bca"]
    est = rnnkit.load(s2s_run)
    r = client.post("/translate", json={"texts": texts})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    assert outputs == est.translate(texts) and len(outputs) == 3 and all(outputs)
    assert client.post("/translate", json={"texts": texts, "beam": 3}).json()["outputs"] == est.translate(texts, beam=3)


def test_translate_limits_and_bad_input(s2s_run):
    client = TestClient(create_app(s2s_run, Limits(max_inputs=2, max_input_chars=300)))
    assert "number of inputs is 3" in _detail(client.post("/translate", json={"texts": ["a", "b", "c"]}), 413)
    d = _detail(client.post("/translate", json={"texts": ["abc", "a" * 301]}), 413)
    assert "texts[1]" in d and "limit of 300" in d
    d = _detail(client.post("/translate", json={"texts": ["abc", "a" * 250]}), 422)
    assert "texts[1] has 250 tokens, more than the model's max_len=" in d
    assert "texts[0] is empty" in _detail(client.post("/translate", json={"texts": [" "]}), 422)
    assert "beam" in _detail(client.post("/translate", json={"texts": ["abc"], "beam": 0}), 422)
    assert "beam" in _detail(client.post("/translate", json={"texts": ["abc"], "beam": 17}), 422)
    assert "at least 1 item" in _detail(client.post("/translate", json={"texts": []}), 422)
    for path, body in (("/classify", {"inputs": ["a"]}), ("/forecast", {}), ("/generate", {})):
        assert "this server offers /translate" in _detail(client.post(path, json=body), 404)
