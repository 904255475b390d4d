"""How long the `portal` command takes to start, beside a bare Python in the same run.

    .venv/bin/python bench/startup.py            # 21 runs each; writes its section of RESULTS.md
    .venv/bin/python bench/startup.py --quick    # 5 runs each, prints only

Each run is a new process, timed from start to exit: the installed `portal` console
script (the one beside this Python, as `pip install -e .` made it) with `--help`, and
the same Python with `-c pass`, which every Python program pays before its own imports.
The two alternate, run by run, so that a busy moment on the shared machine slows both;
one unrecorded run of each comes first to warm the file cache and write the bytecode
(PYTHONDONTWRITEBYTECODE is dropped for the runs, as an installed portal has its .pyc).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, write_section  # noqa: E402

MARK = "<!-- startup benchmark -->"
TARGET = 0.6  # seconds, the median of `portal --help` on an idle machine
PORTAL = Path(sys.executable).parent / "portal"
COMMANDS = {
    "`portal --help`": [str(PORTAL), "--help"],
    "`python -c pass`": [sys.executable, "-c", "pass"],
}


def once(command: list[str], env: dict[str, str], cwd: str) -> float:
    """Seconds from starting the command to its exit; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0 and not done.stderr, (command, done.returncode, done.stderr)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, help="runs of each command (default 21, or 5 with --quick)")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 21)
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as tmp:
        # An empty folder and instance path: no .env, no database, nothing left in the checkout.
        env = {**os.environ, "PORTAL_INSTANCE_PATH": str(Path(tmp) / "instance")}
        for name in ("FLASK_APP", "DATABASE_URL", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
            env.pop(name, None)
        for command in COMMANDS.values():
            once(command, env, tmp)
        for _ in range(runs):
            for name, command in COMMANDS.items():
                samples[name].append(once(command, env, tmp))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor = medians["`python -c pass`"]
    rows = [f"| {name} | {medians[name] * 1000:.0f} ms | {min(values) * 1000:.0f} ms | "
            f"{medians[name] / floor:.1f}× |" for name, values in samples.items()]
    help_median = medians["`portal --help`"]
    section = "\n".join([
        MARK,
        "## Starting the `portal` command",
        "",
        f"`bench/startup.py`: {runs} runs of each command, alternating, each a new process timed "
        f"from start to exit (bytecode already written), on {machine()}. `portal --help` lists "
        "the commands without building the app; the median is read against the floor in the "
        "same run, as the machine is shared.",
        "",
        "| command | median | min | median vs `python -c pass` |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Target: `portal --help` under {TARGET} s — {help_median:.2f} s, "
        f"{'met' if help_median < TARGET else 'missed'}.",
        "",
        "Measure again with `.venv/bin/python bench/startup.py` (after `pip install -e .`, so "
        "that the console script is the checkout's).",
        "",
    ])
    print(section)
    if not args.quick:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
