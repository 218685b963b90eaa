"""Quiet TensorFlow: its start-up lines are dropped wherever it is first imported, unless logs are asked for.

TensorFlow 2.21 logs "oneDNN custom operations are on" (and absl's "All log messages before
absl::InitializeLog()" notice) straight to file descriptor 2 while it loads, whatever `TF_CPP_MIN_LOG_LEVEL`
says. `quiet_tensorflow_import()` installs an import hook that points that descriptor at /dev/null while the
`tensorflow` package itself executes, and only then, so TensorFlow is still imported lazily (only by the code
that needs it) and Python errors still surface as exceptions. `FERKIT_VERBOSE=1` (`ferkit --verbose`) turns
it off.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys

VERBOSE_VARIABLE = "FERKIT_VERBOSE"
SILENCED_PACKAGE = "tensorflow"


@contextlib.contextmanager
def _stderr_discarded():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's `exec_module` with file descriptor 2 discarded."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_discarded():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the path finder does, with its loader wrapped in `_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != SILENCED_PACKAGE or os.environ.get(VERBOSE_VARIABLE) == "1":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Install the hook (once); it acts on the first `import tensorflow` that follows, if any."""
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
