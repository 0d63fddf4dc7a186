"""One self-contained HTML page per explanation: the PNGs embedded as base64, no external assets
(the page opens offline and can be mailed as one file)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.checkpoint import atomic_write_bytes

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}img{max-width:100%;border:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
.text{font-family:monospace;white-space:pre-wrap;line-height:1.5;border:1px solid #ddd;padding:.5em}
.note{color:#555;font-size:.92em}"""


@dataclass
class Section:
    """A heading, a paragraph saying how to read it, figures and optional raw HTML (tables, text)."""

    heading: str
    text: str = ""
    images: list[Path] = field(default_factory=list)
    raw: str = ""


def table(header: list[str], rows: list[list[object]]) -> str:
    """An HTML table; floats are shown with 4 significant digits."""
    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def coloured_text(chars: list[str], values: np.ndarray) -> str:
    """Karpathy's view: each character on a background coloured by the activation (red +, blue -)."""
    lim = max(float(np.abs(values).max()), 1e-9)
    spans = []
    for c, v in zip(chars, values):
        a = min(abs(float(v)) / lim, 1.0)
        rgb = "220,50,47" if v >= 0 else "38,139,210"
        spans.append(f'<span style="background:rgba({rgb},{a:.2f})" title="{float(v):.3f}">{html.escape(c)}</span>')
    return '<div class="text">' + "".join(spans) + "</div>"


def write_html(path: str | Path, title: str, intro: str, sections: list[Section]) -> Path:
    """Write the page (atomically) and return its path."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='note'>{html.escape(intro)}</p>"]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.heading)}</h2>")
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        for img in s.images:
            data = base64.b64encode(Path(img).read_bytes()).decode("ascii")
            parts.append(f"<p><img alt='{html.escape(Path(img).name)}' src='data:image/png;base64,{data}'></p>")
        parts.append(s.raw)
    parts.append("</body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path


__all__ = ["Section", "coloured_text", "table", "write_html"]
