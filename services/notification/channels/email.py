"""Email over SMTP (STARTTLS or TLS and AUTH as configured), HTML and text parts, attachments.

Messages are built as bytes directly (see :func:`build`): the standard library's ``EmailMessage``
parses and folds every header through its header registry, about 16 ms of CPU per invitation in
the notification bench, against well under a millisecond here. SMTP runs in worker threads over a
small pool of open connections (``smtp_pool_size``; EHLO, STARTTLS and AUTH once per connection);
a connection that sat idle is checked with NOOP before reuse, one idle too long is closed, and one
that answered 4xx or failed is dropped, not reused. With no SMTP host configured (the embedded
default) each message is written to ``mail_dir`` as an .eml file instead, and only its file name is
logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path

from services.kit.logs import get_logger

from ..config import NotificationOptions
from . import Permanent, Transient

log = get_logger("meetmesh.notification.email")

# Deliberately strict: one @, no spaces or control characters, a dotted domain.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# What may not appear in a header value: it would end the header (CR, LF) or is a control character.
_UNSAFE_HEADER = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
# A MIME parameter value or a content type part we write ourselves: a quoted-string-safe subset.
_SAFE_PARAM = re.compile(r"^[A-Za-z0-9!#$%&'()*+,./:;<=>?@\[\]^_`{|}~ -]{1,200}$")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_CRLF = b"\r\n"
# A connection idle longer than this is checked with NOOP before it carries a message.
_NOOP_AFTER_S = 2.0


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


def _header(name: str, value: str) -> bytes:
    """One header line; a value with CR, LF or another control character is refused, not folded."""
    if _UNSAFE_HEADER.search(value):
        raise ValueError(f"the {name} header may not hold control characters")
    if not value.isascii():
        value = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")  # RFC 2047
    return f"{name}: {value}".encode("ascii") + _CRLF


def _address(value: str) -> str:
    """``Name <addr>`` with a non-ASCII name RFC 2047 encoded (the address itself stays as it is)."""
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if address else value


def _param(name: str, value: str) -> str:
    if _TOKEN.fullmatch(name) is None or _SAFE_PARAM.fullmatch(value) is None:
        raise ValueError(f"unsafe MIME parameter {name!r}")
    return f'; {name}="{value}"'


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", _CRLF)


def _text_part(subtype: str, text: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'.encode()
        + _base64(text.encode("utf-8"))
    )


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    boundary = "=_mm_" + secrets.token_hex(12)  # base64 bodies never hold '-' or '_'
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode())
        out.append(part)
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def build(email: Email, sender: str) -> bytes:
    """The message as CRLF-terminated bytes, ready for SMTP DATA (at most 7-bit ASCII).

    Text and HTML are alternatives (base64 UTF-8); with attachments, both sit in a multipart/mixed.
    Header values are single lines (templates.one_line makes subjects so): a CR or LF raises
    ``ValueError`` instead of becoming a header of its own; non-ASCII values are RFC 2047 encoded.
    """
    head = [
        _header("From", _address(sender)),
        _header("To", email.to),
        _header("Subject", email.subject),
        _header("Date", formatdate(localtime=False)),
        _header("Message-ID", email.message_id),
        _header("Auto-Submitted", "auto-generated"),
    ]
    if email.unsubscribe_url:
        head.append(_header("List-Unsubscribe", f"<{email.unsubscribe_url}>"))
        head.append(_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    head.append(b"MIME-Version: 1.0\r\n")
    body = _multipart("alternative", [_text_part("plain", email.text), _text_part("html", email.html)])
    if email.attachments:
        parts = [body]
        for attachment in email.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            if _TOKEN.fullmatch(maintype) is None or _TOKEN.fullmatch(subtype) is None:
                raise ValueError(f"unsafe content type {attachment.content_type!r}")
            params = "".join(_param(k, v) for k, v in attachment.params.items())
            parts.append(
                f"Content-Type: {maintype}/{subtype}{params}\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment{_param('filename', attachment.filename)}\r\n\r\n".encode()
                + _base64(attachment.data)
            )
        body = _multipart("mixed", parts)
    return b"".join(head) + body


class _Pool:
    """Open SMTP connections to the configured server, each used by one thread at a time."""

    def __init__(self, options: NotificationOptions) -> None:
        self.options = options
        self._idle: list[tuple[smtplib.SMTP, float, int]] = []  # (connection, idle since, messages sent)
        self._lock = threading.Lock()
        self._closed = False

    def connect(self) -> smtplib.SMTP:
        o = self.options
        if o.smtp_tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                o.smtp_host, o.smtp_port, timeout=o.smtp_timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(o.smtp_host, o.smtp_port, timeout=o.smtp_timeout_s)
        try:
            client.ehlo()
            if o.smtp_starttls and not o.smtp_tls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if o.smtp_username:
                client.login(o.smtp_username, o.smtp_password)
        except BaseException:
            _close(client)
            raise
        return client

    def acquire(self) -> tuple[smtplib.SMTP, int]:
        """A healthy connection and how many messages it has carried (0: a new one)."""
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._idle:
                    break
                client, since, sent = self._idle.pop()
            if now - since > self.options.smtp_idle_s:
                _quit(client)  # the server may have dropped it already; a fresh one is cheaper
                continue
            if now - since > _NOOP_AFTER_S:
                try:
                    healthy = client.noop()[0] == 250
                except (OSError, smtplib.SMTPException):
                    healthy = False
                if not healthy:
                    _close(client)
                    continue
            return client, sent
        return self.connect(), 0

    def release(self, client: smtplib.SMTP, sent: int) -> None:
        if sent >= self.options.smtp_messages_per_connection:
            _quit(client)
            return
        with self._lock:
            if not self._closed and len(self._idle) < self.options.smtp_pool_size:
                self._idle.append((client, time.monotonic(), sent))
                return
        _quit(client)

    def close(self) -> None:
        """QUIT on the idle connections; one still in use (a send whose task was cancelled goes on
        in its thread) is closed when it comes back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for client, _, _ in idle:
            _quit(client)


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        _close(client)


def _close(client: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        client.close()


def _refused(code: int, what: str) -> Permanent | Transient:
    return (Permanent if 500 <= code < 600 else Transient)(what, code)


class SmtpSender:
    def __init__(self, options: NotificationOptions) -> None:
        self.options = options
        self.envelope_from = parseaddr(options.mail_from)[1] or options.mail_from
        self._pool = _Pool(options)
        self._slots = asyncio.Semaphore(options.smtp_pool_size)

    async def send(self, email: Email) -> None:
        try:
            data = build(email, self.options.mail_from)
        except ValueError as exc:  # status 0: dead, but the address is not marked as bounced
            raise Permanent(f"unsendable message: {exc}") from None
        if not self.options.smtp_host:
            await asyncio.to_thread(self._to_folder, data, email.message_id)
            return
        async with self._slots:  # at most smtp_pool_size conversations with the server at once
            await asyncio.to_thread(self._send, data, email.to)

    def close(self) -> None:
        """Say QUIT on the pooled connections (the service's stop)."""
        self._pool.close()

    def _to_folder(self, data: bytes, message_id: str) -> None:
        folder = Path(self.options.mail_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]", "", message_id)[:40] + ".eml"
        (folder / name).write_bytes(data)
        log.info("email written to the mail folder", extra={"file": name})

    def _send(self, data: bytes, to: str) -> None:
        # A pooled connection the server closed meanwhile fails on its first command: once, the
        # message goes again over a new connection (the same at-least-once as a retry, sooner).
        for attempt in (1, 2):
            try:
                client, sent = self._pool.acquire()
            except smtplib.SMTPResponseException as exc:
                # Refused at the greeting, STARTTLS or AUTH (a 535 for a wrong password): the
                # server's or our configuration's fault, not the recipient's: retried, no bounce.
                raise Transient(f"SMTP {exc.smtp_code} before the message", exc.smtp_code) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise Transient(f"SMTP: {type(exc).__name__}") from None
            try:
                client.sendmail(self.envelope_from, [to], data)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                code = codes[0] if codes else 550
                self._after_refusal(client, sent, code)
                raise _refused(code, f"recipient refused ({code})") from None
            except smtplib.SMTPResponseException as exc:
                self._after_refusal(client, sent, exc.smtp_code)
                raise _refused(exc.smtp_code, f"SMTP {exc.smtp_code}") from None
            except (OSError, smtplib.SMTPException) as exc:
                _close(client)
                if sent and attempt == 1:
                    continue
                raise Transient(f"SMTP: {type(exc).__name__}") from None
            self._pool.release(client, sent + 1)
            return

    def _after_refusal(self, client: smtplib.SMTP, sent: int, code: int) -> None:
        if 500 <= code < 600:
            self._pool.release(client, sent)  # a bounce: smtplib has sent RSET, the connection is fit
        else:
            _close(client)  # 4xx (421: the server is closing it): the next message gets a new one
