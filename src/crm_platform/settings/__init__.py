"""Typed configuration: one YAML file per environment, validated before any construct is built."""

from crm_platform.settings.loader import ConfigError, load_settings
from crm_platform.settings.model import Settings

__all__ = ["ConfigError", "Settings", "load_settings"]
