"""Project exception types.

Every error caused by bad user input (a config key, a data file, a run directory) derives from
`RnnkitError`, so the CLI can show it as one clean line instead of a traceback, while genuine bugs
still surface as ordinary Python exceptions.
"""

from __future__ import annotations


class RnnkitError(Exception):
    """Base class for errors caused by user input or environment (shown as one line by the CLI)."""


class ConfigError(RnnkitError, ValueError):
    """A recipe, config file or `--set` override is invalid."""


class DataError(RnnkitError, ValueError):
    """Input data is missing, unreadable or unusable (the message names the file)."""


class CheckpointError(RnnkitError, OSError):
    """A model directory is missing, incomplete or corrupt (the message names the file)."""


class ModelImportError(ConfigError):
    """A model file from another framework (a Keras ``.keras`` / ``.h5``) cannot be read or converted;
    the message names the file, or the layer, its class and the unsupported option."""
