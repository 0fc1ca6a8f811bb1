"""Composition root: `python -m bot` (bot + embedded worker), `python -m bot worker`, `python -m bot db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import Config, ConfigError, export_compile_cache, load_config
from bot.logs import adopt_library_logging, setup_logging
from bot.ops_cli import OPS_USAGE, is_ops_command, run_ops_command
from bot.pruner import Pruner
from bot.startup import StartupError, check_local, login, secrets

log = logging.getLogger("bot")
EMBEDDED_SWITCH_INTERVAL_S = 0.001  # how long a thread may hold the GIL while another waits (Python's default: 5 ms)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="imagine-bot: a Midjourney-style Discord bot")
    parser.add_argument("--config", help="config file (default: IMAGINE_CONFIG or ./config.toml)")
    parser.add_argument("command", nargs="*", help=f"nothing (run the bot), 'worker', 'db upgrade', {OPS_USAGE}")
    args = parser.parse_args(argv)
    if args.command not in ([], ["worker"], ["db", "upgrade"]) and not is_ops_command(args.command):
        parser.error(f"unknown command {' '.join(args.command)!r}; use nothing, 'worker', 'db upgrade', {OPS_USAGE}")
    return args


def _engine_factory(config: Config):
    """The model loads lazily, in the worker's generation thread, the first time a job needs it."""

    if config.model.compile:
        export_compile_cache(config)

    def load(model: str, lora: str = ""):
        import time

        from bot import metrics
        from generation.engine import Engine

        device = None if config.model.device == "auto" else config.model.device
        started = time.perf_counter()
        engine = Engine(model, device=device, upscaler=config.model.upscaler or None, loras=config.loras,
                        embeddings=config.embeddings, lora=lora, preview_vae=config.model.preview_vae,
                        compile=config.model.compile)
        seconds = time.perf_counter() - started
        metrics.model_loaded(model, seconds)
        log.info("model %s loaded in %.1f s", model, seconds, extra={"model": model, "load_s": round(seconds, 3)})
        return engine

    return load


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _open_queue(config: Config, clock=None):
    from bot.startup import prepare_database
    from db.engine import make_engine
    from db.queue import Queue, utcnow

    await prepare_database(config.database_url)
    engine = make_engine(config.database_url)
    # `clock` is for tests that travel in time (timed bans, quota days); everything else uses the real one.
    return engine, Queue(engine, clock=clock or utcnow, lease_seconds=config.queue.lease_seconds,
                         max_attempts=config.queue.max_attempts,
                         max_running_per_user=config.limits.max_running_per_user)


def _worker(config: Config, queue, *, embedded: bool):
    import socket

    from bot.policy import offered_models
    from bot.storage import store_for
    from bot.worker import Worker, default_worker_id

    # The embedded worker is one per bot, so its host name is a stable identity across restarts.
    worker_id = config.worker.id or (f"{socket.gethostname()}:embedded" if embedded else default_worker_id())
    classifier = None
    if config.safety.classifier == "opennsfw":
        from generation.nsfw import NsfwClassifier

        classifier = NsfwClassifier()  # loads in the generation thread with the first result
    worker = Worker(queue, _engine_factory(config), config.data_dir, worker_id=worker_id,
                    default_model=config.model.default, classifier=classifier,
                    allowed_models=frozenset(offered_models(config.model.default, config.model.choices,
                                                            config.fast_models)), store=store_for(config),
                    heartbeat_seconds=config.queue.heartbeat_seconds,
                    poll_seconds=config.queue.poll_seconds, shutdown_grace_seconds=config.worker.shutdown_grace_seconds)
    return with_heartbeat(worker, config, queue.engine)


def with_heartbeat(worker, config: Config, engine):
    """Make the worker's loop write its heartbeat row (for /healthz and `status`) for as long as it runs."""
    from bot.health import WorkerBeacon
    from db.monitoring import Workers

    beacon = WorkerBeacon(Workers(engine), worker.worker_id, config.queue.heartbeat_seconds)
    worker.run = beacon.around(worker.run)
    return worker


async def _monitor(config: Config, engine, gateway_open=None, worker_id: str | None = None):
    """The /metrics + /healthz endpoint when metrics.port is set, else None."""
    if not config.metrics.port:
        return None
    from bot.health import MonitorServer

    monitor = MonitorServer(engine, lease_seconds=config.queue.lease_seconds, gateway_open=gateway_open,
                            worker_id=worker_id)
    try:
        await monitor.start(config.metrics.host, config.metrics.port)
    except OSError as exc:
        raise StartupError(f"metrics.port = {config.metrics.port} on {config.metrics.host} cannot be opened: "
                           f"{exc.strerror or exc}") from None
    return monitor


async def run_worker(config: Config) -> int:
    """A worker alone: database and model, no Discord token; 1 when its loop kept failing."""
    from bot.supervision import TaskGaveUp, supervise

    check_local(config, runs_worker=True)
    engine, queue = await _open_queue(config)
    adopt_library_logging()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    worker = _worker(config, queue, embedded=False)
    monitor = await _monitor(config, engine, worker_id=worker.worker_id)
    try:
        await supervise("worker", lambda: worker.run(stop), stop=stop)
    except TaskGaveUp as exc:
        log.critical("%s; exiting so that the process supervisor restarts the worker", exc)
        return 1
    finally:
        if monitor is not None:
            await monitor.stop()
        await engine.dispose()
    return 0


def build_bot(config: Config, queue, *, guild_ready_timeout: float = 2.0):
    """Compose the bot from its parts (also used by the end-to-end tests).

    `guild_ready_timeout`: discord.py's wait for more GUILD_CREATEs after READY before it calls the bot ready (its
    default, 2 s, suits Discord; the end-to-end tests' fake sends its one guild at once and waits less).
    """
    import discord

    from bot.client import ImagineBot
    from bot.metrics import counted_delivery
    from bot.submissions import Submissions, TokenLimit
    from generation.prompt_params import PromptDefaults

    if config.discord.api_base:
        discord.http.Route.BASE = config.discord.api_base.rstrip("/")
    if config.discord.gateway_url:
        import yarl

        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.discord.gateway_url)
    g = config.generation
    # The configured size is the pixel budget: --ar reshapes it, 1:1 gives width x height back.
    defaults = PromptDefaults(num_inference_steps=g.steps, guidance_scale=g.guidance_scale,
                              max_pixels=g.width * g.height, loras=config.loras)
    token_limit = TokenLimit(config.model.default)
    submissions = Submissions(queue, config, check_prompt=token_limit)
    worker = _worker(config, queue, embedded=True) if config.worker.embedded else None
    bot = ImagineBot(config, queue, submissions, worker=worker, prompt_defaults=defaults, token_limit=token_limit,
                     guild_ready_timeout=guild_ready_timeout)
    bot.delivery.deliver = counted_delivery(bot.delivery.deliver)  # attempts and failures for /metrics
    return bot


async def run_bot(config: Config) -> int:
    """The bot, with the embedded worker unless the config turns it off; 1 when a background task gave up."""
    check_local(config, runs_worker=config.worker.embedded)
    if config.worker.embedded:
        # The generation thread holds the GIL between torch ops; every hop of the event loop (a database
        # statement's reply from aiosqlite's thread, a socket read) then waits for the interpreter's forced switch.
        # At 1 ms instead of 5 ms the acknowledgement p99 fell from 317 to 196 ms (docs/PERFORMANCE.md).
        sys.setswitchinterval(EMBEDDED_SWITCH_INTERVAL_S)
    engine, queue = await _open_queue(config)
    adopt_library_logging()
    bot = build_bot(config, queue)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    monitor = pruning = None
    try:
        async with bot:
            await login(bot, config.discord.token or "", config.discord.api_base)
            monitor = await _monitor(config, engine, lambda: not bot.is_closed() and bot.ws is not None and bot.ws.open)
            pruning = asyncio.create_task(Pruner(engine, config.data_dir, config.data_keep_days,
                                                 store=bot.storage).run(stop))
            if bot.worker is not None:
                # Before the gateway: loading the model stalls the event loop, and no command should wait on that.
                await bot.worker.warm_up()
            runner = asyncio.create_task(bot.connect())
            stopper = asyncio.create_task(stop.wait())
            failed = asyncio.create_task(bot.supervisor.failed.wait())
            await asyncio.wait([runner, stopper, failed], return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stopper, failed):
                waiter.cancel()
            if runner.done():
                runner.result()
            else:
                await bot.close()
                await runner
    finally:
        if pruning is not None:
            pruning.cancel()
            await asyncio.gather(pruning, return_exceptions=True)
        if monitor is not None:
            await monitor.stop()
        await engine.dispose()
    return 1 if bot.supervisor.failed.is_set() else 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the config, run; configuration problems are one line on stderr and exit 2."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    setup_logging()
    try:
        config = load_config(args.config)
        setup_logging(config.logging.format, config.logging.level, secrets(config))
        if args.command == [] and not config.discord.token:
            raise ConfigError("DISCORD_TOKEN is not set: put the bot's token in the DISCORD_TOKEN environment variable")
    except ConfigError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2
    if args.command == ["db", "upgrade"]:
        from db.engine import display_url, redact
        from db.migrations import upgrade

        shown = display_url(config.database_url)  # never print the password
        try:
            asyncio.run(upgrade(config.database_url))
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, one line without the password
            reason = redact(f"{type(exc).__name__}: {exc}".splitlines()[0], config.database_url)
            print(f"imagine-bot: could not upgrade the database at {shown}: {reason}", file=sys.stderr)
            return 1
        print(f"database at {shown} is up to date")
        return 0
    if is_ops_command(args.command):
        return run_ops_command(args.command, config)
    try:
        return asyncio.run(run_worker(config) if args.command == ["worker"] else run_bot(config))
    except KeyboardInterrupt:
        pass
    except StartupError as exc:
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
