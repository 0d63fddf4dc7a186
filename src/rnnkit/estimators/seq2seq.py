"""`Seq2Seq`: an attention encoder-decoder from source strings to target strings.

    s2s = rnnkit.Seq2Seq(attention="additive").fit(pairs)     # [(src, tgt), ...] or fit(sources, targets)
    s2s.translate(["23 Nov 2026"], beam=5)
    s2s.evaluate(test_pairs)      # exact match, token accuracy, CER / WER / BLEU beside "copy the source"

Each side is read by characters or by whitespace-separated words (``src_level`` / ``tgt_level``),
with vocabularies fitted on the training pairs only; the seq2seq task's flow trains it (the same
code ``rnnkit train seq2seq --data pairs.tsv`` runs), with that recipe's defaults.
"""

from __future__ import annotations

from typing import Any

from rnnkit.data.seq2seq import check_pair, split_pairs, tokenize
from rnnkit.errors import DataError
from rnnkit.estimators.base import IN_MEMORY, Estimator
from rnnkit.estimators.inputs import describe


def as_pairs(X: Any, y: Any, src_level: str, tgt_level: str, max_len: int, what: str = "X") -> list:
    """Tokenised ``(source, target)`` pairs from a list of pairs, or from sources ``X`` and targets ``y``."""
    if y is not None:
        if len(X) != len(y):
            raise DataError(f"{what} has {len(X)} sources but y has {len(y)} targets; they must match")
        X = list(zip(X, y))
    pairs = []
    for i, p in enumerate(X):
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(s, str) for s in p)):
            raise DataError(f"{what}[{i}]: expected a (source, target) pair of strings, got {describe(p)}")
        src, tgt = tokenize(p[0].strip(), src_level), tokenize(p[1].strip(), tgt_level)
        check_pair(src, tgt, f"{what}[{i}]", max_len)
        pairs.append((src, tgt))
    if not pairs:
        raise DataError(f"{what}: no pairs")
    return pairs


class Seq2Seq(Estimator):
    """Encoder-decoder with attention: ``fit`` / ``translate`` (= ``predict``) / ``evaluate``.

    Model: ``cell``, ``embed_size``, ``hidden_size``, ``encoder_layers``, ``decoder_layers``,
    ``bidirectional`` (encoder), ``attention`` ("none", "additive", "dot", "general", "scaled_dot"),
    ``input_feeding``, ``dropout``, ``teacher_forcing`` (+ ``teacher_forcing_min`` /
    ``teacher_forcing_decay_steps`` for scheduled sampling), ``beam_size``, ``length_penalty``.
    Data: ``src_level`` / ``tgt_level`` ("char" | "word"), ``max_len``. Training: ``epochs``,
    ``batch_size``, ``lr``, ``max_steps``, ``max_minutes``, ``early_stopping_patience``,
    ``grad_clip``, ``validation_split``, ``device``, ``random_state``.
    """

    _task = "seq2seq"
    _recipe = "seq2seq"  # BiLSTM encoder, additive-attention LSTM decoder
    _aliases = {**Estimator._aliases, "random_state": ("train.seed", "data.seed"),
                "validation_split": ("data.valid_fraction",)}
    _defaults = ("data.source=" + IN_MEMORY, "train.num_threads=none")

    def __init__(self, attention: str | None = None, cell: str | None = None, embed_size: int | None = None,
                 hidden_size: int | None = None, encoder_layers: int | None = None, decoder_layers: int | None = None,
                 bidirectional: bool | None = None, input_feeding: bool | None = None, dropout: float | None = None,
                 teacher_forcing: float | None = None, teacher_forcing_min: float | None = None,
                 teacher_forcing_decay_steps: int | None = None, beam_size: int | None = None,
                 length_penalty: float | None = None, src_level: str | None = None, tgt_level: str | None = None,
                 max_len: int | None = None, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, max_steps: int | None = None, max_minutes: float | None = None,
                 early_stopping_patience: int | None = None, grad_clip: float | None = None,
                 validation_split: float | None = None, device: str | None = None, random_state: int | None = None,
                 recipe: Any = None, overrides: tuple[str, ...] = (), verbose: int | str = "auto") -> None:
        self._store(locals())

    def fit(self, X: Any, y: Any = None, *, validation_data: Any = None, validation_split: float | None = None,
            epochs: int | None = None, batch_size: int | None = None, max_minutes: float | None = None,
            callbacks: Any = (), verbose: int | str | None = None, tune: str | float | None = None,
            out: Any = None) -> Seq2Seq:
        """Train on ``(source, target)`` string pairs ``X`` (or sources ``X``, targets ``y``).

        Validation is ``validation_data`` (pairs) or ``validation_split`` of the distinct sources
        (5% by default; a source never lands in both parts)."""
        cfg = self._config(validation_split=validation_split)
        d = cfg.data
        pairs = as_pairs(X, y, d.src_level, d.tgt_level, d.max_len)
        if validation_data is not None:
            valid = as_pairs(validation_data, None, d.src_level, d.tgt_level, d.max_len, "validation_data")
            train = pairs
        else:
            train, valid, _ = split_pairs(pairs, d.valid_fraction, 0.0, d.seed)
        if not valid:
            raise DataError(f"{len(pairs)} pairs leave no validation pair; give more pairs or validation_data")
        raw = (train, valid, [], d.src_level, d.tgt_level, IN_MEMORY, {})
        return self._train(raw, out=out, callbacks=callbacks, verbose=verbose, tune=tune, epochs=epochs,
                           batch_size=batch_size, max_minutes=max_minutes, validation_split=validation_split)

    def translate(self, texts: str | list[str], beam: int | None = None,
                  length_penalty: float | None = None) -> str | list[str]:
        """The model's output for each source text (beam search with ``beam`` > 1, else the model's
        ``beam_size``); one string in, one string out."""
        from rnnkit.apps.seq2seq import translate

        self._check_fitted()
        one = isinstance(texts, str)
        out = translate(self.model_, [texts] if one else list(texts), beam_size=beam, length_penalty=length_penalty)
        return out[0] if one else out

    def predict(self, X: Any) -> list[str]:
        """``translate`` of every source in ``X`` (scikit-learn's name)."""
        return self.translate(list(X))

    def evaluate(self, X: Any, y: Any = None) -> dict[str, Any]:
        """Exact match, token accuracy and error rates on test pairs (with the model's beam and greedy
        beside it), beside the "copy the source" baseline."""
        from rnnkit.apps.seq2seq import evaluate as evaluate_task
        from rnnkit.apps.seq2seq import with_test

        self._check_fitted()
        d = self.config_.data
        pairs = as_pairs(X, y, d.src_level, d.tgt_level, d.max_len)
        bundle = self._training_bundle()
        if bundle is None:  # decoding needs only the model's vocabularies; build the rest around them
            from rnnkit.apps.seq2seq import Seq2SeqBundle

            bundle = Seq2SeqBundle(None, [], [], self.model_.src_vocab, self.model_.tgt_vocab, IN_MEMORY)
        return evaluate_task(self.model_, with_test(bundle, pairs), self.config_)


__all__ = ["Seq2Seq", "as_pairs"]
