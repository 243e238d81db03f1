"""User-facing errors: the CLI prints them as one line and exits non-zero.

A message names the options it speaks of as `$name` (the option's setting name, as `stages/settings.py`
declares it): the library names no command-line flags, and each front end spells the names its own way (the CLI
as --flags, the Python API as keywords, which is what `str()` gives). Option help is written the same way.
"""

import re
from collections.abc import Callable

_OPTION = re.compile(r"\$([a-z_]+)")
# The Python API's switches, which a message asks for as `overwrite=True` (tests keep this in step with the
# stages' switches and the API's keywords)
SWITCHES = frozenset({"overwrite", "restart", "quiet", "colorize", "stabilize", "drop_duplicates"})


def spelled(text: str, spell: Callable[[str], str]) -> str:
    """`text` with each `$name` spelled by `spell`."""
    return _OPTION.sub(lambda match: spell(match.group(1)), text)


def keyword(name: str) -> str:
    """An option as the Python API takes it: `overwrite=True` for a switch, else its keyword."""
    return f"{name}=True" if name in SWITCHES else name


class LumiereError(Exception):
    """A problem the user can fix (bad input, bad option, missing file)."""

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with each `$name` spelled by `spell`."""
        return spelled(str(self.args[0]) if self.args else "", spell)

    def __str__(self) -> str:
        return self.spelled(keyword)


class InputError(LumiereError):
    """The input file or folder cannot be used."""


class OptionError(InputError):
    """A bad option value, or options that do not go together."""


class ModelError(LumiereError):
    """A weights file is missing, unreadable or not a supported model."""


class OutputError(LumiereError):
    """The output cannot be written where or how it was asked."""
