"""The voucher commands of `portal`, one module per area; `portal.__main__` runs them.

Each module imports the services it calls inside the command, so that loading the
commands (to list them in `portal --help`) stays cheap.
"""

from __future__ import annotations

from flask import Flask

from .campaigns import replenish, send, worker
from .codes import assign_codes, create_pool, generate_codes, import_codes
from .people import create_api_key, create_store, create_user, set_password
from .setup import init, serve

COMMANDS = (
    init, serve,
    create_store, create_user, set_password, create_api_key,
    create_pool, import_codes, generate_codes, assign_codes,
    send, replenish, worker,
)


def register(app: Flask) -> None:
    """Attach the voucher commands to the app's CLI."""
    for command in COMMANDS:
        app.cli.add_command(command)
