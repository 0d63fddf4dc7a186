"""Evaluation beyond the training loop: rolling-origin forecast backtests."""
