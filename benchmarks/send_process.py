"""`publisher send` end to end, process start included, beside a bare smtplib loop.

Usage: python benchmarks/send_process.py [--subscribers 4000] [--runs 3]

On a temp copy of the bundled sample site (a `daily` edition, `--subscribers` confirmed readers
of it, sending through the loopback sink of benchmarks/delivery.py), measures in one run,
alternating, `--runs` times each (medians printed):
- publisher: `python -m publisher send --force` as an operator or cron runs it, from process
  start to exit (the ledger reset between runs);
- bare loop, own process: `python -c` with a bare smtplib loop sending one built message to each
  reader over one connection, process start included, as a shell script would;
- bare loop, in this process: the same loop without any process start (the harder baseline).
Publisher's modules are byte-compiled first, as `pip install` does for an installed package
(this machine sets PYTHONDONTWRITEBYTECODE, so a checkout would otherwise compile them on every
start). The goal (issue 21): publisher at least 1.0x the bare loop. A bare loop waits for four
replies a message, publisher for two (it pipelines), so the ratio depends on the loopback round
trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delivery import (
    ENVIRON,
    Sink,
    make_site,
    readers_after,
    reset_ledger,
    running_sink,
    sample_message,
    send_with_smtplib,
)
from page_latency import write_config

from publisher.audience.tokens import load_secret

BARE_LOOP = """\
import smtplib, sys, time
message = open(sys.argv[1], 'rb').read()
sender, port = sys.argv[2], int(sys.argv[3])
readers = open(sys.argv[4], encoding='utf-8').read().split()
with smtplib.SMTP('127.0.0.1', port) as connection:
    for reader in readers:
        connection.sendmail(sender, reader, message)
"""


def timed(command: list[str], cwd: Path) -> float:
    """Seconds from starting `command` to its exit; a failure stops the benchmark."""
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=cwd, env=os.environ | ENVIRON, capture_output=True)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{command[2:4]} failed: {finished.stderr.decode(errors='replace')}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running_sink(None) as sink:
        run(Path(folder), sink, arguments.subscribers, arguments.runs)


def run(root: Path, sink: Sink, count: int, runs: int) -> None:
    """Set the site up, then time the three ways in turn and print the medians and ratios."""
    import publisher

    package = Path(publisher.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    site = make_site(root, count, count)
    write_config(root, sink.port)
    config = site.config(sink.port)
    secret = load_secret(config.web.secret_env, site.root, ENVIRON)
    readers = readers_after(site.store, 0, count)
    sender, message = sample_message(config, site, secret, readers[0])
    (root / "message.eml").write_bytes(message)
    (root / "readers.txt").write_text("\n".join(r.email for r in readers), encoding="utf-8")
    bare_command = [sys.executable, "-c", BARE_LOOP, "message.eml", sender, str(sink.port)]
    bare_command.append("readers.txt")
    timings: dict[str, list[float]] = {"publisher": [], "bare process": [], "bare in-process": []}
    for _ in range(runs):
        reset_ledger(site.store, site.edition.id)
        before = sink.received.value
        timings["publisher"].append(
            timed([sys.executable, "-m", "publisher", "send", "--force"], root)
        )
        if sink.received.value - before != count:
            raise SystemExit(f"publisher sent {sink.received.value - before} of {count}")
        timings["bare process"].append(timed(bare_command, root))
        timings["bare in-process"].append(send_with_smtplib(sink, sender, readers, message))
    site.store.close()
    medians = {name: statistics.median(seconds) for name, seconds in timings.items()}
    for name, seconds in medians.items():
        print(f"{name:<16} {seconds:6.2f} s  {count / seconds:8,.0f} messages a second")
    for baseline in ("bare process", "bare in-process"):
        ratio = medians[baseline] / medians["publisher"]
        verdict = "met" if ratio >= 1.0 else "NOT met"
        print(f"publisher send vs {baseline}: {ratio:.2f}x (goal >= 1.0x: {verdict})")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
