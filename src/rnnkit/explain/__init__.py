"""See inside a recurrent model: gradient flow, gates, interpretable units, attention and saliency.

Every function takes a torch model or a fitted estimator (``rnnkit.load(run_dir)``) and returns
numbers; the ``plot_*`` functions draw them, and ``rnnkit explain ...`` writes both (PNG, JSON and
one self-contained HTML page)::

    from rnnkit import explain
    flow = explain.gradient_flow(lm, x, target)            # ||dL_T/dh_(T-k)||, k = 1..T
    trace = explain.gate_traces(lm, "To be, or not to be")   # gates and states per character
    units, _, _ = explain.interpretable_units(lm, text)      # Karpathy-style cells with their r
    attr = explain.classifier_saliency(clf, x)               # integrated gradients + occlusion

Gates and gradients come from the cells' own equations (``explain.trace.unroll``: each cell's
``step`` on the trained weights), never from a changed fast path.
"""

from __future__ import annotations

from rnnkit import lazy_module

#: public name -> "module:attribute", imported on first access (matplotlib stays unloaded until a plot)
_LAZY = {
    "unroll": "rnnkit.explain.trace:unroll",
    "GATES": "rnnkit.explain.trace:GATES",
    "gradient_flow": "rnnkit.explain.gradflow:gradient_flow",
    "gradients": "rnnkit.explain.gradflow:gradient_flow",
    "compare_cells": "rnnkit.explain.gradflow:compare_cells",
    "GradientFlow": "rnnkit.explain.gradflow:GradientFlow",
    "gate_traces": "rnnkit.explain.neurons:gate_traces",
    "interpretable_units": "rnnkit.explain.neurons:interpretable_units",
    "text_features": "rnnkit.explain.neurons:text_features",
    "classifier_attention": "rnnkit.explain.attention:classifier_attention",
    "seq2seq_alignment": "rnnkit.explain.attention:seq2seq_alignment",
    "classifier_saliency": "rnnkit.explain.saliency:classifier_saliency",
    "forecaster_saliency": "rnnkit.explain.saliency:forecaster_saliency",
    "integrated_gradients": "rnnkit.explain.saliency:integrated_gradients",
    "Attribution": "rnnkit.explain.saliency:Attribution",
    "plot_gradient_flow": "rnnkit.explain.plots:plot_gradient_flow",
    "plot_gates": "rnnkit.explain.plots:plot_gates",
    "plot_weights": "rnnkit.explain.plots:plot_weights",
    "explain_gradients": "rnnkit.explain.views:explain_gradients",
    "explain_gates": "rnnkit.explain.views:explain_gates",
    "explain_neurons": "rnnkit.explain.views:explain_neurons",
    "explain_attention": "rnnkit.explain.views:explain_attention",
    "explain_saliency": "rnnkit.explain.views:explain_saliency",
}


__getattr__, __dir__ = lazy_module("rnnkit.explain", _LAZY, globals())

__all__ = list(_LAZY)
