"""``rnnkit serve``: the HTTP API (FastAPI) and the live web page over one model directory (docs/serving.md)."""

from rnnkit.serve.app import Limits, create_app, serve

__all__ = ["Limits", "create_app", "serve"]
