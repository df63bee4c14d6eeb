"""Training folds on Ray: one worker against two, and a 2-node cluster on loopback.

Prints a table: the cnn's leave-one-subject-out run of the synthetic demo data (19 folds,
``--epochs`` epochs, default 5) on a local Ray with 1 and with 2 workers (goal: at least
1.6x faster with 2 on 2 cores), the transfer model's LOSO the same two ways, and the cnn run
again on a 2-node Ray cluster started on this machine's loopback addresses (each node 1
CPU), with whether its predictions equal the 1-worker run's; and a study of 4 session videos
(``sessions analyse``) with 1 and 2 workers. Also the local Ray's start-up
time and its idle memory (resident set of its processes, before any work).

    python benchmarks/scale.py [--epochs 5] [--skip-cluster] [--skip-transfer] [--skip-sessions]

Pre-processing is cached on disk and warmed first: the figures time the folds. Other busy
processes on the machine slow the figures down (the load average is printed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def ray_rss_mib() -> float:
    """Resident memory of this machine's Ray processes (raylet, GCS, workers...), MiB."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            if b"ray" not in cmd or b"benchmarks/scale.py" in cmd:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def predictions(run: Path):
    import pandas as pd

    frame = pd.read_csv(run / "predictions.csv")
    return frame[["sample_id", "pred"] + [c for c in frame if c.startswith("p_")]]


def timed_run(spec, workers: int, out: Path):
    from fer_engine import execution
    from fer_engine.experiments.training import run_experiment

    execution.shutdown()
    t = time.perf_counter()
    engine = execution.get_engine(workers=workers)
    start_s = time.perf_counter() - t
    idle = ray_rss_mib()
    t = time.perf_counter()
    run = run_experiment(None, spec, out_dir=out, execution=engine)
    wall = time.perf_counter() - t
    execution.shutdown()
    return run, wall, start_s, idle


def session_rows(out: Path) -> list[tuple]:
    """A study of 4 videos (60 s of a real face at 640x480, 25 frames/s, every 5th frame
    analysed) with 1 and 2 workers; each time into a new results folder (no cache)."""
    sys.path.insert(0, str(REPO / "tests"))
    from live_clips import clip_frames, write_video

    from fer_engine import execution
    from fer_engine.sessions.analyse import StudySettings, analyse_study

    study = out / "study"
    study.mkdir(exist_ok=True)
    frames = clip_frames(1500)
    lines = ["path,patient,session"]
    for i in range(4):
        write_video(study / f"s{i + 1}.avi", frames[i:] + frames[:i], fps=25)
        lines.append(f"s{i + 1}.avi,P1,{i + 1}")
    (study / "sessions.csv").write_text("\n".join(lines) + "\n")
    rows, walls, labels = [], {}, {}
    for workers in (1, 2):
        execution.shutdown()
        t = time.perf_counter()
        result = analyse_study(study, out / f"study-out-{workers}", StudySettings(step=5),
                               execution={"workers": workers})
        walls[workers] = time.perf_counter() - t
        labels[workers] = [r.shares.share.round(6).tolist() for r in result.sessions]
        video_s = sum(r.seconds for r in result.sessions)
        rows.append(("4 session videos (60 s each)", f"local Ray, {workers} worker(s)",
                     f"{walls[workers]:.1f}", "", "",
                     f"{video_s / walls[workers]:.1f}x real time"))
    execution.shutdown()
    rows.append(("4 session videos (60 s each)", "speed-up 2 vs 1 workers",
                 f"{walls[1] / walls[2]:.2f}x", "", "",
                 "identical shares" if labels[1] == labels[2] else "DIFFERENT shares"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--skip-transfer", action="store_true")
    parser.add_argument("--skip-sessions", action="store_true")
    args = parser.parse_args()

    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import default_dataset_path
    from fer_engine.execution.loopback import LoopbackCluster
    from fer_engine.experiments.spec import ExperimentSpec
    from fer_engine.models import create
    from fer_engine.preprocess import prepare_dataset

    dataset = load_dataset(default_dataset_path())
    for family in ("cnn", "transfer"):
        prepare_dataset(dataset, create(family, dataset.labels, weights="none").input_spec)
    out = Path(tempfile.mkdtemp(prefix="fer-scale-"))
    rows = []
    cnn = ExperimentSpec(model="cnn", protocol="loso", epochs=args.epochs)
    specs = [("cnn LOSO", cnn)]
    if not args.skip_transfer:
        specs.append(("transfer LOSO", ExperimentSpec(model="transfer", protocol="loso")))
    first = {}
    for name, spec in specs:
        walls = {}
        for workers in (1, 2):
            run, wall, start_s, idle = timed_run(spec, workers, out)
            walls[workers] = wall
            first.setdefault((name, workers), run)
            rows.append((name, f"local Ray, {workers} worker(s)", f"{wall:.1f}",
                         f"{start_s:.1f}", f"{idle:.0f}", ""))
        same = predictions(first[(name, 1)]).equals(predictions(first[(name, 2)]))
        rows.append((name, "speed-up 2 vs 1 workers", f"{walls[1] / walls[2]:.2f}x", "", "",
                     "identical" if same else "DIFFERENT"))
    if not args.skip_sessions:
        rows += session_rows(out)
    if not args.skip_cluster:
        with LoopbackCluster(nodes=2, cpus_per_node=1) as cluster:
            t = time.perf_counter()
            cli = subprocess.run(
                [sys.executable, "-m", "fer_engine", "train", "--model", "cnn", "--protocol",
                 "loso", "--epochs", str(args.epochs), "--out", str(out)],
                env={**cluster.env, "FER_RAY_ADDRESS": cluster.address}, cwd=REPO,
                capture_output=True, text=True)
            wall = time.perf_counter() - t
        if cli.returncode != 0:
            print(cli.stderr[-2000:], file=sys.stderr)
            return 1
        run = Path(cli.stdout.strip().splitlines()[-1])
        same = predictions(run).equals(predictions(first[("cnn LOSO", 1)]))
        rows.append(("cnn LOSO", "2-node loopback cluster (CLI process)", f"{wall:.1f}",
                     f"{cluster.start_s:.1f}", "", "identical" if same else "DIFFERENT"))

    head = ("training", "where", "wall s", "Ray start s", "Ray idle MiB", "predictions vs 1 worker")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    print(f"\nload average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; runs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
