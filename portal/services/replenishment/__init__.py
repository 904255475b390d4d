"""Keeping pools filled: a partner's URL fetched on a schedule, a watched drop folder,
and a top-up by generation when a pool runs low.

Every source goes through the core's own import, all of a file or none of it. A file
whose content this pool has imported before is not imported again (its sha256), and a
server that says nothing changed (ETag / Last-Modified) is not even downloaded. One
run per pool at a time, whichever worker or command starts it.

The package's jobs, each in its module: `settings` (the fields, their checks and the
schedule), `fetch` (the guarded HTTP client), the three sources `url_source`,
`drop_folder` and `top_up`, `record` (each run's record and the history) and `runs`
(one run per pool at a time, now or on the schedule). Importing it is cheap: requests
and cryptography load when first used.
"""

from __future__ import annotations

from .record import history, last_runs
from .runs import run_due, run_now, top_up_pools
from .settings import FIELDS, checked, configure, drop_path, get, next_run, settings_for

__all__ = ["FIELDS", "checked", "configure", "drop_path", "get", "history", "last_runs", "next_run",
           "run_due", "run_now", "settings_for", "top_up_pools"]
