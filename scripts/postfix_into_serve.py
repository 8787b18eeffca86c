#!/usr/bin/env python3
"""Relays a mixed load through a real, local Postfix into `mailsim serve`
and checks that every message landed in the tenant's Maildir exactly once
per recipient with its body intact.

    scripts/postfix_into_serve.py [--count 200] [--mailsim target/release/mailsim]

It needs Postfix (postfix, postconf) and root (Postfix's master runs as
root and drops to the postfix user). It runs a private Postfix instance:
its own config directory and queue under a temp dir, smtpd on
127.0.0.1:10025, relaying everything to the gateways (relayhost :2525,
smtp_fallback_relay :2526 and :2527), so the system's own Postfix, if any,
is left alone. Without Postfix it says so and exits 2: nothing was checked.

The load: plain text, leading dots, 8-bit UTF-8 (BODY=8BITMIME, which the
gateway offers and passes on), base64 attachments of about 160 kB, one
or two recipients, and long header fields Postfix folds. "Body intact"
compares the bytes after the header block with what was sent (CRLF line
endings); headers are allowed to gain Received lines and Postfix's own
additions, nothing else is compared.
"""

import argparse
import base64
import hashlib
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POSTFIX_PORT = 10025
GATEWAY_PORTS = (2525, 2526, 2527)
RCPTS = ("alice@example.test", "bob@example.test")


def need(tool):
    if shutil.which(tool) is None:
        print(f"postfix_into_serve: {tool} is not installed; nothing checked", file=sys.stderr)
        sys.exit(2)


def message(i):
    """Message i of the mixed load: (recipients, raw bytes with CRLF)."""
    kind = i % 5
    rcpts = list(RCPTS) if i % 3 == 0 else [RCPTS[i % 2]]
    headers = [
        "From: sender@client.test",
        "To: " + ", ".join(rcpts),
        f"Subject: postfix load {i} kind {kind}",
        f"Message-ID: <pf-{i}@client.test>",
        "MIME-Version: 1.0",
    ]
    if kind == 0:
        headers.append("Content-Type: text/plain; charset=us-ascii")
        body = "plain text\r\n" * 3
    elif kind == 1:
        headers.append("Content-Type: text/plain; charset=us-ascii")
        body = ".leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n"
    elif kind == 2:
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        body = "caf\u00e9, na\u00efve, \u65e5\u672c\u8a9e\r\n"
    elif kind == 3:
        # Encoded, about 160 kB: under the gateway's 256 KiB limit.
        blob = hashlib.sha256(str(i).encode()).digest() * (120_000 // 32)
        encoded = base64.encodebytes(blob).decode().replace("\n", "\r\n")
        headers.append('Content-Type: multipart/mixed; boundary="b"')
        body = (
            "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            "--b\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + encoded + "--b--\r\n"
        )
    else:
        headers.append("X-Long: " + " ".join(f"word{n}" for n in range(60)))
        body = "a long header above\r\n"
    raw = ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")
    return rcpts, raw


def body_of(raw):
    split = raw.find(b"\r\n\r\n")
    return raw[split + 4 :] if split >= 0 else b""


def start_postfix(work):
    conf = work / "postfix"
    queue = work / "queue"
    for directory in (conf, queue, work / "postfix-data"):
        directory.mkdir()
    source = Path(subprocess.check_output(["postconf", "-h", "config_directory"], text=True).strip())
    for name in ("main.cf", "master.cf"):
        shutil.copy(source / name, conf / name)
    settings = {
        "queue_directory": str(queue),
        "data_directory": str(work / "postfix-data"),
        "myhostname": "postfix.client.test",
        "mydestination": "",
        "inet_interfaces": "loopback-only",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "relayhost": f"[127.0.0.1]:{GATEWAY_PORTS[0]}",
        "smtp_fallback_relay": ", ".join(f"[127.0.0.1]:{p}" for p in GATEWAY_PORTS[1:]),
        "smtpd_relay_restrictions": "permit_mynetworks, reject",
        "message_size_limit": "10240000",
        "maillog_file": str(work / "postfix.log"),
        "maillog_file_prefixes": str(work),
        "alternate_config_directories": str(conf),
        "multi_instance_enable": "no",
    }
    subprocess.check_call(
        ["postconf", "-c", str(conf)] + [f"{k}={v}" for k, v in settings.items()]
    )
    # Only our smtpd listener, on its own port; the rest of master.cf as is.
    master = (conf / "master.cf").read_text().splitlines()
    master = [
        line.replace("smtp      inet", f"127.0.0.1:{POSTFIX_PORT} inet", 1)
        if line.startswith("smtp      inet")
        else line
        for line in master
    ]
    if not any(line.startswith("postlog") for line in master):
        # maillog_file needs the postlog service (Postfix 3.4 and later).
        master.append("postlog   unix-dgram n  -       n       -       1       postlogd")
    (conf / "master.cf").write_text("\n".join(master) + "\n")
    subprocess.check_call(["postfix", "-c", str(conf), "set-permissions"], stdout=subprocess.DEVNULL)
    subprocess.check_call(["postfix", "-c", str(conf), "start"])
    return conf


def wait_port(port, limit_s):
    import socket

    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def maildir(data, rcpt):
    new = data / "mbx-example" / "Maildir" / rcpt / "new"
    return [p.read_bytes() for p in sorted(new.glob("*"))] if new.is_dir() else []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--mailsim", default="target/release/mailsim")
    parser.add_argument("--deliver-within-s", type=int, default=180)
    args = parser.parse_args()
    for tool in ("postfix", "postconf"):
        need(tool)
    if os.geteuid() != 0:
        print("postfix_into_serve: Postfix needs root to start; nothing checked", file=sys.stderr)
        sys.exit(2)
    work = Path(tempfile.mkdtemp(prefix="postfix-into-serve-"))
    # Postfix's daemons run as the postfix user and must reach their
    # directories under it.
    work.chmod(0o755)
    data = work / "data"
    serve = subprocess.Popen(
        [args.mailsim, "serve", "--data", str(data)],
        stdout=open(work / "serve.out", "w"),
        stderr=open(work / "serve.err", "w"),
    )
    conf = None
    try:
        if not all(wait_port(p, 30) for p in GATEWAY_PORTS):
            sys.exit(f"mailsim serve did not answer on {GATEWAY_PORTS}; see {work}/serve.err")
        conf = start_postfix(work)
        if not wait_port(POSTFIX_PORT, 30):
            sys.exit(f"Postfix did not answer on {POSTFIX_PORT}; see {work}/postfix.log")
        sent = {}
        with smtplib.SMTP("127.0.0.1", POSTFIX_PORT, timeout=60) as smtp:
            smtp.ehlo("client.test")
            for i in range(args.count):
                rcpts, raw = message(i)
                options = ["BODY=8BITMIME"] if any(b > 127 for b in raw) else []
                smtp.sendmail("sender@client.test", rcpts, raw, mail_options=options)
                sent[f"<pf-{i}@client.test>"] = (rcpts, body_of(raw))
        print(f"{len(sent)} messages handed to Postfix on :{POSTFIX_PORT}")
        deadline = time.time() + args.deliver_within_s
        while True:
            landed = {rcpt: maildir(data, rcpt) for rcpt in RCPTS}
            problems = check(sent, landed)
            if not problems or time.time() > deadline:
                break
            time.sleep(2)
        if problems:
            for problem in problems[:20]:
                print("FAIL", problem)
            print(f"{len(problems)} problems; data kept in {work}")
            sys.exit(1)
        copies = sum(len(r) for r, _ in sent.values())
        print(f"OK: {copies} copies of {len(sent)} messages, each exactly once, bodies intact")
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if conf is not None:
            subprocess.call(["postfix", "-c", str(conf), "stop"], stdout=subprocess.DEVNULL)
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)


def check(sent, landed):
    """Every (message, recipient) exactly once, body byte for byte."""
    problems = []
    for rcpt, files in landed.items():
        seen = {}
        for raw in files:
            header = raw[: raw.find(b"\r\n\r\n")].decode("utf-8", "replace").lower()
            for line in header.split("\r\n"):
                if line.startswith("message-id:"):
                    seen.setdefault(line.split(":", 1)[1].strip(), []).append(raw)
        for message_id, (rcpts, body) in sent.items():
            copies = seen.get(message_id.lower(), [])
            if rcpt not in rcpts:
                if copies:
                    problems.append(f"{message_id} reached {rcpt}, not a recipient")
                continue
            if len(copies) != 1:
                problems.append(f"{message_id} at {rcpt}: {len(copies)} copies")
            elif body_of(copies[0]) != body:
                problems.append(f"{message_id} at {rcpt}: body changed")
    return problems


if __name__ == "__main__":
    main()
