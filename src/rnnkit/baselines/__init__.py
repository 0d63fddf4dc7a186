"""Non-neural baselines that every task reports beside its model (n-gram LMs, ...)."""
