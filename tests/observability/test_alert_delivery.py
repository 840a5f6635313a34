"""Alerts reach people, end to end and all real: Prometheus (the deploy rules) scrapes the meeting
and notification services; the meeting service stops; MeetmeshServiceDown fires; Alertmanager
(Debian's, with the generated routing) posts it, with its bearer token, to the notification
service's ``/alertmanager``; the admin's email arrives at a real SMTP server (aiosmtpd). The
meeting service comes back and the resolved notice follows the same way.

Only the alert's ``for`` (a minute) and Alertmanager's grouping waits are shortened.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

from services.observability import alertmanager_config, scrape_targets
from services.stack.observability import AlertmanagerServer, PrometheusServer
from services.stack.servers import free_port
from tests import servers
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.support import deliveries_to, start_notify_platform
from tests.observability.prom import query, retarget, start_prometheus
from tests.support import wait_until

TOKEN = uuid.uuid4().hex


def real_stores(run_id: str) -> dict[str, str]:
    return {
        "kind": "real",
        "database_url": servers.postgres_url(),
        "redis_url": servers.redis_url(),
        "schema_prefix": f"t{run_id}_{uuid.uuid4().hex[:6]}_",
        "redis_prefix": f"mmtest:{run_id}:{uuid.uuid4().hex[:6]}",
    }


async def test_a_stopped_service_pages_the_admins_by_email(
    run_id: str, keys_dir: Path, tmp_path: Path
) -> None:
    stores = real_stores(run_id)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    options = notification_options(smtp.port, alertmanager_token=TOKEN)
    admin = options.admin_emails[0]
    platform = await start_notify_platform(stores, keys_dir, options)
    alertmanager: AlertmanagerServer | None = None
    prom: PrometheusServer | None = None
    try:
        notification = platform.hosts["notification"]
        token_file = tmp_path / "alertmanager-token"
        token_file.write_text(TOKEN)
        token_file.chmod(0o600)
        routing = alertmanager_config(
            f"http://127.0.0.1:{notification.http_port}/alertmanager",
            group_wait_s=0.2,
            group_interval_s=1,
            repeat_interval_s=3600,
            token_file=token_file,
        )
        started = AlertmanagerServer(routing, tmp_path / "alertmanager").start()
        assert isinstance(started, AlertmanagerServer)
        alertmanager = started
        for service in ("meeting", "notification"):
            platform.settings.endpoint(service).http_port = platform.hosts[service].http_port
        targets = scrape_targets(platform.settings, services=("meeting", "notification"))
        prom = prometheus = start_prometheus(
            tmp_path / "prometheus", targets, alertmanager.address, MeetmeshServiceDown="2s"
        )

        async def both_up() -> bool:
            return len(await query(prometheus, "up == 1")) == 2

        await wait_until(both_up, within_s=30, every_s=0.25)
        assert not mailbox.to(admin)

        await platform.stop("meeting")

        def subjects() -> list[str]:
            return [str(m["Subject"]) for m in mailbox.to(admin)]

        async def paged() -> bool:
            return "[FIRING] MeetmeshServiceDown" in subjects()

        await wait_until(paged, within_s=60, every_s=0.25)
        page = next(m for m in mailbox.to(admin) if m["Subject"] == "[FIRING] MeetmeshServiceDown")
        body = page.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "meeting on 127.0.0.1:" in text and "is down" in text  # the rule's summary, rendered
        assert any(a["labels"]["alertname"] == "MeetmeshServiceDown" for a in alertmanager.alerts())

        await platform.start("meeting")  # on a new port: point Prometheus at it
        platform.settings.endpoint("meeting").http_port = platform.hosts["meeting"].http_port
        retarget(prometheus, scrape_targets(platform.settings, services=("meeting",)))

        async def resolved() -> bool:
            return "[RESOLVED] MeetmeshServiceDown" in subjects()

        await wait_until(resolved, within_s=60, every_s=0.25)
        assert subjects().count("[FIRING] MeetmeshServiceDown") == 1  # Alertmanager's repeats sent once
    finally:
        if prom is not None:
            prom.remove()
        if alertmanager is not None:
            alertmanager.remove()
        await platform.close()
        smtp.stop()


async def test_alertmanager_without_the_token_is_refused(run_id: str, keys_dir: Path, tmp_path: Path) -> None:
    """The same routing without the token file: the receiver answers 401 and nothing is queued
    (Alertmanager's own view: its notification attempts fail, counted on its /metrics)."""
    stores = real_stores(run_id)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    options = notification_options(smtp.port, alertmanager_token=TOKEN)
    platform = await start_notify_platform(stores, keys_dir, options, services=("user", "notification"))
    alertmanager: AlertmanagerServer | None = None
    try:
        url = f"http://127.0.0.1:{platform.hosts['notification'].http_port}/alertmanager"
        am = AlertmanagerServer(
            alertmanager_config(url, group_wait_s=0.2, group_interval_s=1), tmp_path / "alertmanager"
        ).start()
        assert isinstance(am, AlertmanagerServer)
        alertmanager = am
        async with httpx.AsyncClient(timeout=10) as http:
            posted = await http.post(
                f"{am.url}/api/v2/alerts",
                json=[
                    {"labels": {"alertname": "MeetmeshServiceDown", "job": "user", "severity": "critical"}}
                ],
            )
            assert posted.status_code == 200, posted.text

            async def failed() -> bool:
                metrics = (await http.get(f"{am.url}/metrics")).text
                return any(
                    line.startswith("alertmanager_notifications_failed_total{")
                    and 'integration="webhook"' in line
                    and float(line.rsplit(" ", 1)[1]) >= 1
                    for line in metrics.splitlines()
                )

            await wait_until(failed, within_s=30, every_s=0.25)
        assert not await deliveries_to(platform, options.admin_emails[0])  # nothing queued
        assert not mailbox.to(options.admin_emails[0])
    finally:
        if alertmanager is not None:
            alertmanager.remove()
        await platform.close()
        smtp.stop()
