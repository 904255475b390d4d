"""Imports and generation as a user waits for them, beside the database's own loader.

Each figure is a `portal import-codes` or `portal generate-codes` run timed from the
start of a fresh process to its exit (start-up included), into a new pool of a fresh
database. Its baseline, in the same run and alternating with it, is the database's own
command-line loader filling the same schema (the portal's `code` table with all its
indexes): `sqlite3` with `.import` into a temporary table and one insert-select, or
`psql` with `\\copy` and one insert-select, in one transaction, start-up included too.
django-oscar's voucher-set generation is measured beside generation (bench/oscar.py).

    .venv/bin/python bench/loads.py            # 1,000,000 codes, 3 runs; writes its RESULTS.md section
    .venv/bin/python bench/loads.py --quick    # 100,000 codes, 1 run, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import oscar  # noqa: E402
from bench.common import DATA, PG_URL, fresh_app, machine, write_section  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.services import generation, pools  # noqa: E402

MARKER = "<!-- loads benchmark -->"
KINDS = ("sqlite", "postgresql")
OSCAR_CODES = 50_000
# The targets: import and generation within 1.5x the loader; generation under 8 s on
# SQLite and 20 s on PostgreSQL, and at least 100x oscar's codes per second.
WITHIN, GENERATE_UNDER, OVER_OSCAR = 1.5, {"sqlite": 8.0, "postgresql": 20.0}, 100


def sequential_file(count: int) -> Path:
    """`count` codes in ascending order, as a partner's numbered batch comes."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"codes-sequential-{count}.txt"
    if not path.exists():
        with open(path, "w") as out:
            out.writelines(f"SEQ{i:010d}\n" for i in range(count))
    return path


def random_file(count: int, pattern: str = "BENCH-######-######", name: str = "codes") -> Path:
    """`count` distinct random codes of the pattern, in no order (cached in bench/data)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"{name}-{count}.txt"
    if not path.exists():
        spec = generation.Spec(pattern=pattern)
        seen: set[str] = set()
        with open(path, "w") as out:
            while len(seen) < count:
                fresh = [c for c in generation.candidates(spec, min(1_000_000, count - len(seen)))
                         if c not in seen]
                seen.update(fresh)
                out.write("\n".join(fresh) + "\n")
    return path


def portal_command() -> list[str]:
    """The `portal` console script of this environment (python -m portal without one)."""
    script = Path(sys.executable).with_name("portal")
    return [str(script)] if script.exists() else [sys.executable, "-m", "portal"]


def _env(kind: str, where: str | Path, workdir: Path) -> dict:
    if kind == "sqlite":
        url = f"sqlite:///{where}"
    else:
        url = f"{PG_URL}?options=-csearch_path%3D{where}"
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": "false",
            "PORTAL_INSTANCE_PATH": str(workdir / "instance"), "QUEUE_STORAGE": "memory"}


def _timed_run(command: list[str], **kwargs) -> float:  # noqa: ANN003
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{command[:3]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def _fresh_pool(kind: str, workdir: Path, run):  # noqa: ANN001, ANN202
    """Run `run(pool_id, where)` against a new pool in a fresh database; its seconds.
    The app that made the schema lets go of the database first."""
    with fresh_app(kind, workdir) as (_app, where):
        pool_id = pools.create_pool("Load").id
        db.session.remove()
        db.engine.dispose()
        seconds = run(pool_id, where)
        available = pools.counts(pool_id).available
        total = db.session.execute(db.text("SELECT count(*) FROM code")).scalar()
        db.session.remove()
    return seconds, available, total


def portal_import(kind: str, path: Path, workdir: Path) -> tuple[float, int, int]:
    return _fresh_pool(kind, workdir, lambda pool_id, where: _timed_run(
        [*portal_command(), "import-codes", str(pool_id), str(path)], env=_env(kind, where, workdir)))


def portal_generate(kind: str, count: int, workdir: Path) -> tuple[float, int, int]:
    return _fresh_pool(kind, workdir, lambda pool_id, where: _timed_run(
        [*portal_command(), "generate-codes", str(pool_id), "--count", str(count)],
        env=_env(kind, where, workdir)))


SQLITE_LOADER = """PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TEMP TABLE raw(code TEXT);
.import --csv {file} raw
INSERT INTO code (pool_id, code, normalized, status)
  SELECT {pool_id}, code, upper(replace(code, '-', '')), 'available' FROM raw;
"""
PSQL_LOADER = [
    "BEGIN", "CREATE TEMP TABLE raw (code text)", "\\copy raw FROM '{file}'",
    "INSERT INTO code (pool_id, code, normalized, status) "
    "SELECT {pool_id}, code, upper(replace(code, '-', '')), 'available' FROM raw",
    "COMMIT",
]


def loader_import(kind: str, path: Path, workdir: Path) -> tuple[float, int, int]:
    def run(pool_id: int, where) -> float:  # noqa: ANN001
        if kind == "sqlite":
            return _timed_run(["sqlite3", str(where)], input=SQLITE_LOADER.format(file=path, pool_id=pool_id))
        command = ["psql", "-q", "-v", "ON_ERROR_STOP=1",
                   PG_URL.replace("postgresql+psycopg://", "postgresql://"),
                   "-c", f"SET search_path={where}"]
        for statement in PSQL_LOADER:
            command += ["-c", statement.format(file=path, pool_id=pool_id)]
        return _timed_run(command)

    return _fresh_pool(kind, workdir, run)


def measure(n: int, runs: int, workdir: Path) -> dict:
    """Every case on both databases, ours and the loader alternating within each run."""
    files = {"sequential": sequential_file(n), "random": random_file(n),
             "generated shape": random_file(n, "#" * generation.DEFAULT_LENGTH, "generated")}
    out: dict = {"n": n, "runs": runs, "cases": {}}
    for kind in KINDS:
        for case in ("sequential", "random", "generate"):
            ours, base = [], []
            for _ in range(runs):
                if case == "generate":
                    seconds, available, total = portal_generate(kind, n, workdir)
                    loader_file = files["generated shape"]
                else:
                    seconds, available, total = portal_import(kind, files[case], workdir)
                    loader_file = files[case]
                assert available == total == n, (kind, case, available, total)
                ours.append(seconds)
                seconds, _available, total = loader_import(kind, loader_file, workdir)
                assert total == n, (kind, case, total)
                base.append(seconds)
            out["cases"][f"{kind} {case}"] = {"ours": ours, "loader": base}
            print(kind, case, ours, base, flush=True)
    oscar_runs = [oscar.generate(OSCAR_CODES) for _ in range(runs)]
    out["oscar"] = {"n": OSCAR_CODES, "seconds": oscar_runs, "version": oscar.version()}
    print("oscar", oscar_runs, flush=True)
    return out


LABELS = {
    "sequential": "import {n:,} sequential codes (`portal import-codes`)",
    "random": "import {n:,} random codes (`portal import-codes`)",
    "generate": "generate {n:,} codes (`portal generate-codes`)",
}


def report(results: dict, load: str, quick: bool) -> str:
    n, runs = results["n"], results["runs"]
    o = results["oscar"]
    oscar_rate = o["n"] / statistics.median(o["seconds"])
    lines = [
        MARKER,
        "## Imports and generation, end to end",
        "",
        f"`bench/loads.py`, measured {time.strftime('%Y-%m-%d')}, median of {runs} "
        f"run{'s' if runs > 1 else ''}, on {machine()}.",
        f"Load average while it ran: {load} (the machine is shared; read the ratios, each",
        "measured beside its baseline in the same run, alternating).",
        "",
        "Each figure is the command from the start of a fresh process to its exit, into a new",
        "pool of a fresh database. The baseline is the database's own command-line loader filling",
        "the same `code` table with all its indexes, start-up included: `sqlite3` (`.import` into",
        "a temporary table, then one insert-select) or `psql` (`\\copy`, then one insert-select,",
        "in one transaction). For generation the loader loads a file of as many codes of",
        "generation's shape (10 random characters).",
        "",
        "| what | database | portal | loader | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for key, figures in results["cases"].items():
        kind, case = key.split(" ", 1)
        ours, base = statistics.median(figures["ours"]), statistics.median(figures["loader"])
        ratio = ours / base
        target = f"≤ {WITHIN}×"
        met = ratio <= WITHIN
        if case == "generate":
            target += f", < {GENERATE_UNDER[kind]:.0f} s, ≥ {OVER_OSCAR}× oscar"
            rate = n / ours
            met = met and ours < GENERATE_UNDER[kind] and rate >= OVER_OSCAR * oscar_rate
            verdicts.append(f"generation on {kind}: {rate:,.0f} codes/s, {rate / oscar_rate:,.0f}× oscar")
        lines.append(f"| {LABELS[case].format(n=n)} | {kind} | {ours:.2f} s | {base:.2f} s | "
                     f"{ratio:.2f}× | {target} | {'yes' if met else 'no'} |")
    lines += [
        f"| django-oscar {o['version']} VoucherSet, {o['n']:,} codes (its generation loop, SQLite) | "
        f"sqlite | {statistics.median(o['seconds']):.2f} s ({oscar_rate:,.0f} codes/s) | — | — | — | — |",
        "",
        "Generation against oscar: " + "; ".join(verdicts) + ".",
        "",
        "Every run's seconds (portal / loader): " + "; ".join(
            f"{key}: {_listed(f['ours'])} / {_listed(f['loader'])}"
            for key, f in results["cases"].items()) + ".",
    ]
    lines += ["", *MISSES.strip().splitlines(), "", *WHY.strip().splitlines()]
    if quick:
        lines.insert(2, "**Quick run: reduced sizes, not the figures of record.**\n")
    return "\n".join(lines) + "\n"


MISSES = """
Where a ratio misses 1.5×, the difference is what the loader does not do (from profiles of
a 1,000,000-line SQLite import on an idle machine): start the `portal` process and build
the app (about 0.9 s; the data commands build it without pages or API), read and check
every line (about 1.2 s: plain blocks are checked in SQL, other lines in Python), put the
codes in the unique index's order (0.4 s) and write them in 100 ms steps with a 25 ms
pause after each, so that a till gets SQLite's write lock (about 0.6 s). Sequential codes
are the loader's best case: it appends them to every index as they come, unchecked and
unsorted, so on SQLite the portal stays well above 1.5× there; the start-up alone is about
half of the loader's time. Oscar: 100× its loop's codes per second here is more than
SQLite's own loader achieves putting a million codes of generation's shape into the same
table (the generation rows' loader column), so no generator that writes into this table
can meet that target on this machine. The issue's 590 codes/s for oscar did not reproduce:
its loop ran at the rate in the table here (SQLite, one transaction, no offers to attach).
"""

WHY = """
Why the figures that stood here before (import 1.04× the SQLite CLI, 1,000,000 codes
generated in 7.1 s) did not reproduce when a user ran the commands:

- They timed the service call inside the benchmark's own process, its app built and
  its connection open: not `portal import-codes` from start to finish. Building the app
  (every blueprint, the models, Alembic) costs a fresh `portal` process about 1.2–1.5 s
  on an idle machine, which a user waits for; every figure here includes it, and the
  loader's start-up too.
- Their only file was random codes, which the portal sorted before inserting while the
  loader inserted them in file order, into a unique index far larger than SQLite's
  default 2 MB page cache: the loader's slowest case. Sequential codes, which the
  loader appends to every index, are its fastest case by 2.5×, and were never measured.
- They were taken on 2026-11-26, before loads were written in steps (25 ms steps, each
  followed by a 30 ms pause for waiting tills), which by 2026-11-30 had made the same
  import 1.69× the CLI; generation was one transaction then, and counted the codes of
  its shape with a `LIKE` scan over the whole workspace before it began.
"""


def _listed(seconds: list[float]) -> str:
    return ", ".join(f"{s:.1f}" for s in seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--count", type=int)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--report", metavar="LOAD", help="write the section again from the last "
                        "run's figures (bench/data/loads.json), with the load average given")
    args = parser.parse_args()
    n = args.count or (100_000 if args.quick else 1_000_000)
    runs = args.runs or (1 if args.quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="portal-loads-"))
    before = os.getloadavg()
    saved = DATA / "loads.json"
    if args.report:
        results, load = json.loads(saved.read_text()), args.report
    else:
        results = measure(n, runs, workdir)
        after = os.getloadavg()
        load = f"{before[0]:.1f} at the start, {after[0]:.1f} at the end (1-minute averages)"
        saved.write_text(json.dumps(results))
    text = report(results, load, args.quick)
    print(text)
    if not args.quick:
        write_section(MARKER, text)


if __name__ == "__main__":
    main()
