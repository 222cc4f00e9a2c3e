"""Demo: a main, an office and a travel device as real processes on loopback.

Run with ``make demo``. Each device is a ``roamsync serve`` daemon with its
own data directory in a temporary folder; they find each other with zeroconf
(bound to 127.0.0.1) and sync over mutual-TLS websockets. Every step is a
``roamsync`` command, as a user would type it.

The story: the company is set up on main; an office PC and Anna's laptop
join; the laptop goes offline; both sides edit, including the same field of
the same contact, and Anna takes two orders; the laptop comes back; all
three converge, main's value wins the conflict (logged), and main renumbers
the offline orders.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROAMSYNC = str(Path(sys.executable).parent / "roamsync")


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(*args: object, show: bool = True, check: bool = True) -> str:
    command = [ROAMSYNC, *map(str, args)]
    if show:
        print("$ roamsync " + " ".join(_short(a) for a in args), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    if done.returncode != 0:
        if check:
            raise SystemExit(f"roamsync {args} failed:\n{done.stderr}")
        return done.stderr.strip()
    return done.stdout.strip()


def _short(arg: object) -> str:
    text = str(arg)
    return Path(text).name if "/" in text else (text[:24] + "…" if len(text) > 40 else text)


def wait_for(what: str, condition: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


class Daemon:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc = subprocess.Popen(
            [ROAMSYNC, "serve", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "serving" not in line:
            raise SystemExit(f"{folder.name} did not start: {line}")
        print(f"   {line.strip()}", flush=True)
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def records(folder: Path, module: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(run("list", folder, module, "--json", show=False))
    return rows


def scenario(root: Path) -> None:
    hq, office, laptop = root / "hq", root / "office", root / "laptop"
    say("set up the company on main, start it")
    run("init", hq, "--device", "hq", "--role", "main", "--company", "Acme AS", "--port", "0")
    print(run("invite", hq, check=False))  # refused: the connection criteria are not met
    run("company", hq, "--address", "Storgata 1, 0155 Oslo", "--phone", "+47 22 00 00 00",
        "--email", "post@acme.no", "--org-number", "912 345 678")  # fmt: skip
    daemons = {"hq": Daemon(hq)}
    address = f"127.0.0.1:{daemons['hq'].port}"

    say("an office PC and Anna's laptop join with invitation codes")
    for folder, name, role in ((office, "office-pc", "office"), (laptop, "anna", "travel")):
        run("init", folder, "--device", name, "--role", role, "--company", "Acme AS", "--port", "0")
        code = run("invite", hq, "--role", role)
        print(f"   code: {code[:20]}…")
        run("join", folder, code, "--peer", address)
        daemons[name] = Daemon(folder)

    say("main enters customers; everyone receives them")
    acme = run("put", hq, "contacts", "name=Acme AS", "phone=+47 22 00 00 00")
    nordic = run("put", hq, "contacts", "name=Nordic Tools AB", "email=info@nordic.se")
    wait_for("the laptop to receive them", lambda: len(records(laptop, "contacts")) == 2)
    print(run("devices", hq))

    say("Anna checks out: a final sync, then her laptop works offline")
    print(run("offline", laptop))
    print(run("devices", hq))

    say("both sides keep working")
    run("put", hq, "contacts", "--id", acme, "phone=+47 22 11 11 11")
    run("put", office, "contacts", "--id", nordic, "phone=+46 8 123 45")
    run("put", laptop, "contacts", "--id", acme, "phone=+47 99 99 99 99", "notes=Met Kari.")
    run("put", laptop, "contacts", "--id", nordic, "email=sales@nordic.se")
    for quantity, price in (("3", "120,00"), ("2", "60")):  # prices as people type them
        order = run("put", laptop, "orders", "contact=Acme AS")  # a reference by name
        run("put", laptop, "order_lines", f"order={order}", "text=Service visit",
            f"quantity={quantity}", f"unit_price={price}")  # fmt: skip
        got = json.loads(run("get", laptop, "orders", order, "--json", show=False))
        print(f"   offline order of {got['total']} (its lines' sum) is {got['number']}")

    say("Anna checks in (conflicts: keep central)")
    print(run("online", laptop, "--policy", "central"))
    folders = (hq, office, laptop)

    def converged() -> bool:
        views = [(records(f, "contacts"), records(f, "orders")) for f in folders]
        numbered = all(not str(o["number"]).startswith("P-") for o in views[0][1])
        return numbered and len(views[0][1]) == 2 and views[0] == views[1] == views[2]

    wait_for("all three to converge", converged)
    print("   all three devices hold identical contacts and orders")

    say("converged contacts")
    print(run("list", hq, "contacts"))
    say("orders: main renumbered the offline ones and kept the provisional number")
    print(run("list", hq, "orders"))
    print(run("list", hq, "order_lines"))
    say("search, and an order by its number")
    print(run("find", hq, "contacts", "acme"))
    print(run("get", hq, "orders", "1"))
    say("conflict log: main's phone number won the same-field conflict")
    print(run("conflicts", hq))
    say("the laptop's sync log, history and health")
    print(run("log", laptop))
    print(run("history", laptop))
    print(run("status", laptop))

    for daemon in daemons.values():
        daemon.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="roamsync-demo-") as tmp:
        scenario(Path(tmp))
    print("\ndemo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
