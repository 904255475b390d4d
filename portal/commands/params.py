"""Option types that read their choices from the models only when a command runs, so
that `portal --help` stays quick."""

from __future__ import annotations

import click


class EnumChoice(click.Choice):
    """One of a model enum's values (`EnumChoice("Transport")`), read on first use."""

    def __init__(self, enum_name: str) -> None:
        self.enum_name = enum_name
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from .. import models

        return tuple(member.value for member in getattr(models, self.enum_name))

    @choices.setter
    def choices(self, _value: object) -> None:
        pass  # click.Choice sets them in __init__; they come from the enum instead
