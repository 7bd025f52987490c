"""Errors that reach the user as one clear line (no traceback unless DLRUN_DEBUG=1)."""


class DlrunError(Exception):
    """Base class: the message is shown to the user as is."""


class DataError(DlrunError):
    """A dataset could not be found, read or validated."""


class ConfigError(DlrunError):
    """An experiment name or option value is invalid."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: finished work is kept and the run marked interrupted."""
