"""Helpers shared by the command modules: turn vadbench errors into a red message and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def fail_on_error(func: F) -> F:
    """Decorate a command so that a :class:`vadbench.errors.VadbenchError` prints its message and exits 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vadbench.errors import VadbenchError

        try:
            return func(*args, **kwargs)
        except VadbenchError as err:
            from rich.text import Text

            from vadbench.console import console

            console(stderr=True).print(Text("error: ", style="red") + Text(str(err)))
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]
