"""Results and Train as a clinician sees them, at a desk (1400 px) and on a phone (390 px):
a 19-person leave-one-subject-out run beside a LEAKY run of the same data. The page opens on
the honest run, its 19 folds' curves are summarised, nothing is wider than the screen.
Screenshots go to <test output>/browser/ (results_1400.png, results_phone.png,
train_1400.png, train_phone.png) to be looked at."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit_server import assert_no_errors, go, settle

from fer_engine.analytics.synthetic import (
    loso_folds,
    synthetic_config,
    synthetic_predictions,
    write_run_folder,
)

pytestmark = pytest.mark.browser

HONEST = "20260102-000000-cnn-loso-aaaa"
LEAKY = "20260103-000000-cnn-paper-bbbb"  # newer: the page must still open on HONEST
#: Window sizes: Streamlit scrolls inside its own container, so a window as tall as the
#: page is what shows all of it in a screenshot.
SIZES = {"results": {"1400": (1400, 7000), "phone": (390, 15000)},
         "train": {"1400": (1400, 2600), "phone": (390, 4000)}}


def curves(n_folds: int = 19, epochs: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(n_folds):
        stop = int(rng.integers(12, epochs + 1))  # early stopping: folds end at different epochs
        for e in range(1, stop + 1):
            acc = 0.5 - 0.35 * np.exp(-e / 6) + rng.normal(0, 0.02)
            rows.append((f, e, 1.9 * np.exp(-e / 8) + 0.4, acc + 0.1, 2.0 * np.exp(-e / 9) + 0.6,
                         acc, 1e-3 if e < 15 else 5e-4))
    return pd.DataFrame(rows, columns=["fold", "epoch", "loss", "accuracy", "val_loss",
                                       "val_accuracy", "learning_rate"])


def write_runs(runs) -> None:
    for run_id, protocol, accuracy, seed, created in (
        (HONEST, "loso", 0.41, 1, "2026-01-02T00:00:00"),
        (LEAKY, "paper", 0.93, 2, "2026-01-03T00:00:00"),
    ):
        pred = synthetic_predictions(accuracy=accuracy, seed=seed)
        config = synthetic_config(model="cnn", protocol=protocol, run_id=run_id)
        config["created"] = created
        write_run_folder(runs / run_id, pred, config, loso_folds(pred), curves(seed=seed))


def at_size(page, size: tuple[int, int]) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.wait_for_timeout(800)  # charts re-lay themselves out


def overflow(page) -> list[str]:
    """Elements of the page wider than the window (a sideways scroll on a phone)."""
    return page.evaluate("""() => {
        const w = window.innerWidth, out = [];
        if (document.documentElement.scrollWidth > w + 1) out.push('page ' + document.documentElement.scrollWidth);
        for (const el of document.querySelectorAll('.js-plotly-plot, [data-testid="stDataFrame"], [data-testid="stAlert"]')) {
            const r = el.getBoundingClientRect();
            if (r.right > w + 1) out.push(el.className || el.dataset.testid);
        }
        return out;
    }""")


def test_results_and_train_read_well_at_a_desk_and_on_a_phone(server, page, shots):
    write_runs(server["runs"])
    page.goto(server["url"])
    settle(page, "research dashboard")
    go(page, "Results")
    settle(page, "Downloads", timeout=180_000)
    assert_no_errors(page)
    body = page.inner_text("body")
    assert "cnn / loso" in body and "LEAKY" in body  # the contrast names the leaky run ...
    # ... but the page opened on the honest run: no red LEAKY banner
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert "Leakage contrast" in body
    for raw in ("n_images", "accuracy_low", "Wilson", "NaN", "None"):
        assert raw not in body, raw
    # 19 folds: the curves chart has a handful of legend entries, not one per fold and metric.
    # Streamlit loads plotly.js on first use, so on a cold server the charts are drawn a little
    # after the page's script has finished: wait for the curves chart itself.
    curves_chart = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(p =>
        ((p.layout || {}).title || {}).text?.includes('Training curves'))"""
    page.wait_for_function(f"() => ({curves_chart})().length > 0", timeout=60_000)
    legends = page.evaluate(f"""() => ({curves_chart})()
        .map(p => (p.data || []).filter(t => t.showlegend !== false).length)""")
    assert legends and max(legends) <= 8, legends
    for name, size in SIZES["results"].items():
        at_size(page, size)
        assert overflow(page) == [], name
        page.screenshot(path=str(shots / f"results_{name}.png"), full_page=True)

    at_size(page, SIZES["train"]["1400"])
    go(page, "Train")
    settle(page, "Finished runs")
    assert_no_errors(page)
    body = page.inner_text("body")
    assert "Run the buttons below act on" in body
    for name, size in SIZES["train"].items():
        at_size(page, size)
        assert overflow(page) == [], name
        page.screenshot(path=str(shots / f"train_{name}.png"), full_page=True)
