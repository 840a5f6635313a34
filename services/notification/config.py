"""The notification service's settings: its block ``MEETMESH_NOTIFICATION__*`` holds its endpoint and
its own options."""

from __future__ import annotations

from pydantic import Field

from services.kit import Endpoint, PlatformSettings, service_block


class NotificationOptions(Endpoint):
    """The notification service's block: where it listens and its own options."""

    # Email: the SMTP server; empty: each message is written as an .eml file under `mail_dir`.
    smtp_host: str = ""
    # The SMTP server's port.
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # STARTTLS after EHLO (port 587).
    smtp_starttls: bool = False
    # TLS from the first byte (port 465).
    smtp_tls: bool = False
    # The SMTP login's user name; empty: no login.
    smtp_username: str = ""
    # The SMTP login's password.
    smtp_password: str = ""
    # Seconds one SMTP conversation may take.
    smtp_timeout_s: float = Field(default=15.0, gt=0)
    # Open SMTP connections kept for reuse, and the most conversations with the server at once.
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    # Seconds a pooled SMTP connection may sit idle before it is closed instead of reused.
    smtp_idle_s: float = Field(default=30.0, gt=0)
    # Messages one SMTP connection carries before it is closed and a new one opened.
    smtp_messages_per_connection: int = Field(default=100, ge=1)
    # The sender of every email.
    mail_from: str = "meetmesh <no-reply@meetmesh.localhost>"
    # Where emails are written as .eml files when no SMTP host is set.
    mail_dir: str = "./var/mail"
    # SMS: a Twilio-compatible REST API (form POST to {url}/2010-04-01/Accounts/{sid}/Messages.json);
    # empty: messages are written to the log (without the number or the text).
    sms_api_url: str = ""
    # The SMS provider's account id (`{sid}` above, and the Basic auth user).
    sms_account_sid: str = ""
    # The SMS provider's auth token (the Basic auth password).
    sms_auth_token: str = ""
    # The number or sender id SMS come from.
    sms_from: str = ""
    # Web Push: the `sub` claim of the VAPID key (the key is created under keys_dir on first use).
    vapid_subject: str = "mailto:admin@meetmesh.localhost"
    # Where people open meetings and reset passwords, in links in messages (the edge / web client).
    public_base_url: str = "http://127.0.0.1:8800"
    # Where one-click unsubscribe links point (this service's HTTP port, or a proxy in front of it).
    unsubscribe_base_url: str = "http://127.0.0.1:9086"
    # Messages (email, SMS, push): seconds before the first retry; each further one waits twice as long.
    retry_base_s: float = Field(default=2.0, gt=0)
    # Messages: the longest wait between two attempts, in seconds.
    retry_max_s: float = Field(default=3600.0, gt=0)
    # Messages: attempts in all before the message is dead-lettered.
    max_attempts: int = Field(default=8, ge=1)
    # Webhooks: seconds to wait after each failed attempt (Standard Webhooks' schedule, about a
    # day in all); after the last one the delivery is dead.
    webhook_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 22000.0]
    )
    # Seconds one outgoing HTTP delivery (a webhook, the SMS provider, a Web Push service) may take
    # before it counts as failed and is retried: a receiver that never answers holds no slot longer.
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Deliveries in flight at once.
    concurrency: int = Field(default=32, ge=1)
    # Deliveries in flight at once to one webhook endpoint; also the most kept-alive connections
    # to one host and port (several endpoints on one host share them).
    per_endpoint_concurrency: int = Field(default=4, ge=1)
    # A claimed delivery is someone else's to retry if its worker has not finished after this.
    lease_s: float = Field(default=120.0, gt=0)
    # How often the queue and the stream consumer look for work when nothing woke them.
    poll_s: float = Field(default=0.1, gt=0)
    # Stream entries a dead consumer left unacknowledged are claimed after this long.
    claim_idle_s: float = Field(default=30.0, gt=0)
    # An event whose handling has failed this many times (one delivery from the stream, then a
    # claim every `claim_idle_s`) while the database answers is a poison message: it moves to the
    # dead-letter stream `<stream>:dead:notification` and stops being retried.
    max_event_deliveries: int = Field(default=5, ge=1)
    # Events handled at once: those about different meetings or users side by side, those about
    # one meeting or user in stream order.
    event_concurrency: int = Field(default=16, ge=1)
    # Webhook URLs resolving to private addresses are refused unless this allows them.
    allow_private_networks: bool = False
    # Webhook URLs resolving to loopback addresses are refused unless this allows them.
    allow_loopback: bool = False
    # Per recipient (address, phone, user): at most this many messages an hour; messages over it
    # wait (they are not dropped).
    rate_per_hour: float = Field(default=60.0, gt=0)
    # Per recipient: the largest burst of messages.
    rate_burst: float = Field(default=20.0, ge=1)
    # Reminders go out this long before a scheduled meeting starts.
    reminder_lead_s: float = Field(default=900.0, ge=0)
    # The user service's internal UserDirectoryService, asked about recipients whose user events
    # have not arrived yet (host:port; empty: the platform's user endpoint).
    user_target: str = ""
    # Who gets admin notifications (Alertmanager alerts).
    admin_emails: list[str] = Field(default_factory=list)
    # A bearer token Alertmanager must present on POST /alertmanager; empty: none required.
    alertmanager_token: str = ""


class NotificationSettings(PlatformSettings):
    notification: NotificationOptions = service_block(NotificationOptions, "notification")
