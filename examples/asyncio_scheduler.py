"""An AsyncIOScheduler: coroutine jobs run on the application's event loop.

Run it with ``python examples/asyncio_scheduler.py`` (Ctrl-C to stop), or with a number of
seconds to stop after.
"""

import asyncio
import sys
from datetime import datetime

from obssched.schedulers.asyncio import AsyncIOScheduler


async def fetch():
    await asyncio.sleep(0.1)
    print(f"Fetched at {datetime.now():%H:%M:%S}")


def tick():
    print(f"Tick! The time is: {datetime.now():%H:%M:%S}")


async def main(run_for=None):
    scheduler = AsyncIOScheduler()
    scheduler.add_job(fetch, "interval", seconds=1)
    scheduler.add_job(tick, "interval", seconds=2)
    scheduler.start()
    print("Press Ctrl+C to exit")
    try:
        await asyncio.sleep(run_for if run_for else float("inf"))
    finally:
        scheduler.shutdown()


if __name__ == "__main__":
    try:
        asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else None))
    except (KeyboardInterrupt, SystemExit):
        pass
