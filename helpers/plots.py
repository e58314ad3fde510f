"""Matplotlib figures for the notebooks. Each takes data (and an optional ``ax``) and returns the figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _numpy(tensor: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().float().numpy()
    return np.asarray(tensor, dtype=float)


def weight_histogram(before: torch.Tensor, after: torch.Tensor | None = None, bins: int = 80,
                     ax: Axes | None = None, title: str = "Weight magnitudes") -> Figure:
    """Histogram of weight values before (and after) pruning, on a log count axis.

    Pruned weights are exactly zero: the "after" histogram shows the gap L1 pruning cuts around
    zero and, separately, how many weights are zero.

    Args:
        before: Weights before pruning.
        after: Weights after pruning, or None.
        bins: Number of bins (shared by both histograms).
        ax: Axes to draw on; a new figure when None.
        title: Axes title.
    """
    fig, ax = _axes(ax, (7, 3.5))
    values = _numpy(before).ravel()
    edges = np.histogram_bin_edges(values, bins=bins)
    ax.hist(values, bins=edges, color="tab:blue", alpha=0.35,
            label=f"before ({np.mean(values == 0):.0%} zero)")
    if after is not None:
        pruned = _numpy(after).ravel()
        ax.hist(pruned[pruned != 0], bins=edges, histtype="step", linewidth=1.8, color="tab:orange",
                label=f"after, non-zero ({np.mean(pruned == 0):.0%} zero)")
    ax.set(yscale="log", xlabel="weight value", ylabel="count (log scale)", title=title)
    ax.legend()
    return fig


def mask_heatmap(mask: torch.Tensor, ax: Axes | None = None, title: str = "Pruning mask") -> Figure:
    """Show a 2-D mask (or weight) as an image: kept entries light, pruned (zero) entries dark.

    Conv masks are viewed as ``(out_channels, in_channels * kh * kw)``.
    """
    values = _numpy(mask)
    if values.ndim < 2:
        values = values.reshape(1, -1)
    values = values.reshape(values.shape[0], -1)
    fig, ax = _axes(ax, (7, 4))
    image = ax.imshow(values != 0, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set(xlabel="input index", ylabel="output index",
           title=f"{title} ({np.mean(values == 0):.1%} pruned)")
    fig.colorbar(image, ax=ax, ticks=[0, 1], label="0 = pruned, 1 = kept")
    return fig


def layer_sparsity_bars(sparsities: Mapping[str, float], ax: Axes | None = None,
                        title: str = "Sparsity per layer") -> Figure:
    """Bar chart of ``{layer name: sparsity}`` (fractions in [0, 1]), shown in percent."""
    fig, ax = _axes(ax, (7, 3.5))
    names, values = list(sparsities), [100 * float(v) for v in sparsities.values()]
    bars = ax.bar(names, values, color="tab:blue")
    ax.bar_label(bars, fmt="%.1f%%")
    ax.set(ylim=(0, 105), ylabel="sparsity (% zeros)", xlabel="layer", title=title)
    ax.yaxis.set_major_formatter(PercentFormatter())
    return fig


def tradeoff_curve(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                   sizes: tuple[Sequence[float], Sequence[float]] | None = None,
                   ax: Axes | None = None, title: str = "Accuracy vs sparsity") -> Figure:
    """Accuracy against sparsity for one or more runs, with model size on a second axis.

    Args:
        curves: ``{label: (sparsities, accuracies)}``, both as fractions in [0, 1].
        sizes: Optional ``(sparsities, sizes in bytes)``, drawn dashed on a right-hand axis in kB.
        ax: Axes to draw on; a new figure when None.
        title: Axes title.
    """
    fig, ax = _axes(ax, (7, 4))
    for label, (sparsity, accuracy) in curves.items():
        ax.plot(100 * np.asarray(sparsity), 100 * np.asarray(accuracy), marker="o", label=label)
    ax.set(xlabel="sparsity (% of weights pruned)", ylabel="test accuracy (%)", title=title)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if sizes is not None:
        size_ax = ax.twinx()
        line, = size_ax.plot(100 * np.asarray(sizes[0]), np.asarray(sizes[1]) / 1e3, "k--",
                             marker="s", alpha=0.6, label="sparse file size")
        size_ax.set(ylabel="file size (kB)", ylim=(0, None))
        handles, labels = handles + [line], labels + [line.get_label()]
    ax.legend(handles, labels, loc="lower left")
    return fig


def size_bars(sizes: Mapping[str, float], ax: Axes | None = None,
              title: str = "Serialized size") -> Figure:
    """Horizontal bars of ``{label: size in bytes}`` on a log axis in kB, each bar labelled with its size.

    The log axis keeps a 30 kB file and a 1,000 kB one both readable; the labels carry the values,
    and the bars run top to bottom in the order given.
    """
    if not sizes or any(not float(v) > 0 for v in sizes.values()):
        raise ValueError(f"sizes must map labels to positive sizes in bytes, got {dict(sizes)!r}")
    fig, ax = _axes(ax, (7, 0.45 * len(sizes) + 1.2))
    labels, kb = list(sizes), [float(v) / 1e3 for v in sizes.values()]
    bars = ax.barh(labels, kb, color="tab:green")
    ax.bar_label(bars, labels=[f"{v:,.1f} kB" for v in kb], padding=3)
    ax.set_xscale("log")
    ax.set_xlim(min(kb) / 2, max(kb) * 4)
    ax.invert_yaxis()
    ax.set(xlabel="size (kB, log scale)", ylabel="storage", title=title)
    return fig


def speedup_bars(predicted: Mapping[str, float], measured: Mapping[str, float], ax: Axes | None = None,
                 title: str = "Speed-up: what MACs predict vs what the clock says",
                 intervals: Mapping[str, tuple[float, float]] | None = None) -> Figure:
    """Grouped bars of ``{label: speed-up}``: predicted (from MAC counts) beside measured, each labelled.

    ``intervals`` (``{label: (low, high)}``, e.g. from ``timing.compare``) draws the measured
    speed-ups' intervals as error bars.
    """
    if set(predicted) != set(measured) or (intervals is not None and set(intervals) != set(measured)):
        raise ValueError(f"predicted, measured (and intervals) must have the same labels, got "
                         f"{sorted(predicted)} and {sorted(measured)}")
    fig, ax = _axes(ax, (8, 3.5))
    labels = list(predicted)
    x = np.arange(len(labels))
    bars = ax.bar(x - 0.2, [predicted[k] for k in labels], width=0.4, label="MAC ratio", color="tab:gray")
    ax.bar_label(bars, fmt="%.2fx")
    errors = None if intervals is None else np.array(
        [[measured[k] - intervals[k][0] for k in labels], [intervals[k][1] - measured[k] for k in labels]])
    bars = ax.bar(x + 0.2, [measured[k] for k in labels], width=0.4, label="measured", color="tab:blue",
                  yerr=errors, capsize=4 if errors is not None else 0)
    ax.bar_label(bars, fmt="%.2fx", padding=2)
    ax.axhline(1, color="k", lw=0.8)
    ax.set_xticks(x, [label.replace(", ", "\n", 1) for label in labels])  # two lines: labels stay apart
    ax.set(ylabel="speed-up over dense (x)", xlabel="smaller model", title=title)
    ax.margins(y=0.15)
    ax.legend()
    return fig


def sensitivity_curves(scan: Mapping[str, Mapping[float, float]], dense_accuracy: float | None = None,
                       ax: Axes | None = None,
                       title: str = "Sensitivity: one layer pruned at a time") -> Figure:
    """Accuracy against the sparsity of one layer, one line per layer (``{layer: {sparsity: accuracy}}``).

    ``dense_accuracy`` (a fraction), if given, is drawn as a dotted line.
    """
    fig, ax = _axes(ax, (7, 4))
    for layer, curve in scan.items():
        sparsities = sorted(curve)
        ax.plot([100 * s for s in sparsities], [100 * curve[s] for s in sparsities], marker="o", label=layer)
    if dense_accuracy is not None:
        ax.axhline(100 * dense_accuracy, color="k", ls=":", lw=1, label="dense")
    ax.set(xlabel="sparsity of that layer alone (% of its weights pruned)", ylabel="accuracy (%)",
           title=title)
    ax.xaxis.set_major_formatter(PercentFormatter())
    ax.grid(alpha=0.3)
    ax.legend(title="layer pruned")
    return fig
