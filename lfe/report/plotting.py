"""The plotting conventions every lfe figure shares: matplotlib without a display, one resolution,
titles prefixed with the checkpoint, integer layer axes. Public, so that a figure of one's own looks
like lfe's."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (imported on first use, so no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: Any, path: Path) -> Path:
    """Lay ``figure`` out, write it to ``path`` as PNG at lfe's resolution, and close it."""
    figure.tight_layout()
    figure.savefig(path, dpi=130)
    pyplot().close(figure)
    return path


def title(prefix: str, text: str) -> str:
    """``prefix: text``, or ``text`` without a prefix (the checkpoint's name, where one is
    shown)."""
    return f"{prefix}: {text}" if prefix else text


def layer_axis(axes: Any) -> None:
    """An x axis of whole layer numbers."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("layer")
