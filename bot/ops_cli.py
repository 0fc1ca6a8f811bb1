"""Operator commands that need no Discord: `status`, `models list/pull`, `export`, `backup`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.config import Config
from bot.startup import StartupError, masked_url

OPS_USAGE = "'status', 'models list', 'models pull [NAME...]', 'export USER_ID DIR', 'backup FILE'"


def is_ops_command(command: list[str]) -> bool:
    """Whether `command` (the words after `python -m bot`) is one of the operator commands here."""
    match command:
        case ["status"] | ["models", "list"] | ["models", "pull", *_] | ["export", _, _] | ["backup", _]:
            return True
    return False


def run_ops_command(command: list[str], config: Config) -> int:
    """Run one operator command; its exit code (problems it can name: one line on stderr and 2)."""
    from bot import data_cli, models_cli
    from bot.startup import hub_offline

    try:
        match command:
            case ["models", "list"]:
                return models_cli.list_models(config)
            case ["models", "pull", *names]:
                return models_cli.pull_models(config, names, offline=hub_offline())
            case ["export", user_id, out_dir]:
                return _export(config, user_id, Path(out_dir))
            case ["backup", target]:
                pages = data_cli.backup(config.database_url, Path(target))
                print(f"backed up {data_cli.sqlite_path(config.database_url)} to {target} ({pages} pages)")
                return 0
            case _:
                return asyncio.run(_status(config))
    except StartupError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2


def _export(config: Config, user_id: str, out_dir: Path) -> int:
    from bot import data_cli

    if not user_id.isdigit():
        raise StartupError(f"USER_ID must be a Discord user id (digits), got {user_id!r}")
    jobs, files = asyncio.run(data_cli.export_user(config, int(user_id), out_dir))
    print(f"exported {jobs} job(s) and {files} file(s) of user {user_id} to {out_dir}")
    return 0


async def _status(config: Config) -> int:
    """Print the queue, the workers and the health verdict from the database; exit 0 when healthy, 1 when not."""
    from sqlalchemy.exc import DBAPIError

    from bot.health import status_report
    from db.engine import make_engine
    from db.errors import QueueError
    from db.monitoring import snapshot

    engine = make_engine(config.database_url)
    try:
        snap = await snapshot(engine)
    except (QueueError, DBAPIError, OSError) as exc:
        reason = str(exc).splitlines()[0]
        raise StartupError(f"cannot read the database at {masked_url(config.database_url)} ({reason}): is it "
                           "migrated (`python -m bot db upgrade`) and reachable?") from None
    finally:
        await engine.dispose()
    ok, report = status_report(snap, config.queue.lease_seconds)
    print(report)
    return 0 if ok else 1
