"""``roamsync serve``: the device headless, syncing until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import logging.handlers
import signal
import sys
from pathlib import Path
from typing import Any

import click
from aiohttp import web
from tqdm import tqdm

from roamsync.peer.api.server import start_api
from roamsync.peer.cli.commands import DIR, main
from roamsync.peer.cli.render import say
from roamsync.peer.cli.run import run
from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import DAEMON, LOG
from roamsync.peer.store import SqliteStore
from roamsync.peer.store.files import private_opener
from roamsync.peer.web.app import make_app
from roamsync.schema import StoreDamagedError, UsageError

log = logging.getLogger("roamsync")


@main.command()
@DIR
@click.option("--peer", "peers", multiple=True, help="host:port of a peer to dial (repeatable).")
@click.option("--no-discovery", is_flag=True, help="Do not use zeroconf.")
@click.option(
    "--anti-entropy", type=float, default=None, help="Seconds between repair passes [15]."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar for large syncs [on a terminal].",
)
@click.option(
    "--open-metrics",
    is_flag=True,
    help="Let anyone on this computer read /metrics without the token (for Prometheus).",
)
@click.option("--web", is_flag=True, help="Serve the web pages too (prints their address).")
@click.option("--web-port", type=click.IntRange(0, 65535), default=7480, show_default=True)
@click.option(
    "--web-listen", default="127.0.0.1", show_default=True, help="Address of the web pages."
)
def serve(
    folder: Path,
    peers: tuple[str, ...],
    no_discovery: bool,
    anti_entropy: float | None,
    progress: bool | None,
    open_metrics: bool,
    web: bool,
    web_port: int,
    web_listen: str,
) -> None:
    """Run the device headless: sync with peers until SIGTERM or Ctrl-C."""
    if web and web_listen not in LOOPBACK:
        raise click.UsageError(
            "the web pages are served on this computer only for now (127.0.0.1): "
            "serving them on the LAN needs HTTPS, which is not built yet"
        )
    _log_to_file(folder)
    show = sys.stderr.isatty() if progress is None else progress
    pages = (web_listen, web_port) if web else None
    run(_serve(folder, list(peers), not no_discovery, anti_entropy, show, open_metrics, pages))


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _log_to_file(folder: Path) -> None:
    """The trace log: roamsync's own debug lines (every frame, merge and refusal) and
    other libraries' info, in DIR/roamsync.log, rotated at 5 MB, 3 files kept;
    warnings also on stderr."""
    handler = log_handler(folder)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    for existing in root.handlers:
        existing.setLevel(max(existing.level, logging.WARNING))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("roamsync").setLevel(logging.DEBUG)


class _PrivateLog(logging.handlers.RotatingFileHandler):
    """A rotating log whose files (the current one and every rotation) are 0600."""

    def _open(self) -> io.TextIOWrapper:
        stream = open(  # noqa: SIM115 (the handler closes it)
            self.baseFilename,
            self.mode,  # "a": a text stream
            encoding=self.encoding,
            errors=self.errors,
            opener=private_opener,
        )
        assert isinstance(stream, io.TextIOWrapper)
        return stream


def log_handler(folder: Path, max_bytes: int = 5 << 20) -> logging.Handler:
    """DIR/roamsync.log, rotated at ``max_bytes``, 3 files kept, each readable by its owner only."""
    return _PrivateLog(folder / LOG, maxBytes=max_bytes, backupCount=3)


async def _serve(
    folder: Path,
    peers: list[str],
    discovery: bool,
    anti_entropy: float | None,
    progress: bool,
    open_metrics: bool = False,
    pages: tuple[str, int] | None = None,
) -> None:
    node = await Node.open(folder)
    if node.config.offline and peers:
        await node.stop()
        raise UsageError("sync settings are locked while working offline (roamsync online)")
    if anti_entropy is not None:
        node.config.anti_entropy = anti_entropy
    bars = ProgressBars() if progress else None
    if bars is not None:
        node.sessions.on_progress = bars.update
    node.config.peers = [*node.config.peers, *(p for p in peers if p not in node.config.peers)]
    stop = asyncio.Event()
    damage: list[StoreDamagedError] = []

    def damaged(exc: StoreDamagedError) -> None:  # found while serving: stop, and say so
        damage.append(exc)
        stop.set()

    if isinstance(node.peer.store, SqliteStore):
        node.peer.store.on_damage = damaged
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web_runner = None
    try:
        await node.start(discovery=discovery and node.config.discovery)
        runner = await start_api(node, open_metrics)
        say(f"serving {node.config.name} ({node.peer.role}) on {node.config.listen}:{node.port}")
        if pages is not None:
            web_runner = web.AppRunner(make_app(node), access_log=None)
            await web_runner.setup()
            site = web.TCPSite(web_runner, pages[0], pages[1])
            await site.start()
            port = web_runner.addresses[0][1]
            say(f"web: http://{'[::1]' if pages[0] == '::1' else pages[0]}:{port}/")
        sys.stdout.flush()
        await stop.wait()
        log.info("shutting down")
    finally:
        if bars is not None:
            bars.close()
        if runner is not None:
            await runner.cleanup()
        if web_runner is not None:
            await web_runner.cleanup()
        await node.stop()
        with contextlib.suppress(FileNotFoundError):
            (folder / DAEMON).unlink()
    if damage:
        raise damage[0]


class ProgressBars:
    """One tqdm bar per peer while a large sync runs: records done of total, rate, time left."""

    THRESHOLD = 100  # smaller syncs finish before a bar would be any use

    def __init__(self) -> None:
        self.bars: dict[str, tqdm[Any]] = {}

    def update(self, device: str, done: int, total: int) -> None:
        bar = self.bars.get(device)
        if bar is None:
            if total - done < self.THRESHOLD:
                return
            bar = self.bars[device] = tqdm(
                total=total, desc=f"sync {device}", unit=" records", file=sys.stderr
            )
        bar.total = max(bar.total or 0, total)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del self.bars[device]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
