"""Configuration, resolved in one place: flags > environment (IMGSEC_*) > config file > defaults.

The config file is ``--config FILE``, else ``./imgsec.yaml``, else ``$XDG_CONFIG_HOME/imgsec/config.yaml``.
Keys are option names with ``-`` or ``_`` (``db-mirror``, ``cache_dir``); sections per command are
allowed (``lint: {trusted-registries: [...]}``) and looked up with ``section=``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from imgsec.errors import InputError

T = TypeVar("T")
_MAX_CONFIG_SIZE = 1024 * 1024


def _norm(key: str) -> str:
    return key.replace("-", "_").lower()


def _config_candidates() -> list[Path]:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path("imgsec.yaml"), Path(xdg) / "imgsec" / "config.yaml"]


def load_config_file(path: Path | None) -> dict[str, Any]:
    """Read the config file (explicit path, else the first default that exists); {} if none."""
    candidates = [path] if path is not None else [p for p in _config_candidates() if p.is_file()]
    if not candidates:
        return {}
    chosen = candidates[0]
    try:
        if chosen.stat().st_size > _MAX_CONFIG_SIZE:
            raise InputError(f"config file {chosen}: larger than 1 MiB")
        text = chosen.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file {chosen}: {exc}") from exc
    import yaml  # only when there is a config file: PyYAML costs ~13 ms of start-up

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise InputError(f"config file {chosen} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"config file {chosen}: expected a mapping of option names to values")
    return {_norm(str(k)): v for k, v in data.items()}


@dataclass(frozen=True)
class Config:
    """The loaded config file plus the environment, queried by option name."""

    file: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        return cls(file=load_config_file(path))

    def get(
        self,
        name: str,
        flag: T | None,
        default: T,
        convert: Callable[[Any], T] | None = None,
        section: str | None = None,
    ) -> T:
        """Resolve option ``name``: flag, then ``IMGSEC_<NAME>``, then the file, then ``default``."""
        if flag is not None:
            return flag
        key = _norm(name)
        env_value = self.env.get("IMGSEC_" + key.upper())
        raw: Any = None
        if env_value not in (None, ""):
            raw = env_value
        else:
            if section is not None:
                sect = self.file.get(_norm(section))
                if isinstance(sect, dict):
                    sect_norm = {_norm(str(k)): v for k, v in sect.items()}
                    raw = sect_norm.get(key)
            if raw is None:
                raw = self.file.get(key)
        if raw is None:
            return default
        if convert is None:
            return raw  # type: ignore[no-any-return]
        try:
            return convert(raw)
        except (TypeError, ValueError) as exc:
            raise InputError(f"option {name}: invalid value {raw!r}: {exc}") from exc

    def cache_dir(self, flag: Path | None = None) -> Path:
        """``--cache-dir`` > ``IMGSEC_CACHE_DIR`` > config > ``$XDG_CACHE_HOME/imgsec``."""
        xdg = self.env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return self.get("cache-dir", flag, Path(xdg) / "imgsec", Path)


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def as_list(value: Any) -> list[str]:
    """A list option given as a YAML list or a comma-separated string."""
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]
