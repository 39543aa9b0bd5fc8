"""The ``lfe`` command: a thin shell over library calls.

One file per command, each parsing options into a settings record and calling one library function
(``lfe.workflows``, ``lfe.engine``, ``lfe.corpus``); the options several commands share are defined
once in ``options.py``. Subcommands are imported lazily, so ``lfe --help`` does not import torch.
Library errors (``LfeError``) become one-line click errors here, at the edge; anything else is a bug
and keeps its traceback. lfe's log (``logging.getLogger("lfe")``) is shown on stderr.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

SUBCOMMANDS = {
    "ablate": "lfe.cli.ablate:ablate",
    "check": "lfe.cli.check:check",
    "corpus": "lfe.cli.corpus:corpus",
    "models": "lfe.cli.models:models",
    "analyze": "lfe.cli.analyze:analyze",
    "demo": "lfe.cli.demo:demo",
    "evolve": "lfe.cli.evolve:evolve",
    "export": "lfe.cli.export:export",
    "import": "lfe.cli.export:import_regions",
    "extract": "lfe.cli.extract:extract",
    "info": "lfe.cli.info:info",
    "report": "lfe.cli.report:report",
    "steer": "lfe.cli.steer:steer",
}


class LazyGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # the OS cannot take a NUL byte in a path or a name; refuse it before any option sees it
        for arg in args:
            if "\x00" in arg:
                raise click.UsageError(
                    f"{arg!r} contains a NUL byte; pass the value without it", ctx
                )
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attribute = SUBCOMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(
    cls=LazyGroup,
    context_settings={"auto_envvar_prefix": "LFE", "help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="lfe")
def main() -> None:
    """lfe, the Lingua Franca Engine: where does a multilingual model keep each language?"""
    from lfe.cli.options import show_log

    show_log()


def run() -> None:
    """The ``lfe`` program: ``main``, with every Ctrl-C reaching the command (which keeps what it
    finished and exits with status 130), and none after it has finished (one while Python shuts
    down would only print a traceback from its clean-up)."""
    import signal
    import sys

    from lfe.cli import options

    options.AS_PROGRAM = True
    sys.unraisablehook = _interrupt_again
    try:
        main()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupt_again(unraisable: Any) -> None:
    """``sys.unraisablehook``: a Ctrl-C that landed in a clean-up callback (a weakref's, a
    ``__del__``), where Python would print it and go on, is delivered to the program again, from
    another thread a moment later (delivered at once, it would land in this hook itself)."""
    import _thread
    import sys
    import threading

    if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
        again = threading.Timer(0.05, _thread.interrupt_main)
        again.daemon = True
        again.start()
    else:
        sys.__unraisablehook__(unraisable)
