"""User-facing errors: the CLI prints them as one line and exits non-zero."""


class LumiereError(Exception):
    """A problem the user can fix (bad input, bad option, missing file)."""


class InputError(LumiereError):
    """The input file or folder cannot be used."""


class ModelError(LumiereError):
    """A weights file is missing, unreadable or not a supported model."""


class OutputError(LumiereError):
    """The output cannot be written where or how it was asked."""
