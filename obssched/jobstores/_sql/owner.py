"""Outside cluster mode, one scheduler at a time serves a store: the ``_owner`` row.

The scheduler that starts the store writes a row naming its host, process, node id and since
when, and refreshes it every third of ``lease_seconds``. Another scheduler that finds the row
fresher than a lease refuses to start (:class:`~obssched.exceptions.StoreInUseError`): two
schedulers on one store would both run its due jobs, could not enforce ``max_instances`` for each
other, and each would report the other's runs as abandoned. A row older than a lease was left by
a process that died: it is taken over, with a warning naming that process. Shutdown deletes the
row, so a restart starts at once.

Each start has its own token, so two schedulers of one process (same default node id) are told
apart. The row changes hands by compare-and-set on the token and heartbeat read, which works
the same on SQLite and PostgreSQL. Times come from the scheduler's clock; as for the cluster's
leases, keep the hosts' clocks synchronised well within ``lease_seconds``.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from obssched.exceptions import StoreInUseError
from obssched.jobstores._sql.codec import micros_to_datetime, to_micros

if TYPE_CHECKING:
    from obssched.jobstores._sql.access import StoreAccess

__all__ = ["StoreOwner", "can_be_shared"]

_SLOT = "scheduler"

# The tokens of the stores this process serves now. A fresh row naming this host and process but
# none of these tokens was left by an earlier process that had the same id (a container's pid 1,
# restarted); one naming a token here is another scheduler of this very process.
_LIVE_TOKENS: set[str] = set()
_LIVE_LOCK = threading.Lock()


class StoreOwner:
    """This scheduler's claim on a store it serves alone.

    Args:
        access: the store's tables, transactions and scheduler context.
    """

    def __init__(self, access: StoreAccess) -> None:
        self._access = access
        self.token = uuid.uuid4().hex
        self.lease_micros = int(access.lease_seconds * 1_000_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost_to: str | None = None

    def acquire(self) -> None:
        """Take the store, or refuse if a live scheduler serves it; then start heart-beating.

        Raises:
            StoreInUseError: another scheduler heart-beat within the lease.
        """
        # Live before the row is written: another scheduler of this process that reads the row
        # meanwhile must not take it for an earlier life.
        with _LIVE_LOCK:
            _LIVE_TOKENS.add(self.token)
        try:
            while not self._take(restart=True):
                pass
        except BaseException:
            with _LIVE_LOCK:
                _LIVE_TOKENS.discard(self.token)
            raise
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"obssched-owner-{self._access.alias}", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Stop heart-beating and delete this scheduler's row (never another's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with _LIVE_LOCK:
            _LIVE_TOKENS.discard(self.token)
        owner = self._access.tables.owner
        try:
            self._access.write(
                lambda conn: conn.execute(delete(owner).where(owner.c.token == self.token))
            )
        except Exception:
            self._access.logger.exception("Could not release the job store on shutdown")

    def beat(self) -> None:
        """Refresh the row; if another scheduler took the store meanwhile, say so loudly."""
        owner = self._access.tables.owner
        now = self._now()
        found = self._access.write(
            lambda conn: (
                conn.execute(
                    update(owner).where(owner.c.token == self.token).values(last_seen=now)
                ).rowcount
            )
        )
        if found:
            self._lost_to = None
            return
        try:
            # Never as a restart: two live processes given one node id would take the row from
            # each other at every beat, each unaware of the other.
            if self._take(restart=False):
                return
        except StoreInUseError as exc:
            holder = f"process {exc.pid} on host {exc.host!r} (node {exc.node_id!r})"
            if holder != self._lost_to:
                self._lost_to = holder
                self._access.logger.error(
                    "Another scheduler, %s, took the job store over from this one (this one did "
                    "not heart-beat for a whole lease, or that one has its node id): both now "
                    "run its jobs; stop one of them",
                    holder,
                )

    def _run(self) -> None:
        while not self._stop.wait(self._access.lease_seconds / 3):
            try:
                self.beat()
            except Exception:
                self._access.logger.exception("Job store ownership heartbeat failed; retrying")

    def _take(self, restart: bool) -> bool:
        """One attempt at taking the row; False if another scheduler changed it meanwhile (a
        lost compare-and-set, or an insert beaten by another): read it again."""
        try:
            return self._access.write(lambda conn: self._try_acquire(conn, restart))
        except IntegrityError:
            return False

    def _try_acquire(self, conn: Connection, restart: bool) -> bool:
        """Take the row if it is absent, ours, stale, or (with ``restart``) left by an earlier
        life of this scheduler; return False if the row changed under this attempt.

        Raises:
            StoreInUseError: the row is another live scheduler's.
        """
        owner = self._access.tables.owner
        now = self._now()
        row = conn.execute(select(owner).where(owner.c.slot == _SLOT)).first()
        if row is None:
            conn.execute(insert(owner).values(slot=_SLOT, **self._row(now)))
            return True
        ours = row.token == self.token
        stale = row.last_seen < now - self.lease_micros
        earlier_life = restart and not ours and not stale and self._earlier_life(row)
        if not (ours or stale or earlier_life):
            raise StoreInUseError(
                self._access.tables.jobs.name,
                row.host,
                row.pid,
                row.node_id,
                _time(row.since),
                _time(row.last_seen + self.lease_micros),
            )
        changed = conn.execute(
            update(owner)
            .where(and_(owner.c.token == row.token, owner.c.last_seen == row.last_seen))
            .values(**self._row(row.since if ours else now))
        ).rowcount
        if changed and not ours:
            why = (
                f"has not heart-beat since {_time(row.last_seen).isoformat()} (longer than the "
                f"{self._access.lease_seconds:g}s lease): it died or hung without shutting down"
                if stale
                else "was killed: it no longer runs on this host, or it had this scheduler's "
                "node id and is taken for an earlier life of it (if it still runs, both now "
                "run the store's jobs)"
            )
            self._access.logger.warning(
                "Took over job store %r from process %s on host %r (node %r), which served it "
                "since %s and %s",
                self._access.alias,
                row.pid,
                row.host,
                row.node_id,
                _time(row.since).isoformat(),
                why,
            )
        return bool(changed)

    def _earlier_life(self, row: Any) -> bool:
        """Whether a fresh row was left by a killed process: one of this host that no longer
        runs (or whose process id this process reuses, with no live token here), or one that
        had this scheduler's node id (a restart of the same node)."""
        if row.host == socket.gethostname():
            if row.pid == os.getpid():
                with _LIVE_LOCK:
                    return row.token not in _LIVE_TOKENS
            if not _process_runs(row.pid):
                return True
        return bool(row.node_id == self._access.node_id)

    def _row(self, since: int) -> dict[str, Any]:
        return {
            "token": self.token,
            "node_id": self._access.node_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": since,
            "last_seen": self._now(),
        }

    def _now(self) -> int:
        micros = to_micros(self._access.now())
        assert micros is not None
        return micros


def can_be_shared(url: URL) -> bool:
    """Whether another scheduler could open the database at ``url``: not an in-memory SQLite
    database, which lives in one connection of one process (and is not taken, so that no
    heartbeat thread shares that connection)."""
    if url.get_backend_name() != "sqlite":
        return True
    return (url.database or "") not in ("", ":memory:") and "mode=memory" not in str(url)


def _process_runs(pid: int) -> bool:
    """Whether a process of this host has ``pid`` (assumed so where that cannot be asked)."""
    if os.name != "posix":
        return True  # elsewhere os.kill would end the process rather than probe it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it runs, as another user's
    return True


def _time(micros: int) -> datetime:
    moment = micros_to_datetime(micros)
    assert moment is not None
    return moment
