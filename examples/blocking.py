"""A BlockingScheduler: the scheduler runs in the foreground until interrupted.

Run it with ``python examples/blocking.py`` (Ctrl-C to stop), or ``python examples/blocking.py 3``
to stop after three seconds.
"""

import sys
import threading
from datetime import datetime

from obssched.schedulers.blocking import BlockingScheduler


def tick():
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


def main(run_for=None):
    scheduler = BlockingScheduler()
    scheduler.add_job(tick, "interval", seconds=1)
    if run_for:
        threading.Timer(run_for, scheduler.shutdown).start()
    print("Press Ctrl+C to exit")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else None)
