"""Optional outputs of the plain install: whether an extra's module is there, and the one warning that says
which extra would add what was left out.

`pip install ferkit` predicts, evaluates and serves without matplotlib (`ferkit[plots]`: PNG figures) and
PyAV (`ferkit[video]`: H.264 annotated videos). Code that would use one checks `installed(module)` first
and, when it is missing, skips that output or writes a plainer one and calls `warn_missing`; the CLI prints
the warning as one `note:` line on stderr (once per process and call site, as Python shows warnings).
"""

from __future__ import annotations

import warnings
from importlib.util import find_spec


class MissingExtraWarning(UserWarning):
    """An output left out, or written the plainer way, because an optional extra is not installed."""


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it (a `None` entry in `sys.modules` counts as
    missing, as Python's import does)."""
    return find_spec(module) is not None


def warn_missing(consequence: str, feature: str, extra: str) -> None:
    """Warn what happened without `ferkit[extra]` and which install brings `feature`, e.g. "clip.timeline.png
    skipped (for PNG figures: pip install 'ferkit[plots]')"."""
    warnings.warn(f"{consequence} (for {feature}: pip install 'ferkit[{extra}]')", MissingExtraWarning,
                  stacklevel=3)
