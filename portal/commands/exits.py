"""Exit codes of the `portal` commands, the one place a refusal becomes one, and the
argument that names a pool."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from ..vocabulary import ID_MAX

# Exit codes, so scripts can tell refusals apart.
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4

# A pool's id: a number past the column's range names no pool (PostgreSQL would refuse
# the query), so it is bad input (exit 2) before the database sees it.
POOL_ID = click.IntRange(1, ID_MAX)


def domain_errors(command: Callable) -> Callable:
    """Turn a service's refusal into a message on stderr and a distinct exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..services.errors import Conflict, DomainError, InvalidInput, MalformedFile, NotFound

        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            click.echo(f"error: {exc.reason}: {exc.message}", err=True)
            if isinstance(exc, InvalidInput | MalformedFile):
                sys.exit(EXIT_BAD_INPUT)
            if isinstance(exc, NotFound):
                sys.exit(EXIT_NOT_FOUND)
            if isinstance(exc, Conflict):
                sys.exit(EXIT_CONFLICT)
            sys.exit(EXIT_REFUSED)

    return wrapper
