"""`attend review ...` (the queue, its decisions, the web app) and `attend users`."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlmodel import Session, select

from attendance import decisions, evidence, qa, review_queue
from attendance.db import session_scope
from attendance.errors import ExitCode
from attendance.settings import Settings
from cli.common import (
    CommandError,
    Commands,
    cli_actor,
    find_sheet_arg,
    load_reading,
    open_engine,
    print_json,
    reviewer_of,
    reviewer_option,
)
from forms.serial import format_serial


def _item_line(view: review_queue.ItemView) -> str:
    where = " ".join(
        part
        for part in (
            format_serial(view.serial) if view.serial else None,
            view.field_name or view.flag_code,
            view.date.strftime("%a %Y-%m-%d") if view.date else None,
        )
        if part
    )
    if view.field_name:
        what = f"machine {view.machine_value or 'blank'}"
        if view.confidence is not None:
            what += f" ({view.confidence:.2f}{', ' + view.reason if view.reason else ''})"
        if view.value != view.machine_value:
            what += f", now {view.value or 'blank'}"
        if view.authorized:
            what += f"; authorized {view.authorized}"
        if view.other_time:
            what += f"; other time {view.other_time}"
        what += f"; version {view.version}"
    elif view.flag_code:
        what = f"[{view.severity}] {view.message}"
    elif view.suggestions:
        what = "suggestions: " + ", ".join(format_serial(s) for s in view.suggestions)
    else:
        what = ""
    return f"#{view.id:<6} {view.kind:<17} due {view.deadline}  {where}  {what}".rstrip()


def _group(text: str | None) -> tuple[str, str | None] | None:
    if not text:
        return None
    kind, _, value = text.partition(":")
    if kind not in ("time", "mark", "signature") or not _:
        raise CommandError(ExitCode.USAGE, "--group is KIND:VALUE, e.g. time:07:30 or mark:blank")
    return kind, None if value in ("", "blank") else value


def cmd_review_next(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    ids = review_queue.claim_items(
        engine, reviewer=reviewer_of(args), limit=args.limit, group=_group(args.group)
    )
    with Session(engine) as session:
        views = [review_queue.describe_item(session, i) for i in ids]
    if args.json:
        print_json([v.to_json() for v in views])
    elif not views:
        print("the review queue is empty")
    else:
        for view in views:
            print(_item_line(view))
    return ExitCode.OK


def cmd_review_sheet(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    serial = None
    if args.serial:
        with Session(engine) as session:
            serial = find_sheet_arg(session, args.serial).serial
    claim = review_queue.claim_sheet(engine, reviewer=reviewer_of(args), serial=serial)
    if claim is None:
        if args.json:
            print_json(None)
        else:
            print("no sheet is waiting for review" + (f" ({args.serial})" if serial else ""))
        return ExitCode.OK
    with Session(engine) as session:
        views = [review_queue.describe_item(session, i) for i in claim.item_ids]
    if args.json:
        print_json({"serial": claim.serial, "items": [v.to_json() for v in views]})
    else:
        print(f"sheet {format_serial(claim.serial)}: {len(views)} to decide, top to bottom")
        for view in views:
            print(_item_line(view))
    return ExitCode.OK


def cmd_review_stats(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with Session(engine) as session:
        stats = review_queue.queue_stats(session)
    if args.json:
        print_json(stats)
        return ExitCode.OK
    print(
        f"sheets received {stats['sheets_received']}, needing review "
        f"{stats['sheets_needing_review']}; open items {stats['open_items']}, "
        f"decisions {stats['decisions']}"
    )
    for kind, count in stats["by_kind"].items():
        print(f"  {kind:<18} {count}")
    return ExitCode.OK


def cmd_review_show(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with Session(engine) as session:
        view = review_queue.describe_item(session, args.item)
        if args.crop:
            Path(args.crop).write_bytes(evidence.item_evidence_png(session, args.item))
    if args.json:
        print_json(view.to_json())
    else:
        print(_item_line(view))
    return ExitCode.OK


def _decision_line(decision: decisions.Decision) -> str:
    value = f" -> {decision.value or 'blank'}" if decision.resolution == "corrected" else ""
    return f"#{decision.item_id} {decision.resolution}{value}; sheet {decision.sheet_status}"


def cmd_review_accept(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    if len(args.items) == 1:
        made = [
            decisions.accept_item(
                engine,
                args.items[0],
                reviewer=reviewer_of(args),
                version=args.version,
                reason=args.reason,
            )
        ]
    else:
        if args.version is not None:
            raise CommandError(ExitCode.USAGE, "--version goes with one item")
        made = decisions.accept_items(
            engine, args.items, reviewer=reviewer_of(args), reason=args.reason
        )
    for decision in made:
        print(_decision_line(decision))
    return ExitCode.OK


def cmd_review_correct(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    decision = decisions.correct_item(
        engine,
        args.item,
        args.value,
        reviewer=reviewer_of(args),
        version=args.version,
        reason=args.reason,
    )
    print(_decision_line(decision))
    return ExitCode.OK


def cmd_review_key(args: argparse.Namespace, settings: Settings) -> ExitCode:
    values = {}
    for pair in args.values:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CommandError(ExitCode.USAGE, f"{pair!r} is not FIELD=VALUE")
        values[name.strip()] = value
    engine = open_engine(settings)
    decision = decisions.correct_page(
        engine, args.item, values, reviewer=reviewer_of(args), reason=args.reason
    )
    print(_decision_line(decision))
    return ExitCode.OK


def cmd_review_identify(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from intake.identify import identify_item

    engine = open_engine(settings)
    reading = load_reading(settings)
    decision = identify_item(
        engine,
        args.item,
        args.serial,
        reviewer=reviewer_of(args),
        store_dir=settings.store_dir,
        reading=reading,
        model_version=reading.reader.version,
    )
    print(
        f"#{decision.item_id} identified as {format_serial(decision.value or '')}; "
        f"sheet {decision.sheet_status}"
    )
    return ExitCode.OK


def cmd_review_release(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    review_queue.release_item(engine, args.item, reviewer=reviewer_of(args))
    print(f"#{args.item} back in the queue")
    return ExitCode.OK


def cmd_review_groups(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with Session(engine) as session:
        found = review_queue.groups(session, minimum=args.minimum)
    if args.json:
        print_json(
            [
                {"field_kind": g.field_kind, "machine_value": g.machine_value, "count": g.count}
                for g in found
            ]
        )
    else:
        for g in found:
            print(f"{g.count:>5}  {g.field_kind}:{g.machine_value or 'blank'}")
    return ExitCode.OK


def cmd_review_qa(args: argparse.Namespace, settings: Settings) -> ExitCode:
    engine = open_engine(settings)
    with Session(engine) as session:
        report = qa.qa_report(session)
    if args.json:
        print_json(report)
        return ExitCode.OK
    print(
        f"QA sample rate {report['sample_rate']:.1%}: {report['sampled']} fields drawn, "
        f"{report['reviewed']} reviewed"
    )
    for kind, row in report["by_kind"].items():
        rate = "n/a" if row["error_rate"] is None else f"{row['error_rate']:.2%}"
        low, high = row["error_95"]
        print(
            f"  {kind:<10} {row['wrong']}/{row['reviewed']} wrong = {rate} "
            f"(95% interval {low:.2%} to {high:.2%})"
        )
    return ExitCode.OK


def cmd_review_serve(args: argparse.Namespace, settings: Settings) -> ExitCode:
    import ipaddress

    open_engine(settings)  # the schema must be current before the server starts
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback and not args.behind_https:
        raise CommandError(
            ExitCode.UNSAFE_CONFIGURATION,
            f"refusing to serve on {args.host} over plain http: passwords and session cookies "
            "would cross the network in clear. Put it behind an https proxy and pass "
            "--behind-https, or serve on 127.0.0.1",
        )
    from review_ui.app import UnsafeProxySetting, forwarded_allow_ips, serve

    try:
        proxies = forwarded_allow_ips(args.forwarded_allow_ips, behind_https=args.behind_https)
    except UnsafeProxySetting as exc:
        raise CommandError(ExitCode.UNSAFE_CONFIGURATION, str(exc)) from None
    except ValueError as exc:
        raise CommandError(ExitCode.USAGE, str(exc)) from None
    print(f"attend: serving on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    serve(
        settings,
        host=args.host,
        port=args.port,
        secure_cookies=args.behind_https,
        trusted_proxies=proxies,
    )
    return ExitCode.OK


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CommandError(ExitCode.USAGE, "no terminal to ask for the password: --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandError(ExitCode.INVALID_INPUT, "the two passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from review_ui.auth import InvalidUser, add_user

    password = _read_password(args)
    engine = open_engine(settings)
    try:
        with session_scope(engine) as session:
            user = add_user(
                session,
                username=args.username,
                password=password,
                role=args.role,
                provider_id=args.provider,
                display_name=args.name or "",
                actor=cli_actor(),
            )
            name, role = user.username, user.role
    except InvalidUser as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from None
    print(f"attend: user {name} added ({role})", file=sys.stderr)
    return ExitCode.OK


def cmd_users_set_password(args: argparse.Namespace, settings: Settings) -> ExitCode:
    """An admin resets a user's password; the user's open sessions end."""
    from attendance.models import User
    from review_ui.auth import InvalidUser, normalize_username, update_user

    password = _read_password(args)
    engine = open_engine(settings)
    name = normalize_username(args.username)
    try:
        with session_scope(engine) as session:
            user = session.exec(select(User).where(User.username == name)).first()
            if user is None:
                raise CommandError(ExitCode.NOT_FOUND, f"no user {name}")
            update_user(session, user, actor=cli_actor(), password=password)
    except InvalidUser as exc:
        raise CommandError(ExitCode.INVALID_INPUT, str(exc)) from None
    print(f"attend: password of {name} set; their sessions were ended", file=sys.stderr)
    return ExitCode.OK


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> ExitCode:
    from attendance.models import User

    engine = open_engine(settings)
    with session_scope(engine) as session:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "provider_id": u.provider_id,
                "display_name": u.display_name,
                "active": u.active,
            }
            for u in session.exec(select(User).order_by(User.username)).all()
        ]
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            state = "" if row["active"] else "  (inactive)"
            provider = f"  provider {row['provider_id']}" if row["provider_id"] else ""
            print(f"{row['username']:<24} {row['role']:<9}{provider}{state}")
    return ExitCode.OK


def register(commands: Commands) -> None:
    """Add these commands to the parser."""
    review_commands = commands.group("review", "work the review queue")
    p = commands.add(review_commands, "next", cmd_review_next, "claim the next items of the queue")
    p.add_argument("--limit", type=int, default=5, metavar="N", help="items to claim (5)")
    p.add_argument(
        "--group",
        metavar="KIND:VALUE",
        help="only field items the machine read as VALUE (time:07:30, mark:blank)",
    )
    p.add_argument("--json", action="store_true")
    reviewer_option(p)
    p = commands.add(
        review_commands,
        "sheet",
        cmd_review_sheet,
        "claim the next sheet that needs a person (or SERIAL): all its items, top to bottom",
    )
    p.add_argument("serial", nargs="?", metavar="SERIAL")
    p.add_argument("--json", action="store_true")
    reviewer_option(p)
    p = commands.add(
        review_commands, "stats", cmd_review_stats, "what is left: sheets, items, decisions"
    )
    p.add_argument("--json", action="store_true")
    p = commands.add(review_commands, "show", cmd_review_show, "one item, and its evidence image")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("--crop", metavar="FILE.png", help="write the field's evidence crop here")
    p.add_argument("--json", action="store_true")
    p = commands.add(review_commands, "accept", cmd_review_accept, "confirm items as they are")
    p.add_argument("items", type=int, nargs="+", metavar="ITEM")
    p.add_argument("--version", type=int, metavar="N", help="the field version you looked at")
    p.add_argument("--reason", metavar="TEXT", help="needed to accept a red flag")
    reviewer_option(p)
    p = commands.add(review_commands, "correct", cmd_review_correct, "give a field its right value")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("value", metavar="VALUE", help="07:30, 7:30pm, blank, marked, signed")
    p.add_argument("--version", type=int, metavar="N", help="the field version you looked at")
    p.add_argument("--reason", metavar="TEXT")
    reviewer_option(p)
    p = commands.add(
        review_commands, "key", cmd_review_key, "key a page that could not be registered"
    )
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("values", nargs="*", metavar="FIELD=VALUE", help="unnamed fields are blank")
    p.add_argument("--reason", metavar="TEXT")
    reviewer_option(p)
    p = commands.add(review_commands, "identify", cmd_review_identify, "say which sheet a page is")
    p.add_argument("item", type=int, metavar="ITEM")
    p.add_argument("serial", metavar="SERIAL")
    reviewer_option(p)
    p = commands.add(review_commands, "release", cmd_review_release, "give a claimed item back")
    p.add_argument("item", type=int, metavar="ITEM")
    reviewer_option(p)
    p = commands.add(
        review_commands, "groups", cmd_review_groups, "machine readings shared by items"
    )
    p.add_argument("--minimum", type=int, default=2, metavar="N")
    p.add_argument("--json", action="store_true")
    p = commands.add(
        review_commands, "qa", cmd_review_qa, "the measured error of auto-accepted fields"
    )
    p.add_argument("--json", action="store_true")
    p = commands.add(
        review_commands, "serve", cmd_review_serve, "run the web app (review, mailroom, look-up)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (8080)")
    p.add_argument(
        "--behind-https",
        action="store_true",
        help="an https proxy is in front: cookies are Secure; allows a non-loopback --host",
    )
    p.add_argument(
        "--forwarded-allow-ips",
        default="",
        metavar="LIST",
        help="with --behind-https: the proxy addresses or networks (comma-separated) whose "
        "X-Forwarded-For/-Proto are believed (default none: the peer address counts)",
    )

    user_commands = commands.group("users", "web app users and their roles")
    p = commands.add(user_commands, "add", cmd_users_add, "add a user (the first admin, say)")
    p.add_argument("username", metavar="USERNAME")
    p.add_argument("--role", required=True, choices=["admin", "mailroom", "reviewer", "provider"])
    p.add_argument("--provider", metavar="ID", help="the provider a provider user belongs to")
    p.add_argument("--name", metavar="TEXT", help="the name shown in the app")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p = commands.add(
        user_commands, "set-password", cmd_users_set_password, "reset a user's password"
    )
    p.add_argument("username", metavar="USERNAME")
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    p = commands.add(user_commands, "list", cmd_users_list, "list users and roles")
    p.add_argument("--json", action="store_true")
