"""The ``job_name`` label: job names, capped so random names cannot grow series without bound.

Any ``str`` is a valid job name, including lone surrogates (a file name decoded with
``surrogateescape``), control characters and very long text. A name is made safe once, when it is
admitted as a label value (:func:`safe_text`), so that no later scrape or span can fail on it.
"""

from __future__ import annotations

import threading
import zlib

__all__ = [
    "DEFAULT_JOB_NAME_LIMIT",
    "LABEL_VALUE_LIMIT",
    "OTHER_JOB_NAME",
    "JobNames",
    "safe_text",
]

OTHER_JOB_NAME = "__other__"
"""The ``job_name`` label value of every job whose name came after the cap was reached."""

DEFAULT_JOB_NAME_LIMIT = 1000

LABEL_VALUE_LIMIT = 200
"""The longest label value or span attribute kept whole; longer text is cut and tagged."""


def safe_text(value: str) -> str:
    """Return ``value`` as text every exporter accepts: printable, valid UTF-8, bounded.

    Characters that are not printable (control characters other than the newline, which both
    exposition formats escape, lone surrogates, ...) are written as their Python escape
    (``\\x1b``, ``\\ud800``); text longer than :data:`LABEL_VALUE_LIMIT` keeps its start and a
    checksum of the whole, so two long names stay two label values.
    Ordinary names come back unchanged (the same object).
    """
    if value.isprintable() and len(value) <= LABEL_VALUE_LIMIT:
        return value
    if not value.isprintable():
        value = "".join(
            char
            if char.isprintable() or char == "\n"
            else char.encode("unicode_escape").decode("ascii")
            for char in value
        )
    if len(value) > LABEL_VALUE_LIMIT:
        checksum = zlib.crc32(value.encode("utf-8", "surrogatepass"))
        value = f"{value[: LABEL_VALUE_LIMIT - 10]}~{checksum:08x}"
    return value


class JobNames:
    """Maps job names to ``job_name`` label values and tracks which jobs still use each.

    The first ``limit`` distinct names keep their own label value (made safe by
    :func:`safe_text`); later names share :data:`OTHER_JOB_NAME`. A name, once admitted, keeps
    its series for the life of the process (its counters live on), so removing jobs does not
    free room under the cap.
    """

    def __init__(
        self, limit: int | None = DEFAULT_JOB_NAME_LIMIT, lock: threading.Lock | None = None
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"the job name limit must be None or >= 0, got {limit}")
        self.limit = limit
        self._admitted: dict[str, str] = {}
        self._job_labels: dict[str, tuple[str, str | None]] = {}
        self.users: dict[str, int] = {}
        """How many jobs use each label value; read freely, changed only by this class."""
        self.lock = lock if lock is not None else threading.Lock()
        """Guards the names. Given the metric store's lock, a listener forgets a removed job
        and counts its removal under one acquisition (:meth:`forget`); never held while
        another lock is taken."""

    def label(self, name: str) -> str:
        """Return the label value for a job name, admitting it if the cap allows."""
        label = self._admitted.get(name)
        if label is not None:
            return label
        if self.limit is not None and len(self._admitted) >= self.limit:
            return OTHER_JOB_NAME
        with self.lock:
            if self.limit is not None and len(self._admitted) >= self.limit:
                return self._admitted.get(name, OTHER_JOB_NAME)
            return self._admitted.setdefault(name, safe_text(name))

    def job_added(
        self, job_id: str, name: str, jobstore: str | None = None
    ) -> tuple[str, str | None]:
        """Record that a job (new or modified) uses ``name`` in ``jobstore``.

        Returns its label value, and the label it used before if no job uses that any more (a
        renamed job's old name, whose series are to go).
        """
        label = self.label(name)
        with self.lock:
            previous = self._job_labels.get(job_id)
            if previous == (label, jobstore):
                return label, None
            self._job_labels[job_id] = (label, jobstore)
            if previous is not None and previous[0] == label:
                return label, None  # the same name, now known in its store
            self.users[label] = self.users.get(label, 0) + 1
            if previous is not None and self._release(previous[0]):
                return label, previous[0]
        return label, None

    def job_removed(self, job_id: str) -> str | None:
        """Forget a job; return its label value if no other job uses it any more."""
        with self.lock:
            return self.forget(job_id)

    def forget(self, job_id: str) -> str | None:
        """:meth:`job_removed` for a caller that holds :attr:`lock`."""
        previous = self._job_labels.pop(job_id, None)
        if previous is None:
            return None
        return previous[0] if self._release(previous[0]) else None

    def jobstore_cleared(self, jobstore: str | None) -> list[str]:
        """Forget the jobs of one job store (or all, for ``None``); return the labels now unused."""
        with self.lock:
            gone = [
                job_id
                for job_id, (_, store) in self._job_labels.items()
                if jobstore is None or store == jobstore
            ]
            freed = []
            for job_id in gone:
                label, _ = self._job_labels.pop(job_id)
                if self._release(label):
                    freed.append(label)
            return freed

    def _release(self, label: str) -> bool:
        remaining = self.users[label] - 1
        if remaining:
            self.users[label] = remaining
            return False
        del self.users[label]
        return True
