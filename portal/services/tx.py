"""Transactions for services that write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Dialect, Executable, Result, text
from sqlalchemy.orm import Session

from ..extensions import SQLITE_BEGIN, db
from . import events


@contextmanager
def write_transaction() -> Iterator[Session]:
    """Run the block in one transaction that commits at the end or rolls back on error;
    the events it recorded are handled after the commit.

    On SQLite the transaction takes the write lock at BEGIN (waiting up to the busy
    timeout), so a service that reads and then writes never fails half-way. Called
    inside another write transaction, it joins that one.
    """
    session = db.session()
    pending, token = events.collecting()
    if pending is None:
        # Inside another write transaction: join it, which commits (and handles the
        # events) once, at the end of the outer one.
        yield session
        return
    try:
        try:
            if session.get_bind().dialect.name == "sqlite":
                if session.in_transaction():
                    # A read the caller made (loading the signed-in user, say) must not
                    # pin an old SQLite snapshot under this write.
                    session.commit()
                session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
            # PostgreSQL's read-committed transactions see each statement's latest data,
            # so an open one simply carries on (two round trips fewer on every write).
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    finally:
        events.stop_collecting(token)
    if pending:
        events.publish(pending)


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def lock_code_space(session: Session) -> None:
    """Serialize writers that add codes: codes are unique across every pool.

    SQLite already has one writer at a time; on PostgreSQL a transaction-scoped
    advisory lock keeps two imports from tripping over each other's new codes.
    """
    if is_postgresql():
        session.execute(text("SELECT pg_advisory_xact_lock(7263001)"))


def streamed(stmt: Executable, per: int) -> Result:
    """A big read's result, fetched `per` rows at a time (a server-side cursor on
    PostgreSQL, planned for the whole result rather than a cursor's first rows, which
    can walk the primary key through every other pool's codes)."""
    session = db.session()
    if is_postgresql():
        session.execute(text("SET LOCAL cursor_tuple_fraction = 1.0"))
    return session.execute(stmt.execution_options(yield_per=per))


def copied_text(stmt: Executable, per: int) -> Iterator[str]:
    """A one-column text query's values, joined `per` at a time, sent by PostgreSQL's
    `COPY … TO STDOUT` in the session's transaction: the server streams while Python
    writes, with no round trip per batch as a cursor's fetches have."""
    connection = db.session().connection()
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    with connection.connection.driver_connection.cursor() as cursor:
        # Bound already, and so sent as it is: its SQL must hold no `%` (the dialect would
        # have written it `%%`).
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["text"])
            batch: list[str] = []
            for (value,) in copy.rows():
                batch.append(value)
                if len(batch) >= per:
                    yield "".join(batch)
                    batch = []
            if batch:
                yield "".join(batch)


class DriverStatement:
    """A Core statement compiled once for a dialect and run on a driver cursor: for the
    statements a send runs for every message, hundreds of times a second, where
    SQLAlchemy's execution layers cost more than the database. Its parameters are bound
    through their types' own processors; its rows are read by position."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled).encode()  # what the driver would encode on every call
        if dialect.name == "sqlite":
            self.sql = self.sql.decode()  # sqlite3 takes text only
        # Each type as this dialect binds it (SQLite's DATETIME writes its own text).
        self.processors = {name: process for name, bind in compiled.binds.items()
                           if (process := bind.type.dialect_impl(dialect).bind_processor(dialect))
                           is not None}
        # The statement's own constants, bound once.
        self.defaults = {name: self.processors[name](value) if name in self.processors else value
                         for name, value in compiled.params.items()}
        self.order = compiled.positiontup if compiled.positional else None

    def parameters(self, values: dict) -> dict | list:
        """The driver's parameters for these values (and the statement's own constants)."""
        params = self.defaults.copy()
        for name, value in values.items():
            process = self.processors.get(name)
            params[name] = value if process is None else process(value)
        return params if self.order is None else [params[name] for name in self.order]

    def execute(self, cursor, values: dict):  # noqa: ANN001, ANN201 - a DB-API cursor
        cursor.execute(self.sql, self.parameters(values))
        return cursor
