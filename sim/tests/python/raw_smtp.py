#!/usr/bin/env python3
"""Raw-socket SMTP for what smtplib will not do: pipelining (RFC 2920:
MAIL, several RCPTs and DATA in one write, then the end of data and QUIT in
one write) and an oversized body sent without a SIZE declaration. Prints
the EHLO lines and every reply code as one JSON object."""

import argparse
import json
import socket


def read_reply(stream):
    """One (possibly multi-line) reply: (code, [texts])."""
    texts = []
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("connection closed mid-reply")
        line = line.decode("ascii", "replace").rstrip("\r\n")
        texts.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["pipeline", "oversized"], required=True)
    parser.add_argument("--message-id", required=True)
    parser.add_argument("--pad-bytes", type=int, default=0)
    args = parser.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=30)
    stream = sock.makefile("rb")
    out = {"greeting": read_reply(stream)[0]}
    sock.sendall(b"EHLO client.test\r\n")
    out["ehlo_code"], out["ehlo"] = read_reply(stream)
    header = (
        "From: sender@client.test\r\nTo: alice@example.test\r\n"
        f"Subject: raw\r\nMessage-ID: {args.message_id}\r\n\r\n"
    ).encode()
    if args.mode == "pipeline":
        sock.sendall(
            b"MAIL FROM:<sender@client.test>\r\n"
            b"RCPT TO:<alice@example.test>\r\n"
            b"RCPT TO:<nobody@example.test>\r\n"
            b"RCPT TO:<bob@example.test>\r\n"
            b"DATA\r\n"
        )
        out["replies"] = [read_reply(stream)[0] for _ in range(5)]
        # A line stuffed by hand: it must arrive as ".stuffed by hand".
        body = header + b"pipelined body\r\n..stuffed by hand\r\n"
        sock.sendall(body + b".\r\nQUIT\r\n")
    else:
        sock.sendall(
            b"MAIL FROM:<sender@client.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
        )
        out["replies"] = [read_reply(stream)[0] for _ in range(3)]
        body = header + (b"y" * 76 + b"\r\n") * (args.pad_bytes // 78)
        sock.sendall(body + b".\r\nQUIT\r\n")
    out["data_reply"] = read_reply(stream)[0]
    out["quit_reply"] = read_reply(stream)[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
