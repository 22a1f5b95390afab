"""Reading scheduler configuration: ``gconfig`` dicts with dotted keys, and plain options."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from obssched._plugins import create_plugin, resolve_class
from obssched._timeutil import astimezone, get_localzone
from obssched.clock import Clock, SystemClock
from obssched.job import check_overlap, check_overlap_queue_limit, check_timeout
from obssched.util import asbool, asint, ref_to_obj

__all__ = [
    "CONFIG_PREFIXES",
    "SchedulerSettings",
    "check_options",
    "create_component",
    "flatten_config",
]

CONFIG_PREFIXES = ("obssched.", "apscheduler.")
"""Key prefixes recognised in ``gconfig``; the APScheduler one eases migration."""

_UNSET: Any = object()


def flatten_config(
    gconfig: Mapping[str, Any], prefix: str | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge prefixed ``gconfig`` keys and ``options`` into one nested dict.

    With the default ``"obssched."`` prefix, ``"apscheduler."`` keys are read too; with no
    prefix (``None`` or ``""``) every key is read as it is, as APScheduler does.

    ``{"obssched.executors.default.max_workers": "20"}`` becomes
    ``{"executors": {"default": {"max_workers": "20"}}}``; ``options`` win over ``gconfig``.
    """
    prefixes = CONFIG_PREFIXES if prefix == CONFIG_PREFIXES[0] else (prefix or "",)
    config: dict[str, Any] = {}
    for key, value in gconfig.items():
        for candidate in prefixes:
            if key.startswith(candidate):
                _set_dotted(config, key[len(candidate) :], value)
                break
    for key, value in options.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            _set_dotted(config, key, value)
    return config


def _set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    target = config
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ValueError(f"Configuration key {key!r} conflicts with a plain value at {part!r}")
    target[parts[-1]] = dict(value) if isinstance(value, Mapping) else value


def _merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


@dataclass
class SchedulerSettings:
    """The scheduler-wide settings, with their defaults."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("obssched.scheduler"))
    timezone: Any = None
    jobstore_retry_interval: float = 10.0
    job_defaults: dict[str, Any] = field(
        default_factory=lambda: {"misfire_grace_time": 1, "coalesce": True, "max_instances": 1}
    )
    clock: Clock = field(default_factory=SystemClock)
    name: str = "default"
    heartbeat_interval: float = 10.0
    observability: dict[str, Any] = field(
        default_factory=lambda: {"metrics": True, "tracing": True}
    )

    def update(self, config: dict[str, Any], local_zone: Callable[[], Any] = get_localzone) -> None:
        """Apply the recognised keys of ``config`` (which are removed from it); with no time
        zone given or set before, ``local_zone()`` gives it."""
        logger = config.pop("logger", _UNSET)
        if isinstance(logger, str) and ":" in logger:
            logger = ref_to_obj(logger)  # "module:attribute", as APScheduler's maybe_ref reads it
        if isinstance(logger, str):
            self.logger = logging.getLogger(logger)
        elif isinstance(logger, logging.Logger):
            self.logger = logger
        elif logger is not _UNSET:
            raise TypeError(f"logger must be a name or a logging.Logger, got {logger!r}")

        if "timezone" in config:
            self.timezone = astimezone(config.pop("timezone"))
        if self.timezone is None:
            self.timezone = local_zone()

        if "jobstore_retry_interval" in config:
            self.jobstore_retry_interval = _positive(
                "jobstore_retry_interval", config.pop("jobstore_retry_interval")
            )
        if "heartbeat_interval" in config:
            self.heartbeat_interval = _positive(
                "heartbeat_interval", config.pop("heartbeat_interval")
            )
        if "name" in config:
            name = config.pop("name")
            if not isinstance(name, str) or not name:
                raise TypeError(f"name must be a nonempty string, got {name!r}")
            self.name = name
        if "clock" in config:
            clock = config.pop("clock")
            if not isinstance(clock, Clock):
                raise TypeError(f"clock must have now() and monotonic() methods, got {clock!r}")
            self.clock = clock

        defaults = config.pop("job_defaults", {})
        if not isinstance(defaults, Mapping):
            raise TypeError(f"job_defaults must be a dict, got {defaults!r}")
        unknown = set(defaults) - {
            "misfire_grace_time",
            "coalesce",
            "max_instances",
            "timeout",
            "overlap",
            "overlap_queue_limit",
        }
        if unknown:
            # APScheduler ignores them; a program written for it must still start.
            self.logger.warning(
                "Ignoring unknown job_defaults keys: %s", ", ".join(sorted(unknown))
            )
        if "misfire_grace_time" in defaults:
            grace = defaults["misfire_grace_time"]
            if grace is not None:
                checked = _positive("misfire_grace_time", grace)
                # A number stays as given (30 stays an int, as in APScheduler); text is parsed.
                is_number = isinstance(grace, int | float) and not isinstance(grace, bool)
                grace = grace if is_number else checked
            self.job_defaults["misfire_grace_time"] = grace
        if "timeout" in defaults:
            timeout = defaults["timeout"]
            if isinstance(timeout, str):
                try:
                    timeout = float(timeout)  # configuration files give numbers as text
                except ValueError:
                    pass  # check_timeout names the bad text
            self.job_defaults["timeout"] = check_timeout(timeout)
        if "overlap" in defaults:
            self.job_defaults["overlap"] = check_overlap(defaults["overlap"])
        if "overlap_queue_limit" in defaults:
            limit = defaults["overlap_queue_limit"]
            if isinstance(limit, str) and limit.strip().isdigit():
                limit = int(limit)  # configuration files give numbers as text
            self.job_defaults["overlap_queue_limit"] = check_overlap_queue_limit(limit)
        if "coalesce" in defaults:
            self.job_defaults["coalesce"] = asbool(defaults["coalesce"])
        if "max_instances" in defaults:
            self.job_defaults["max_instances"] = asint(defaults["max_instances"])

        for key in (
            "metrics",
            "tracing",
            "metrics_registry",
            "tracer_provider",
            "trace_filter",
            "metrics_job_name_limit",
            "metrics_buckets",
            "metrics_health_limit",
        ):
            if key in config:
                value = config.pop(key)
                self.observability[key] = asbool(value) if key in ("metrics", "tracing") else value


def _positive(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a positive number, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def create_component(kind: str, alias: str, value: Any, base: type) -> Any:
    """Create an executor or job store from its configuration value.

    ``value`` is an instance, or a dict with ``class`` (a ``module:Class`` reference) or ``type``
    (a plugin alias) plus constructor arguments.

    Raises:
        TypeError: ``value`` is neither.
        UnknownAliasError: the ``type`` alias is unknown.
    """
    if isinstance(value, base):
        return value
    if isinstance(value, Mapping):
        options = dict(value)
        class_ref = options.pop("class", None)
        type_alias = options.pop("type", None)
        if class_ref is not None:
            cls = resolve_class(class_ref) if isinstance(class_ref, str) else class_ref
            return cls(**options)
        if type_alias is not None:
            return create_plugin(kind, type_alias, options)
        raise ValueError(
            f'Cannot create {kind} "{alias}": its configuration needs a "class" or a "type" key'
        )
    noun = "job store" if kind == "jobstore" else kind
    raise TypeError(
        f"Expected {noun} instance or dict for {kind}s['{alias}'], got "
        f"{type(value).__name__} instead"
    )


def check_options(options: Mapping[str, Any]) -> SchedulerSettings:
    """Check scheduler options as a scheduler's constructor does, without making a scheduler.

    The executors and job stores configured are created (not started) and dropped. Returns the
    settings the options give (their ``timezone``, say).

    Raises:
        Exception: what the scheduler's constructor would raise for these options.
    """
    from obssched.executors.base import BaseExecutor
    from obssched.jobstores.base import BaseJobStore

    config = flatten_config({}, CONFIG_PREFIXES[0], options)
    executors = config.pop("executors", {})
    jobstores = config.pop("jobstores", {})
    settings = SchedulerSettings()
    settings.update(config)
    for alias, value in executors.items():
        create_component("executor", alias, value, BaseExecutor)
    for alias, value in jobstores.items():
        create_component("jobstore", alias, value, BaseJobStore)
    return settings
