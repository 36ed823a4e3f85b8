"""`attend training export`, `attend model promote | show`: learning from verified values."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlmodel import Session

from attendance import training_data
from attendance.db import record_event, session_scope
from attendance.errors import ExitCode
from attendance.models import utcnow
from attendance.settings import Settings
from cli.common import CommandError, Commands, cli_actor, open_engine, print_json


def cmd_training_export(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with Session(engine) as session:
        crops = training_data.verified_crops(session)
    out = Path(args.file)
    if out.is_dir():
        raise CommandError(ExitCode.INVALID_INPUT, f"{out} is a folder: name a file")
    summary = training_data.write_export(crops, out)
    figures = {
        "file": str(out),
        "crops": summary.crops,
        "train": summary.train,
        "holdout": summary.holdout,
        "pages": summary.pages,
    }
    if args.json:
        print_json(figures)
    else:
        print(
            f"{out}: {summary.crops} verified digit crops from {summary.pages} pages "
            f"({summary.train} to train on, {summary.holdout} held out for `attend model "
            "promote`)"
        )
    return ExitCode.OK


def cmd_model_promote(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake import models

    candidate = Path(args.file)
    if not candidate.is_file():
        raise CommandError(ExitCode.NOT_FOUND, f"{candidate}: no such file")
    engine = open_engine(settings)
    with Session(engine) as session:
        held = [c for c in training_data.verified_crops(session) if c.split == "holdout"]
    plan = models.plan(
        settings.models_dir,
        candidate,
        [crop.png for crop in held],
        [int(crop.label) for crop in held],
    )
    if args.json:
        print_json(plan.to_json())
    else:
        print(f"candidate {plan.candidate.version}, in use {plan.current.version}")
        print(plan.heldout.line())
        print(plan.verified.line())
    if not plan.allowed:
        raise models.refusal(plan)
    with session_scope(engine) as session:
        path = models.install(settings.models_dir, plan, now=utcnow())
        record_event(
            session,
            actor=cli_actor(),
            entity="digit_model",
            entity_id=plan.candidate.version,
            action="promoted",
            before={"version": plan.current.version},
            after=plan.to_json(),
        )
    if not args.json:
        print(f"{plan.candidate.version} installed ({path}); pages read from now on use it")
    return ExitCode.OK


def cmd_model_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake import models

    reader = models.current_reader(settings.models_dir)
    installed = models.installed_model(settings.models_dir)
    promotions = models.history(settings.models_dir)
    data: dict[str, Any] = {
        "current": reader.version,
        "sha256": reader.sha256,
        "source": "installed" if installed else "shipped",
        "promotions": promotions,
    }
    if args.json:
        print_json(data)
    else:
        where = installed or "shipped with the program"
        print(f"in use: {reader.version} ({where})")
        for entry in promotions:
            print(
                f"  {entry['installed_at']} {entry['version']} replaced {entry['replaced']}: "
                f"held-out {entry['heldout']['right']}/{entry['heldout']['cells']}, "
                f"verified {entry['verified']['right']}/{entry['verified']['cells']}"
            )
    return ExitCode.OK


def register(commands: Commands) -> None:
    """Add these commands to the parser."""
    training = commands.group("training", "training data from verified values")
    p = commands.add(
        training,
        "export",
        cmd_training_export,
        "write the verified digit crops (label, model version, page hash; no names) to a ZIP",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true")
    model = commands.group("model", "the digit model pages are read with")
    p = commands.add(
        model,
        "promote",
        cmd_model_promote,
        "install a new digit model only if it is better on held-out real digits and on "
        "held-out verified crops",
    )
    p.add_argument("file", metavar="FILE.onnx")
    p.add_argument("--json", action="store_true")
    p = commands.add(model, "show", cmd_model_show, "the model in use and every promotion")
    p.add_argument("--json", action="store_true")
