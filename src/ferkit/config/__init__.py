"""Run configuration: the spec's keys, read from YAML, overridden from the command line, validated early."""

from ferkit.config.configuration import Configuration, check_model_files, load_config, parse_override, save_config

__all__ = ["Configuration", "check_model_files", "load_config", "parse_override", "save_config"]
