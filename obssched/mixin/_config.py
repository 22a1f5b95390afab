"""The mixin's settings: what a deployment changes in the dashboards and rules, and their checks."""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from obssched.exceptions import ObsschedError

__all__ = [
    "DEFAULT_RUNBOOK_URL",
    "MixinConfig",
    "MixinConfigError",
    "Thresholds",
    "duration_seconds",
    "number",
]

DEFAULT_RUNBOOK_URL = "https://github.com/obssched/obssched/blob/main/dashboards/README.md"
"""The runbooks shipped with obssched: one section per alert in ``dashboards/README.md``."""

_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*')
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}
_TOP_LEVEL = ("selector", "grafana_url", "runbook_url", "datasource_uid", "rate_window")


class MixinConfigError(ObsschedError, ValueError):
    """A mixin setting has a value the dashboards and rules cannot be rendered with.

    Attributes:
        setting: the setting's name.
        value: the value refused.
    """

    def __init__(self, setting: str, value: object, reason: str) -> None:
        super().__init__(f"mixin setting {setting} = {value!r}: {reason}")
        self.setting = setting
        self.value = value


def duration_seconds(setting: str, value: str) -> float:
    """Return a Prometheus duration (``5m``, ``1h30m``) in seconds.

    Raises:
        MixinConfigError: ``value`` is not a Prometheus duration.
    """
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise MixinConfigError(setting, value, "not a Prometheus duration such as 5m or 1h30m")
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def number(value: float) -> str:
    """A threshold as PromQL and text show it: ``300`` rather than ``300.0``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _matchers(value: str) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise MixinConfigError("selector", value, "not a string")
    text = value.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    found: list[str] = []
    position = 0
    while position < len(text):
        match = _MATCHER.match(text, position)
        if match is None:
            raise MixinConfigError(
                "selector", value, 'not a list of label matchers such as job="obssched"'
            )
        found.append("".join(match.groups()))
        position = match.end()
        if position < len(text):
            if text[position] != ",":
                raise MixinConfigError("selector", value, "matchers must be separated by commas")
            position += 1
    return tuple(found)


def _check_url(setting: str, value: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://\S+", value):
        raise MixinConfigError(setting, value, "not an http:// or https:// URL")
    return value.rstrip("/")


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The numbers the alerts fire at (the panels showing the same quantity turn red there)."""

    heartbeat_stall_seconds: float = 60
    """The loop wakes at least every 10 s: six missed wake-ups is a stall."""
    overdue_seconds: float = 300
    """A healthy loop starts a job within seconds of its next run time."""
    running_too_long_seconds: float = 3600
    """How long a run of a job without a ``timeout`` may go on."""
    start_delay_p95_seconds: float = 30
    error_ratio: float = 0.10
    """Share of runs that ended in an error over the rate window."""
    error_ratio_min_runs: float = 3
    """Below this many runs in the rate window a ratio says little."""
    missed_window: str = "10m"
    max_instances_window: str = "10m"
    uptime_lookback: str = "1h"
    """How long a target that once exported obssched metrics counts as one."""
    jobstore_down_for: str = "5m"
    """A store that fails every read this long is down, not a hiccup."""
    loop_errors_window: str = "10m"
    """How long a caught executor or listener failure keeps its alert up."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.type == "str":
                duration_seconds(item.name, value)
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise MixinConfigError(item.name, value, "not a number")
            elif not (math.isfinite(value) and value > 0):
                raise MixinConfigError(item.name, value, "not a positive, finite number")
        if self.error_ratio > 1:
            raise MixinConfigError("error_ratio", self.error_ratio, "a share must be at most 1")


@dataclass(frozen=True, kw_only=True)
class MixinConfig:
    """How the dashboards and rules are rendered for one deployment.

    Args:
        selector: label matchers every query and rule selects obssched's series with, such as
            ``job="obssched"`` (the scrape job of your schedulers); empty selects every target.
        grafana_url: where the alerts' ``dashboard_url`` annotations point.
        runbook_url: the runbook document; each alert's ``runbook_url`` is its section in it.
        datasource_uid: the Prometheus data source the dashboards select first (empty: the
            default one); the *Data source* drop-down still offers every other.
        rate_window: the window of the recording rules' rates and quantiles.
        thresholds: what the alerts fire at.

    Raises:
        MixinConfigError: a setting has a value that cannot be rendered.
    """

    selector: str = ""
    grafana_url: str = "http://localhost:3000"
    runbook_url: str = DEFAULT_RUNBOOK_URL
    datasource_uid: str = ""
    rate_window: str = "5m"
    thresholds: Thresholds = field(default_factory=Thresholds)
    matchers: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The selector's matchers, one ``label<op>"value"`` each."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "matchers", _matchers(self.selector))
        object.__setattr__(self, "grafana_url", _check_url("grafana_url", self.grafana_url))
        object.__setattr__(self, "runbook_url", _check_url("runbook_url", self.runbook_url))
        if not isinstance(self.datasource_uid, str):
            raise MixinConfigError("datasource_uid", self.datasource_uid, "not a string")
        duration_seconds("rate_window", self.rate_window)

    @classmethod
    def from_mapping(cls, settings: dict[str, Any]) -> MixinConfig:
        """Build the settings from a mapping shaped like ``mixin.toml``.

        Raises:
            MixinConfigError: a key is unknown, or a value cannot be rendered.
        """
        top = dict(settings)
        thresholds = top.pop("thresholds", {})
        if not isinstance(thresholds, dict):
            raise MixinConfigError("thresholds", thresholds, "not a table")
        known = {item.name for item in dataclasses.fields(Thresholds)}
        for key in sorted(set(top) - set(_TOP_LEVEL)):
            raise MixinConfigError(
                key, top[key], f"unknown setting; known: {', '.join(_TOP_LEVEL)}"
            )
        for key in sorted(set(thresholds) - known):
            raise MixinConfigError(
                f"thresholds.{key}", thresholds[key], f"unknown; known: {', '.join(sorted(known))}"
            )
        return cls(**top, thresholds=Thresholds(**thresholds))

    @classmethod
    def load(cls, path: str | Path) -> MixinConfig:
        """Read the settings from a TOML file (see ``dashboards/README.md``).

        Raises:
            MixinConfigError: the file is not valid TOML, or a setting is refused.
            OSError: the file cannot be read.
        """
        text = Path(path).read_text(encoding="utf-8")
        try:
            settings = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise MixinConfigError("file", str(path), f"not valid TOML ({exc})") from exc
        return cls.from_mapping(settings)
