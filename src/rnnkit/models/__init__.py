"""Models: embedding|conv -> Stack -> head; each owns loss(batch, state) -> (loss, state, metrics)."""
