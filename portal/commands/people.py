"""Who uses the portal: `portal create-store`, `create-user`, `set-password` and
`create-api-key`."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from ..vocabulary import ApiScope, Role
from .exits import domain_errors


def _timezone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A wrong zone name is a usage error (exit 2) that names the option."""
    from ..services import times

    if value is not None and not times.is_zone(value.strip()):
        raise click.BadParameter(f"{value!r} is not an IANA time zone name (such as Europe/Warsaw "
                                 "or UTC).", ctx=ctx, param=param)
    return value


@click.command("create-store")
@click.argument("code")
@click.argument("name")
@click.option("--timezone", callback=_timezone,
              help="The IANA zone its tills show times in, e.g. Europe/Warsaw "
                   "(default: PORTAL_TIMEZONE).")
@with_appcontext
@domain_errors
def create_store(code: str, name: str, timezone: str | None) -> None:
    """Add a store that cashiers belong to."""
    from ..services import accounts

    store = accounts.create_store(code, name, timezone)
    click.echo(f"created store {store.code}" + (f" ({store.timezone})" if store.timezone else ""))


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice([word.value for word in Role]), required=True)
@click.option("--store", "store_code", help="The cashier's store code.")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from standard input.")
@with_appcontext
@domain_errors
def create_user(email: str, role: str, store_code: str | None, password_stdin: bool) -> None:
    """Add a user who signs in with email and password."""
    from ..services import accounts

    password = sys.stdin.readline().rstrip("\r\n")
    user = accounts.create_user(email, password, role, store_code)
    click.echo(f"created {user.role} {user.email}")


@click.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the new password from standard input.")
@with_appcontext
@domain_errors
def set_password(email: str, password_stdin: bool) -> None:
    """Give a user a new password; every session they had ends."""
    from ..services import accounts

    password = sys.stdin.readline().rstrip("\r\n")
    user = accounts.set_password(accounts.find_user(email).id, password)
    click.echo(f"set a new password for {user.email}; their sessions have ended")


@click.command("create-api-key")
@click.argument("name")
@click.option("--scope", type=click.Choice([word.value for word in ApiScope]), required=True)
@with_appcontext
@domain_errors
def create_api_key(name: str, scope: str) -> None:
    """Make an API key; it is printed once, alone on the last line."""
    from ..services import accounts

    new = accounts.create_api_key(name, scope)
    click.echo(f"created {scope} key “{new.key.name}” (id {new.key.id}); store it now:")
    click.echo(new.secret)
