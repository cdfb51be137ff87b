"""The ``vadbench`` command line: a thin typer app that parses, calls the library and prints.

Every command lives in a module of :mod:`vadbench.commands` that exposes ``register(apps)``; those modules
import only light things at top level (typer, pathlib) so that ``vadbench --help`` starts fast. Heavy
imports (numpy, pandas, torch, av, open_clip) happen inside the command functions.

Example:
    $ vadbench --help
"""

from __future__ import annotations

import importlib
import os
import sys

if not sys.stdout.isatty():  # help piped to a file or `less`: typer reads this width once, at its import
    os.environ.setdefault("TERMINAL_WIDTH", "160")

import typer
import typer.core


def _flag_type(self: typer.core.TyperOption, ctx: object) -> str | None:
    """Help shows the value type of options that take a value, not ``<bool>`` on every flag."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]

EXAMPLES = """
Examples (on the embedded synthetic dataset, no download):

  vadbench run --method vadclip

  vadbench leaderboard --dataset synthetic

  vadbench datasets list
"""

app = typer.Typer(
    name="vadbench",
    help="vadbench: a benchmark suite for video anomaly detection (VAD).\n" + EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from vadbench import __version__

        typer.echo(f"vadbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """vadbench: a benchmark suite for video anomaly detection (VAD)."""
    import warnings

    warnings.showwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A library warning reaches the user as one line, without a Python source line."""
    print(f"warning: {message}", file=file or sys.stderr)

datasets_app = typer.Typer(
    help="Dataset tools: check a layout, make the synthetic dataset.", no_args_is_help=True
)
gt_app = typer.Typer(help="Ground-truth frame labels under a named convention.", no_args_is_help=True)
methods_app = typer.Typer(help="The registered methods.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(gt_app, name="gt")
app.add_typer(methods_app, name="methods")

#: Sub-apps handed to each command module's ``register``.
APPS = {"root": app, "datasets": datasets_app, "gt": gt_app, "methods": methods_app}

#: Command modules, in help order. Each defines ``register(apps: dict[str, typer.Typer]) -> None``.
COMMAND_MODULES = (
    "run",
    "score",
    "compare",
    "leaderboard",
    "datasets",
    "extract",
    "world",
)

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"vadbench.commands.{_name}")
    except ModuleNotFoundError as _err:  # a command module not written yet
        if _err.name != f"vadbench.commands.{_name}":
            raise
        continue
    _module.register(APPS)


def main() -> None:
    """Entry point of the ``vadbench`` console script."""
    app()


if __name__ == "__main__":
    main()
