"""The drop folder as a source: a partner's complete files named pool-<id>-…, each
taken by one worker, imported once, and filed under processed/ or failed/ with a report."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

from flask import current_app

from ...models import ReplenishmentRun
from .. import imports
from ..loading import WAIT_IN_BACKGROUND
from .record import import_file

LISTED_REJECTIONS = 1000


def _ready(path: Path, settle: float, now: float) -> bool:
    """A dropped file is complete when its .done marker exists, or when nothing has
    written to it for `settle` seconds."""
    if Path(str(path) + ".done").exists():
        return True
    try:
        return now - path.stat().st_mtime >= settle
    except FileNotFoundError:
        return False


def _report(path: Path, run: ReplenishmentRun) -> None:
    lines = [f"file: {path.name}", f"outcome: {run.outcome}", f"at: {run.at.isoformat()}"]
    if run.error:
        lines.append(f"error: {run.error}")
    if run.batch_id:
        lines += [f"imported: {run.imported}", f"rejected: {run.rejected}"]
        lines += [f"  {reason}: {n}" for reason, n in sorted(run.rejected_by_reason.items())]
        rejected = imports.rejections(run.batch_id, limit=LISTED_REJECTIONS)
        if rejected:
            lines.append("rejected lines (line, reason, value):")
            lines += [f"  {r.line}\t{r.reason}\t{r.value}" for r in rejected]
    Path(str(path) + ".report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def from_drop_folder(pool_id: int) -> list[ReplenishmentRun]:
    """Import the pool's complete files in DROP_FOLDER; one run per file."""
    folder = Path(current_app.config["DROP_FOLDER"])
    settle = float(current_app.config.get("DROP_SETTLE_SECONDS", 30))
    runs = []
    clock = datetime.now().timestamp()
    working = folder / "processing"
    # This run holds the pool, so a file of the pool left in processing/ is from a run
    # that crashed: put it back (an import it finished is recognised by its content).
    for stranded in working.glob(f"pool-{pool_id}-*") if working.is_dir() else ():
        os.replace(stranded, folder / stranded.name)
    for path in sorted(folder.glob(f"pool-{pool_id}-*")):
        # Regular files only: a symbolic link could make the server read any file it can.
        if path.is_symlink() or not path.is_file() or path.name.endswith(
                (".done", ".part", ".tmp", ".report.txt")):
            continue
        if not _ready(path, settle, clock):
            continue  # still being written: the next scan looks again
        working.mkdir(exist_ok=True)
        taken = working / path.name
        try:
            os.rename(path, taken)  # atomic: of two workers, one gets the file
        except FileNotFoundError:
            continue
        Path(str(path) + ".done").unlink(missing_ok=True)
        if not stat.S_ISREG(os.lstat(taken).st_mode):  # swapped for a link after the check
            (folder / "failed").mkdir(exist_ok=True)
            os.replace(taken, folder / "failed" / path.name)
            continue
        # A partner's file waits for another import rather than being filed as failed.
        run = import_file(pool_id, taken, "drop_folder", path.name, wait=WAIT_IN_BACKGROUND)
        target = folder / ("failed" if run.outcome == "failed" else "processed")
        target.mkdir(exist_ok=True)
        final = target / path.name
        os.replace(taken, final)
        _report(final, run)
        runs.append(run)
    return runs
