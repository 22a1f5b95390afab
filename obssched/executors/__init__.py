"""Executors run job bodies: in a thread pool, worker processes, the asyncio event loop or the
scheduler's own thread (APScheduler 3's ``apscheduler.executors``).

Each keeps APScheduler 3's plugin contract (:class:`~obssched.executors.base.BaseExecutor`:
``start``, ``shutdown``, ``submit_job`` and the ``_do_submit_job``/``_run_job_success`` hooks),
so executors written for APScheduler run here; obssched's own bookkeeping (run ids, timings, run
hooks, in-flight runs) lives in the base class and reaches the scheduler's services through its
:class:`~obssched._context.SchedulerContext`.
"""
