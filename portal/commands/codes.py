"""A pool and its codes: `portal create-pool`, `import-codes`, `generate-codes`, `assign-codes`."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from ..vocabulary import BarcodeFormat
from .exits import POOL_ID, domain_errors


class Moment(click.ParamType):
    """An ISO 8601 date or time; a date alone is the start of that day, or its last
    second with end_of_day."""

    name = "time"

    def __init__(self, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201
        from ..services.times import parse_moment

        try:
            return parse_moment(value, end_of_day=self.end_of_day)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time (2027-06-30T18:00+02:00).")


@click.command("create-pool")
@click.argument("name")
@click.option("--per-customer-limit", type=int)
@click.option("--valid-from", type=Moment())
@click.option("--valid-until", type=Moment(end_of_day=True))
@click.option("--low-stock-threshold", type=int)
@click.option("--benefit", help="What the customer gets, as the customer reads it.")
@click.option("--barcode-format", type=click.Choice([word.value for word in BarcodeFormat]))
@with_appcontext
@domain_errors
def create_pool(name: str, **options: Any) -> None:
    """Create a code pool; its id is printed alone on the last line."""
    from ..services import pools

    pool = pools.create_pool(name, **options)
    click.echo(f"created pool “{pool.name}”")
    click.echo(pool.id)


@click.command("import-codes")
@click.argument("pool_id", type=POOL_ID)
@click.argument("file", type=click.File("rb"))
@with_appcontext
@domain_errors
def import_codes(pool_id: int, file: Any) -> None:
    """Import a CSV or text file of codes into a pool (all of it or none)."""
    from ..services import imports, loading

    result = imports.import_codes(pool_id, file, source=getattr(file, "name", ""),
                                  wait=loading.WAIT_IN_BACKGROUND)
    click.echo(f"lines: {result.lines:,}")
    click.echo(f"imported: {result.imported:,}")
    click.echo(f"rejected: {result.rejected:,}")
    for reason, n in result.by_reason.items():
        click.echo(f"  {reason}: {n:,}")
    for rejection in result.rejections[:20]:
        click.echo(f"  line {rejection.line}: {rejection.reason}: {rejection.value!r}")
    if result.rejected > 20:
        click.echo(f"  … {result.rejected - 20:,} more rejected lines")
    for note in result.notes:
        click.echo(note)
    click.echo(f"pool now has {result.counts.available:,} available codes")


@click.command("generate-codes")
@click.argument("pool_id", type=POOL_ID)
@click.option("--count", type=click.IntRange(min=1), required=True)
@click.option("--length", type=int, help="Characters per code (the generator's default when left out).")
@click.option("--charset", default="alphanumeric", show_default=True,
              help="alphanumeric (no 0 O 1 I L), alphabetic, numeric, hex, or your own set.")
@click.option("--pattern", help="For example SUMMER-####-#### (# is a random character).")
@click.option("--prefix", default="")
@click.option("--postfix", default="")
@with_appcontext
@domain_errors
def generate_codes(pool_id: int, count: int, **spec: Any) -> None:
    """Generate unique random codes into a pool."""
    from ..services import generation, loading

    if spec["length"] is None:
        spec["length"] = generation.DEFAULT_LENGTH
    result = generation.generate_codes(pool_id, count, generation.Spec(**spec),
                                       wait=loading.WAIT_IN_BACKGROUND)
    click.echo(f"generated: {result.generated:,}")
    click.echo("sample: " + ", ".join(result.sample))
    click.echo(f"pool now has {result.counts.available:,} available codes")


@click.command("assign-codes")
@click.argument("pool_id", type=POOL_ID)
@click.argument("file", type=click.File("rb"))
@click.option("--on-send", is_flag=True,
              help="Add the customers to the campaign; their codes come with their messages.")
@with_appcontext
@domain_errors
def assign_codes(pool_id: int, file: Any, on_send: bool) -> None:
    """Assign codes to every customer in a CSV file."""
    from ..services import assignment

    result = assignment.assign_file(pool_id, file, now=not on_send)
    if on_send:
        click.echo(f"added to the campaign: {result.added:,}")
    click.echo(f"assigned: {result.assigned:,}")
    click.echo(f"already assigned: {result.already_assigned:,}")
    click.echo(f"failed: {result.failures:,}")
    for failure in result.failed[:20]:
        click.echo(f"  line {failure.line}: {failure.reason}: {failure.message}")
