"""Charts of the marketer's pages, drawn on the server as SVG by pygal: readable without
JavaScript, and in the page itself, so nothing is fetched from anywhere else.

pygal lays a chart out (scales, axes, labels) and writes its look as a <style> and its
tooltips as a <script> inside the SVG. The portal's Content-Security-Policy allows
neither inline, so both are taken out here and static/report.css gives the chart its
look. Each chart is drawn twice, for a phone and for a wide screen, and the stylesheet
shows the one that fits: a 30-day axis cannot keep readable labels at both widths.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pygal
from markupsafe import Markup
from pygal.style import Style

SVG = "http://www.w3.org/2000/svg"
ET.register_namespace("", SVG)
FONT = 13  # px in the chart's own units; static/report.css sets the same sizes
# (viewBox width, height, most day labels that fit) for each size drawn.
SIZES = {"narrow": (320, 230, 5), "wide": (860, 280, 12)}
STYLE = Style(font_family="system-ui, sans-serif", label_font_size=FONT, major_label_font_size=FONT,
              title_font_size=FONT, value_font_size=FONT, background="transparent",
              plot_background="transparent", colors=("#1f4fa8",))


def day_label(day: date) -> str:
    """3 Nov: a day with its month, as a chart's axis shows it."""
    return f"{day.day} {day:%b}"


def ticks(top: int) -> list[int]:
    """Whole-number steps from 0 past `top` (1, 2 or 5 times a power of ten), at most six."""
    top = max(top, 1)
    raw = top / 4
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return list(range(0, (math.ceil(top / step) + 1) * step, step))[: max(2, math.ceil(top / step) + 1)]


def _clean(svg: str, css_class: str) -> str:
    """The SVG without what the CSP refuses or a screen reader would read out: its
    <style>, <script>, inline styles, tooltips and descriptions; marked as a picture
    whose words are beside it."""
    root = ET.fromstring(svg)
    for parent in list(root.iter()):
        for child in list(parent):
            tag = child.tag.rsplit("}", 1)[-1]
            if (tag in ("defs", "script", "style", "desc", "title")
                    or "tooltip-overlay" in (child.get("class") or "")):
                parent.remove(child)
    for node in root.iter():
        node.attrib.pop("style", None)
    root.attrib.pop("id", None)
    root.set("class", f"chart-svg {css_class}")
    root.set("aria-hidden", "true")
    root.set("focusable", "false")
    return ET.tostring(root, encoding="unicode")


@dataclass(frozen=True)
class Chart:
    """A chart ready for the page: the SVG for each width, and its words."""

    narrow: Markup
    wide: Markup


def per_day_chart(points: Sequence[tuple[date, int]], y_title: str = "Redemptions") -> Chart:
    """A bar for each day: days (with their month) along the bottom, whole numbers up the side."""
    values = [n for _, n in points]
    scale = ticks(max(values, default=0))
    drawn = {}
    for size, (width, height, most_labels) in SIZES.items():
        every = max(1, math.ceil(len(points) / most_labels))
        chart = pygal.Bar(
            width=width, height=height, style=STYLE, js=[], css=[], show_legend=False,
            disable_xml_declaration=True, no_prefix=True, explicit_size=False,
            x_title="Day", y_title=y_title, y_labels=scale, range=(0, scale[-1]),
            show_minor_x_labels=False, x_labels_major_every=every, truncate_label=-1,
            show_x_guides=False, margin=8, spacing=4, value_formatter=lambda v: f"{v:,.0f}",
        )
        chart.x_labels = [day_label(day) for day, _ in points]
        chart.add(y_title, values)
        drawn[size] = Markup(_clean(chart.render(is_unicode=True), f"chart-{size}"))  # noqa: S704
    return Chart(drawn["narrow"], drawn["wide"])
