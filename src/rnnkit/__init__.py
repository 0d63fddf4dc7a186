"""rnnkit: recurrent neural networks — cells, layers, tasks on real data, and a CLI."""

__version__ = "0.1.0"
