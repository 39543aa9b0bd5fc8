"""lm-evaluation-harness tasks under deactivation: the harness's own Hugging Face model class
(``HFLM``) wrapped around the loaded model, each task run with a region's mask live, so any task the
harness has (XStoryCloze, XNLI, XCOPA, Belebele, PAWS-X, or the user's own YAML) scores each region.

The harness is optional (``pip install 'lfe[eval]'``). It tokenizes and batches as it always does
(its own special-token policy, not the store's), so its numbers compare with published ones.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from lfe.errors import LfeError, Problem, listing

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

EXTRA = "pip install 'lfe[eval]'"
# lfe's own task configs (the paper's cross-lingual XStoryCloze), found beside the harness's
LFE_TASKS = Path(__file__).with_name("harness_tasks")


def harness() -> Any:
    """The ``lm_eval`` package, or a one-line error naming the extra that installs it."""
    try:
        import lm_eval
        import lm_eval.models.huggingface  # noqa: F401  (HFLM needs the harness's hf extra: torch, transformers)
    except ImportError:
        problem = Problem("lm_eval", f"needs lm-evaluation-harness, an optional extra: {EXTRA}")
        raise LfeError.of(problem) from None
    return lm_eval


@contextmanager
def _harness_failures(tasks: list[str]) -> Iterator[None]:
    """What the harness raises while it runs the tasks (a dataset it cannot load, a task config it
    cannot read) as one ``LfeError`` naming the tasks and the harness's own reason."""
    try:
        yield
    except LfeError:
        raise
    except Exception as error:  # noqa: BLE001 - the harness and datasets raise any type for a bad task or dataset
        why = (str(error).strip().splitlines() or [""])[-1] or type(error).__name__
        sentence = f"{listing(tasks)}: lm-evaluation-harness failed ({type(error).__name__}: {why})"
        raise LfeError.of(Problem("lm_eval", sentence)) from None


def _yaml_signature(include: str | None) -> tuple[tuple[str, int], ...]:
    """The YAMLs of ``include`` with their modification times: an edited folder is indexed again."""
    if include is None:
        return ()
    return tuple(
        sorted((str(path), path.stat().st_mtime_ns) for path in Path(include).rglob("*.y*ml"))
    )


@functools.lru_cache(maxsize=4)
def _task_manager(
    include: str | None,
    signature: tuple[tuple[str, int], ...],
    metadata: tuple[tuple[str, str], ...],
    harness_tasks: bool,
) -> Any:
    """The index of lfe's tasks and ``include``'s, with the harness's own where ``harness_tasks``,
    kept for the same folder contents and metadata (indexing the harness's thousands of YAMLs takes
    seconds: about 14 on 2 cores)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(
        include_path=[str(LFE_TASKS), *([include] if include else [])],
        include_defaults=harness_tasks,
        metadata=dict(metadata) or None,
    )


def _self_contained(index: dict[str, Any], tasks: list[str]) -> bool:
    """Whether ``tasks``, and every task their groups name (recursively), are entries of
    ``index``; False for a tag (it gathers its tasks from every index) and for an index this code
    cannot read (another harness version)."""
    todo, seen = list(tasks), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        entry = index.get(name)
        config = getattr(entry, "cfg", None) or {}
        tag = getattr(getattr(entry, "kind", None), "name", None) == "TAG"
        if entry is None or tag or not isinstance(config, dict):
            return False
        members = config.get("task", []) if "group" in config else []
        for member in members if isinstance(members, list) else [members]:
            named = member.get("task") if isinstance(member, dict) else member
            if not isinstance(named, str):
                return False
            todo.append(named)  # a task of the index, or a new one of this group's (then False)
    return True


def _built_tasks(tasks: list[str], include: str | None, metadata: dict[str, str] | None) -> Any:
    """The task manager that builds ``tasks`` (configs read, datasets loaded): lfe's and
    ``include``'s alone when they hold every task their groups name, else with the harness's
    own."""
    from lm_eval.tasks import get_task_dict

    key = (include, _yaml_signature(include), tuple(sorted((metadata or {}).items())))
    manager = _task_manager(*key, harness_tasks=False)
    if not _self_contained(getattr(manager, "task_index", {}), tasks):
        manager = _task_manager(*key, harness_tasks=True)
    unknown = [task for task in tasks if task not in manager.all_tasks]
    if unknown:
        sentence = (
            f"{listing(unknown)}: lm-evaluation-harness has no such task"
            + (f" (nor {include})" if include else "")
            + "; 'lm_eval ls tasks' lists them, `lm_eval_include` adds a folder of your own"
            " task YAMLs"
        )
        raise LfeError.of(Problem("lm_eval", sentence))
    with _harness_failures(tasks):
        get_task_dict(tasks, manager)
    return manager


class HarnessRunner:
    """The harness bound to one loaded model and a set of tasks, checked to exist before anything
    runs."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        tasks: tuple[str, ...],
        *,
        limit: int | None = None,
        include: str | None = None,
        metadata: dict[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        lm_eval = harness()
        from lm_eval.models.huggingface import HFLM

        self.lm_eval, self.tasks, self.limit, self.seed = lm_eval, list(tasks), limit, seed
        # built once here, so a task that cannot run fails before any other evaluation has spent
        # its time
        self.manager = _built_tasks(self.tasks, include, metadata)
        self.model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1)

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"lm-eval {version('lm_eval')}"

    def scores(self, live: Callable[[], Any] = nullcontext) -> dict[str, float]:
        """{"task metric": value} of every task, evaluated inside ``live()`` (a region's mask)."""
        with live(), _harness_failures(self.tasks):
            results = self.lm_eval.simple_evaluate(
                model=self.model,
                tasks=self.tasks,
                task_manager=self.manager,
                limit=self.limit,
                log_samples=False,
                bootstrap_iters=0,
                random_seed=self.seed,
                numpy_random_seed=self.seed,
                torch_random_seed=self.seed,
                fewshot_random_seed=self.seed,
            )
        return {
            f"{task} {metric.partition(',')[0]}": float(value)
            for task, metrics in results["results"].items()
            for metric, value in metrics.items()
            if isinstance(value, (int, float))
            and not isinstance(value, bool)
            and "stderr" not in metric
            and metric != "sample_len"
        }
