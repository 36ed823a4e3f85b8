"""Worker processes started by `attend intake watch --workers N`, restarted if they die."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType

log = logging.getLogger(__name__)

RESTART_DELAY_S = 2.0
STOP_GRACE_S = 30.0


class WorkerPool:
    """N `attend intake worker` child processes, kept running until the pool stops.

    A worker that exits unexpectedly (killed, out of memory) is started again after a short
    delay; the page it held goes back to the queue when its lease runs out. On stop, workers
    get SIGTERM, finish the page in hand and exit; after a grace period they are killed.
    """

    def __init__(self, count: int, args: list[str], *, stop: threading.Event) -> None:
        self.count, self.args, self.stop = count, args, stop
        self.children: list[subprocess.Popen[bytes] | None] = [None] * count
        self.thread = threading.Thread(target=self._supervise, name="worker-pool", daemon=True)
        self.host = socket.gethostname()

    def _start(self, index: int) -> None:
        command = [
            sys.executable,
            "-m",
            "cli",
            "intake",
            "worker",
            "--id",
            f"{self.host}-w{index + 1}",
            *self.args,
        ]
        self.children[index] = subprocess.Popen(command, env=os.environ.copy())
        log.info("worker %d started (pid %d)", index + 1, self.children[index].pid)  # type: ignore[union-attr]

    def _supervise(self) -> None:
        while not self.stop.wait(RESTART_DELAY_S):
            for index, child in enumerate(self.children):
                if child is not None and child.poll() is not None and not self.stop.is_set():
                    log.warning(
                        "worker %d exited with status %s; starting it again",
                        index + 1,
                        child.returncode,
                    )
                    self._start(index)

    def __enter__(self) -> WorkerPool:
        for index in range(self.count):
            self._start(index)
        if self.count:
            self.thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        running = [c for c in self.children if c is not None and c.poll() is None]
        for child in running:
            child.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in running:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if self.count:
            self.thread.join(timeout=RESTART_DELAY_S * 2)
