"""The NotificationService RPC methods (preferences, push subscriptions, webhooks, deliveries) and
the internal NotificationSenderService."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta

from google.protobuf.duration_pb2 import Duration

from meetmesh.notification.internal.v1 import send_grpc, send_pb2
from meetmesh.notification.v1 import notification_grpc
from meetmesh.notification.v1 import notification_pb2 as pb
from services.kit import InvalidArgument, NotFound, PermissionDenied, Principal, current_principal
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.masks import mask_paths
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.timestamps import to_timestamp, utcnow

from .channels import webhooks as wh
from .channels.email import valid_address
from .channels.http import GuardedResolver
from .channels.sms import valid_phone
from .config import NotificationOptions
from .models import DeliveryRow, RecipientRow, WebhookRow
from .routing import EVENT_TYPES, webhook_body
from .store import DEAD, PENDING, SENT, NotificationStore, delivery, new_id
from .templates import KINDS, MANDATORY, pick_locale

log = get_logger("meetmesh.notification")

_CHANNELS = {pb.CHANNEL_EMAIL: "email", pb.CHANNEL_SMS: "sms", pb.CHANNEL_PUSH: "push"}
_CHANNEL_ENUM = {v: k for k, v in _CHANNELS.items()}
_STATES = {
    PENDING: pb.WebhookDelivery.STATE_PENDING,
    SENT: pb.WebhookDelivery.STATE_SUCCEEDED,
    DEAD: pb.WebhookDelivery.STATE_DEAD,
}


def _own_user(name: str, caller: Principal) -> str:
    user_id = name.split("/")[1]
    user_id = caller.user_id if user_id == "me" else user_id
    if user_id != caller.user_id:
        raise PermissionDenied("only the user's own preferences can be read or changed")
    return user_id


def preferences_message(user_id: str, row: RecipientRow | None) -> pb.Preferences:
    message = pb.Preferences(name=f"users/{user_id}/preferences")
    if row is not None:
        message.locale = row.locale
        for channel, kind in json.loads(row.opt_outs or "[]"):
            message.opt_outs.append(
                pb.OptOut(channel=_CHANNEL_ENUM.get(channel, pb.CHANNEL_UNSPECIFIED), kind=kind)
            )
    return message


def webhook_message(row: WebhookRow, *, with_secret: bool = False) -> pb.Webhook:
    return pb.Webhook(
        name=f"webhooks/{row.id}",
        url=row.url,
        event_types=json.loads(row.event_types),
        description=row.description,
        secret=row.secret if with_secret else "",
        owner=f"users/{row.owner_user_id}",
        create_time=to_timestamp(row.create_time),
    )


def delivery_message(row: DeliveryRow) -> pb.WebhookDelivery:
    message = pb.WebhookDelivery(
        name=f"webhooks/{row.address}/deliveries/{row.id}",
        message_id=f"msg_{row.id}",
        event_type=row.kind,
        state=_STATES.get(row.state, pb.WebhookDelivery.STATE_UNSPECIFIED),
        attempts=row.attempts,
        last_status_code=row.last_status,
        last_error=row.last_error,
        create_time=to_timestamp(row.create_time),
    )
    latency = Duration()
    latency.FromTimedelta(timedelta(seconds=row.last_latency_s))
    message.last_latency.CopyFrom(latency)
    if row.state == PENDING:
        next_time = to_timestamp(row.next_time)
        if next_time is not None:
            message.next_attempt_time.CopyFrom(next_time)
    return message


class NotificationService(notification_grpc.NotificationServiceBase):
    def __init__(
        self,
        store: NotificationStore,
        options: NotificationOptions,
        vapid_public_key: str,
        kick: object,
        guard: GuardedResolver,
    ) -> None:
        self.store = store
        self.options = options
        self.guard = guard
        self.vapid_public_key = vapid_public_key
        self._kick = kick

    def kick(self) -> None:
        if callable(self._kick):
            self._kick()

    # -- preferences -----------------------------------------------------------------------------
    @unary
    async def GetPreferences(self, request: pb.GetPreferencesRequest) -> pb.GetPreferencesResponse:
        user_id = _own_user(request.name, current_principal())
        return pb.GetPreferencesResponse(
            preferences=preferences_message(user_id, await self.store.recipient(user_id))
        )

    @unary
    async def UpdatePreferences(self, request: pb.UpdatePreferencesRequest) -> pb.UpdatePreferencesResponse:
        given = request.preferences
        user_id = _own_user(given.name or "users/me/preferences", current_principal())
        paths = mask_paths(request.update_mask, {"locale", "opt_outs"}, empty_means_all=True)
        values: dict[str, str] = {}
        if "locale" in paths:
            values["locale"] = given.locale
        if "opt_outs" in paths:
            pairs: list[list[str]] = []
            for i, opt in enumerate(given.opt_outs):
                if opt.kind != "*" and opt.kind not in KINDS:
                    raise InvalidArgument([(f"preferences.opt_outs[{i}].kind", f"unknown kind {opt.kind!r}")])
                if opt.kind in MANDATORY:
                    raise InvalidArgument(
                        [(f"preferences.opt_outs[{i}].kind", f"{opt.kind} messages cannot be opted out of")]
                    )
                pair = [_CHANNELS[opt.channel], opt.kind]
                if pair not in pairs:
                    pairs.append(pair)
            values["opt_outs"] = json.dumps(pairs)
        row = await self.store.save_preferences(user_id, values)
        return pb.UpdatePreferencesResponse(preferences=preferences_message(user_id, row))

    # -- push ------------------------------------------------------------------------------------
    @unary
    async def CreatePushSubscription(
        self, request: pb.CreatePushSubscriptionRequest
    ) -> pb.CreatePushSubscriptionResponse:
        sub = request.subscription
        if not sub.endpoint.startswith("https://") and not self.options.allow_loopback:
            raise InvalidArgument([("subscription.endpoint", "must be an https URL")])
        await self.store.add_push_subscription(
            current_principal().user_id, sub.endpoint, sub.p256dh, sub.auth
        )
        return pb.CreatePushSubscriptionResponse(vapid_public_key=self.vapid_public_key)

    # -- webhooks --------------------------------------------------------------------------------
    async def _owned(self, name: str) -> WebhookRow:
        caller = current_principal()
        row = await self.store.webhook(name.split("/")[1])
        if row is None or (row.owner_user_id != caller.user_id and not caller.is_admin):
            raise NotFound(f"{name} does not exist")
        return row

    @unary
    async def CreateWebhook(self, request: pb.CreateWebhookRequest) -> pb.CreateWebhookResponse:
        caller = current_principal()
        hook = request.webhook
        for i, event_type in enumerate(hook.event_types):
            if event_type != "*" and event_type not in EVENT_TYPES:
                raise InvalidArgument([(f"webhook.event_types[{i}]", f"unknown event type {event_type!r}")])
            if event_type.startswith("alert.") and not caller.is_admin:
                raise InvalidArgument([(f"webhook.event_types[{i}]", "alerts are for admins' webhooks")])
        try:
            await wh.check_url(hook.url, self.guard)
        except wh.UnsafeUrl as exc:
            raise InvalidArgument([("webhook.url", str(exc))]) from None
        row = await self.store.add_webhook(
            WebhookRow(
                id=new_id(),
                owner_user_id=caller.user_id,
                url=hook.url,
                event_types=json.dumps(list(dict.fromkeys(hook.event_types))),
                description=hook.description,
                secret=wh.new_secret(),
                previous_secret="",
                previous_secret_expire_time=None,
                owner_is_admin=caller.is_admin,
                create_time=utcnow(),
            )
        )
        log.info("webhook created", extra={"webhook": row.id})
        return pb.CreateWebhookResponse(webhook=webhook_message(row, with_secret=True))

    @unary
    async def GetWebhook(self, request: pb.GetWebhookRequest) -> pb.GetWebhookResponse:
        return pb.GetWebhookResponse(webhook=webhook_message(await self._owned(request.name)))

    @unary
    async def ListWebhooks(self, request: pb.ListWebhooksRequest) -> pb.ListWebhooksResponse:
        caller = current_principal()
        size = page_size(request.page_size)
        params = {"m": "ListWebhooks", "u": caller.user_id}
        owner = None if caller.is_admin else caller.user_id
        rows = await self.store.webhooks_page(owner, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return pb.ListWebhooksResponse(webhooks=[webhook_message(r) for r in rows], next_page_token=token)

    @unary
    async def DeleteWebhook(self, request: pb.DeleteWebhookRequest) -> pb.DeleteWebhookResponse:
        row = await self._owned(request.name)
        await self.store.delete_webhook(row.id)
        return pb.DeleteWebhookResponse()

    @unary
    async def RotateWebhookSecret(
        self, request: pb.RotateWebhookSecretRequest
    ) -> pb.RotateWebhookSecretResponse:
        row = await self._owned(request.name)
        ttl = (
            request.previous_secret_ttl.ToTimedelta()
            if request.HasField("previous_secret_ttl")
            else timedelta(hours=24)
        )
        expire = utcnow() + ttl
        updated = await self.store.update_webhook(
            row.id, secret=wh.new_secret(), previous_secret=row.secret, previous_secret_expire_time=expire
        )
        assert updated is not None
        return pb.RotateWebhookSecretResponse(
            webhook=webhook_message(updated, with_secret=True),
            previous_secret_expire_time=to_timestamp(expire),
        )

    @unary
    async def TestWebhook(self, request: pb.TestWebhookRequest) -> pb.TestWebhookResponse:
        row = await self._owned(request.name)
        body = webhook_body("webhook.test", utcnow().astimezone(UTC), {"webhook": f"webhooks/{row.id}"})
        queued = await self.store.enqueue(
            delivery(f"test:{uuid.uuid4().hex}", "webhook", "webhook.test", row.id, body)
        )
        self.kick()
        return pb.TestWebhookResponse(delivery=delivery_message(queued))

    @unary
    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest
    ) -> pb.ListWebhookDeliveriesResponse:
        row = await self._owned(request.parent)
        size = page_size(request.page_size)
        params = {"m": "ListWebhookDeliveries", "p": request.parent}
        rows = await self.store.deliveries_to(row.id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return pb.ListWebhookDeliveriesResponse(
            deliveries=[delivery_message(r) for r in rows if r.channel == "webhook"], next_page_token=token
        )

    @unary
    async def RedeliverWebhookDelivery(
        self, request: pb.RedeliverWebhookDeliveryRequest
    ) -> pb.RedeliverWebhookDeliveryResponse:
        parts = request.name.split("/")
        row = await self._owned(f"webhooks/{parts[1]}")
        found = await self.store.delivery(parts[3])
        if found is None or found.address != row.id or found.channel != "webhook":
            raise NotFound(f"{request.name} does not exist")
        again = await self.store.redeliver(found.id)
        assert again is not None
        self.kick()
        return pb.RedeliverWebhookDeliveryResponse(delivery=delivery_message(again))


class NotificationSender(send_grpc.NotificationSenderServiceBase):
    """The internal ``Send``: one message into the queue."""

    def __init__(self, store: NotificationStore, kick: object) -> None:
        self.store = store
        self._kick = kick

    @unary
    async def Send(self, request: send_pb2.SendRequest) -> send_pb2.SendResponse:
        if request.kind not in KINDS:
            raise InvalidArgument([("kind", f"unknown kind {request.kind!r}")])
        which = request.WhichOneof("recipient")
        params = dict(request.params)
        key = f"send:{current_principal().service}:{request.idempotency_key or uuid.uuid4().hex}"
        if which == "email":
            address = request.email.strip()
            if not valid_address(address):
                raise InvalidArgument([("email", "is not a valid email address")])
            known = await self.store.recipient_by_email(address)
            row = delivery(
                key, "email", request.kind, address, params, user_id=known.user_id if known else ""
            )
        elif which == "phone":
            if not valid_phone(request.phone):
                raise InvalidArgument([("phone", "must be an E.164 number: + and 8 to 15 digits")])
            row = delivery(key, "sms", request.kind, request.phone, params)
        else:
            locale = pick_locale(request.locale) if request.locale else ""
            first = ""
            for sub in await self.store.push_subscriptions_of(request.push_user):
                push = delivery(
                    f"{key}:{sub.id}", "push", request.kind, sub.id, params, user_id=request.push_user
                )
                push.locale = locale
                first = first or (await self.store.enqueue(push)).id
            if callable(self._kick):
                self._kick()
            return send_pb2.SendResponse(delivery=first)
        row.locale = pick_locale(request.locale) if request.locale else ""
        queued = await self.store.enqueue(row)
        if callable(self._kick):
            self._kick()
        return send_pb2.SendResponse(delivery=queued.id)
