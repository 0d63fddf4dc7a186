"""Evaluation: every task's metrics and plots in one place.

* ``classification``: accuracy, macro-F1, confusion matrix; confusion and attention heat maps.
* ``regression``: RMSE, MAE, R².
* ``sequences``: exact match, token accuracy, CER / WER / PER, BLEU (seq2seq).
* ``curves``: training curves (``curves.png``) from metric records.
* ``plots``: seq2seq attention alignments; ``forecast_plot``: a forecast with its interval.
* ``backtest``: rolling-origin forecast evaluation beside the baselines.

These modules import numpy / matplotlib (lazily) and nothing above the data layer, so the training
loop, the tasks and the estimators all use the same functions.
"""
