"""`python -m fer_engine train-pretrained`: train (or resume) the shipped FER2013 model.

Run it again with the same arguments to resume after the last completed epoch;
`--export` writes artifacts/pretrained/ (model + card) from the checkpoint.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from fer_engine.commands import argtypes as at


def add_arguments(p: argparse.ArgumentParser) -> None:
    from fer_engine.pretrained.training import CLI_OPTIONS, PretrainConfig

    d = PretrainConfig()
    p.add_argument("--data", default=d.data, help="FER2013 class-folder root with train/ and public_test/")
    p.add_argument("--epochs", type=at.positive_int, default=d.epochs,
                   help="length of the cosine schedule (a resumed run may change it)")
    helps = {
        "work_dir": "working checkpoint, resumable (outside the repository)",
        "out_dir": "where the exported model and card go",
        "repo_checkpoint": "compact resumable checkpoint kept in the repository ('' for none)",
        "mixed_precision": "auto | bf16 | off",
        "gamma": "random gamma exp(±G) of training faces (0: off)",
        "contrast": "random contrast change up to ±C (0: off)",
        "blur": "Gaussian blur, sigma up to B pixels of the 48x48 face (0: off)",
        "low_res": "shrink faces by up to this share of their side and back (0: off)",
        "noise": "Gaussian noise, sd up to N on pixels in [0, 1] (0: off)",
        "jpeg_quality": "JPEG re-compression at quality Q-95 (0: off)",
        "photometric_p": "probability of each photometric lever per face (default 0.5)",
        "mixup": "mixup, Beta(A, A) weights (0: off)",
        "cutmix": "cutmix, Beta(A, A) box areas (0: off)",
        "mix_p": "probability that a batch is mixed (default 1.0)",
        "ema": "moving average of the weights, decay per step; exported when on (0: off)",
    }
    for name, flag in CLI_OPTIONS:
        value = getattr(d, name)
        kind = type(value[0]) if isinstance(value, tuple) else type(value)
        convert = (lambda s, k=kind: tuple(k(v) for v in s.split(","))) if isinstance(value, tuple) \
            else kind
        p.add_argument(flag, dest=name, type=convert, default=value,
                       help=helps.get(name, f"default {value}"))
    p.add_argument("--stop-after", type=at.positive_int, default=None,
                   help="stop after this many epochs in this invocation (resume later)")
    p.add_argument("--export", action="store_true",
                   help="after training, export the model and write the model card")
    p.add_argument("--no-bn-recalibration", action="store_true",
                   help="export with the batch-norm statistics of the augmented training batches "
                        "(default: re-estimate them on the un-augmented training faces)")


def run(args: argparse.Namespace) -> int:
    from fer_engine.pretrained import training as pt

    names = {f.name for f in fields(pt.PretrainConfig)}
    cfg = pt.PretrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    X, y, Xv, yv, info = pt.load_fer2013(cfg)
    model, state = pt.train(cfg, X, y, Xv, yv, stop_after=args.stop_after)
    if args.export:
        if state["epoch"] < cfg.epochs:
            print(f"not exporting: only {state['epoch']} of {cfg.epochs} epochs are done")
            return 1
        path = pt.export(model, cfg, state, cfg.out_dir,
                         recalibrate_on=None if args.no_bn_recalibration else X)
        print(f"exported {path}")
        from fer_engine.pretrained.card import write_card

        json_path, md_path = write_card(cfg.out_dir, cfg.data, cfg.val_split, data_info=info)
        print(f"wrote the model card {md_path} and {json_path}")
    return 0
