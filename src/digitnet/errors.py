"""The project's own exceptions.

Every error a user can cause (a bad data file, a bad model file, an unreadable image,
a diverging run, a missing optional library, an unwritable output) is raised as a
subclass of `DigitnetError`. The CLI prints such an error as one line and exits non-zero;
anything else is a bug and keeps its traceback.
"""


class DigitnetError(Exception):
    """Base class for errors caused by input, not by a bug in digitnet."""


class DataError(DigitnetError, ValueError):
    """A dataset file is missing, corrupt or inconsistent."""


class ModelFileError(DigitnetError, ValueError):
    """A model or checkpoint file cannot be read or does not describe a valid network."""


class ImageError(DigitnetError, ValueError):
    """An image cannot be read, or holds nothing to classify."""


class TrainingDiverged(DigitnetError, ArithmeticError):
    """The training loss became NaN or infinite."""


class MissingExtraError(DigitnetError, ImportError):
    """An optional library is not installed; the message names the extra that provides it."""


class OutputError(DigitnetError, OSError):
    """An output file or directory cannot be written."""


class UsageError(DigitnetError, ValueError):
    """Command-line settings that contradict each other or the files given."""


class ServerError(DigitnetError, OSError):
    """The web server cannot start: its address is in use or its host is unknown."""


class ConfigError(DigitnetError, ValueError):
    """A setting is invalid: a config or search-space file's key or value, or an
    environment variable."""


class SweepError(DigitnetError, RuntimeError):
    """A sweep cannot run: its study storage is unreachable or lost, or the study is not
    the one this command expects."""
