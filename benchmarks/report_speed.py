"""Time `python -m fer_engine report` with 1,000 bootstrap resamples on a loso run of cnn.

Target: under 10 s on 2 CPU cores for a `loso` run of `cnn` on the 152-image
synthetic dataset, 1,000 bootstrap resamples.

Which run is timed, in order:
  --run PATH            that run folder;
  otherwise             the newest complete cnn/loso run on synthetic data in the runs folder
                        (fer_engine.experiments.runs.list_runs);
  --train               if there is none, train one first (run_experiment, cnn, loso, default
                        synthetic data; a few minutes on 2 cores) and time that;
  otherwise             a synthetic predictions table of 152 rows x 19 participants written as
                        a run folder (predictions drawn at random, NOT a trained model), said so
                        in the output.

Prints, per format (text, json, html): the wall time of a fresh `python -m fer_engine report`
process (imports included, the number to compare with the target) and, in-process, the time
to build the report and to render it.

    .venv/bin/python benchmarks/report_speed.py [--run PATH | --train] [--bootstrap 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def find_run() -> Path | None:
    from fer_engine.experiments.runs import list_runs

    runs = list_runs()
    if runs.empty:
        return None
    hits = runs[(runs["model"] == "cnn") & (runs["protocol"] == "loso") & runs["synthetic"]]
    return Path(hits.iloc[0]["path"]) if len(hits) else None


def synthetic_run(dest: Path) -> Path:
    from fer_engine.analytics.synthetic import (
        loso_folds,
        synthetic_config,
        synthetic_predictions,
        write_run_folder,
    )

    table = synthetic_predictions(accuracy=0.45, seed=0)
    return write_run_folder(
        dest / "synthetic-cnn-loso",
        table,
        synthetic_config(run_id="synthetic-cnn-loso"),
        loso_folds(table),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="run folder to time")
    ap.add_argument("--train", action="store_true", help="train a cnn/loso run if none exists")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--prevalence", default="fear=0.05")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="report_speed_"))
    source = "given"
    run = args.run
    if run is None:
        run = find_run()
        source = "newest cnn/loso run in the runs folder"
    if run is None and args.train:
        from fer_engine.experiments.spec import ExperimentSpec
        from fer_engine.experiments.training import run_experiment

        t = time.perf_counter()
        run = run_experiment(None, ExperimentSpec(model="cnn", protocol="loso"))
        source = f"trained now ({time.perf_counter() - t:.0f} s)"
    if run is None:
        run = synthetic_run(tmp)
        source = "SYNTHETIC PREDICTIONS (no trained cnn/loso run found; drawn at random)"

    from fer_engine.analytics.inputs import as_eval_run

    ev = as_eval_run(run)
    print(f"run: {run}\n  source: {source}")
    print(
        f"  {ev.model_name} / {ev.protocol_name}: {len(ev.predictions)} rows, "
        f"{ev.predictions['participant'].nunique()} participants; "
        f"bootstrap {args.bootstrap}; CPUs {os.cpu_count()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    rows = []
    for fmt in ("text", "json", "html"):
        out = tmp / f"report.{fmt}"
        cmd = [
            sys.executable,
            "-m",
            "fer_engine",
            "report",
            str(run),
            "--bootstrap",
            str(args.bootstrap),
            "--prevalence",
            args.prevalence,
            "--format",
            fmt,
            "--out",
            str(out),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True)
        cli = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        rows.append((fmt, cli, cpu, out.stat().st_size))

    from fer_engine.analytics.report import build_report, render

    t = time.perf_counter()
    report = build_report(run, prevalence=[args.prevalence], n_boot=args.bootstrap)
    build = time.perf_counter() - t
    render_times = {}
    for fmt in ("text", "json", "html"):
        t = time.perf_counter()
        render(report, fmt)
        render_times[fmt] = time.perf_counter() - t

    print(f"\nin-process build_report: {build:.2f} s")
    print(
        f"{'format':<8}{'CLI wall s':>12}{'CLI CPU s':>11}{'render s':>10}{'size':>12}"
        "  target: wall < 10 s"
    )
    for fmt, cli, cpu, size in rows:
        ok = "ok" if cli < 10 else "SLOW"
        print(
            f"{fmt:<8}{cli:>12.2f}{cpu:>11.2f}{render_times[fmt]:>10.2f}"
            f"{size / 1e6:>10.2f} MB  {ok}"
        )
    print(
        "CLI wall includes starting Python and importing pandas/scipy/scikit-learn/fairlearn; "
        "CPU s is that process's user+system time (less sensitive to a busy machine)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
