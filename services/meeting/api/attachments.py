"""Meeting attachments: files shared in a meeting, visible only to its participants.

A participant creates an attachment (PENDING) and gets a presigned PUT URL; after the upload,
``CommitAttachment`` checks the object (present, the declared size and type, within the limit) and
makes it READY. Downloads go through presigned GET URLs. Anyone who is not a participant of the
meeting (the host, or admitted now or before) gets NOT_FOUND, as if the attachment did not exist.
The rules for the files and their removal when the meeting ends are in ``../attachments.py``.
"""

from __future__ import annotations

from datetime import timedelta

from meetmesh.meeting.v1 import meeting_pb2
from services.kit import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, current_principal
from services.kit.errors import Reason
from services.kit.handlers import unary
from services.kit.logs import get_logger
from services.kit.pagination import decode_keyset, keyset_page, page_size
from services.kit.timestamps import to_timestamp, utcnow

from ..access import Access
from ..attachments import ALLOWED_TYPES, MAX_BYTES, filename_problem
from ..convert import attachment_message
from ..models import AttachmentRow
from ..store import ENDED
from .base import MeetingHandlers

log = get_logger("meetmesh.meeting.attachments")


class AttachmentMethods(MeetingHandlers):
    """CreateAttachment, CommitAttachment, GetAttachment, ListAttachments, DeleteAttachment."""

    async def _participant_access(self, meeting_id: str) -> tuple[Access, str]:
        caller = current_principal()
        access = await self._access(meeting_id, caller)
        if not access.is_participant(caller.user_id):
            raise NotFound(f"meetings/{meeting_id} does not exist")
        return access, caller.user_id

    async def _attachment(self, name: str) -> tuple[Access, str, AttachmentRow]:
        _, meeting_id, _, attachment_id = name.split("/")
        access, user_id = await self._participant_access(meeting_id)
        row = await self.store.attachment(meeting_id, attachment_id)
        if row is None:
            raise NotFound(f"{name} does not exist")
        return access, user_id, row

    @unary
    async def CreateAttachment(
        self, request: meeting_pb2.CreateAttachmentRequest
    ) -> meeting_pb2.CreateAttachmentResponse:
        meeting_id = request.parent.split("/")[1]
        access, user_id = await self._participant_access(meeting_id)
        if access.meeting.state == ENDED:
            raise FailedPrecondition("the meeting has ended", reason=Reason.ERROR_REASON_MEETING_ENDED)
        given = request.attachment
        violations = []
        problem = filename_problem(given.filename)
        if problem:
            violations.append(("attachment.filename", problem))
        if given.content_type not in ALLOWED_TYPES:
            violations.append(("attachment.content_type", "is not a type that may be shared"))
        if given.size_bytes > MAX_BYTES:
            violations.append(("attachment.size_bytes", f"must be at most {MAX_BYTES} bytes"))
        if violations:
            raise InvalidArgument(violations)
        row = await self.store.add_attachment(
            meeting_id,
            {
                "uploader_user_id": user_id,
                "filename": given.filename,
                "content_type": given.content_type,
                "size_bytes": given.size_bytes,
            },
        )
        uri = self.objects.presign_put(row.object_key, row.content_type, row.size_bytes, user_id)
        expires = utcnow() + timedelta(seconds=self.settings.objects.url_ttl_s)
        log.info("attachment created", extra={"meeting": meeting_id, "attachment": row.id})
        return meeting_pb2.CreateAttachmentResponse(
            attachment=attachment_message(row), upload_uri=uri, upload_expire_time=to_timestamp(expires)
        )

    @unary
    async def CommitAttachment(
        self, request: meeting_pb2.CommitAttachmentRequest
    ) -> meeting_pb2.CommitAttachmentResponse:
        _, user_id, row = await self._attachment(request.name)
        if row.uploader_user_id != user_id:
            raise PermissionDenied("only the uploader can commit an attachment")
        if row.state == "ready":
            return meeting_pb2.CommitAttachmentResponse(attachment=self._with_uri(row, user_id))
        info = await self.objects.stat(row.object_key)
        if info is None:
            raise FailedPrecondition("the file has not been uploaded yet (PUT it to the upload URL first)")
        problem = None
        if info.size > MAX_BYTES:
            problem = ("name", f"the uploaded file is larger than {MAX_BYTES} bytes")
        elif info.size != row.size_bytes:
            problem = ("name", "the uploaded file's size differs from the declared size_bytes")
        elif info.content_type and info.content_type.split(";")[0].strip() != row.content_type:
            problem = ("name", "the uploaded file's Content-Type differs from the declared content_type")
        if problem:
            await self.objects.delete(row.object_key)
            await self.store.delete_attachment(row.id)
            raise InvalidArgument([problem])
        ready = await self.store.mark_attachment_ready(row.id)
        if ready is None:
            raise NotFound(f"{request.name} does not exist")
        return meeting_pb2.CommitAttachmentResponse(attachment=self._with_uri(ready, user_id))

    def _with_uri(self, row: AttachmentRow, user_id: str) -> meeting_pb2.Attachment:
        return attachment_message(row, self.objects.presign_get(row.object_key, user_id))

    @unary
    async def GetAttachment(
        self, request: meeting_pb2.GetAttachmentRequest
    ) -> meeting_pb2.GetAttachmentResponse:
        _, user_id, row = await self._attachment(request.name)
        if row.state != "ready" and row.uploader_user_id != user_id:
            raise NotFound(f"{request.name} does not exist")
        uri = self.objects.presign_get(row.object_key, user_id) if row.state == "ready" else ""
        return meeting_pb2.GetAttachmentResponse(attachment=attachment_message(row, uri))

    @unary
    async def ListAttachments(
        self, request: meeting_pb2.ListAttachmentsRequest
    ) -> meeting_pb2.ListAttachmentsResponse:
        meeting_id = request.parent.split("/")[1]
        _, user_id = await self._participant_access(meeting_id)
        size = page_size(request.page_size)
        params = {"m": "ListAttachments", "p": request.parent}
        rows = await self.store.attachments(meeting_id, decode_keyset(request.page_token, params), size + 1)
        rows, token = keyset_page(rows, size, lambda r: (r.create_time, r.id), params)
        return meeting_pb2.ListAttachmentsResponse(
            attachments=[self._with_uri(r, user_id) for r in rows], next_page_token=token
        )

    @unary
    async def DeleteAttachment(
        self, request: meeting_pb2.DeleteAttachmentRequest
    ) -> meeting_pb2.DeleteAttachmentResponse:
        access, user_id, row = await self._attachment(request.name)
        if row.uploader_user_id != user_id and "moderate" not in access.grants:
            raise PermissionDenied("only the uploader or a moderator can remove an attachment")
        await self.objects.delete(row.object_key)
        await self.store.delete_attachment(row.id)
        log.info("attachment deleted", extra={"meeting": row.meeting_id, "attachment": row.id})
        return meeting_pb2.DeleteAttachmentResponse()
