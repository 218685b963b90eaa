"""Hyper-parameter search with Optuna over the Configuration's keys; trials are ordinary training runs."""

from ferkit.tuning.space import Choice, Range, SearchSpace, SearchSpaceError, load_space, parse_space

__all__ = ["Choice", "Range", "SearchSpace", "SearchSpaceError", "load_space", "parse_space"]
