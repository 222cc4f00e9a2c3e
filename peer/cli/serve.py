"""``roamsync serve``: the device headless, syncing until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import logging
import logging.handlers
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from aiohttp import web
from tqdm import tqdm

from roamsync.peer.api.server import start_api
from roamsync.peer.cli.commands import DIR, main
from roamsync.peer.cli.render import say
from roamsync.peer.cli.run import fail, run
from roamsync.peer.daemon.node import Node
from roamsync.peer.org.config import DAEMON, LOG
from roamsync.peer.store import SqliteStore
from roamsync.peer.store.files import private_opener
from roamsync.peer.web.app import make_app
from roamsync.peer.web.hosts import ALL_ADDRESSES, Hosts
from roamsync.peer.web.tls import WebCertificate, load_certificate
from roamsync.schema import NodeError, RoamsyncError, StoreDamagedError, UsageError

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
    "--web-listen",
    default="127.0.0.1",
    show_default=True,
    help="Address of the web pages; any but loopback (a LAN address, 0.0.0.0 or ::) "
    "serves them over HTTPS.",
)
@click.option(
    "--web-https",
    is_flag=True,
    help="HTTPS on loopback too (the device's certificate unless --web-cert).",
)
@click.option(
    "--web-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate (then its chain) for HTTPS instead of the device's own.",
)
@click.option(
    "--web-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The unencrypted PEM key of --web-cert.",
)
@click.option(
    "--web-host",
    "web_hosts",
    multiple=True,
    help="A name the pages are reached by, such as office.acme.lan (repeatable).",
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
    web_https: bool,
    web_cert: Path | None,
    web_key: Path | None,
    web_hosts: tuple[str, ...],
) -> None:
    """Run the device headless: sync with peers until SIGTERM or Ctrl-C.

    With --web, the web pages too: on this computer only (127.0.0.1) by default; on
    another address only over HTTPS, with the device's certificate (its fingerprint
    printed, for users to compare in the browser) or the one --web-cert gives.
    """
    pages = web_pages(web, web_listen, web_port, web_https, web_cert, web_key, web_hosts)
    _log_to_file(folder)
    show = sys.stderr.isatty() if progress is None else progress
    run(_serve(folder, list(peers), not no_discovery, anti_entropy, show, open_metrics, pages))


@dataclass(frozen=True)
class Pages:
    """Where and how the web pages are served."""

    listen: str
    port: int
    https: bool
    certificate: WebCertificate | None  # None over HTTPS: the device's own
    names: tuple[str, ...]  # --web-host


def web_pages(
    web: bool,
    listen: str,
    port: int,
    https: bool,
    cert: Path | None,
    key: Path | None,
    names: tuple[str, ...],
) -> Pages | None:
    """The pages' settings from the options, checked before anything starts: the LAN
    only over HTTPS, a certificate only with its key."""
    if not web:
        if https or cert or key or names or listen != "127.0.0.1":
            raise click.UsageError("the --web-* options need --web")
        return None
    if (cert is None) != (key is None):
        raise click.UsageError(
            "give --web-cert and --web-key together (or neither: the device's certificate)"
        )
    certificate = None
    if cert is not None and key is not None:
        try:
            certificate = load_certificate(cert, key)
        except RoamsyncError as exc:
            fail(exc)
    https = https or certificate is not None or not is_loopback(listen)
    return Pages(listen, port, https, certificate, names)


def is_loopback(listen: str) -> bool:
    """Whether only this computer can reach ``listen`` (a name other than localhost may
    resolve to anything: not loopback)."""
    if listen == "localhost":
        return True
    try:
        return ipaddress.ip_address(listen).is_loopback
    except ValueError:
        return False


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
    pages: Pages | None = None,
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
            web_runner = await _start_pages(node, pages)
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


async def _start_pages(node: Node, pages: Pages) -> web.AppRunner:
    """Serve the web pages; print their address (and the certificate's fingerprint)."""
    certificate = pages.certificate
    if certificate is None and pages.https:
        certificate = load_certificate(node.identity.cert_path, node.identity.key_path)
    names = [*pages.names, *(certificate.names if certificate else ())]
    app = make_app(node, hosts=Hosts.serving(pages.listen, names))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = certificate.context if certificate else None
    try:
        await web.TCPSite(runner, pages.listen, pages.port, ssl_context=context).start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{pages.listen}:{pages.port}"
        raise NodeError(f"cannot serve the web pages on {where}: {exc.strerror}") from exc
    say(web_line(pages.listen, runner.addresses[0][1], certificate))
    return runner


def web_line(listen: str, port: int, certificate: WebCertificate | None) -> str:
    """``web: https://192.168.1.20:7480/ (certificate fingerprint SHA-256 3F:1C:...)``"""
    host = f"[{listen}]" if ":" in listen else listen
    if certificate is None:
        return f"web: http://{host}:{port}/"
    every = "every address of this computer; " if listen in ALL_ADDRESSES else ""
    fingerprint = f"certificate fingerprint SHA-256 {certificate.fingerprint}"
    return f"web: https://{host}:{port}/ ({every}{fingerprint})"


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
