"""The text both exposition formats share: label text, sample values, family headers, exemplars.

Label text is prepared once per series when the series is created (see :mod:`._metrics`) and
reused by every scrape (see :mod:`._exposition`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from prometheus_client.samples import Exemplar

from obssched.observability._names import LABEL_VALUE_LIMIT, safe_text

__all__ = [
    "escape_label_value",
    "family_header",
    "format_exemplar",
    "format_value",
    "label_text",
    "sample_name",
]

_INF = math.inf


def escape_label_value(value: str) -> str:
    """Escape a label value for both exposition formats (backslash, newline, double quote).

    Text that is not printable (a job id with a lone surrogate, control characters) or too
    long is made safe first (see :func:`~obssched.observability._names.safe_text`): label text
    is rendered once per series, so this costs nothing per scrape.
    """
    if not value.isprintable() or len(value) > LABEL_VALUE_LIMIT:
        value = safe_text(value)
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return value


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """Render ``name="value"`` pairs sorted by name, without braces (prometheus-client's order)."""
    return ",".join(
        f'{name}="{escape_label_value(value)}"'
        for name, value in sorted(zip(names, values, strict=True))
    )


def format_value(value: float) -> str:
    """Render a sample value: Python's shortest round-trip form, Go's spelling of the specials."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "+Inf"
    if value == -_INF:
        return "-Inf"
    return repr(float(value))


def format_exemplar(exemplar: Exemplar) -> str:
    """Render an OpenMetrics exemplar, from the space before its ``#``."""
    labels = label_text(tuple(exemplar.labels), tuple(exemplar.labels.values()))
    value = format_value(exemplar.value)
    if exemplar.timestamp is None:
        return f" # {{{labels}}} {value}"
    return f" # {{{labels}}} {value} {exemplar.timestamp}"


def family_header(name: str, doc: str, kind: str, openmetrics: bool) -> str:
    """Return the ``# HELP`` and ``# TYPE`` lines of a family in either format.

    The text format names a counter family after its ``_total`` sample, OpenMetrics without it,
    and only OpenMetrics escapes double quotes in the help text.
    """
    doc = doc.replace("\\", "\\\\").replace("\n", "\\n")
    if openmetrics:
        doc = doc.replace('"', '\\"')
    elif kind == "counter":
        name += "_total"
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


def sample_name(line: str) -> str:
    """Return the name a sample line of either format starts with (up to its labels or value)."""
    end = len(line)
    for stop in ("{", " "):
        found = line.find(stop, 0, end)
        if found != -1:
            end = found
    return line[:end]
