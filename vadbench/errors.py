"""Exceptions of vadbench. Messages name the file / video, what was expected and what was found."""

from __future__ import annotations


class VadbenchError(Exception):
    """Base class of every error vadbench raises on purpose (the CLI prints these without a traceback)."""


class DataError(VadbenchError):
    """A dataset file or layout is missing or malformed."""


class ScoreError(VadbenchError):
    """Scores or labels given to the scorer are inconsistent (lengths, NaN, a single class, ...)."""


class ConfigError(VadbenchError):
    """An unknown method / dataset / preset / option, or an inconsistent combination."""
