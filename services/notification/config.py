"""The notification service's settings (``MEETMESH_NOTIFICATION_SVC__*`` for its own knobs)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.kit import PlatformSettings


class NotificationOptions(BaseModel):
    # -- email: SMTP; an empty host writes each message as an .eml file under `mail_dir` instead
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # STARTTLS after EHLO (port 587); `smtp_tls` is TLS from the first byte (port 465).
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_s: float = Field(default=15.0, gt=0)
    mail_from: str = "meetmesh <no-reply@meetmesh.localhost>"
    mail_dir: str = "./var/mail"
    # -- SMS: a Twilio-compatible REST API (form POST to {url}/2010-04-01/Accounts/{sid}/Messages.json);
    # an empty url writes messages to the log (without the number or the text).
    sms_api_url: str = ""
    sms_account_sid: str = ""
    sms_auth_token: str = ""
    sms_from: str = ""
    # -- Web Push: VAPID key (created under keys_dir on first use) and the `sub` claim.
    vapid_subject: str = "mailto:admin@meetmesh.localhost"
    # -- links in messages
    # Where people open meetings and reset passwords (the edge / web client).
    public_base_url: str = "http://127.0.0.1:8800"
    # Where one-click unsubscribe links point (this service's HTTP port, or a proxy in front of it).
    unsubscribe_base_url: str = "http://127.0.0.1:9086"
    # -- the queue
    # Messages (email, SMS, push): exponential backoff from `retry_base_s`, capped, then dead-letter.
    retry_base_s: float = Field(default=2.0, gt=0)
    retry_max_s: float = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    # Webhooks: seconds to wait after each failed attempt (Standard Webhooks' schedule, about a
    # day in all); after the last one the delivery is dead.
    webhook_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 22000.0]
    )
    # Seconds one outgoing HTTP delivery (a webhook, the SMS provider, a Web Push service) may take
    # before it counts as failed and is retried: a receiver that never answers holds no slot longer.
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Deliveries in flight at once, and at most this many to one webhook endpoint.
    concurrency: int = Field(default=32, ge=1)
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
    # Webhook URLs resolving to private or loopback addresses are refused unless allowed.
    allow_private_networks: bool = False
    allow_loopback: bool = False
    # Per recipient (address, phone, user): at most `rate_per_hour`, bursts of `rate_burst`;
    # messages over it wait (they are not dropped).
    rate_per_hour: float = Field(default=60.0, gt=0)
    rate_burst: float = Field(default=20.0, ge=1)
    # Reminders go out this long before a scheduled meeting starts.
    reminder_lead_s: float = Field(default=900.0, ge=0)
    # Who gets admin notifications (Alertmanager alerts).
    admin_emails: list[str] = Field(default_factory=list)
    # A bearer token Alertmanager must present on POST /alertmanager; empty: none required.
    alertmanager_token: str = ""


class NotificationSettings(PlatformSettings):
    notification_svc: NotificationOptions = NotificationOptions()
