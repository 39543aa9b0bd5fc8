"""lm-evaluation-harness tasks under deactivation: the harness's own Hugging Face model class
(``HFLM``) wrapped around the loaded model, each task run with a region's mask live, so any task the
harness has (XStoryCloze, XNLI, XCOPA, Belebele, PAWS-X, or the user's own YAML) scores each region.

The harness is optional (``pip install 'lfe[eval]'``). It tokenizes and batches as it always does
(its own special-token policy, not the store's), so its numbers compare with published ones.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable

from lfe.errors import LfeError, Problem, listing

EXTRA = "pip install 'lfe[eval]'"


def harness() -> Any:
    """The ``lm_eval`` package, or a one-line error naming the extra that installs it."""
    try:
        import lm_eval
        import lm_eval.models.huggingface  # noqa: F401  (HFLM needs the harness's hf extra: torch, transformers)
    except ImportError:
        problem = Problem("lm_eval", f"needs lm-evaluation-harness, an optional extra: {EXTRA}")
        raise LfeError.of(problem) from None
    return lm_eval


class HarnessRunner:
    """The harness bound to one loaded model and a set of tasks, checked to exist before anything
    runs."""

    def __init__(
        self,
        model,
        tokenizer,
        tasks: tuple[str, ...],
        *,
        limit: int | None = None,
        include: str | None = None,
        seed: int = 0,
    ):
        lm_eval = harness()
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager

        self.lm_eval, self.tasks, self.limit, self.seed = lm_eval, list(tasks), limit, seed
        self.manager = TaskManager(include_path=include) if include else TaskManager()
        unknown = [task for task in tasks if task not in self.manager.all_tasks]
        if unknown:
            sentence = (
                f"{listing(unknown)}: lm-evaluation-harness has no such task"
                + (f" (nor {include})" if include else "")
                + "; 'lm_eval ls tasks' lists them, `lm_eval_include` adds a folder of your own"
                " task YAMLs"
            )
            raise LfeError.of(Problem("lm_eval", sentence))
        self.model = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1)

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"lm-eval {version('lm_eval')}"

    def scores(self, live: Callable[[], Any] = nullcontext) -> dict[str, float]:
        """{"task metric": value} of every task, evaluated inside ``live()`` (a region's mask)."""
        with live():
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
