"""Load an environment file and turn every problem into one line naming file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crm_platform.settings.model import Settings
from crm_platform.settings.rules import problems

CONFIG_DIR = Path("config")


class ConfigError(Exception):
    """Invalid configuration; ``lines`` holds one human-readable line per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def config_path(env: str, config_dir: Path = CONFIG_DIR) -> Path:
    """Where the file of environment ``env`` lives."""
    return config_dir / f"{env}.yaml"


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "is not a known setting (check the spelling; secrets never go in this file)"
    if error["type"] == "missing":
        return "is required"
    shown = error.get("input")
    if isinstance(shown, (str, int, float, bool)):
        return f"{msg} (got {shown!r})"
    return msg


def parse_settings(raw: Any, source: str) -> Settings:
    """Validate already-parsed YAML; raise ConfigError with every problem found."""
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: (top level): must be a mapping of settings"])
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(
            [f"{source}: {_path(e['loc'])}: {_describe(dict(e))}" for e in err.errors()]
        ) from None
    found = problems(settings)
    if found:
        raise ConfigError([f"{source}: {path}: {message}" for path, message in found])
    return settings


def load_settings(path: Path) -> Settings:
    """Read and validate one environment file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError([f"{path}:{where}: not valid YAML ({err})"]) from None
    return parse_settings(raw, str(path))
