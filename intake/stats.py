"""Where a process's page time went, written for the intake benchmark when it asks.

With ``ATTEND_INTAKE_STATS`` set to a folder, every process that takes pages in (`attend
intake run` and its reading processes, `attend intake worker`, `attend intake watch`)
writes ``ROLE-PID.json`` there when it stops: per page, the seconds of each stage; the
process's peak resident memory and CPU time. Unset (the normal case), nothing is written.
The pages are named by file hash and page number only, never by file name.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The setting `intake_stats` (attendance.settings), read here from the environment so that every
# process the benchmark starts (the watcher's workers too) sees it without being passed it.
STATS_ENV = "ATTEND_INTAKE_STATS"


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries that
    across exec, so a small command started by a big process would report the big one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class ProcessStats:
    """What one process did, page by page; `write` puts it in the benchmark's folder."""

    role: str
    started: float = field(default_factory=time.perf_counter)
    pages: list[str] = field(default_factory=list)  # "sha256:page"
    stage_s: list[dict[str, float]] = field(default_factory=list)  # per page, by stage

    def add(self, sha: str, number: int, timings: dict[str, float]) -> None:
        """One page's stage times (seconds)."""
        self.pages.append(f"{sha}:{number}")
        self.stage_s.append(dict(timings))

    def to_json(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "role": self.role,
            "pid": os.getpid(),
            "loop_s": time.perf_counter() - self.started,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": peak_rss_mb(),
            "pages": self.pages,
            "stage_s": self.stage_s,
        }

    def write(self) -> None:
        """Write to ``$ATTEND_INTAKE_STATS/ROLE-PID.json`` when that is set; else nothing."""
        folder = os.environ.get(STATS_ENV)
        if not folder:
            return
        target = Path(folder) / f"{self.role}-{os.getpid()}.json"
        target.write_text(json.dumps(self.to_json()) + "\n")
