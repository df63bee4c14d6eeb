"""`python -m fer_engine train-pretrained`: train (or resume) the shipped FER2013 model.

Run it again with the same arguments to resume after the last completed epoch;
`--export` writes artifacts/pretrained/ (model + card) from the checkpoint.
"""

from __future__ import annotations

import argparse
from dataclasses import fields


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fer_engine.pretrained_training import PretrainConfig

    d = PretrainConfig()
    p.add_argument("--data", default=d.data, help="FER2013 class-folder root with train/ and public_test/")
    p.add_argument("--work-dir", default=d.work_dir, help="checkpoints (resumable)")
    p.add_argument("--out", dest="out_dir", default=d.out_dir, help="where the exported model and card go")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--widths", type=lambda s: tuple(int(v) for v in s.split(",")), default=d.widths)
    p.add_argument("--repeats", type=lambda s: tuple(int(v) for v in s.split(",")), default=d.repeats)
    p.add_argument("--mixed-precision", choices=["auto", "bf16", "off"], default=d.mixed_precision)
    p.add_argument("--stop-after", type=int, default=None,
                   help="stop after this many epochs in this invocation (resume later)")
    p.add_argument("--export", action="store_true",
                   help="after training, export the model and write the model card")


def run(args: argparse.Namespace) -> int:
    from fer_engine import pretrained_training as pt

    names = {f.name for f in fields(pt.PretrainConfig)}
    cfg = pt.PretrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    X, y, Xv, yv, info = pt.load_fer2013(cfg)
    model, state = pt.train(cfg, X, y, Xv, yv, stop_after=args.stop_after)
    if args.export:
        if state["epoch"] < cfg.epochs:
            print(f"not exporting: only {state['epoch']} of {cfg.epochs} epochs are done")
            return 1
        path = pt.export(model, cfg, state, cfg.out_dir)
        print(f"exported {path}")
        from fer_engine.model_card import write_card

        json_path, md_path = write_card(cfg.out_dir, cfg.data, cfg.val_split, data_info=info)
        print(f"wrote the model card {md_path} and {json_path}")
    return 0
