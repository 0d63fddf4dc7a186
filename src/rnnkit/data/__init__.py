"""Raw data -> arrays: dataset registry and parsers (registry.py), tokenizers, batching.

Never imports models.
"""
