"""obssched's Grafana dashboards and Prometheus rules as a mixin: rendered from a few settings.

obssched ships them rendered with the defaults in ``dashboards/``. To point them at your
Prometheus job, your Grafana and your own thresholds, write a ``mixin.toml`` and render::

    python -m obssched.mixin render --config mixin.toml --out dashboards/

or from Python::

    from obssched.mixin import MixinConfig, render

    files = render(MixinConfig(selector='job="obssched"', grafana_url="https://grafana.example"))

``dashboards/README.md`` lists every setting.
"""

from __future__ import annotations

from obssched.mixin._config import DEFAULT_RUNBOOK_URL, MixinConfig, MixinConfigError, Thresholds
from obssched.mixin._render import render, write
from obssched.mixin._rules import Alert, RecordingRule, alerts, recording_rules

__all__ = [
    "DEFAULT_RUNBOOK_URL",
    "Alert",
    "MixinConfig",
    "MixinConfigError",
    "RecordingRule",
    "Thresholds",
    "alerts",
    "recording_rules",
    "render",
    "write",
]
