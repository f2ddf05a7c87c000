"""Charts drawn on the server as inline SVG, each shown beside a table of the same numbers.

A small module of our own rather than a charting library: the dashboard needs two kinds
(columns per day, bars per category), and here they are plain markup that the page's CSP
allows (no script, no inline style: colours come from classes, so the stylesheet's light and
dark themes apply), that carries its own accessible name (`role="img"`, `<title>`,
`<desc>`), and that needs no dependency. Libraries such as pygal draw with inline styles and
scripts for tooltips, which the dashboard's CSP refuses. The table beside each chart is what
a screen reader or a browser without SVG reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 600, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 40
SERIES_CLASSES = 6


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart's numbers: a title, one label per category, and named series of values."""

    id: str
    title: str
    labels: tuple[str, ...]
    series: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        """The numbers as table rows: one per category, a value per series."""
        return [
            (label, [values[index] for _, values in self.series])
            for index, label in enumerate(self.labels)
        ]


def nice_top(value: int) -> int:
    """The top of the value axis: `value` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if value <= step * scale:
                return step * scale
        scale *= 10


def column_svg(chart: Chart) -> Markup:
    """Grouped columns, one group per label (say, a day), one column per series."""
    top = nice_top(max((max(values, default=0) for _, values in chart.series), default=0))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group = plot_width / max(1, len(chart.labels))
    column = group * 0.8 / max(1, len(chart.series))
    shapes: list[str] = _value_axis(top, plot_height)
    label_every = max(1, len(chart.labels) // 6)
    for index, label in enumerate(chart.labels):
        x0 = LEFT + index * group + group * 0.1
        for number, (name, values) in enumerate(chart.series):
            value = values[index]
            height = plot_height * value / top
            shapes.append(
                f'<rect class="series-{number % SERIES_CLASSES}" x="{x0 + number * column:.1f}" '
                f'y="{TOP + plot_height - height:.1f}" width="{max(column - 1, 1):.1f}" '
                f'height="{height:.1f}"><title>{escape(label)}: {value} {escape(name)}</title>'
                "</rect>"
            )
        if index % label_every == 0:
            shapes.append(f'<text x="{x0:.1f}" y="{HEIGHT - BOTTOM + 16}">{escape(label)}</text>')
    return _svg(chart, shapes)


def bar_svg(chart: Chart) -> Markup:
    """Horizontal bars, one per label, of the first series: counts by category."""
    values = chart.series[0][1] if chart.series else ()
    top = nice_top(max(values, default=0))
    row = (HEIGHT - TOP - 10) / max(1, len(chart.labels))
    label_width = 110
    plot_width = WIDTH - label_width - RIGHT - 50
    shapes: list[str] = []
    for index, (label, value) in enumerate(zip(chart.labels, values, strict=True)):
        y = TOP + index * row
        width = plot_width * value / top
        shapes += [
            f'<text x="0" y="{y + row * 0.65:.1f}">{escape(label)}</text>',
            f'<rect class="series-{index % SERIES_CLASSES}" x="{label_width}" '
            f'y="{y + row * 0.15:.1f}" width="{max(width, 0):.1f}" height="{row * 0.7:.1f}">'
            f"<title>{escape(label)}: {value}</title></rect>",
            f'<text x="{label_width + width + 6:.1f}" y="{y + row * 0.65:.1f}">{value}</text>',
        ]
    return _svg(chart, shapes)


def _value_axis(top: int, plot_height: int) -> list[str]:
    lines = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_height - plot_height * fraction
        lines.append(
            f'<line class="grid-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        lines.append(f'<text x="0" y="{y + 4:.1f}">{_short(top * fraction)}</text>')
    lines.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_height}"/>'
    )
    return lines


def _short(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _svg(chart: Chart, shapes: Sequence[str]) -> Markup:
    identifier = escape(chart.id)
    summary = "; ".join(f"{name}: {sum(values)} in all" for name, values in chart.series)
    return Markup(  # noqa: S704 (every text inside is escaped above)
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{identifier}-title {identifier}-desc" focusable="false">'
        f'<title id="{identifier}-title">{escape(chart.title)}</title>'
        f'<desc id="{identifier}-desc">{escape(summary)}. The table beside the chart holds '
        "every number.</desc>" + "".join(shapes) + "</svg>"
    )
