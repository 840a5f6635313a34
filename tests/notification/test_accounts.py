"""Password reset (once and only once, never revealing whether an address exists) and security
notices (new sign-in, refresh-token reuse), from the user service's outbox to real SMTP."""

from __future__ import annotations

import re
import uuid

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from meetmesh.user.v1 import user_pb2
from tests.notification.conftest import Mailbox
from tests.notification.support import NotifyPlatform
from tests.support import PASSWORD, error_info, wait_until


async def _mail(mailbox: Mailbox, address: str, subject: str) -> str:
    async def arrived() -> bool:
        return any(m["Subject"] == subject for m in mailbox.to(address))

    await wait_until(arrived, within_s=15)
    [message] = [m for m in mailbox.to(address) if m["Subject"] == subject]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert message["List-Unsubscribe"] is None  # security mail cannot be unsubscribed from
    return str(text.get_content())


async def test_password_reset_works_once_and_only_once(notify: NotifyPlatform, mailbox: Mailbox) -> None:
    person = await notify.client("Pat")
    await notify.users.RequestPasswordReset(user_pb2.RequestPasswordResetRequest(email=person.email.upper()))
    # An unknown address gets the very same (empty) answer, and no mail.
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
    reply = await notify.users.RequestPasswordReset(user_pb2.RequestPasswordResetRequest(email=nobody))
    assert reply == user_pb2.RequestPasswordResetResponse()
    text = await _mail(mailbox, person.email, "Reset your meetmesh password")
    match = re.search(r"reset_token=([A-Za-z0-9_-]+)", text)
    assert match is not None
    token = match.group(1)
    new_password = "a brand new passphrase"
    await notify.users.ResetPassword(user_pb2.ResetPasswordRequest(token=token, new_password=new_password))
    # The old sessions are over, the old password is gone, the new one works.
    with pytest.raises(GRPCError) as err:
        await notify.users.GetUser(user_pb2.GetUserRequest(name="users/me"), metadata=person.metadata)
    assert err.value.status == Status.UNAUTHENTICATED
    with pytest.raises(GRPCError):
        await notify.login(person.email, PASSWORD)
    await notify.login(person.email, new_password)
    # The token is spent.
    with pytest.raises(GRPCError) as err:
        await notify.users.ResetPassword(
            user_pb2.ResetPasswordRequest(token=token, new_password="yet another one!")
        )
    assert err.value.status == Status.UNAUTHENTICATED
    assert error_info(err.value).reason == "INVALID_TOKEN"
    with pytest.raises(GRPCError) as err:
        await notify.users.ResetPassword(
            user_pb2.ResetPasswordRequest(token="x" * 43, new_password="yet another one!")
        )
    assert err.value.status == Status.UNAUTHENTICATED
    assert mailbox.to(nobody) == []


async def test_new_sign_in_and_refresh_token_reuse_send_security_notices(
    notify: NotifyPlatform, mailbox: Mailbox
) -> None:
    person = await notify.client("Sam")  # registering and signing in: one "new sign-in" notice
    await _mail(mailbox, person.email, "Security notice: new sign-in")
    first = person.tokens.refresh_token
    await notify.users.RefreshSession(user_pb2.RefreshSessionRequest(refresh_token=first))
    with pytest.raises(GRPCError) as err:
        await notify.users.RefreshSession(user_pb2.RefreshSessionRequest(refresh_token=first))
    assert error_info(err.value).reason == "REFRESH_TOKEN_REUSED"
    text = await _mail(mailbox, person.email, "Security notice: session revoked")
    assert "used twice" in text
