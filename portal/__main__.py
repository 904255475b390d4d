"""The `portal` command (the console script, and `python -m portal`): Flask's command
line for this app, which lists its commands without building the app."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import FlaskGroup

from portal import create_app
from portal.commands import COMMANDS


class PortalGroup(FlaskGroup):
    """Flask's command group with the app's commands known in advance.

    Flask's own group builds the app to list `app.cli`, and building it imports every
    view and service: a second for `portal --help`. This group holds what create_app()
    puts on `app.cli` (the voucher commands and Flask-Migrate's `db`), so listing them
    needs no app; running one still builds it (`with_appcontext`).
    """

    def __init__(self, **extra: Any) -> None:
        super().__init__(**extra)
        for command in (*COMMANDS, MigrationCommands()):
            self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Flask's built-ins, the plugins (flask.commands entry points, loaded as Flask's
        # own list_commands loads them) and the above; the help test compares the result
        # with what Flask lists for the built app.
        self._load_plugin_commands()
        return sorted(self.commands)


class MigrationCommands(click.Command):
    """Flask-Migrate's `db` group as the listing shows it, imported only when used:
    importing it loads alembic, which would more than double `portal --help`."""

    def __init__(self) -> None:
        super().__init__("db", short_help="Perform database migrations.")

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        from flask_migrate.cli import db  # the group Migrate.init_app() adds to app.cli

        return db.make_context(info_name, args, parent=parent, **extra)


# Commands that only load or assign codes: they get an app without pages or API, which
# builds in a fraction of the time (what a user waits for before a file starts loading).
DATA_COMMANDS = frozenset({"import-codes", "generate-codes", "assign-codes"})


def app_for_command() -> Any:
    """The app for the command being run: without its surfaces for a data command."""
    context = click.get_current_context(silent=True)
    return create_app(surfaces=context is None or context.info_name not in DATA_COMMANDS)


def main() -> None:
    """Entry point of the `portal` console script."""
    PortalGroup(create_app=app_for_command, help="Run and manage the voucher portal.")(prog_name="portal")


if __name__ == "__main__":
    main()
