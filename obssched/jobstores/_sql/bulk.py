"""Cluster mode, the statements that write a whole step's claims at once (PostgreSQL).

A claim advances every job it took, and records the runs it submits; the start of each run and
its end are recorded in batches too. Each is one statement over arrays (``unnest``, ``= ANY``),
whatever the number of rows: the database plans and runs one statement, and the node binds one
set of parameters instead of one per row, which is most of the cost of ``executemany`` in the
driver (or of an ``IN`` list, which SQLAlchemy renders with one parameter per value).
"""

from __future__ import annotations

from sqlalchemy import TextClause, text

from obssched.jobstores._sql.schema import Tables

__all__ = ["ClaimStatements"]


class ClaimStatements:
    """The bulk statements of a store's tables.

    Args:
        tables: the store's tables.
    """

    def __init__(self, tables: Tables) -> None:
        jobs = _name(tables.jobs.schema, tables.jobs.name)
        running = _name(tables.running.schema, tables.running.name)
        # A claim changes only the next run time of most jobs: their state is patched where
        # it holds it (overlay at ``positions``, ``lengths`` long), by the database, instead of
        # being encoded and sent whole; ``states`` holds the whole new state of the others
        # (NULL for the patched ones). The _running rows copy the state the jobs table holds
        # then (the advanced one, or the last one of a job that finished).
        self.advance: TextClause = text(
            f"UPDATE {jobs} AS j SET next_run_time = v.next_run_time, "
            "state = COALESCE(v.state, overlay(j.state PLACING "
            "convert_to('\"' || v.moment || '\"', 'UTF8') FROM v.position FOR v.length)), "
            "lease_owner = :lease_owner, lease_until = :lease_until "
            "FROM unnest(CAST(:ids AS varchar[]), CAST(:next_run_times AS bigint[]), "
            "CAST(:states AS bytea[]), CAST(:positions AS integer[]), "
            "CAST(:lengths AS integer[]), CAST(:moments AS text[])) "
            "AS v(id, next_run_time, state, position, length, moment) WHERE j.id = v.id"
        )
        """Give each job (``ids``) its new next run time and state, and this node's lease."""
        self.insert_running: TextClause = text(
            f"INSERT INTO {running} (run_key, job_id, job_name, node_id, run_times, claimed_at, "
            "state, started_through) SELECT v.run_key, v.job_id, v.job_name, :node, "
            "v.run_times, :claimed_at, j.state, v.started_through "
            "FROM unnest(CAST(:keys AS varchar[]), CAST(:job_ids AS varchar[]), "
            "CAST(:names AS varchar[]), CAST(:run_times AS text[]), "
            "CAST(:started AS bigint[])) "
            f"AS v(run_key, job_id, job_name, run_times, started_through) JOIN {jobs} AS j "
            "ON j.id = v.job_id"
        )
        """Insert the ``_running`` rows of a claim's runs."""
        self.in_flight: TextClause = text(
            f"SELECT job_id, count(*) FROM {running} "
            "WHERE job_id = ANY(CAST(:ids AS varchar[])) GROUP BY job_id"
        )
        """The runs in flight of each job (``ids``) that has any."""
        self.release: TextClause = text(
            f"UPDATE {jobs} SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = ANY(CAST(:ids AS varchar[])) AND lease_owner = :node"
        )
        """Give back this node's (``node``) leases of the jobs ``ids``."""
        self.delete_running: TextClause = text(
            f"DELETE FROM {running} WHERE run_key = ANY(CAST(:keys AS varchar[])) "
            "AND node_id = :node"
        )
        """Delete the ``_running`` rows ``keys`` of this node (``node``): one another node took
        over is that node's to delete."""
        self.untracked_running: TextClause = text(
            f"SELECT run_key, run_times, started_through FROM {running} "
            "WHERE node_id = :node AND claimed_at < :before "
            "AND run_key <> ALL(CAST(:keep AS varchar[]))"
        )
        """This node's (``node``) ``_running`` rows claimed before ``before`` but those of
        ``keep`` (one array parameter, whatever its length)."""
        # The update skips the rows being deleted: when a CTE's DELETE and the main UPDATE hit
        # the same row, PostgreSQL performs only the UPDATE (a run that began and ended within
        # one batch would keep its row, counting against max_instances until its node died).
        # Every row of this node it is handed is returned, changed or not (a NULL stays NULL,
        # a mark never goes back), so a key missing from the result is a row this node no
        # longer holds: another node took it over.
        # One statement for a batch of run starts and ends, committed without waiting for the
        # flush to disk (synchronous_commit off for its transaction, set in the statement: an
        # uncorrelated EXISTS is evaluated once, before the rows). It runs on every run's path,
        # so it is handed to the driver as it is (``exec_driver_sql``: its placeholders are
        # psycopg's), past SQLAlchemy's statement compilation but not its error handling.
        self.mark_and_end: str = (
            "WITH setting AS MATERIALIZED "
            "(SELECT set_config('synchronous_commit', 'off', true) AS value), "
            f"ended AS (DELETE FROM {running} WHERE run_key = ANY(CAST(%(ended)s AS varchar[])) "
            "AND node_id = %(node)s AND EXISTS (SELECT 1 FROM setting)) "
            f"UPDATE {running} AS r SET started_through = "
            "CASE WHEN r.started_through IS NULL THEN NULL "
            "ELSE GREATEST(r.started_through, v.mark) END "
            "FROM unnest(CAST(%(keys)s AS varchar[]), CAST(%(marks)s AS bigint[])) "
            "AS v(key, mark) "
            "WHERE r.run_key = v.key AND r.node_id = %(node)s "
            "AND r.run_key <> ALL(CAST(%(ended)s AS varchar[])) "
            "AND EXISTS (SELECT 1 FROM setting) "
            "RETURNING r.run_key"
        )
        """Delete this node's rows of ended runs (``ended``) and record the latest run begun of
        each of its rows (``keys``): never back, and a NULL (every run counts as begun) stays.
        Returns the marked keys this node still holds."""


def _name(schema: str | None, table: str) -> str:
    quoted = '"' + table.replace('"', '""') + '"'
    return quoted if schema is None else '"' + schema.replace('"', '""') + '".' + quoted
