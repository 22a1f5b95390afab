"""Cluster mode, membership: heartbeats, and taking over the runs of dead nodes.

Every node heart-beats in the ``_nodes`` table every third of ``lease_seconds``. Once a node has
not for a whole lease, another takes over its ``_running`` rows: each becomes
:class:`~obssched.jobstores.base.OrphanedRun` objects for the scheduling loop, the runs that
began to report abandoned (and, when the job asks for recovery, to run again), the runs that
never began (:mod:`._sql.starts`) to run here, unreported. The rows change hands (to the node
that found them) in the transaction that finds them, and are deleted only once the loop has taken
the orphaned runs and come back (to claim due runs, or for more orphans): a node that dies in
between leaves them to be reported again, never unreported.

The live nodes seen at each heartbeat also decide which share of the due jobs this node claims
first (:meth:`~obssched.jobstores._sql.claims.Claims.share_by`).

Leases compare the nodes' own clocks (as Quartz does): keep them synchronised (NTP) well within
``lease_seconds``.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from obssched.jobstores._sql.codec import to_micros
from obssched.jobstores._sql.runs import FoundRow, OrphanQueue, orphans_of

if TYPE_CHECKING:
    from obssched.jobstores._sql.access import StoreAccess
    from obssched.jobstores._sql.claims import Claims
    from obssched.jobstores.base import OrphanedRun

__all__ = ["Membership"]


class Membership:
    """This node's heartbeats, and what it takes over from dead nodes.

    Args:
        access: the store's tables, transactions and scheduler context.
        claims: the node's claims, which track the rows of the runs it re-runs.
    """

    def __init__(self, access: StoreAccess, claims: Claims) -> None:
        self._access = access
        self._claims = claims
        self.node_id = access.node_id
        self.lease_micros = int(access.lease_seconds * 1_000_000)
        # When this node's heartbeats last became regular again (None: not since it started, or
        # since one failed), and when the last one succeeded.
        self._steady_since: int | None = None
        self._last_beat: int | None = None
        self._orphans = OrphanQueue()

    def join(self) -> None:
        """Register this node, and take over the runs a previous life of it left."""
        now = self._now()
        nodes = self._access.tables.nodes

        def register(conn: Connection) -> None:
            conn.execute(delete(nodes).where(nodes.c.node_id == self.node_id))
            conn.execute(insert(nodes).values(**self._node_row(now)))
            self._claims.share_by(self._live_ids(conn, now))

        self._access.write(register)
        running = self._access.tables.running
        self._take_over(running.c.node_id == self.node_id)

    def leave(self) -> None:
        """Deregister this node; runs still in flight become abandoned for the others."""
        nodes = self._access.tables.nodes
        try:
            self._access.write(
                lambda conn: conn.execute(delete(nodes).where(nodes.c.node_id == self.node_id))
            )
        except Exception:
            self._access.logger.exception("Could not leave the cluster cleanly")

    def run(self, stop: threading.Event) -> None:
        """Heartbeat until ``stop`` is set."""
        interval = self._access.lease_seconds / 3
        while not stop.wait(interval):
            try:
                self.beat()
            except Exception:
                self._access.logger.exception("Cluster heartbeat failed; retrying")

    def beat(self) -> None:
        """Heartbeat once, retry pending cleanups and take over the runs of dead nodes."""
        now = self._now()
        nodes = self._access.tables.nodes

        def touch(conn: Connection) -> None:
            found = conn.execute(
                update(nodes).where(nodes.c.node_id == self.node_id).values(last_seen=now)
            ).rowcount
            if not found:  # declared dead during an outage: join again
                conn.execute(insert(nodes).values(**self._node_row(now)))
            self._claims.share_by(self._live_ids(conn, now))

        try:
            self._access.write(touch)
        except Exception:
            self._steady_since = None
            raise
        last, self._last_beat = self._last_beat, now
        if self._steady_since is None or last is None or now - last > 2 * self.lease_micros // 3:
            self._steady_since = now  # the beats before this one did not arrive in time
        self._claims.retry_deletes()
        if now - self._steady_since < self.lease_micros:
            # After an outage every node's last beat is old, this one's included: another node
            # looks dead only once this one has itself beaten on time for a whole lease, so
            # the nodes that are alive have had the time to beat again. (Quartz adds the same
            # margin to its failed-node threshold.)
            return
        self._delete_lost_rows(now)
        running = self._access.tables.running
        live = select(nodes.c.node_id).where(nodes.c.last_seen >= now - self.lease_micros)
        if self._take_over(running.c.node_id.not_in(live)):
            self._access.context.wakeup()

    def _delete_lost_rows(self, now: int) -> None:
        """Delete this node's ``_running`` rows of runs it no longer tracks.

        The delete of an ended run's row is committed without waiting for the disk (see
        :mod:`._sql.starts`): a database crash or failover can lose it, and the row would count
        against its job's ``max_instances`` for as long as this node lives. Rows claimed more
        than two leases ago that no claim, re-run or orphaned run of this node knows are such
        rows; a claim under way (its rows may be committed and not tracked yet) puts this off
        to the next heartbeat.
        """
        tracked = self._claims.tracked_keys()
        if tracked is None:
            return
        keep = [*tracked, *self._orphans.pending_keys()]
        running = self._access.tables.running
        statement = (
            delete(running)
            .where(
                running.c.node_id == self.node_id,
                running.c.claimed_at < now - 2 * self.lease_micros,
                running.c.run_key.not_in(keep),
            )
            .returning(running.c.run_key)
        )
        deleted = self._access.write(lambda conn: list(conn.execute(statement).scalars()))
        if deleted:
            self._access.count_error()
            self._access.logger.warning(
                "Deleted %d _running rows of node %r whose runs had ended (their deletes were "
                "lost, as by a database crash or failover): %s",
                len(deleted),
                self.node_id,
                ", ".join(sorted(deleted)),
            )

    def _live_ids(self, conn: Connection, now: int) -> list[str]:
        nodes = self._access.tables.nodes
        query = select(nodes.c.node_id).where(nodes.c.last_seen >= now - self.lease_micros)
        return list(conn.execute(query).scalars())

    def live_nodes(self) -> int:
        """How many nodes heart-beat within the lease."""
        nodes = self._access.tables.nodes
        cutoff = self._now() - self.lease_micros
        query = select(func.count()).select_from(nodes).where(nodes.c.last_seen >= cutoff)
        return int(self._access.read(lambda conn: conn.execute(query).scalar_one()))

    def _take_over(self, condition: Any) -> int:
        """Take the ``_running`` rows matching ``condition`` over as orphaned runs; return how
        many rows."""
        access = self._access
        running = access.tables.running
        nodes = access.tables.nodes
        cutoff = self._now() - self.lease_micros

        def grab(conn: Connection) -> Sequence[Any]:
            rows = conn.execute(
                select(running).where(condition).with_for_update(skip_locked=True)
            ).all()
            if rows:
                conn.execute(
                    update(running)
                    .where(running.c.run_key.in_([row.run_key for row in rows]))
                    .values(node_id=self.node_id)
                )
            conn.execute(
                delete(nodes).where(
                    and_(nodes.c.last_seen < cutoff, nodes.c.node_id != self.node_id)
                )
            )
            return rows

        rows = access.write(grab)
        orphans: list[OrphanedRun] = []
        found: list[FoundRow] = []
        for row in rows:
            report, rerun = orphans_of(access, row)
            if report is not None:
                orphans.append(report)
            claim = None
            if rerun is not None:
                orphans.append(rerun)
                claim = self._claims.track(row.run_key, row.job_id, rerun.run_times)
            found.append(FoundRow(row.run_key, claim))
        if rows:
            self._orphans.add(orphans, found)
        return len(rows)

    def take_orphans(self) -> list[OrphanedRun]:
        """Hand the runs taken over to the loop (settling those handed over before)."""
        self.settle()
        return self._orphans.take()

    def settle(self) -> None:
        """Delete the rows of the runs handed to the loop (their reports are out), but those
        that became the rows of their submitted re-runs.

        Called as well before each claim: the loop takes the orphaned runs before the due ones,
        so the rows of runs reported abandoned never count against ``max_instances``.
        """
        stale = self._orphans.settle()
        for row in stale:
            if row.rerun is not None:
                self._claims.forget(row.rerun)
        if stale:
            self._claims.delete_running([row.run_key for row in stale])

    def _node_row(self, now: int) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "last_seen": now,
        }

    def _now(self) -> int:
        micros = to_micros(self._access.now())
        assert micros is not None
        return micros
