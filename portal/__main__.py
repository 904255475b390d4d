"""The `portal` command (the console script, and `python -m portal`): Flask's command
line for this app, with the voucher commands that create_app() registers."""

from __future__ import annotations

from flask.cli import FlaskGroup

from portal import create_app


def main() -> None:
    """Entry point of the `portal` console script."""
    FlaskGroup(create_app=create_app, help="Run and manage the voucher portal.")(prog_name="portal")


if __name__ == "__main__":
    main()
