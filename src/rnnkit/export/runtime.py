"""Running exported graphs: text generation with the language model's step graph in onnxruntime.

    lm = OnnxLM("runs/shakespeare/onnx")          # tokenizer.json is in the export directory
    "".join(lm.generate("ROMEO:", 200, temperature=0.8, top_k=20))

The prompt runs through the sequence graph in one call, then each new token is one call of the
step graph ``(token (1, 1), state) -> (logits (1, V), state')``; sampling is the torch model's own
``_pick`` (temperature, top-k, nucleus, greedy), so both backends draw from the same distribution.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.charlm import tokenizer_from_dict
from rnnkit.errors import ConfigError
from rnnkit.export.core import ExportError, read_manifest, session
from rnnkit.models.charlm import _pick


class OnnxLM:
    """A language model's exported graphs in onnxruntime (``int8=True``: the quantised ones)."""

    def __init__(self, export_dir: str | Path, int8: bool = False, threads: int = 1) -> None:
        import json

        d = Path(export_dir)
        manifest = read_manifest(d)
        if "step" not in manifest["graphs"]:
            raise ExportError(f"{d}: a {manifest['task']!r} export has no step graph (only language models generate)")
        files = {}
        for name in ("model", "step"):
            g = manifest["graphs"][name]
            if int8 and "int8" not in g:
                raise ExportError(f"{d}: exported without --int8")
            files[name] = d / (g["int8"]["file"] if int8 else g["file"])
        self.seq, self.step = session(files["model"], threads), session(files["step"], threads)
        self.state_names = manifest["graphs"]["step"]["meta"]["state"]
        self.tokenizer = tokenizer_from_dict(json.loads((d / "tokenizer.json").read_text(encoding="utf-8")))
        shape = self.step.get_inputs()[1].shape  # (layers * directions, batch, hidden)
        self.state_shape = (int(shape[0]), int(shape[2]))
        self.backend = "onnxruntime" + (" int8" if int8 else "")

    def _run(self, sess: object, tokens: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        out = sess.run(None, {"tokens": tokens, **dict(zip(self.state_names, state))})
        return out[0], out[1:]

    def generate(self, prompt: str = "", length: int = 200, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, greedy: bool = False) -> Iterator[str]:
        """Yield ``length`` tokens continuing ``prompt`` (the arguments of ``CharLM.generate``)."""
        if temperature < 0 or (top_p is not None and not 0 < top_p <= 1) or (top_k is not None and top_k < 1):
            raise ConfigError("need temperature >= 0, 0 < top_p <= 1 and top_k >= 1")
        gen = torch.Generator()
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ())))
        ids = self.tokenizer.encode(prompt or "\n")
        if not len(ids):
            ids = self.tokenizer.encode("\n")
        n, h = self.state_shape
        state = [np.zeros((n, 1, h), np.float32) for _ in self.state_names]
        logits, state = self._run(self.seq, ids.view(1, -1).numpy().astype(np.int64), state)
        logits, previous = torch.from_numpy(logits[0, -1]), int(ids[-1])
        for _ in range(length):
            nxt = _pick(logits, temperature, top_k, top_p, greedy, gen)
            yield self.tokenizer.decode_piece(nxt, previous)
            step_logits, state = self._run(self.step, np.array([[nxt]], np.int64), state)
            logits, previous = torch.from_numpy(step_logits[0]), nxt


__all__ = ["OnnxLM"]
