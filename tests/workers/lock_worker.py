"""Run ``lock_test`` on a token lock from a separate process (multi-process lock tests).

usage: lock_worker.py TOKEN_PATH MODE SECONDS BARRIER [--no-lock]
``--no-lock`` replaces the lock with a no-op (negative control: overlaps must appear).
"""

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from snakemake_majora import locking

token_path, mode, seconds, barrier = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
if "--no-lock" in sys.argv:
    locking.TokenLock.hold = lambda self, timeout: contextlib.nullcontext()  # type: ignore[method-assign]
lock = locking.TokenLock(Path(token_path), mode, poll_interval=0.01)
Path(f"{barrier}.ready.{os.getpid()}").touch()
while not barrier.exists():
    time.sleep(0.005)
print(json.dumps(locking.lock_test(lock, seconds)))
