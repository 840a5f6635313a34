"""Webhooks: Standard Webhooks signatures (checked with the `standardwebhooks` libraries for
Python and for TypeScript, the latter run by Node.js from the root npm modules), the
delivery log, retries, dead letters, a hanging endpoint, test-fire, redeliver, secret rotation,
the SSRF guard; and recording-ready reaching both email and the webhook."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from standardwebhooks import Webhook as StandardWebhook

from meetmesh.meeting.internal.v1 import recordings_grpc, recordings_pb2
from meetmesh.meeting.v1 import meeting_pb2
from meetmesh.notification.v1 import notification_pb2 as pb
from tests.notification.conftest import Mailbox, notification_options
from tests.notification.receiver import Receiver
from tests.notification.support import NotifyPlatform, start_notify_platform
from tests.support import Client, field_violations, wait_until


async def _webhook(notify: NotifyPlatform, owner: Client, url: str, *types: str) -> pb.Webhook:
    reply = await notify.notifications.CreateWebhook(
        pb.CreateWebhookRequest(webhook=pb.Webhook(url=url, event_types=list(types) or ["*"])),
        metadata=owner.metadata,
    )
    assert reply.webhook.secret.startswith("whsec_")
    return reply.webhook


async def _received(receiver: Receiver, path: str, count: int = 1, within_s: float = 15) -> None:
    async def arrived() -> bool:
        return len(receiver.at(path)) >= count

    await wait_until(arrived, within_s=within_s)


def _verify(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    """Verified by the Standard Webhooks reference library (raises on a bad signature)."""
    payload: dict[str, object] = StandardWebhook(secret).verify(body, headers)
    return payload


ROOT = Path(__file__).resolve().parents[2]
# The reference TypeScript implementation (npm `standardwebhooks`), fed the delivery on stdin.
VERIFY_TS = """
import { Webhook } from "standardwebhooks";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, body, headers } = JSON.parse(input);
try {
  const payload = new Webhook(secret).verify(Buffer.from(body, "base64").toString("utf8"), headers);
  process.stdout.write(JSON.stringify(payload));
} catch (error) {
  process.stderr.write(String(error));
  process.exit(1);
}
"""


def _verify_ts(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
    """Verified by the TypeScript reference library in Node.js (raises with its message if refused)."""
    wanted = {k: v for k, v in headers.items() if k.lower().startswith("webhook-")}
    request = json.dumps({"secret": secret, "body": base64.b64encode(body).decode(), "headers": wanted})
    done = subprocess.run(
        ["node", "--input-type=module", "-e", VERIFY_TS],
        input=request,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(f"standardwebhooks (TypeScript) refused it: {done.stderr.strip()}")
    payload: dict[str, object] = json.loads(done.stdout)
    return payload


async def test_joins_and_recording_ready_reach_the_webhook_and_the_hosts_email(
    notify: NotifyPlatform, receiver: Receiver, mailbox: Mailbox
) -> None:
    host = await notify.client("Rita Recorder")
    hook = await _webhook(notify, host, receiver.url("/hooks/a"), "participant.joined", "recording.ready")
    meeting = await host.create_meeting(title="Design review")
    guest = await notify.client("Gus Guest")
    joined = await guest.join(meeting.name)
    registry = recordings_grpc.RecordingRegistryServiceStub(notify.channel("meeting"))
    key = f"{meeting.name}/recordings/r1.webm"
    await registry.CreateRecording(
        recordings_pb2.CreateRecordingRequest(
            parent=meeting.name,
            recording=meeting_pb2.Recording(object_key=key, media_type="video/webm", size_bytes=10),
        ),
        metadata={"authorization": notify.runtime.identity("media").authorization()},
    )
    await _received(receiver, "/hooks/a", 2)
    events = [_verify(hook.secret, r.body, r.headers) for r in receiver.at("/hooks/a")]
    # The TypeScript reference implementation accepts the same deliveries and reads the same events.
    assert [_verify_ts(hook.secret, r.body, r.headers) for r in receiver.at("/hooks/a")] == events
    by_type = {e["type"]: e for e in events}
    assert set(by_type) == {"participant.joined", "recording.ready"}
    assert by_type["participant.joined"]["data"] == {
        "meeting": meeting.name,
        "participant": joined.participant.name,
        "user": guest.user.name,
    }
    recording = by_type["recording.ready"]["data"]
    assert isinstance(recording, dict) and recording["recording"].startswith(f"{meeting.name}/recordings/")

    async def mailed() -> bool:
        return any(m["Subject"] == "Recording ready: Design review" for m in mailbox.to(host.email))

    await wait_until(mailed, within_s=15)


async def test_a_failing_endpoint_is_retried_and_a_hanging_one_blocks_nobody(
    notify: NotifyPlatform, receiver: Receiver
) -> None:
    owner = await notify.client()
    receiver.script["/flaky"] = [500, 200]
    receiver.script["/hang"] = ["hang"]
    flaky = await _webhook(notify, owner, receiver.url("/flaky"))
    hanging = await _webhook(notify, owner, receiver.url("/hang"))
    healthy = await _webhook(notify, owner, receiver.url("/healthy"))
    for hook in (hanging, flaky, healthy):
        await notify.notifications.TestWebhook(pb.TestWebhookRequest(name=hook.name), metadata=owner.metadata)
    await _received(receiver, "/healthy")
    # The healthy endpoint did not wait for the hanging one: it was delivered while the hanging
    # request was still open, before the sender's timeout (1 s) gave up on it.
    assert receiver.at("/hang") and receiver.at("/healthy")[0].hangs_ended_before == 0
    await _received(receiver, "/flaky", 2)

    async def log(hook: pb.Webhook) -> list[pb.WebhookDelivery]:
        reply = await notify.notifications.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(parent=hook.name), metadata=owner.metadata
        )
        return list(reply.deliveries)

    async def settled() -> bool:
        flaky_log, hanging_log = await log(flaky), await log(hanging)
        return (
            flaky_log[0].state == pb.WebhookDelivery.STATE_SUCCEEDED
            and hanging_log[0].state == pb.WebhookDelivery.STATE_DEAD
        )

    await wait_until(settled, within_s=20)
    [done] = await log(flaky)
    assert done.attempts == 2 and done.last_status_code == 200
    assert done.last_latency.ToTimedelta().total_seconds() < 1.0
    [dead] = await log(hanging)
    # One first attempt and one per entry of the (compressed) schedule, each cut off by the timeout.
    assert dead.attempts == 3 and dead.last_status_code == 0 and "timed out" in dead.last_error
    assert len(receiver.at("/hang")) == 3

    async def hangs_ended() -> bool:  # the sender gave up on each (and the receiver sees that)
        return receiver.hangs_ended == 3

    await wait_until(hangs_ended, within_s=10)
    ids = {r.headers["webhook-id"] for r in receiver.at("/flaky")}
    assert ids == {done.message_id}  # a retry is the same message


async def test_redeliver_resends_the_same_message_and_rotation_signs_with_both_secrets(
    notify: NotifyPlatform, receiver: Receiver
) -> None:
    owner = await notify.client()
    hook = await _webhook(notify, owner, receiver.url("/r"))
    fired = await notify.notifications.TestWebhook(
        pb.TestWebhookRequest(name=hook.name), metadata=owner.metadata
    )
    await _received(receiver, "/r")
    rotated = await notify.notifications.RotateWebhookSecret(
        pb.RotateWebhookSecretRequest(name=hook.name), metadata=owner.metadata
    )
    assert rotated.webhook.secret != hook.secret
    await notify.notifications.RedeliverWebhookDelivery(
        pb.RedeliverWebhookDeliveryRequest(name=fired.delivery.name), metadata=owner.metadata
    )
    await _received(receiver, "/r", 2)
    first, again = receiver.at("/r")
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == fired.delivery.message_id
    assert json.loads(first.body) == json.loads(again.body)
    assert len(again.headers["webhook-signature"].split(" ")) == 2
    # Receivers holding either secret accept it; a stranger's secret does not.
    _verify(hook.secret, again.body, again.headers)
    _verify(rotated.webhook.secret, again.body, again.headers)
    _verify_ts(hook.secret, again.body, again.headers)
    _verify_ts(rotated.webhook.secret, again.body, again.headers)
    with pytest.raises(Exception, match="signature"):
        _verify("whsec_" + "A" * 43 + "=", again.body, again.headers)
    with pytest.raises(ValueError, match=r"(?i)signature"):
        _verify_ts("whsec_" + "A" * 43 + "=", again.body, again.headers)
    tampered = again.body.replace(b"}", b" }", 1)
    with pytest.raises(ValueError, match=r"(?i)signature"):
        _verify_ts(rotated.webhook.secret, tampered, again.headers)
    # Someone else cannot see or redeliver it.
    stranger = await notify.client()
    with pytest.raises(GRPCError) as err:
        await notify.notifications.RedeliverWebhookDelivery(
            pb.RedeliverWebhookDeliveryRequest(name=fired.delivery.name), metadata=stranger.metadata
        )
    assert err.value.status == Status.NOT_FOUND


@pytest.fixture
async def one_at_a_time(
    stores: dict[str, str], keys_dir: Path, smtp: tuple[Mailbox, int]
) -> AsyncIterator[NotifyPlatform]:
    """The services with one delivery at a time per webhook endpoint."""
    options = notification_options(smtp[1], per_endpoint_concurrency=1)
    plat = await start_notify_platform(stores, keys_dir, options)
    try:
        yield plat
    finally:
        await plat.close()


async def test_a_redelivery_asked_for_while_the_first_attempt_is_under_way_is_sent(
    one_at_a_time: NotifyPlatform, receiver: Receiver
) -> None:
    notify = one_at_a_time
    answer = asyncio.Event()
    receiver.script["/held"] = [answer, 200]
    owner = await notify.client()
    hook = await _webhook(notify, owner, receiver.url("/held"))
    fired = await notify.notifications.TestWebhook(
        pb.TestWebhookRequest(name=hook.name), metadata=owner.metadata
    )
    await _received(receiver, "/held")  # the first attempt is under way: its answer is held
    redelivered = await notify.notifications.RedeliverWebhookDelivery(
        pb.RedeliverWebhookDeliveryRequest(name=fired.delivery.name), metadata=owner.metadata
    )
    assert redelivered.delivery.state == pb.WebhookDelivery.STATE_PENDING
    answer.set()  # the first attempt ends after the redelivery was asked for; it must not undo it
    await _received(receiver, "/held", 2)

    async def logged() -> pb.WebhookDelivery:
        reply = await notify.notifications.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(parent=hook.name), metadata=owner.metadata
        )
        [entry] = reply.deliveries
        return entry

    async def settled() -> bool:  # both attempts recorded, the last one as sent
        entry = await logged()
        return entry.state == pb.WebhookDelivery.STATE_SUCCEEDED and entry.attempts == 2

    await wait_until(settled, within_s=15)
    assert (await logged()).last_status_code == 200
    first, again = receiver.at("/held")
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == fired.delivery.message_id


async def test_private_and_link_local_urls_are_refused(notify: NotifyPlatform) -> None:
    owner = await notify.client()
    for url in (
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:192.168.0.1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0/x",
        "http://user:pw@example.test/x",
        "http://does-not-resolve.invalid/x",
    ):
        with pytest.raises(GRPCError) as err:
            await _webhook(notify, owner, url)
        assert err.value.status == Status.INVALID_ARGUMENT, url
        assert "webhook.url" in field_violations(err.value), url


async def test_unknown_event_types_and_alerts_for_members_are_refused(notify: NotifyPlatform) -> None:
    owner = await notify.client()
    for types in (["meeting.exploded"], ["alert.firing"]):
        with pytest.raises(GRPCError) as err:
            await _webhook(notify, owner, f"http://127.0.0.1:9/{uuid.uuid4().hex}", *types)
        assert err.value.status == Status.INVALID_ARGUMENT
