"""The console's settings: what it shows, what it lets people do, and where it links to."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from obssched.exceptions import ObsschedError

__all__ = ["DEFAULT_STATIC_DIR", "ConsoleSettingError", "ConsoleSettings"]

DEFAULT_STATIC_DIR = Path(__file__).with_name("static")
"""The pages, styles and script shipped in the package."""

ENVIRONMENT = {
    "token": "OBSSCHED_CONSOLE_TOKEN",
    "actions": "OBSSCHED_CONSOLE_ACTIONS",
    "show_args": "OBSSCHED_CONSOLE_SHOW_ARGS",
    "allowed_hosts": "OBSSCHED_CONSOLE_ALLOWED_HOSTS",
    "grafana_url": "OBSSCHED_GRAFANA_URL",
    "trace_url_template": "OBSSCHED_TRACE_URL_TEMPLATE",
}
"""The environment variable of each setting :meth:`ConsoleSettings.from_env` reads."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class ConsoleSettingError(ObsschedError, ValueError):
    """A console setting has a value it cannot take."""

    def __init__(self, setting: str, value: object, reason: str) -> None:
        self.setting = setting
        self.value = value
        super().__init__(f"console setting {setting}={value!r}: {reason}")


@dataclass(frozen=True)
class ConsoleSettings:
    """How the operations console behaves. The defaults show nothing secret and allow no action.

    Attributes:
        actions: whether ``POST /api/jobs/<id>/pause|resume|run|remove`` are served (they also
            need ``token``).
        token: the secret every action must present (``Authorization: Bearer <token>`` or a
            ``token`` form field).
        show_args: whether jobs' args and kwargs are shown (redacted by key name even then).
        allowed_hosts: host names accepted in the ``Host`` header besides the bound address and
            the loopback names (``localhost``, ``127.0.0.1``, ``::1``); ``*`` accepts any.
        grafana_url: the base URL of the Grafana that has the shipped job dashboard.
        trace_url_template: a link to one trace in the user's trace UI, with ``{trace_id}``
            where the trace id goes (``http://localhost:16686/trace/{trace_id}`` for Jaeger).
        runs_per_job: recent runs kept per job.
        errors_per_job: recent errors (with tracebacks) kept per job.
        max_runs: recent runs kept across all jobs (the oldest go first).
        max_errors: recent errors kept across all jobs (the oldest go first).
        max_jobs: jobs whose history is kept (the least recently active go first).
        traceback_limit: characters of a traceback kept (its end, where the error is).
        message_limit: characters of an error message kept (its start).
        overdue_after: seconds past its next run time after which a job counts as overdue.
        hung_after: seconds after which a run of a job without a ``timeout`` counts as hung (a
            job with one is hung once a run outlives it).
        store_wait: the longest real seconds a request waits for the job stores' answers
            (a store that takes longer leaves its last jobs read on the page).
        static_dir: where the pages, styles and script are served from.
    """

    actions: bool = False
    token: str | None = None
    show_args: bool = False
    allowed_hosts: tuple[str, ...] = ()
    grafana_url: str | None = None
    trace_url_template: str | None = None
    runs_per_job: int = 50
    errors_per_job: int = 5
    max_runs: int = 100_000
    max_errors: int = 1_000
    max_jobs: int = 20_000
    traceback_limit: int = 20_000
    message_limit: int = 4_000
    overdue_after: float = 60.0
    hung_after: float = 3600.0
    store_wait: float = 0.5
    static_dir: Path = field(default=DEFAULT_STATIC_DIR)

    def __post_init__(self) -> None:
        for name in (
            "runs_per_job",
            "errors_per_job",
            "max_runs",
            "max_errors",
            "max_jobs",
            "traceback_limit",
            "message_limit",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConsoleSettingError(name, value, "must be a positive integer")
        for name in ("overdue_after", "hung_after", "store_wait"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConsoleSettingError(name, value, "must be a positive number of seconds")
        if self.actions and not self.token:
            raise ConsoleSettingError(
                "actions", self.actions, "actions need a token (set token as well)"
            )
        if self.token is not None and len(self.token) < 8:
            raise ConsoleSettingError("token", "***", "must be at least 8 characters long")
        template = self.trace_url_template
        if template is not None and "{trace_id}" not in template:
            raise ConsoleSettingError(
                "trace_url_template", template, "must contain {trace_id} where the trace id goes"
            )
        object.__setattr__(self, "allowed_hosts", tuple(h.lower() for h in self.allowed_hosts))
        object.__setattr__(self, "static_dir", Path(self.static_dir))

    @property
    def actions_enabled(self) -> bool:
        """Whether actions are served: enabled, with a token set."""
        return self.actions and bool(self.token)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> ConsoleSettings:
        """Read the settings from ``OBSSCHED_CONSOLE_*`` variables (see :data:`ENVIRONMENT`);
        ``overrides`` (those not ``None``) win over the environment.

        Raises:
            ConsoleSettingError: a variable holds a value its setting cannot take.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, variable in ENVIRONMENT.items():
            raw = env.get(variable)
            if raw is None:
                continue
            if name in ("actions", "show_args"):
                values[name] = _flag(variable, raw)
            elif name == "allowed_hosts":
                values[name] = tuple(h.strip() for h in raw.split(",") if h.strip())
            else:
                values[name] = raw.strip() or None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _flag(variable: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConsoleSettingError(variable, raw, "must be true or false")
