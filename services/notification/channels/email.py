"""Email over SMTP (STARTTLS or TLS and AUTH as configured), HTML and text parts, attachments.

smtplib runs in a worker thread; one connection per message keeps failures independent. With no
SMTP host configured (the embedded default) each message is written to ``mail_dir`` as an .eml
file instead, and only its file name is logged.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from services.kit.logs import get_logger

from ..config import NotificationOptions
from . import Permanent, Transient

log = get_logger("meetmesh.notification.email")

# Deliberately strict: one @, no spaces or control characters, a dotted domain.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def valid_address(address: str) -> bool:
    return len(address) <= 254 and _ADDRESS.fullmatch(address) is not None


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Email:
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    attachments: list[Attachment] = field(default_factory=list)
    # RFC 8058 one-click unsubscribe (empty: not offered).
    unsubscribe_url: str = ""


def build(email: Email, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = email.message_id
    message["Auto-Submitted"] = "auto-generated"
    if email.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{email.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=attachment.params,
        )
    return message


class SmtpSender:
    def __init__(self, options: NotificationOptions) -> None:
        self.options = options

    async def send(self, email: Email) -> None:
        # Building a MIME message takes milliseconds of CPU (about 14 ms each in the notification
        # bench's profile): in a worker thread, so that the event loop keeps consuming meanwhile.
        message = await asyncio.to_thread(build, email, self.options.mail_from)
        if not self.options.smtp_host:
            await asyncio.to_thread(self._to_folder, message, email.message_id)
            return
        await asyncio.to_thread(self._send, message)

    def _to_folder(self, message: EmailMessage, message_id: str) -> None:
        folder = Path(self.options.mail_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]", "", message_id)[:40] + ".eml"
        (folder / name).write_bytes(message.as_bytes())
        log.info("email written to the mail folder", extra={"file": name})

    def _send(self, message: EmailMessage) -> None:
        o = self.options
        try:
            if o.smtp_tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    o.smtp_host, o.smtp_port, timeout=o.smtp_timeout_s, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(o.smtp_host, o.smtp_port, timeout=o.smtp_timeout_s)
            with client:
                client.ehlo()
                if o.smtp_starttls and not o.smtp_tls:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if o.smtp_username:
                    client.login(o.smtp_username, o.smtp_password)
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            code = codes[0] if codes else 550
            raise (Permanent if 500 <= code < 600 else Transient)(
                f"recipient refused ({code})", code
            ) from None
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            raise (Permanent if 500 <= code < 600 else Transient)(f"SMTP {code}", code) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Transient(f"SMTP: {type(exc).__name__}") from None
