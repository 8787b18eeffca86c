#!/usr/bin/env python3
"""Sends one message to `mailsim serve` with Python's smtplib -- an SMTP
client nobody on this project wrote -- and prints what the server said as
one JSON object: the EHLO features, then "accepted" (with any refused
recipients), "refused" (every recipient, or the sender, or the data),
or "error" (the connection failed)."""

import argparse
import hashlib
import json
import smtplib
from email.message import EmailMessage

# The industry-standard antivirus test file (harmless by design): the
# canonical 68 bytes, checked against EICAR's published sha256 so a typo
# here cannot make a test pass.
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
assert (
    hashlib.sha256(EICAR.encode("ascii")).hexdigest()
    == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
)


def build(args):
    msg = EmailMessage()
    msg["From"] = args.mail_from
    msg["To"] = ", ".join(args.to)
    msg["Subject"] = args.subject
    msg["Message-ID"] = args.message_id
    body = args.body.replace("\\n", "\n")
    # Padding lines make a message of roughly the asked size.
    body += ("x" * 70 + "\n") * (args.pad_bytes // 71)
    msg.set_content(body)
    if args.eicar_attachment:
        # email's own choice of carrier: base64 for application/octet-stream.
        msg.add_attachment(
            EICAR.encode("ascii"),
            maintype="application",
            subtype="octet-stream",
            filename="eicar.com",
        )
    if args.eicar_quoted_printable:
        msg.add_attachment(EICAR, subtype="plain", cte="quoted-printable", filename="eicar.txt")
    return msg


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mail-from", default="sender@client.test")
    parser.add_argument("--to", action="append", required=True)
    parser.add_argument("--message-id", required=True)
    parser.add_argument("--subject", default="hello from smtplib")
    parser.add_argument("--body", default="hello\\n")
    parser.add_argument("--pad-bytes", type=int, default=0)
    parser.add_argument("--eicar-attachment", action="store_true")
    parser.add_argument("--eicar-quoted-printable", action="store_true")
    # Declare SMTPUTF8 in MAIL FROM whatever the message holds (RFC 6531).
    parser.add_argument("--smtputf8", action="store_true")
    args = parser.parse_args()
    msg = build(args)
    out = {"outcome": "error", "code": 0, "refused": {}, "features": [], "size": 0}
    try:
        with smtplib.SMTP("127.0.0.1", args.port, timeout=30) as smtp:
            smtp.ehlo("client.test")
            out["features"] = sorted(smtp.esmtp_features)
            out["size"] = int(smtp.esmtp_features.get("size") or 0)
            # smtplib stuffs dots and, since the server advertises SIZE,
            # declares the size in MAIL FROM.
            options = ["SMTPUTF8"] if args.smtputf8 else []
            refused = smtp.send_message(
                msg, from_addr=args.mail_from, to_addrs=args.to, mail_options=options
            )
            out.update(outcome="accepted", code=250)
            out["refused"] = {rcpt: reply[0] for rcpt, reply in refused.items()}
    except smtplib.SMTPRecipientsRefused as e:
        out.update(outcome="refused", stage="rcpt")
        out["refused"] = {rcpt: reply[0] for rcpt, reply in e.recipients.items()}
        out["code"] = min(out["refused"].values())
    except smtplib.SMTPSenderRefused as e:
        out.update(outcome="refused", stage="mail", code=e.smtp_code, text=e.smtp_error.decode())
    except smtplib.SMTPDataError as e:
        out.update(outcome="refused", stage="data", code=e.smtp_code, text=e.smtp_error.decode())
    except (OSError, smtplib.SMTPException) as e:
        out.update(outcome="error", text=repr(e))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
