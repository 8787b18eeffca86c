#!/usr/bin/env python3
"""Sends --count messages with smtplib, one connection each, alternating
over --ports (as a sender falls back along an MX list), and appends one
line per attempt to --out as it goes, so a test can watch the flow and kill
a region in the middle of it:

    <index> TAB <port> TAB <message-id> TAB <250 | 4xx/5xx code | error:Kind>
"""

import argparse
import smtplib
import time
from email.message import EmailMessage


def attempt(port, message_id):
    msg = EmailMessage()
    msg["From"] = "sender@client.test"
    msg["To"] = "alice@example.test"
    msg["Subject"] = "flood"
    msg["Message-ID"] = message_id
    msg.set_content("one of many\n")
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
            smtp.send_message(msg)
        return "250"
    except smtplib.SMTPRecipientsRefused as e:
        return str(min(reply[0] for reply in e.recipients.values()))
    except smtplib.SMTPResponseException as e:
        return str(e.smtp_code)
    except (OSError, smtplib.SMTPException) as e:
        return "error:" + type(e).__name__


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True, help="comma-separated")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--pause-ms", type=int, default=10)
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    with open(args.out, "a", encoding="ascii") as out:
        for i in range(args.count):
            port = ports[i % len(ports)]
            message_id = f"<{args.prefix}-{i}@client.test>"
            result = attempt(port, message_id)
            out.write(f"{i}\t{port}\t{message_id}\t{result}\n")
            out.flush()
            time.sleep(args.pause_ms / 1000)


if __name__ == "__main__":
    main()
