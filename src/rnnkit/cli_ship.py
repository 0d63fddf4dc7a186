"""`rnnkit export | serve | bench serve`: shipping a trained model (ONNX export, the HTTP server and
its load test). Registered on the main app by :mod:`rnnkit.cli`
(kept apart so that module stays one concept: training and using a model)."""

from __future__ import annotations

from pathlib import Path

import typer

from rnnkit.cli import app, bench_app, clean_errors, console


@app.command("export")
def export_cmd(
    run: Path = typer.Argument(..., help="Model directory to export."),
    format: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    int8: bool = typer.Option(False, "--int8", help="Also write int8-quantised graphs (onnxruntime dynamic)."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: RUN/onnx, which `rnnkit serve` uses)."),
) -> None:
    """Export a trained model to ONNX (dynamic batch and time axes), verified against torch."""
    with clean_errors():
        from rnnkit.export import export_run

        manifest = export_run(run, out, int8=int8, format=format)
        where = out or run / "onnx"
        for name, g in manifest["graphs"].items():
            q = g.get("int8")
            extra = (f"; int8 {q['file']}: max rel err {q['max_rel_err']:.2e}"
                     + (f", top-1 agreement {q['top1_agreement']:.3f}" if "top1_agreement" in q else "")) if q else ""
            console.print(f"{name}: {where / g['file']}  inputs {', '.join(g['inputs'])}; "
                          f"onnxruntime vs torch max abs err {g['max_abs_err']:.1e}{extra}", highlight=False)


@app.command("serve")
def serve_cmd(
    run: Path = typer.Argument(..., help="Model directory to serve."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    backend: str = typer.Option("auto", "--backend", help="auto (ONNX export if present) | torch | onnx | onnx-int8."),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch / onnxruntime."),
    max_streams: int = typer.Option(8, "--max-streams", help="Concurrent generation streams."),
    max_length: int = typer.Option(1000, "--max-length", help="Tokens per generation request."),
) -> None:
    """Serve a model over HTTP (JSON API, Server-Sent Events, OpenAPI at /docs) with a live web page."""
    with clean_errors():
        from rnnkit.serve import Limits, serve

        console.print(f"serving {run} on http://{host}:{port}  (API docs: /docs)", highlight=False)
        serve(run, host, port, Limits(max_streams=max_streams, max_length=max_length), backend, threads)


@bench_app.command("serve")
def bench_serve(
    run: Path = typer.Argument(..., help="Model directory of a language model."),
    streams: int = typer.Option(8, "--streams", help="Concurrent generation streams."),
    rounds: int = typer.Option(3, "--rounds"),
    length: int = typer.Option(200, "--length", help="Tokens per stream."),
    backend: str = typer.Option("auto", "--backend", help="auto | torch | onnx | onnx-int8."),
    write: Path = typer.Option(None, "--write", help="Also write the table into this markdown file."),
) -> None:
    """Loopback load test of `rnnkit serve`: concurrent streams, per-token latency p50 / p95, errors."""
    with clean_errors():
        from rnnkit.cli_bench import publish_table
        from rnnkit.serve.loadtest import markdown, run_load_test

        result = run_load_test(run, streams, rounds, length, backend)
        cmd = f"rnnkit bench serve {run} --streams {streams} --rounds {rounds} --length {length} --backend {backend}"
        publish_table(markdown(result, cmd), write, f"Serving load test ({result['backend']})")  # cmd is in it
