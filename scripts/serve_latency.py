#!/usr/bin/env python3
"""Measures how long a message takes from its 250 to its file in the
tenant's Maildir, in `mailsim serve` on loopback, and beside it the same
load through a local Postfix relaying into the same gateways and mailbox.

    scripts/serve_latency.py [--count 100] [--mailsim target/release/mailsim]

It starts `mailsim serve` in a temp dir, sends `--count` small messages one
after another (one SMTP session each, spread over the three gateways,
`--gap-ms` apart), and watches `Maildir/<rcpt>/new/` for each message's file
(the mailbox server renames it there, fsynced, before its own 250). For each
message: the time its 250 took (from connect to the answer to the final dot)
and the time from that 250 to the file; then median, p90, p99 and max.

When Postfix is installed and we are root, the same load goes through a
private Postfix instance (scripts/postfix_into_serve.py starts it: its own
config and queue, smtpd on 127.0.0.1:10025, relaying to the gateways), timed
from Postfix's 250 to the Maildir, and the two rows print side by side.
Without Postfix (or with --no-postfix) the second row says why it is
missing; nothing else changes. Exit 0 when every message landed, 1 when
some did not within --deliver-within-s, 2 when serve did not start.
"""

import argparse
import json
import os
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import postfix_into_serve as relay  # noqa: E402  (start_postfix, wait_port)

RCPTS = ("alice@example.test", "bob@example.test")


class Watcher(threading.Thread):
    """Polls the Maildirs every millisecond and notes when each Message-ID's
    file first appears (the wall clock, like the sender's side)."""

    def __init__(self, data):
        super().__init__(daemon=True)
        self.dirs = [data / "mbx-example" / "Maildir" / r / "new" for r in RCPTS]
        self.seen_files = set()
        self.landed = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for directory in self.dirs:
                try:
                    names = os.listdir(directory)
                except FileNotFoundError:
                    continue
                now = time.monotonic()
                for name in names:
                    path = directory / name
                    if path in self.seen_files:
                        continue
                    self.seen_files.add(path)
                    message_id = message_id_of(path.read_bytes())
                    with self.lock:
                        self.landed.setdefault(message_id, now)
            time.sleep(0.001)

    def landed_at(self, message_id):
        with self.lock:
            return self.landed.get(message_id)


def message_id_of(raw):
    header = raw[: raw.find(b"\r\n\r\n")].decode("utf-8", "replace")
    for line in header.split("\r\n"):
        if line.lower().startswith("message-id:"):
            return line.split(":", 1)[1].strip()
    return None


def message(tag, i):
    rcpt = RCPTS[i % 2]
    message_id = f"<lat-{tag}-{i}@client.test>"
    raw = (
        f"From: sender@client.test\r\nTo: {rcpt}\r\n"
        f"Subject: latency {tag} {i}\r\nMessage-ID: {message_id}\r\n\r\n"
        f"message {i} of the latency bench\r\n"
    ).encode()
    return rcpt, message_id, raw


def send_all(tag, ports, count, gap_s):
    """Sends `count` messages, each in its own session; returns
    {message_id: (seconds the 250 took, monotonic time of the 250)}."""
    sent = {}
    for i in range(count):
        rcpt, message_id, raw = message(tag, i)
        port = ports[i % len(ports)]
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo("client.test")
            smtp.sendmail("sender@client.test", [rcpt], raw)
            accepted = time.monotonic()
        sent[message_id] = (accepted - started, accepted)
        time.sleep(gap_s)
    return sent


def collect(watcher, sent, within_s):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all(watcher.landed_at(m) is not None for m in sent):
            break
        time.sleep(0.05)
    to_maildir, to_250, missing = [], [], []
    for message_id, (took, accepted) in sent.items():
        to_250.append(took)
        landed = watcher.landed_at(message_id)
        if landed is None:
            missing.append(message_id)
        else:
            to_maildir.append(max(0.0, landed - accepted))
    return to_250, to_maildir, missing


def percentile(values, share):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def row(label, to_250, to_maildir, missing):
    if not to_maildir:
        return f"{label:<28} nothing landed ({len(missing)} missing)"
    ms = lambda s: f"{s * 1000:8.0f}"  # noqa: E731
    return (
        f"{label:<28} {len(to_maildir):>5} {ms(statistics.median(to_250))}"
        f" {ms(statistics.median(to_maildir))} {ms(percentile(to_maildir, 0.90))}"
        f" {ms(percentile(to_maildir, 0.99))} {ms(max(to_maildir))}"
        + (f"   ({len(missing)} never landed)" if missing else "")
    )


def postfix_unavailable():
    for tool in ("postfix", "postconf"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "Postfix needs root to start"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--mailsim", default="target/release/mailsim")
    parser.add_argument("--gap-ms", type=int, default=20, help="pause between two sends")
    parser.add_argument("--deliver-within-s", type=int, default=60)
    parser.add_argument("--no-postfix", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--smtp-port", type=int, default=2525, help="first gateway's SMTP port")
    parser.add_argument("--base-port", type=int, default=24000, help="serve's internal ports")
    parser.add_argument("--postfix-port", type=int, default=10025)
    args = parser.parse_args()
    # Other people's serves may hold the default ports: all of them move.
    relay.GATEWAY_PORTS = tuple(args.smtp_port + i for i in range(3))
    relay.POSTFIX_PORT = args.postfix_port
    work = Path(tempfile.mkdtemp(prefix="serve-latency-"))
    work.chmod(0o755)  # Postfix's daemons run as the postfix user
    data = work / "data"
    config = work / "serve.json"
    config.write_text(
        json.dumps({"smtp_port_base": args.smtp_port, "base_port": args.base_port}) + "\n"
    )
    serve = subprocess.Popen(
        [args.mailsim, "serve", "--data", str(data), "--config", str(config)],
        stdout=open(work / "serve.out", "w"),
        stderr=open(work / "serve.err", "w"),
    )
    conf = None
    rows = []
    exit_code = 0
    try:
        if not all(relay.wait_port(p, 30) for p in relay.GATEWAY_PORTS):
            print(f"serve_latency: mailsim serve did not answer; see {work}/serve.err")
            return 2
        # A gateway says 451 until it has heard from a quorum of peers.
        time.sleep(2)
        watcher = Watcher(data)
        watcher.start()
        gap_s = args.gap_ms / 1000
        sent = send_all("direct", list(relay.GATEWAY_PORTS), args.count, gap_s)
        result = collect(watcher, sent, args.deliver_within_s)
        rows.append(row("mailsim serve (direct)", *result))
        exit_code |= 1 if result[2] else 0
        why_not = "--no-postfix" if args.no_postfix else postfix_unavailable()
        if why_not is None:
            conf = relay.start_postfix(work)
            if not relay.wait_port(relay.POSTFIX_PORT, 30):
                why_not = f"Postfix did not answer on {relay.POSTFIX_PORT}"
            else:
                sent = send_all("postfix", [relay.POSTFIX_PORT], args.count, gap_s)
                result = collect(watcher, sent, args.deliver_within_s)
                rows.append(row("Postfix relay -> serve", *result))
                exit_code |= 1 if result[2] else 0
        if why_not is not None:
            rows.append(f"{'Postfix relay -> serve':<28} not measured: {why_not}")
        watcher.stop.set()
    finally:
        if conf is not None:
            subprocess.call(["postfix", "-c", str(conf), "stop"], stdout=subprocess.DEVNULL)
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    print(f"{args.count} messages, one session each, {args.gap_ms} ms apart; times in ms")
    print(f"{'path':<28} {'n':>5} {'250 took':>8} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print("  (median..max: from the 250 to the file in Maildir/new)")
    for line in rows:
        print(line)
    if args.keep or exit_code:
        print(f"data kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
