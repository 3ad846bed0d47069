"""Writing the evaluation's matplotlib figures: one place for the folder, the resolution and closing the figure."""
from __future__ import annotations

from pathlib import Path


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Lay out `fig`, write it to `path` (parent folders made) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
