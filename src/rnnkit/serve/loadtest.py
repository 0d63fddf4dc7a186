"""A bounded loopback load test of ``rnnkit serve``: N concurrent generation streams, latency per token.

``run_load_test(run_dir)`` starts the app with uvicorn on 127.0.0.1 (a free port, in a thread), opens
``streams`` concurrent ``POST /generate`` streams ``rounds`` times, and measures for every token the
time since the previous one (the first: since the request was sent). Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.serve.app import Limits, create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yields its base URL."""
    import httpx
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


async def _stream(client: Any, body: dict[str, Any]) -> tuple[list[float], int, str | None]:
    """(gaps between tokens in seconds, tokens, error or None) for one generation stream."""
    gaps, t = [], time.perf_counter()
    async with client.stream("POST", "/generate", json=body) as resp:
        if resp.status_code != 200:
            return gaps, 0, f"HTTP {resp.status_code}"
        event = None
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "error":
                    return gaps, len(gaps), json.loads(line[6:]).get("detail", "error")
                if event is None:
                    now = time.perf_counter()
                    gaps.append(now - t)
                    t = now
                event = None
    return gaps, len(gaps), None


async def _load(url: str, streams: int, rounds: int, length: int) -> dict[str, Any]:
    import httpx

    gaps: list[float] = []
    errors: list[str] = []
    tokens = 0
    limits = httpx.Limits(max_connections=streams + 2)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        for r in range(rounds):
            bodies = [{"prompt": "The ", "length": length, "temperature": 0.8, "top_k": 20, "seed": r * streams + i}
                      for i in range(streams)]
            for g, n, err in await asyncio.gather(*(_stream(client, b) for b in bodies)):
                gaps += g
                tokens += n
                if err:
                    errors.append(err)
        wall = time.perf_counter() - t0
    q = statistics.quantiles(gaps, n=100) if len(gaps) > 1 else [float("nan")] * 99
    return {"streams": streams, "rounds": rounds, "length": length, "tokens": tokens, "errors": len(errors),
            "error_examples": errors[:3], "p50_ms": q[49] * 1e3, "p95_ms": q[94] * 1e3,
            "max_ms": max(gaps) * 1e3 if gaps else float("nan"), "tokens_per_s": tokens / wall, "seconds": wall}


def run_load_test(run_dir: str | Path, streams: int = 8, rounds: int = 3, length: int = 200,
                  backend: str = "auto", threads: int = 1) -> dict[str, Any]:
    """Serve ``run_dir`` on loopback and measure ``rounds`` x ``streams`` concurrent streams of
    ``length`` tokens: per-token latency p50 / p95 / max (ms), throughput, errors."""
    import torch

    torch.set_num_threads(threads)
    app = create_app(run_dir, Limits(max_streams=streams, max_length=max(length, 1)), backend, threads)
    with running_server(app) as url:
        result = asyncio.run(_load(url, streams, rounds, length))
    result["backend"] = app.state.backend
    return result


def markdown(result: dict[str, Any], command: str) -> str:
    r = result
    return (f"Command: `flock /tmp/rnnkit-cpu.lock {command}`\n\n"
            "| backend | streams x rounds | tokens | errors | p50 ms/token | p95 ms/token | max ms | tokens/s |\n"
            "|---|---|---|---|---|---|---|---|\n"
            f"| {r['backend']} | {r['streams']} x {r['rounds']} | {r['tokens']} | {r['errors']} | {r['p50_ms']:.2f} "
            f"| {r['p95_ms']:.2f} | {r['max_ms']:.1f} | {r['tokens_per_s']:.0f} |\n")


__all__ = ["markdown", "run_load_test", "running_server"]
