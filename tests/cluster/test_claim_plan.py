"""The claim reads due rows by the index on ``next_run_time``: its cost follows the due rows,
not the stored ones (checked on the plan PostgreSQL chooses for a large table)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from obssched.jobstores._sql.codec import to_micros
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

pytestmark = [pytest.mark.postgresql]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STORED = 50_000
DUE = 50


@pytest.fixture
def started(postgres_url: str, pg_schema: str) -> Iterator[SQLAlchemyJobStore]:
    """A started cluster store holding ``STORED`` jobs, ``DUE`` of them due at T0."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here", lease_seconds=60
    )
    scheduler = ManualScheduler(clock=ManualClock(T0), metrics=False, tracing=False, timezone="UTC")
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    table = store.tables.jobs
    later = to_micros(T0 + timedelta(days=1))
    due = to_micros(T0 - timedelta(seconds=1))
    with store.engine.begin() as conn:
        conn.execute(
            text(
                f'INSERT INTO "{pg_schema}"."{table.name}" (id, next_run_time, func_ref, state) '
                "SELECT 'f' || g, :later + g, 'jobstores.jobfuncs:noop', ''::bytea "
                "FROM generate_series(1, :count) AS g"
            ),
            {"later": later, "count": STORED - DUE},
        )
        conn.execute(
            insert(table),
            [
                {"id": f"d{i}", "next_run_time": due, "func_ref": "x:y", "state": b""}
                for i in range(DUE)
            ],
        )
        conn.execute(text(f'ANALYZE "{pg_schema}"."{table.name}"'))
    yield store
    scheduler.shutdown()


def plan_of(store: SQLAlchemyJobStore, query: Any) -> dict[str, Any]:
    """PostgreSQL's plan of ``query`` (EXPLAIN, as JSON)."""
    with store.engine.connect() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        rows = conn.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar()
    plan: dict[str, Any] = (json.loads(rows) if isinstance(rows, str) else rows)[0]["Plan"]
    return plan


def scans(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """Every scan node of ``plan``: (node type, relation, index)."""
    found = []
    if "Scan" in plan["Node Type"]:
        found.append((plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name")))
    for child in plan.get("Plans", []):
        found.extend(scans(child))
    return found


@pytest.mark.parametrize("live_nodes", [1, 3], ids=["alone", "sharing-with-two-others"])
def test_the_claim_query_scans_the_next_run_time_index_not_the_table(
    started: SQLAlchemyJobStore, live_nodes: int
) -> None:
    """Among 50,000 stored jobs, the claim reaches the 50 due ones through the index."""
    claims = started._node.claims  # type: ignore[union-attr]
    claims.share_by(["here", *[f"other{i}" for i in range(live_nodes - 1)]])
    found = scans(plan_of(started, claims.claim_query(T0)))
    jobs = started.tables.jobs.name
    assert [scan for scan in found if scan[1] == jobs and scan[0] == "Seq Scan"] == []
    assert ("Index Scan", jobs, f"ix_{jobs}_next_run_time") in found


def test_the_claim_among_many_stored_jobs_takes_exactly_the_due_ones(
    started: SQLAlchemyJobStore,
) -> None:
    """The claim returns the due rows (those it can load) and none of the later ones."""
    claims = started._node.claims  # type: ignore[union-attr]
    with started.engine.connect() as conn:
        ids = {row.id for row in conn.execute(claims.claim_query(T0))}
    assert ids == {f"d{i}" for i in range(DUE)}
