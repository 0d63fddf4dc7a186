"""rnnkit: recurrent neural networks — cells, layers, tasks on real data, and a CLI."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load(run_dir: Any, device: str = "cpu") -> Any:
    """Load a trained model directory: the model in eval mode with its tokenizer etc. attached
    (e.g. `rnnkit.load("runs/charlm-...").generate("ROMEO:", 200)`)."""
    from rnnkit.tasks import load_run  # lazy: `import rnnkit` stays light

    return load_run(run_dir, device)
