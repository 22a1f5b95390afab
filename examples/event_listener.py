"""Listening to scheduler events, exactly as the APScheduler documentation's example does.

``my_listener`` hears about submissions, successes and crashes; ``my_listener1`` hears when a run
is refused because the previous one has not finished (max_instances). Run it with
``python examples/event_listener.py`` or with a number of seconds to stop after.
"""

import sys
import time

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from obssched.schedulers.background import BackgroundScheduler

runs = 0


def flaky():
    global runs
    runs += 1
    if runs % 2 == 0:
        raise RuntimeError("every second run fails")


def slow():
    time.sleep(2.5)


def my_listener(event):
    if isinstance(event, JobSubmissionEvent):
        print("The job is running :)")
    elif isinstance(event, JobExecutionEvent):
        if event.exception:
            print("The job crashed :(")
        else:
            print("The job worked :)")


def my_listener1(event):
    # Kept in the documentation's own words, old-style formatting included.
    print("events: %s is running and maybe hang out, new task can't start" % str(event.job_id))  # noqa: UP031


def main(run_for=None):
    scheduler = BackgroundScheduler()
    scheduler.add_job(flaky, "interval", seconds=1, id="flaky")
    scheduler.add_job(slow, "interval", seconds=1, id="slow")

    # When a job has run or has failed, call my_listener.
    scheduler.add_listener(my_listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_SUBMITTED)
    # When a run cannot start because the previous one has not finished, call my_listener1.
    scheduler.add_listener(my_listener1, EVENT_JOB_MAX_INSTANCES)

    scheduler.start()
    try:
        time.sleep(run_for if run_for else float("inf"))
    except (KeyboardInterrupt, SystemExit):
        pass
    scheduler.shutdown()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else None)
