"""Voucher core benchmarks: each figure beside a baseline measured in the same run.

    .venv/bin/python bench/run.py            # everything, writes bench/RESULTS.md
    .venv/bin/python bench/run.py --quick    # smaller sizes, prints only

PostgreSQL is taken from BENCH_PG_URL (default: the local test database); each
measurement gets a fresh SQLite file or PostgreSQL schema.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import DATA, PG_URL, fresh_app, machine, median_of, timed  # noqa: E402
from bench.loads import random_file as code_file  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.services import assignment, generation, imports, pools  # noqa: E402
from portal.services.customers import CustomerData  # noqa: E402

ALPHABET = generation.CHARSETS["alphanumeric"]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def naive_codes(count: int, length: int = 10) -> list[str]:
    """The per-character secrets.choice loop that generation is measured against."""
    return ["".join(secrets.choice(ALPHABET) for _ in range(length)) for _ in range(count)]


def bench_generation(n: int, runs: int, workdir: Path) -> dict:
    ours, _ = median_of(runs, lambda: timed(lambda: generation.candidates(generation.Spec(), n)))
    naive, _ = median_of(runs, lambda: timed(lambda: naive_codes(n)))
    return {"n": n, "ours": ours, "naive": naive}


def bench_import_memory(n: int, workdir: Path) -> dict:
    """Peak memory of a process importing an n-line file, per database."""
    path = code_file(n)
    out = {"n": n}
    for kind in ("sqlite", "postgresql"):
        probe = subprocess.run(
            [sys.executable, __file__, "--memory-probe", kind, str(path), str(workdir)],
            check=True, capture_output=True, text=True,
        )
        rss_mb, seconds = probe.stdout.split()
        out[kind] = {"peak_mb": float(rss_mb), "seconds": float(seconds)}
    return out


def memory_probe(kind: str, path: str, workdir: str) -> None:
    with fresh_app(kind, Path(workdir)):
        pool_id = pools.create_pool("Mem").id
        with open(path, "rb") as fh:
            seconds = timed(lambda: imports.import_codes(pool_id, fh))
        print(peak_rss_mb(), seconds)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would count the parent's,
    which Linux carries across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def bench_assignments(n: int, workers: int, workdir: Path) -> dict:
    out = {"n": n}
    for kind in ("sqlite", "postgresql"):
        with fresh_app(kind, workdir):
            pool_id = pools.create_pool("Asg").id
            generation.generate_codes(pool_id, n)
            start = time.perf_counter()
            for i in range(n):
                assignment.assign_code(pool_id, CustomerData(customer_id=f"S{i}"))
            out[kind] = {"seconds": time.perf_counter() - start,
                         "duplicates": _duplicates(pool_id, n)}
    with fresh_app("postgresql", workdir) as (_app, schema):
        pool_id = pools.create_pool("Par").id
        generation.generate_codes(pool_id, n)
        db.session.remove()
        per = n // workers
        start = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(workers) as procs:
            returned = procs.starmap(_assign_worker,
                                     [(schema, pool_id, w * per, per) for w in range(workers)])
        seconds = time.perf_counter() - start
        codes = [code for batch in returned for code in batch]
        out["postgresql_parallel"] = {
            "workers": workers, "seconds": seconds, "assigned": len(codes),
            "duplicates": len(codes) - len(set(codes)) + _duplicates(pool_id, per * workers),
        }
    return out


def _duplicates(pool_id: int, expected: int) -> int:
    """Codes handed out more than once plus customers holding more than one code."""
    from sqlalchemy import func, select

    from portal.models import Code

    db.session.remove()
    held = db.session.execute(
        select(Code.customer_id, func.count()).where(Code.pool_id == pool_id,
                                                     Code.customer_id.is_not(None))
        .group_by(Code.customer_id)
    ).all()
    extra = sum(n - 1 for _, n in held)
    counts = pools.counts(pool_id)
    assert counts.assigned == expected, (counts, expected)
    return extra


def _assign_worker(schema: str, pool_id: int, first: int, count: int) -> list[str]:
    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": PG_URL, "SECRET_KEY": "bench",
                      "SQLALCHEMY_ENGINE_OPTIONS": {
                          "connect_args": {"options": f"-c search_path={schema}"}}})
    with app.app_context():
        return [assignment.assign_code(pool_id, CustomerData(customer_id=f"P{i}")).code
                for i in range(first, first + count)]


def bench_counts(sizes: tuple[int, ...], reads: int, workdir: Path) -> dict:
    """Read counts of a small and a large pool in the same database, alternating samples
    so that a busy machine slows both alike."""
    out = {}
    for kind in ("sqlite", "postgresql"):
        with fresh_app(kind, workdir):
            pool_ids = {}
            for size in sizes:
                pool_ids[size] = pools.create_pool(f"Cnt {size}").id
                generation.generate_codes(pool_ids[size], size)
                for i in range(50):  # spread some changes over the shards
                    assignment.assign_code(pool_ids[size], CustomerData(customer_id=f"C{size}-{i}"))

            def read_many(pool_id: int) -> float:
                start = time.perf_counter()
                for _ in range(reads):
                    pools.counts(pool_id)
                    db.session.rollback()
                return (time.perf_counter() - start) / reads

            samples: dict[int, list[float]] = {size: [] for size in sizes}
            for _ in range(7):
                for size in sizes:
                    samples[size].append(read_many(pool_ids[size]))
            out[kind] = {size: statistics.median(values) for size, values in samples.items()}
    return out


def report(results: dict, quick: bool) -> str:
    g, m, a, c = (results[k] for k in ("generation", "memory", "assign", "counts"))
    gen_ratio = g["naive"] / g["ours"]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {dt.date.today().isoformat()} with `bench/run.py` on {machine()}.",
        "Each figure is the median of the runs noted; every baseline ran in the same run on",
        "the same machine, so read the ratios, not the seconds (the machine is shared).",
        "",
        "| what | ours | baseline | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| generate {g['n']:,} codes in memory vs per-character `secrets.choice` loop | "
        f"{g['ours']:.2f} s | {g['naive']:.2f} s | {gen_ratio:.1f}× faster | ≥ 8× faster | "
        f"{'yes' if gen_ratio >= 8 else 'no'} |",
    ]
    for kind in ("sqlite", "postgresql"):
        r = m[kind]
        lines.append(
            f"| peak memory importing {m['n']:,} lines, {kind} (whole process) | "
            f"{r['peak_mb']:.0f} MB ({r['seconds']:.0f} s) | — | — | < 300 MB | "
            f"{'yes' if r['peak_mb'] < 300 else 'no'} |")
    for kind in ("sqlite", "postgresql"):
        r = c[kind]
        small, big = sorted(r)
        ratio = r[big] / r[small]
        lines.append(
            f"| read a pool's counts at {big:,} vs {small:,} codes, {kind} | "
            f"{r[big] * 1e6:.0f} µs | {r[small] * 1e6:.0f} µs | {ratio:.2f}× | ≤ 1.2× | "
            f"{'yes' if ratio <= 1.2 else 'no'} |")
    lines += [
        "",
        "Other figures from the same run (imports and generation end to end: `bench/loads.py`,",
        "its own section below):",
        "",
    ]
    for kind in ("sqlite", "postgresql"):
        r = a[kind]
        lines.append(f"- {a['n']:,} single assignments one after another, {kind}: "
                     f"{r['seconds']:.1f} s ({a['n'] / r['seconds']:,.0f}/s), "
                     f"duplicates: {r['duplicates']}.")
    p = a["postgresql_parallel"]
    lines.append(f"- {p['assigned']:,} single assignments from {p['workers']} concurrent worker "
                 f"processes, PostgreSQL: {p['seconds']:.1f} s "
                 f"({p['assigned'] / p['seconds']:,.0f}/s), duplicates: {p['duplicates']}.")
    lines += [
        "",
        "How each baseline is made:",
        "",
        "- Peak memory is the importing process's maximum resident set, Python included.",
        "- Counts are read 2,000 times per sample after 50 assignments spread changes over",
        "  the counter shards.",
    ]
    if quick:
        lines.insert(2, "**Quick run: reduced sizes, not the figures of record.**\n")
    return "\n".join(lines) + "\n"


def _int_keys(obj: dict) -> dict:
    """JSON turns the counts' pool sizes into strings; turn them back."""
    return {int(k) if k.isdigit() else k: v for k, v in obj.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-probe", nargs=3, metavar=("KIND", "FILE", "WORKDIR"))
    parser.add_argument("--only", help="comma-separated steps to measure again (generation, "
                        "memory, assign, counts); the others come from the last run")
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    os.environ.setdefault("RATELIMIT_ENABLED", "false")
    quick = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    million = 100_000 if quick else 1_000_000
    saved = DATA / "results.json"
    results = json.loads(saved.read_text(), object_hook=_int_keys) if args.only and saved.exists() else {}
    steps = [
        ("generation", lambda: bench_generation(million, 3, workdir)),
        ("memory", lambda: bench_import_memory(1_000_000 if quick else 10_000_000, workdir)),
        ("assign", lambda: bench_assignments(10_000 if quick else 100_000, 8, workdir)),
        ("counts", lambda: bench_counts((1_000, million), 2_000, workdir)),
    ]
    wanted = set(args.only.split(",")) if args.only else {name for name, _ in steps}
    for name, step in steps:
        if name not in wanted:
            continue
        start = time.perf_counter()
        results[name] = step()
        print(f"{name}: {results[name]} ({time.perf_counter() - start:.0f} s)", flush=True)
    if not quick:
        DATA.mkdir(exist_ok=True)
        saved.write_text(json.dumps(results))
    text = report(results, quick)
    print(text)
    if not quick:
        # Keep the sections that bench/api.py and bench/sending.py write.
        marker = "<!-- "
        old = RESULTS.read_text() if RESULTS.exists() else ""
        kept = old[old.index(marker):] if marker in old else ""
        RESULTS.write_text(text + ("\n" + kept if kept else ""))


if __name__ == "__main__":
    main()
