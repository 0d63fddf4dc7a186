"""ONNX export: every model type as graphs with named dynamic axes, verified against torch, optionally int8.

``export_run(run_dir)`` / ``Estimator.export(path)`` / ``rnnkit export RUN``; see docs/serving.md."""

from rnnkit.export.core import ExportError, export_model, export_run, read_manifest, session, verify
from rnnkit.export.graphs import GraphSpec, export_mode

__all__ = ["ExportError", "GraphSpec", "export_mode", "export_model", "export_run", "read_manifest", "session",
           "verify"]
