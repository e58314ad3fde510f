"""Plots render to a file, draw on a given axes, and label what they show."""

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from helpers import plots

MASK = (torch.rand(30, 40, generator=torch.Generator().manual_seed(0)) > 0.7).float()


@pytest.mark.parametrize("draw", [
    lambda ax: plots.weight_histogram(torch.randn(500), torch.randn(500) * MASK.flatten()[:500], ax=ax),
    lambda ax: plots.mask_heatmap(MASK, ax=ax),
    lambda ax: plots.mask_heatmap(torch.ones(4, 2, 3, 3), ax=ax),
    lambda ax: plots.layer_sparsity_bars({"fc1": 0.9, "fc2": 0.5, "fc3": 0.1}, ax=ax),
    lambda ax: plots.size_bars({"dense": 1_066_000, "sparse (CSR)": 230_000}, ax=ax),
    lambda ax: plots.tradeoff_curve({"L1": ([0, 0.5, 0.9], [0.97, 0.96, 0.8])},
                                    sizes=([0, 0.5, 0.9], [1e6, 6e5, 2e5]), ax=ax),
    lambda ax: plots.speedup_bars({"50%": 2.1, "70%": 3.6}, {"50%": 1.9, "70%": 3.0}, ax=ax),
])
def test_plot_renders_on_given_axes(draw, tmp_path):
    fig, ax = plt.subplots()
    assert draw(ax) is fig
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    fig.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1_000
    plt.close(fig)


def test_plots_make_their_own_figure_without_axes(tmp_path):
    fig = plots.tradeoff_curve({"a": ([0, 0.5], [0.9, 0.8]), "b": ([0, 0.5], [0.9, 0.85])})
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]
    fig.savefig(tmp_path / "curve.png")
    plt.close(fig)


def test_mask_heatmap_title_reports_pruned_fraction():
    fig = plots.mask_heatmap(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    assert "75.0% pruned" in fig.axes[0].get_title()
    plt.close(fig)


def test_size_bars_are_horizontal_on_a_log_axis_with_every_value_printed(tmp_path):
    sizes = {"dense float32": 1_066_000, "CSR, 95%": 130_000, "compact, 50% units + 90%": 31_000}
    fig = plots.size_bars(sizes, title="LeNet")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == list(sizes)
    assert sorted(t.get_text() for t in ax.texts) == sorted(["1,066.0 kB", "130.0 kB", "31.0 kB"])
    widths = [patch.get_width() for patch in ax.patches]
    assert widths == [1066.0, 130.0, 31.0]
    fig.savefig(tmp_path / "sizes.png")
    plt.close(fig)
    with pytest.raises(ValueError, match="sizes must map labels to positive sizes"):
        plots.size_bars({"empty": 0})


def test_speedup_bars_draw_intervals_as_error_bars():
    fig = plots.speedup_bars({"a": 2.0}, {"a": 1.5}, intervals={"a": (1.2, 1.8)})
    bars = [c for c in fig.axes[0].containers if hasattr(c, "errorbar")]
    assert [c.errorbar is not None for c in bars] == [False, True], "only the measured bars carry intervals"
    plt.close(fig)
    with pytest.raises(ValueError, match="same labels"):
        plots.speedup_bars({"a": 2.0}, {"a": 1.5}, intervals={"b": (1.0, 2.0)})


def test_speedup_bars_label_both_bars_and_refuse_mismatched_labels():
    fig = plots.speedup_bars({"a": 2.0, "b": 4.0}, {"a": 1.5, "b": 3.0})
    labels = sorted(text.get_text() for text in fig.axes[0].texts)
    assert labels == ["1.50x", "2.00x", "3.00x", "4.00x"]
    plt.close(fig)
    with pytest.raises(ValueError, match="same labels"):
        plots.speedup_bars({"a": 2.0}, {"b": 1.5})


def test_sensitivity_curves_draw_one_line_per_layer():
    fig, ax = plt.subplots()
    scan = {"fc1": {0.5: 0.96, 0.9: 0.9}, "fc2": {0.9: 0.7, 0.5: 0.95}}
    assert plots.sensitivity_curves(scan, 0.97, ax=ax) is fig
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"fc1", "fc2", "dense"}
    assert list(lines["fc2"].get_xdata()) == [50, 90], "sparsities sorted, in percent"
    assert list(lines["fc2"].get_ydata()) == pytest.approx([95, 70])
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    plt.close(fig)
