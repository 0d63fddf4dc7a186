"""The HTTP API and web page of ``rnnkit serve RUN``: a FastAPI app over one model directory.

    GET  /                the page (static/index.html: prompt, temperature / top-k, live output, charts)
    GET  /health          {"status": "ok", "task": ..., "backend": ...}
    GET  /info            what the model can do, its backend and the limits
    POST /generate        language models: tokens streamed as Server-Sent Events (``data: {"text": ...}``)
    POST /classify        classifiers: label and probabilities per input
    POST /forecast        forecasters: the next steps of the run's series with intervals and history
    POST /translate       seq2seq: one output per input text
    GET  /docs, /openapi.json   the OpenAPI schema (FastAPI)

Generation runs the exported onnxruntime step graph when the run has one (``RUN/onnx``, written by
``rnnkit export``) and the torch model otherwise. Limits (``Limits``) answer 413 for inputs that are
too long, 422 for invalid values, 429 when every stream slot is taken and 404 for an endpoint the
model type does not offer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, StreamingResponse

from rnnkit.errors import RnnkitError
from rnnkit.serve.schemas import ClassifyRequest, ForecastRequest, GenerateRequest, TranslateRequest

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
GENERATIVE = ("charlm", "nextelement")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; anything beyond is refused with a 4xx naming the limit."""

    max_prompt_chars: int = 2000
    max_length: int = 1000  # tokens generated per request
    max_streams: int = 8  # concurrent generation streams
    max_inputs: int = 64  # texts / series per classify or translate request
    max_input_chars: int = 5000  # per input
    max_horizon: int = 365


class Streams:
    """A counter of open generation streams with a ceiling (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.open, self._lock = limit, 0, threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open -= 1


def _backend(est: Any, run_dir: Path, prefer: str, threads: int) -> tuple[Any, str]:
    """(object with ``generate(prompt, length, ...) -> Iterator[str]``, its name) for a language model."""
    export_dir = run_dir / "onnx"
    if prefer in ("auto", "onnx", "onnx-int8") and (export_dir / "export.json").is_file():
        from rnnkit.export.runtime import OnnxLM

        lm = OnnxLM(export_dir, int8=prefer == "onnx-int8", threads=threads)
        return lm, lm.backend
    if prefer in ("onnx", "onnx-int8"):
        raise RnnkitError(f"{run_dir} has no ONNX export ({export_dir}/export.json); run `rnnkit export {run_dir}`")
    return est.model_, "torch"


def _sse(event: str | None, data: dict[str, Any]) -> str:
    return (f"event: {event}\n" if event else "") + f"data: {json.dumps(data)}\n\n"


def create_app(run_dir: str | Path, limits: Limits | None = None, backend: str = "auto", threads: int = 1) -> FastAPI:
    """The FastAPI app serving the model directory ``run_dir`` (``backend``: auto | torch | onnx | onnx-int8)."""
    from rnnkit.estimators import load
    from rnnkit.tasks import IN_MEMORY

    if backend not in ("auto", "torch", "onnx", "onnx-int8"):
        raise RnnkitError(f"unknown backend {backend!r}; valid: auto, torch, onnx, onnx-int8")
    run_dir, limits = Path(run_dir), limits or Limits()
    est = load(run_dir)
    task = est.config_.task
    if task == "forecast" and est.config_.data.source == IN_MEMORY:
        from rnnkit.apps.forecast_ops import IN_MEMORY_FORECASTER

        raise RnnkitError(f"{run_dir}: cannot serve it: {IN_MEMORY_FORECASTER}")
    gen, backend_name = _backend(est, run_dir, backend, threads) if task in GENERATIVE else (None, "torch")
    streams = Streams(limits.max_streams)
    app = FastAPI(title=f"rnnkit serve: {run_dir.name}", version="1",
                  description=f"A {task} model served by rnnkit ({backend_name}).")
    endpoints = {"charlm": "generate", "nextelement": "generate", "classify": "classify", "forecast": "forecast",
                 "seq2seq": "translate"}

    def need(what: str) -> None:
        if endpoints.get(task) != what:
            raise HTTPException(404, f"/{what} is not available for a {task!r} model "
                                     f"(this server offers /{endpoints.get(task, 'info')})")

    def too_long(what: str, got: int, limit: int) -> None:
        if got > limit:
            raise HTTPException(413, f"{what} is {got}, over the server's limit of {limit}")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "task": task, "backend": backend_name, "open_streams": streams.open}

    @app.get("/info")
    def info() -> dict[str, Any]:
        return {"task": task, "endpoint": endpoints.get(task), "backend": backend_name, "run": run_dir.name,
                "limits": asdict(limits)}

    @app.post("/generate", responses={200: {"content": {"text/event-stream": {}}}})
    def generate(req: GenerateRequest) -> StreamingResponse:
        """Stream ``length`` tokens continuing ``prompt`` as Server-Sent Events: one ``data: {"text": piece}``
        per token, then ``event: done`` with the count and seconds (``event: error`` on failure)."""
        need("generate")
        too_long("prompt length (characters)", len(req.prompt), limits.max_prompt_chars)
        too_long("length (tokens)", req.length, limits.max_length)
        if not streams.acquire():
            raise HTTPException(429, f"all {limits.max_streams} generation streams are busy; retry shortly")
        try:
            pieces = gen.generate(req.prompt, req.length, temperature=req.temperature, top_k=req.top_k,
                                  top_p=req.top_p, seed=req.seed, greedy=req.greedy)
        except Exception:
            streams.release()
            raise

        def events() -> Iterator[str]:
            t0, n = time.perf_counter(), 0
            try:
                for piece in pieces:
                    n += 1
                    yield _sse(None, {"text": piece})
                yield _sse("done", {"tokens": n, "seconds": round(time.perf_counter() - t0, 4)})
            except RnnkitError as e:
                yield _sse("error", {"detail": str(e)})
            finally:
                streams.release()

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/classify")
    def classify(req: ClassifyRequest) -> dict[str, Any]:
        """Label, its probability and every class probability per input (text, or a series as numbers)."""
        from rnnkit.apps.classify_predict import predict_raw

        need("classify")
        too_long("number of inputs", len(req.inputs), limits.max_inputs)
        where = [f"inputs[{i}]" for i in range(len(req.inputs))]  # errors name the request's own field
        for x, w in zip(req.inputs, where):
            too_long(f"the length of {w} (characters)", len(x), limits.max_input_chars)
        return {"predictions": _user_errors(lambda: predict_raw(est.model_, list(req.inputs), where))}

    @app.post("/forecast")
    def forecast(req: ForecastRequest) -> dict[str, Any]:
        """The next ``horizon`` steps of the run's own series (original units), with the recent history."""
        from rnnkit.apps.forecast_ops import forecast_model

        need("forecast")
        too_long("horizon", req.horizon or 0, limits.max_horizon)
        fc = _user_errors(lambda: forecast_model(est.model_, None, req.horizon, req.holdout))
        keep = max(1, req.history)
        fc["history"] = [h[-keep:] for h in fc["history"]]
        fc["history_times"] = [str(t) for t in list(fc["history_times"])[-keep:]]
        fc["times"] = [str(t) for t in fc["times"]]
        return fc

    @app.post("/translate")
    def translate(req: TranslateRequest) -> dict[str, Any]:
        """One decoded output per source text (greedy, or beam search with ``beam``)."""
        from rnnkit.apps.seq2seq import translate as translate_texts

        need("translate")
        too_long("number of inputs", len(req.texts), limits.max_inputs)
        where = [f"texts[{i}]" for i in range(len(req.texts))]
        for x, w in zip(req.texts, where):
            too_long(f"the length of {w} (characters)", len(x), limits.max_input_chars)
        return {"outputs": _user_errors(lambda: translate_texts(est.model_, list(req.texts), req.beam, where=where))}

    app.state.limits, app.state.streams, app.state.task, app.state.backend = limits, streams, task, backend_name
    return app


def _user_errors(fn: Any) -> Any:
    """Input errors of the library (``RnnkitError``) become 422 with the library's one-line message."""
    try:
        return fn()
    except RnnkitError as e:
        raise HTTPException(422, str(e)) from None


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
          backend: str = "auto", threads: int = 1) -> None:
    """Run the app with uvicorn until interrupted (``rnnkit serve``)."""
    import torch
    import uvicorn

    torch.set_num_threads(threads)
    uvicorn.run(create_app(run_dir, limits, backend, threads), host=host, port=port, log_level="warning")


__all__ = ["Limits", "create_app", "serve"]
