"""`LanguageModel` (alias `CharLM`): a character- or word-level recurrent language model on your text.

    lm = rnnkit.CharLM(hidden_size=256).fit(open("my.txt").read(), minutes=5)
    lm.generate("ROMEO:", 300, temperature=0.8)
    lm.evaluate(held_out_text)       # bits per character beside unigram / Kneser-Ney n-gram baselines

Trained by truncated BPTT over the text read as parallel streams, by the charlm task's flow (the
same code ``rnnkit train charlm --data my.txt`` runs); its defaults are that command's recipe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rnnkit.data.charlm import Corpus, split_text
from rnnkit.errors import DataError
from rnnkit.estimators.base import IN_MEMORY, Estimator


def _as_text(X: Any, what: str) -> str:
    """One text from a string or a list of documents (joined by line breaks)."""
    if isinstance(X, str):
        return X
    if isinstance(X, (list, tuple)) and all(isinstance(x, str) for x in X):
        return "\n".join(X)
    raise DataError(f"{what}: a language model reads text: a string or a list of strings, got {type(X).__name__}")


class LanguageModel(Estimator):
    """Embedding -> recurrent Stack -> softmax over the next token; ``fit`` / ``generate`` / ``evaluate``.

    Model: ``cell``, ``hidden_size``, ``num_layers``, ``embed_dim``, ``dropout``, ``weight_dropout``
    (DropConnect), ``tie_weights``, ``impl``. Data: ``level`` ("char" | "word"), ``min_freq`` /
    ``max_vocab`` (word level). Training: ``seq_len`` (the truncated-BPTT window), ``batch_size``
    (parallel streams), ``lr``, ``optimizer``, ``weight_decay``, ``max_minutes`` (default 5),
    ``max_steps``, ``epochs``, ``grad_clip``, ``validation_split`` (the text's tail, default 5%),
    ``device``, ``random_state``. ``None`` keeps the ``charlm`` recipe's value.
    """

    _task = "charlm"
    _aliases = {**Estimator._aliases, "validation_split": ("data.valid_fraction",)}
    _recipe = "charlm"  # sized for a CPU: 256-wide LSTM, 5 minutes
    _defaults = ("data.source=" + IN_MEMORY, "train.num_threads=none")

    def __init__(self, cell: str | None = None, hidden_size: int | None = None, num_layers: int | None = None,
                 embed_dim: int | None = None, dropout: float | None = None, weight_dropout: float | None = None,
                 tie_weights: bool | None = None, impl: str | None = None, level: str | None = None,
                 min_freq: int | None = None, max_vocab: int | None = None, seq_len: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None,
                 weight_decay: float | None = None, max_minutes: float | None = None, max_steps: int | None = None,
                 epochs: int | None = None, grad_clip: float | None = None, validation_split: float | None = None,
                 device: str | None = None, random_state: int | None = None, recipe: Any = None,
                 overrides: tuple[str, ...] = (), verbose: int | str = "auto") -> None:
        self._store(locals())

    def fit(self, X: Any, y: Any = None, *, validation_data: Any = None, validation_split: float | None = None,
            epochs: int | None = None, batch_size: int | None = None, max_minutes: float | None = None,
            minutes: float | None = None, callbacks: Any = (), verbose: int | str | None = None,
            tune: str | float | None = None, out: Any = None) -> LanguageModel:
        """Train on the text ``X`` (a string, or a list of documents joined by line breaks).

        Validation is ``validation_data`` (a text) or the last ``validation_split`` of ``X`` (5% by
        default, a positional cut so no window straddles the two); the tokenizer is fitted on the
        training part only. ``minutes`` / ``max_minutes`` is the time budget (5 by default)."""
        if y is not None:
            raise DataError("a language model learns from the text alone; do not pass y")
        text = _as_text(X, "X")
        cfg = self._config(validation_split=validation_split)
        if validation_data is not None:
            train, valid = text, _as_text(validation_data, "validation_data")
        else:
            train, valid, _ = split_text(text, cfg.data.valid_fraction, 0.0)
        corpus = Corpus(train, valid, "", IN_MEMORY)
        return self._train(corpus, out=out, callbacks=callbacks, verbose=verbose, tune=tune, epochs=epochs,
                           batch_size=batch_size, max_minutes=minutes or max_minutes, validation_split=validation_split)

    def generate(self, prompt: str = "", length: int = 200, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, greedy: bool = False,
                 stream: bool = False) -> str | Iterator[str]:
        """``length`` tokens continuing ``prompt`` (sampled with temperature / top-k / nucleus, or
        greedy), as one string, or piece by piece with ``stream=True``."""
        self._check_fitted()
        pieces = self.model_.generate(prompt, length, temperature=temperature, top_k=top_k, top_p=top_p,
                                      seed=seed, greedy=greedy)
        return pieces if stream else "".join(pieces)

    def evaluate(self, X: Any) -> dict[str, Any]:
        """Bits per token (character, or word at word level) and perplexity of the model on the text
        ``X``, beside unigram and interpolated Kneser-Ney n-gram baselines fitted on the training text."""
        from rnnkit.apps.charlm import evaluate as evaluate_task
        from rnnkit.apps.charlm import with_test

        self._check_fitted()
        bundle = self._training_bundle()
        if bundle is None:
            raise DataError("evaluate needs the training text for its baselines: call it in the session that "
                            "called fit, or use bits_per_token(text)")
        return evaluate_task(self.model_, with_test(bundle, _as_text(X, "X")), self.config_)

    def bits_per_token(self, X: Any) -> float:
        """Mean bits per token (per character at char level) of the model on the text ``X``."""
        from rnnkit.apps.charlm import stream_nll
        from rnnkit.data.charlm import to_streams
        from rnnkit.models.charlm import LN2

        self._check_fitted()
        ids = self.model_.tokenizer.encode(_as_text(X, "X"))
        d = self.config_.data
        to_streams(ids, min(d.eval_batch_size, max(1, len(ids) // 4)), "X")
        return stream_nll(self.model_, ids, d.eval_batch_size, d.eval_seq_len) / LN2

    def score(self, X: Any, y: Any = None) -> float:
        """Minus the bits per token on ``X`` (higher is better, as scikit-learn's convention)."""
        return -self.bits_per_token(X)


CharLM = LanguageModel

__all__ = ["CharLM", "LanguageModel"]
