"""Every view is readable in the light and the dark theme.

Each panel is saved as a screenshot per theme (test-artifacts/browser/theme_*), and
the text a user reads is checked against the WCAG contrast ratio over the colour
actually behind it.
"""

from __future__ import annotations

import pytest

from tests.browser import netviz_logs
from tests.browser.conftest import open_dashboard, save_artifact

PANELS = {
    "toolbar": ".toolbar",
    "alerts": ".alerts-panel",
    "layers": ".layers-panel",
    "heatmap": ".heatmap-panel",
    "bars": ".bars-panel",
    "detail": ".detail-panel",
    "attention": ".attention-panel",
}

# Text the views show, by selector; SVG text is coloured by `fill`.
TEXT = [
    ".toolbar label span",
    ".step-label",
    ".refresh-note",
    ".notes p",
    "h2",
    "h3",
    ".alert-kind",
    ".alert-step",
    ".alert-layer",
    ".layer-name",
    ".badge",
    ".legend span",
    ".swatch-item",
    ".bar-label",
    ".bar-value",
    ".bar-axis .tick",
    ".bar-key .muted",
    ".hint",
    ".chart-title",
    ".chart-tick",
    ".chart-box figcaption",
    ".link-button",
    ".att-label",
    ".att-corner",
    ".att-readout",
    ".feature-maps-box p",
]

# WCAG 2 contrast of every visible element matching a selector over the first opaque
# background behind it; returns the worst few.
CONTRAST = """
(selectors) => {
  const rgba = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.9)) return c;
    }
    return rgba(getComputedStyle(document.body).backgroundColor);
  };
  const found = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      const box = el.getBoundingClientRect();
      if (!box.width || !box.height || !el.textContent.trim()) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none') continue;
      const colour = el instanceof SVGElement ? style.fill : style.color;
      const a = lum(rgba(colour)), b = lum(background(el));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      found.push({ selector, text: el.textContent.trim().slice(0, 30), colour, ratio });
    }
  }
  return found.sort((x, y) => x.ratio - y.ratio);
}
"""
MIN_CONTRAST = 4.5


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_view_is_readable_in_the_theme(new_page, tensorboard, theme):
    watched = new_page(color_scheme=theme)
    page = open_dashboard(watched, tensorboard, "deep")
    page.locator(".attention-panel .att-label").first.wait_for()
    page.locator(f".layer-item[data-layer='{netviz_logs.FEATURE_MAP_LAYER}']").click()
    page.wait_for_function("document.querySelector('img.feature-maps').naturalWidth > 0")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(255, 255, 255)" if theme == "light" else "rgb(32, 33, 36)")
    for name, selector in PANELS.items():
        panel = page.locator(selector)
        panel.scroll_into_view_if_needed()
        save_artifact(panel, f"theme_{theme}_{name}.png")
    checked = page.evaluate(CONTRAST, TEXT)
    assert len({c["selector"] for c in checked}) >= 20, "too few of the views' texts were found"
    unreadable = [c for c in checked if c["ratio"] < MIN_CONTRAST]
    assert unreadable == [], f"text below {MIN_CONTRAST}:1 contrast in the {theme} theme: {unreadable[:8]}"
    assert watched.errors == []
