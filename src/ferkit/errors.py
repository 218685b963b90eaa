"""User-facing errors: the CLI prints their message on one line and exits non-zero, without a traceback."""


class FerkitError(Exception):
    """A problem caused by the user's input (a file, a key, a value), not a bug in ferkit."""


class ConfigError(FerkitError):
    """An invalid configuration key or value."""


class DataError(FerkitError):
    """A dataset that cannot be used: missing, empty, unreadable or inconsistent."""


class ModelFileError(FerkitError):
    """A model file that is missing, unreadable or not a ferkit model."""


class UntrustedModelError(ModelFileError):
    """A model format that runs the file's own code when loaded, given without saying it is trusted."""
