"""The chart geometry of the HTML report: where a value lands is where the reader looks for it."""

from __future__ import annotations

import itertools
import math

from harness.reports.html.charts import (
    Scale,
    forest_axis,
    forest_mark,
    labelled_ticks,
    nice_ticks,
    phase_chart,
    strip_chart,
)

MIB = 1024**2


def test_byte_axes_tick_at_round_binary_units() -> None:
    assert nice_ticks(0, 13.3 * MIB, binary=True) == [0.0, 5 * MIB, 10 * MIB]
    assert nice_ticks(-12, 12) == [-10.0, 0.0, 10.0]


def test_phase_chart_shows_memory_rising_and_falling_back() -> None:
    # spike keeps 100 KiB (peak 120 KiB), drain frees 60 KiB, after_drain changes nothing.
    kib = 1024.0
    chart = phase_chart(
        "t",
        [
            (
                "v",
                "variant",
                [("spike", 100 * kib, 120 * kib), ("drain", -60 * kib, 10 * kib), ("after_drain", 0.0, 0.0)],
            )
        ],
    )
    assert chart is not None
    spike, drain, after = chart.series[0].marks
    # SVG y grows downwards: higher memory is a smaller y.
    assert spike.level_y < drain.level_y == after.level_y < chart.base_y
    assert spike.peak_y < spike.level_y
    # The drain's peak is 10 KiB above the level the spike left: above the spike's level, below its peak.
    assert spike.peak_y < drain.peak_y < spike.level_y
    height = chart.base_y - spike.level_y
    assert math.isclose((chart.base_y - drain.level_y) / height, 0.4, abs_tol=0.02)
    assert [c.label for c in chart.columns] == ["spike", "drain", "after_drain"]
    assert phase_chart("one phase", [("v", "variant", [("only", 1.0, 1.0)])]) is None


def test_strip_chart_puts_every_replicate_on_one_axis() -> None:
    chart = strip_chart(
        "alloc", "alloc_bytes", [("a", "baseline", [(100.0, "r0"), (100.0, "r1")]), ("b", "candidate", [(200.0, "r0")])]
    )
    a, b = chart.rows
    assert len(a.dots) == 2 and len(b.dots) == 1
    assert a.dots[0].x == a.dots[1].x < b.dots[0].x
    assert a.dots[0].y != a.dots[1].y  # equal values are spread so both can be counted
    assert a.summary == "100 B ±0%" and b.summary == "200 B ±0%"
    assert chart.zero_x is None and a.dots[0].x > chart.plot_left


def test_forest_marks_sit_around_zero_and_open_when_unbounded() -> None:
    axis, scale = forest_axis([(10.0, 8.0, 12.0), (-3.0, -4.0, -2.0)], 5.0)
    up = forest_mark(scale, 10.0, 8.0, 12.0)
    down = forest_mark(scale, -3.0, -4.0, -2.0)
    assert up is not None and down is not None
    assert axis.zero < up.low < up.point < up.high
    assert down.low < down.point < down.high < axis.zero
    assert axis.band_low < axis.zero < axis.band_high
    assert not (up.open_low or up.open_high)
    unbounded = forest_mark(scale, 1.0, -math.inf, math.inf)
    assert unbounded is not None and unbounded.open_low and unbounded.open_high
    assert up.off_scale == down.off_scale == unbounded.off_scale == 0


def test_a_change_beyond_the_axis_is_marked_off_scale_with_its_value() -> None:
    # A +1202 % row beside small ones: the axis stops at ±100 %, the row says where it went.
    _, scale = forest_axis([(1202.0, 1190.0, 1214.0), (2.0, 1.0, 3.0)], 5.0)
    far = forest_mark(scale, 1202.0, 1190.0, 1214.0)
    below = forest_mark(scale, -250.0, -260.0, -240.0)
    near = forest_mark(scale, 2.0, 1.0, 3.0)
    assert far is not None and below is not None and near is not None
    assert scale.hi < 120 and (far.off_scale, far.value) == (1, "+1202%")
    assert (below.off_scale, below.value) == (-1, "-250%")
    assert (near.off_scale, near.value) == (0, "")


def test_tick_labels_never_repeat_however_narrow_the_range() -> None:
    # 2.0062 to 2.0088 in eight ticks, printed with three places, reads 2.008 twice.
    def fmt(value: float) -> str:
        return f"{value:.3f}"

    assert len({fmt(t) for t in nice_ticks(2.0062, 2.0088, 8)}) < len(nice_ticks(2.0062, 2.0088, 8))
    ticks = labelled_ticks(2.0062, 2.0088, fmt, 8)
    labels = [label for _, label in ticks]
    assert labels and len(set(labels)) == len(labels)
    assert len(ticks) >= 2 and all(2.0062 <= value <= 2.0088 for value, _ in ticks)
    # A range no label can tell apart gets one tick.
    assert len(labelled_ticks(2.00801, 2.00802, fmt, 4)) == 1


def test_commit_labels_thin_out_to_never_overlap_and_keep_the_steps() -> None:
    from harness.reports.html.history_axis import LABEL_GAP, LEFT, RIGHT, spaced

    x = Scale(0, 199, LEFT, RIGHT)
    # 200 commits on 470 px: about one in six has room; the steps' commits always do, even
    # two steps side by side give way to each other only where they would overlap.
    steps = [57, 58, 120]
    kept = spaced(range(200), x, LABEL_GAP, first=steps)
    assert kept == sorted(kept) and {57, 120} <= set(kept)
    gaps = [x(b) - x(a) for a, b in itertools.pairwise(kept)]
    assert min(gaps) >= LABEL_GAP
    assert 25 <= len(kept) <= (RIGHT - LEFT) / LABEL_GAP + 1
    # Where every commit has room, every commit is labelled.
    few = Scale(0, 30, LEFT, RIGHT)
    assert spaced(range(31), few, LABEL_GAP) == list(range(31))
