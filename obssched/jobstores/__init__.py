"""Job stores: where a scheduler keeps its jobs, at APScheduler 3's import paths.

A store keeps jobs and, at each tick, says which are due (:class:`~.base.BaseJobStore`);
``memory`` keeps them in the process, ``sqlalchemy`` in a SQL database, shared by several
schedulers with ``cluster=True``. Stores store and claim; the scheduling loop alone decides what
runs, submits and emits events. A store that claims runs itself tells the loop what it decided
(:class:`~.base.RunPlan`) and hands it the runs a dead scheduler left
(:class:`~.base.OrphanedRun`). A store written for APScheduler 3 works unchanged: everything
obssched adds to the store contract has a default in :class:`~.base.BaseJobStore`.
"""
