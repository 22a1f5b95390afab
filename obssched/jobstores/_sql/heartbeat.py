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

from obssched.jobstores._sql.bulk import ClaimStatements
from obssched.jobstores._sql.codec import to_micros
from obssched.jobstores._sql.runs import FoundRow, OrphanQueue, orphans_of, split_begun

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
        self._statements = ClaimStatements(access.tables)

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
        running = self._access.tables.running
        live = select(nodes.c.node_id).where(nodes.c.last_seen >= now - self.lease_micros)
        found = self._take_over(running.c.node_id.not_in(live))
        try:
            found += self._settle_untracked_rows(now)
        except Exception:
            # Its own failure: the dead nodes' runs above are taken over either way.
            self._access.logger.exception("Could not look for this node's untracked runs")
        if found:
            self._access.context.wakeup()

    def _settle_untracked_rows(self, now: int) -> int:
        """Settle this node's ``_running`` rows that no claim, re-run or orphaned run of it
        knows any more; return how many were taken over as orphaned runs.

        Such a row is most often the row of an ended run whose delete the database lost: ends
        are committed without waiting for the disk (see :mod:`._sql.starts`), so a crash or
        failover can lose one, and the row would count against its job's ``max_instances`` for
        as long as this node lives. A row whose every run began (as recorded) ended here and is
        deleted. Any other (a claim whose commit the node could not confirm, say) is taken over
        like a dead node's: its runs that never began run again, those that may have begun are
        reported abandoned. Only rows claimed more than two leases ago are looked at, and not
        while a claim is under way (its rows may be committed and not tracked yet).
        """
        tracked = self._claims.tracked_keys()
        if tracked is None:
            return 0
        keep = [*tracked, *self._orphans.pending_keys()]
        access = self._access
        untracked = self._statements.untracked_running
        parameters = {"node": self.node_id, "before": now - 2 * self.lease_micros, "keep": keep}
        rows = access.read(lambda conn: conn.execute(untracked, parameters).all())
        ended: list[str] = []
        rest: list[str] = []
        for row in rows:
            (ended if _all_begun(row) else rest).append(row.run_key)
        if ended:
            # Through the ends' group commit: a delete that fails is retried with the next.
            self._claims.delete_running(ended)
            access.count_error()
            access.logger.warning(
                "Deleting %d _running rows of node %r whose runs had ended here (their deletes "
                "were lost, as by a database crash or failover): %s",
                len(ended),
                self.node_id,
                ", ".join(sorted(ended)),
            )
        if not rest:
            return 0
        access.count_error()
        access.logger.warning(
            "Node %r holds %d _running rows it does not track: taking them over as orphaned "
            "runs: %s",
            self.node_id,
            len(rest),
            ", ".join(sorted(rest)),
        )
        running = access.tables.running
        return self._take_over(and_(running.c.node_id == self.node_id, running.c.run_key.in_(rest)))

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


def _all_begun(row: Any) -> bool:
    """Whether every run of a ``_running`` row is recorded begun (``started_through`` reaches
    its last run time; NULL, unknown, is not a record)."""
    return row.started_through is not None and not split_begun(row)[1]
