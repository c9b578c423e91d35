"""Best-so-far plots: one small PNG per function, the median log10 regret of each sampler over
evaluations with its interquartile band."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt


def plot_function(
    function: str, by_sampler: Mapping[str, npt.NDArray[np.float64]], path: Path
) -> None:
    """`by_sampler` maps a sampler label to its (seeds, evaluations) log10-regret curves."""
    # matplotlib costs about a second to import: only a run that writes figures pays it.
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede pyplot's import
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.0, 3.4), dpi=80)
    for label, c in by_sampler.items():
        if c.size == 0:
            continue
        # inf (no successful evaluation yet) would break the band: clip to the plot's top.
        # NaN pads runs shorter than the longest (a sampler given fewer evaluations).
        finite = np.where(np.isfinite(c), c, np.nan)
        top = float(np.nanmax(finite)) if np.isfinite(finite).any() else 0.0
        c = np.where(np.isposinf(c), top, c)
        x = np.arange(1, c.shape[1] + 1)
        q25, med, q75 = np.nanpercentile(c, [25, 50, 75], axis=0)
        n_full = int(np.sum(~np.isnan(c[:, -1])))
        n_text = f"n={c.shape[0]}" if n_full == c.shape[0] else f"n={c.shape[0]}, {n_full} to end"
        (line,) = ax.plot(x, med, label=f"{label} ({n_text})", linewidth=1.3)
        ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.18, linewidth=0)
    ax.set_title(f"{function}: best-so-far, median and IQR")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("log10 simple regret")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
