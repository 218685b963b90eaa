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


def verbose() -> bool:
    return os.environ.get(VERBOSE_VARIABLE) == "1"


@contextlib.contextmanager
def output_discarded(*descriptors: int):
    """Point file descriptors (default: 2, stderr) at /dev/null for the block, unless `verbose()`: for C/C++
    code that prints on its own (TensorFlow's start-up, the TFLite converter, LiteRT's delegate notice)."""
    descriptors = descriptors or (2,)
    if verbose():
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(descriptor) for descriptor in descriptors]
    try:
        with open(os.devnull, "wb") as devnull:
            for descriptor in descriptors:
                os.dup2(devnull.fileno(), descriptor)
        yield
    finally:
        for descriptor, copy in zip(descriptors, saved, strict=True):
            os.dup2(copy, descriptor)
            os.close(copy)


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's `exec_module` with file descriptor 2 discarded."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with output_discarded():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the path finder does, with its loader wrapped in `_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != SILENCED_PACKAGE or verbose():
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Install the hook (once); it acts on the first `import tensorflow` that follows, if any."""
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
