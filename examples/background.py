"""A BackgroundScheduler: the scheduler runs in a thread while the program does other work.

Run it with ``python examples/background.py`` (Ctrl-C to stop), or with a number of seconds to
stop after.
"""

import sys
import time
from datetime import datetime

from obssched.schedulers.background import BackgroundScheduler


def tick():
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


def report(scheduler):
    for job in scheduler.get_jobs():
        print(f"  {job}")


def main(run_for=None):
    scheduler = BackgroundScheduler()
    scheduler.add_job(tick, "interval", seconds=1, id="tick")
    scheduler.add_job(tick, "cron", second="*/5", id="every-five-seconds")
    scheduler.start()
    print("Press Ctrl+C to exit")
    deadline = time.monotonic() + run_for if run_for else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(1)
        report(scheduler)
    except (KeyboardInterrupt, SystemExit):
        pass
    scheduler.shutdown()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else None)
