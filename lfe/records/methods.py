"""The peers' ways of choosing a language's neurons, as recorded beside the paper's z-score
regions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lfe.errors import Problem, SettingsError
from lfe.records.base import Record, negative, not_positive, refuse

if TYPE_CHECKING:
    from typing import Any

ZSCORE, LAPE, AP = "zscore", "lape", "ap"
METHODS = (ZSCORE, LAPE, AP)  # the paper's, Tang et al.'s, Kojima et al.'s
PEER_METHODS = (LAPE, AP)


@dataclass(frozen=True)
class PeerSettings(Record):
    """Which peer methods run and their parameters, each defaulting to its paper's value.

    The paper's z-score regions are always computed: they come from the same pass as the maps.
    """

    methods: tuple[str, ...] = ()  # of PEER_METHODS
    lape_top_rate: float = 0.01  # LAPE: the share of all neurons kept, lowest entropy first
    # LAPE: a neuron needs one probability above this quantile of all
    lape_filter_rate: float = 0.95
    lape_bar_ratio: float = 0.95  # LAPE: a kept neuron belongs to languages above this quantile
    ap_top_k: int = 1000  # AP: each language's neurons with the highest average precision
    shuffles: int = 20  # label shuffles for each method's chance level (0: none)

    def __post_init__(self) -> None:
        refuse(
            [
                Problem("methods", f"{method!r} is not one of {', '.join(METHODS)}, all")
                for method in self.methods
                if method not in PEER_METHODS
            ]
            + [
                Problem(name, f"must be in (0, 1], got {getattr(self, name)}")
                for name in ("lape_top_rate", "lape_filter_rate", "lape_bar_ratio")
                if not 0 < getattr(self, name) <= 1
            ]
            + not_positive(ap_top_k=self.ap_top_k)
            + negative(shuffles=self.shuffles)
        )

    @classmethod
    def parse(cls, chosen: tuple[str, ...], **parameters: Any) -> "PeerSettings":
        """From ``--method``'s names ("zscore", "lape", "ap", several of them, or "all")."""
        names = METHODS if chosen == ("all",) else chosen
        unknown = [name for name in names if name not in METHODS]
        if unknown or not names:
            message = (
                f"{','.join(chosen)!r} is not one of {', '.join(METHODS)}, all (or a comma list)"
            )
            raise SettingsError.of(Problem("methods", message))
        return cls(methods=tuple(name for name in PEER_METHODS if name in names), **parameters)
