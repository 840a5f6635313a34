import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrackSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_SOURCE_UNSPECIFIED: _ClassVar[TrackSource]
    TRACK_SOURCE_CAMERA: _ClassVar[TrackSource]
    TRACK_SOURCE_MICROPHONE: _ClassVar[TrackSource]
    TRACK_SOURCE_SCREEN: _ClassVar[TrackSource]
    TRACK_SOURCE_FILE: _ClassVar[TrackSource]

class TrackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRACK_KIND_UNSPECIFIED: _ClassVar[TrackKind]
    TRACK_KIND_AUDIO: _ClassVar[TrackKind]
    TRACK_KIND_VIDEO: _ClassVar[TrackKind]
TRACK_SOURCE_UNSPECIFIED: TrackSource
TRACK_SOURCE_CAMERA: TrackSource
TRACK_SOURCE_MICROPHONE: TrackSource
TRACK_SOURCE_SCREEN: TrackSource
TRACK_SOURCE_FILE: TrackSource
TRACK_KIND_UNSPECIFIED: TrackKind
TRACK_KIND_AUDIO: TrackKind
TRACK_KIND_VIDEO: TrackKind

class SignalRequest(_message.Message):
    __slots__ = ("request_id", "join", "offer", "trickle", "publish", "unpublish", "mute", "subscription", "chat", "data", "leave", "ping", "recording", "request_unmute", "mute_participant", "mute_all", "lower_hands", "raise_hand", "reaction", "visibility")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOIN_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    TRICKLE_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    UNPUBLISH_FIELD_NUMBER: _ClassVar[int]
    MUTE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LEAVE_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    REQUEST_UNMUTE_FIELD_NUMBER: _ClassVar[int]
    MUTE_PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    MUTE_ALL_FIELD_NUMBER: _ClassVar[int]
    LOWER_HANDS_FIELD_NUMBER: _ClassVar[int]
    RAISE_HAND_FIELD_NUMBER: _ClassVar[int]
    REACTION_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    join: Join
    offer: SessionDescription
    trickle: IceCandidate
    publish: PublishTrack
    unpublish: UnpublishTrack
    mute: MuteTrack
    subscription: UpdateSubscription
    chat: SendChat
    data: SendData
    leave: Leave
    ping: Ping
    recording: ControlRecording
    request_unmute: RequestUnmute
    mute_participant: MuteParticipant
    mute_all: MuteAll
    lower_hands: LowerHands
    raise_hand: RaiseHand
    reaction: SendReaction
    visibility: TrackVisibility
    def __init__(self, request_id: _Optional[int] = ..., join: _Optional[_Union[Join, _Mapping]] = ..., offer: _Optional[_Union[SessionDescription, _Mapping]] = ..., trickle: _Optional[_Union[IceCandidate, _Mapping]] = ..., publish: _Optional[_Union[PublishTrack, _Mapping]] = ..., unpublish: _Optional[_Union[UnpublishTrack, _Mapping]] = ..., mute: _Optional[_Union[MuteTrack, _Mapping]] = ..., subscription: _Optional[_Union[UpdateSubscription, _Mapping]] = ..., chat: _Optional[_Union[SendChat, _Mapping]] = ..., data: _Optional[_Union[SendData, _Mapping]] = ..., leave: _Optional[_Union[Leave, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ..., recording: _Optional[_Union[ControlRecording, _Mapping]] = ..., request_unmute: _Optional[_Union[RequestUnmute, _Mapping]] = ..., mute_participant: _Optional[_Union[MuteParticipant, _Mapping]] = ..., mute_all: _Optional[_Union[MuteAll, _Mapping]] = ..., lower_hands: _Optional[_Union[LowerHands, _Mapping]] = ..., raise_hand: _Optional[_Union[RaiseHand, _Mapping]] = ..., reaction: _Optional[_Union[SendReaction, _Mapping]] = ..., visibility: _Optional[_Union[TrackVisibility, _Mapping]] = ...) -> None: ...

class SignalResponse(_message.Message):
    __slots__ = ("request_id", "joined", "answer", "trickle", "participant_update", "track_update", "active_speakers", "chat", "data", "caption", "error", "reconnect", "left", "pong", "recording_update", "tracks_published", "unmute_requested", "hand_update", "reaction", "lobby_update", "synthetic_voice_alert", "emotion_update")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    TRICKLE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_UPDATE_FIELD_NUMBER: _ClassVar[int]
    TRACK_UPDATE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RECONNECT_FIELD_NUMBER: _ClassVar[int]
    LEFT_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    RECORDING_UPDATE_FIELD_NUMBER: _ClassVar[int]
    TRACKS_PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    UNMUTE_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    HAND_UPDATE_FIELD_NUMBER: _ClassVar[int]
    REACTION_FIELD_NUMBER: _ClassVar[int]
    LOBBY_UPDATE_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_VOICE_ALERT_FIELD_NUMBER: _ClassVar[int]
    EMOTION_UPDATE_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    joined: Joined
    answer: SessionDescription
    trickle: IceCandidate
    participant_update: ParticipantUpdate
    track_update: TrackUpdate
    active_speakers: ActiveSpeakers
    chat: ChatMessage
    data: DataMessage
    caption: Caption
    error: Error
    reconnect: Reconnect
    left: Left
    pong: Pong
    recording_update: RecordingUpdate
    tracks_published: TracksPublished
    unmute_requested: UnmuteRequested
    hand_update: HandUpdate
    reaction: Reaction
    lobby_update: LobbyUpdate
    synthetic_voice_alert: SyntheticVoiceAlert
    emotion_update: EmotionUpdate
    def __init__(self, request_id: _Optional[int] = ..., joined: _Optional[_Union[Joined, _Mapping]] = ..., answer: _Optional[_Union[SessionDescription, _Mapping]] = ..., trickle: _Optional[_Union[IceCandidate, _Mapping]] = ..., participant_update: _Optional[_Union[ParticipantUpdate, _Mapping]] = ..., track_update: _Optional[_Union[TrackUpdate, _Mapping]] = ..., active_speakers: _Optional[_Union[ActiveSpeakers, _Mapping]] = ..., chat: _Optional[_Union[ChatMessage, _Mapping]] = ..., data: _Optional[_Union[DataMessage, _Mapping]] = ..., caption: _Optional[_Union[Caption, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., reconnect: _Optional[_Union[Reconnect, _Mapping]] = ..., left: _Optional[_Union[Left, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., recording_update: _Optional[_Union[RecordingUpdate, _Mapping]] = ..., tracks_published: _Optional[_Union[TracksPublished, _Mapping]] = ..., unmute_requested: _Optional[_Union[UnmuteRequested, _Mapping]] = ..., hand_update: _Optional[_Union[HandUpdate, _Mapping]] = ..., reaction: _Optional[_Union[Reaction, _Mapping]] = ..., lobby_update: _Optional[_Union[LobbyUpdate, _Mapping]] = ..., synthetic_voice_alert: _Optional[_Union[SyntheticVoiceAlert, _Mapping]] = ..., emotion_update: _Optional[_Union[EmotionUpdate, _Mapping]] = ...) -> None: ...

class Join(_message.Message):
    __slots__ = ("token", "resume_token")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    resume_token: str
    def __init__(self, token: _Optional[str] = ..., resume_token: _Optional[str] = ...) -> None: ...

class SessionDescription(_message.Message):
    __slots__ = ("type", "sdp")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    type: str
    sdp: str
    def __init__(self, type: _Optional[str] = ..., sdp: _Optional[str] = ...) -> None: ...

class IceCandidate(_message.Message):
    __slots__ = ("candidate", "sdp_mid", "sdp_mline_index")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    SDP_MID_FIELD_NUMBER: _ClassVar[int]
    SDP_MLINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    sdp_mid: str
    sdp_mline_index: int
    def __init__(self, candidate: _Optional[str] = ..., sdp_mid: _Optional[str] = ..., sdp_mline_index: _Optional[int] = ...) -> None: ...

class PublishTrack(_message.Message):
    __slots__ = ("mid", "kind", "source", "name")
    MID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    mid: str
    kind: TrackKind
    source: TrackSource
    name: str
    def __init__(self, mid: _Optional[str] = ..., kind: _Optional[_Union[TrackKind, str]] = ..., source: _Optional[_Union[TrackSource, str]] = ..., name: _Optional[str] = ...) -> None: ...

class UnpublishTrack(_message.Message):
    __slots__ = ("track_id",)
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    track_id: str
    def __init__(self, track_id: _Optional[str] = ...) -> None: ...

class MuteTrack(_message.Message):
    __slots__ = ("track_id", "muted")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    track_id: str
    muted: bool
    def __init__(self, track_id: _Optional[str] = ..., muted: _Optional[bool] = ...) -> None: ...

class TrackSubscription(_message.Message):
    __slots__ = ("track_id", "mid")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    MID_FIELD_NUMBER: _ClassVar[int]
    track_id: str
    mid: str
    def __init__(self, track_id: _Optional[str] = ..., mid: _Optional[str] = ...) -> None: ...

class UpdateSubscription(_message.Message):
    __slots__ = ("subscribe", "unsubscribe")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    subscribe: _containers.RepeatedCompositeFieldContainer[TrackSubscription]
    unsubscribe: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subscribe: _Optional[_Iterable[_Union[TrackSubscription, _Mapping]]] = ..., unsubscribe: _Optional[_Iterable[str]] = ...) -> None: ...

class SendChat(_message.Message):
    __slots__ = ("text", "to")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    text: str
    to: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, text: _Optional[str] = ..., to: _Optional[_Iterable[str]] = ...) -> None: ...

class SendData(_message.Message):
    __slots__ = ("payload", "topic", "to")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    topic: str
    to: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, payload: _Optional[bytes] = ..., topic: _Optional[str] = ..., to: _Optional[_Iterable[str]] = ...) -> None: ...

class Leave(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Ping(_message.Message):
    __slots__ = ("timestamp_ms",)
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    def __init__(self, timestamp_ms: _Optional[int] = ...) -> None: ...

class ControlRecording(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: bool
    def __init__(self, record: _Optional[bool] = ...) -> None: ...

class Participant(_message.Message):
    __slots__ = ("id", "user", "role", "grants", "display_name", "hand_raised")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    HAND_RAISED_FIELD_NUMBER: _ClassVar[int]
    id: str
    user: str
    role: str
    grants: _containers.RepeatedScalarFieldContainer[str]
    display_name: str
    hand_raised: bool
    def __init__(self, id: _Optional[str] = ..., user: _Optional[str] = ..., role: _Optional[str] = ..., grants: _Optional[_Iterable[str]] = ..., display_name: _Optional[str] = ..., hand_raised: _Optional[bool] = ...) -> None: ...

class Track(_message.Message):
    __slots__ = ("id", "participant", "kind", "source", "name", "muted", "muted_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    MUTED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    participant: str
    kind: TrackKind
    source: TrackSource
    name: str
    muted: bool
    muted_by: str
    def __init__(self, id: _Optional[str] = ..., participant: _Optional[str] = ..., kind: _Optional[_Union[TrackKind, str]] = ..., source: _Optional[_Union[TrackSource, str]] = ..., name: _Optional[str] = ..., muted: _Optional[bool] = ..., muted_by: _Optional[str] = ...) -> None: ...

class Joined(_message.Message):
    __slots__ = ("meeting", "participant", "participants", "tracks", "ice_servers", "resume_token", "resumed", "resume_grace_seconds", "recording")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    ICE_SERVERS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    RESUME_GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    participant: Participant
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    tracks: _containers.RepeatedCompositeFieldContainer[Track]
    ice_servers: _containers.RepeatedCompositeFieldContainer[IceServer]
    resume_token: str
    resumed: bool
    resume_grace_seconds: int
    recording: bool
    def __init__(self, meeting: _Optional[str] = ..., participant: _Optional[_Union[Participant, _Mapping]] = ..., participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ..., tracks: _Optional[_Iterable[_Union[Track, _Mapping]]] = ..., ice_servers: _Optional[_Iterable[_Union[IceServer, _Mapping]]] = ..., resume_token: _Optional[str] = ..., resumed: _Optional[bool] = ..., resume_grace_seconds: _Optional[int] = ..., recording: _Optional[bool] = ...) -> None: ...

class IceServer(_message.Message):
    __slots__ = ("urls", "username", "credential")
    URLS_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    urls: _containers.RepeatedScalarFieldContainer[str]
    username: str
    credential: str
    def __init__(self, urls: _Optional[_Iterable[str]] = ..., username: _Optional[str] = ..., credential: _Optional[str] = ...) -> None: ...

class ParticipantUpdate(_message.Message):
    __slots__ = ("change", "participant")
    class Change(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE_UNSPECIFIED: _ClassVar[ParticipantUpdate.Change]
        CHANGE_JOINED: _ClassVar[ParticipantUpdate.Change]
        CHANGE_UPDATED: _ClassVar[ParticipantUpdate.Change]
        CHANGE_LEFT: _ClassVar[ParticipantUpdate.Change]
    CHANGE_UNSPECIFIED: ParticipantUpdate.Change
    CHANGE_JOINED: ParticipantUpdate.Change
    CHANGE_UPDATED: ParticipantUpdate.Change
    CHANGE_LEFT: ParticipantUpdate.Change
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    change: ParticipantUpdate.Change
    participant: Participant
    def __init__(self, change: _Optional[_Union[ParticipantUpdate.Change, str]] = ..., participant: _Optional[_Union[Participant, _Mapping]] = ...) -> None: ...

class TrackUpdate(_message.Message):
    __slots__ = ("change", "track")
    class Change(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE_UNSPECIFIED: _ClassVar[TrackUpdate.Change]
        CHANGE_PUBLISHED: _ClassVar[TrackUpdate.Change]
        CHANGE_MUTED: _ClassVar[TrackUpdate.Change]
        CHANGE_UNPUBLISHED: _ClassVar[TrackUpdate.Change]
    CHANGE_UNSPECIFIED: TrackUpdate.Change
    CHANGE_PUBLISHED: TrackUpdate.Change
    CHANGE_MUTED: TrackUpdate.Change
    CHANGE_UNPUBLISHED: TrackUpdate.Change
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    change: TrackUpdate.Change
    track: Track
    def __init__(self, change: _Optional[_Union[TrackUpdate.Change, str]] = ..., track: _Optional[_Union[Track, _Mapping]] = ...) -> None: ...

class TracksPublished(_message.Message):
    __slots__ = ("tracks_by_mid",)
    class TracksByMidEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Track
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Track, _Mapping]] = ...) -> None: ...
    TRACKS_BY_MID_FIELD_NUMBER: _ClassVar[int]
    tracks_by_mid: _containers.MessageMap[str, Track]
    def __init__(self, tracks_by_mid: _Optional[_Mapping[str, Track]] = ...) -> None: ...

class SpeakerLevel(_message.Message):
    __slots__ = ("participant", "level")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    participant: str
    level: float
    def __init__(self, participant: _Optional[str] = ..., level: _Optional[float] = ...) -> None: ...

class ActiveSpeakers(_message.Message):
    __slots__ = ("speakers",)
    SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    speakers: _containers.RepeatedCompositeFieldContainer[SpeakerLevel]
    def __init__(self, speakers: _Optional[_Iterable[_Union[SpeakerLevel, _Mapping]]] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("text", "send_time", "private")
    FROM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_FIELD_NUMBER: _ClassVar[int]
    text: str
    send_time: _timestamp_pb2.Timestamp
    private: bool
    def __init__(self, text: _Optional[str] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., private: _Optional[bool] = ..., **kwargs) -> None: ...

class DataMessage(_message.Message):
    __slots__ = ("payload", "topic")
    FROM_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    topic: str
    def __init__(self, payload: _Optional[bytes] = ..., topic: _Optional[str] = ..., **kwargs) -> None: ...

class Caption(_message.Message):
    __slots__ = ("participant", "text", "is_final", "utterance_id")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    participant: str
    text: str
    is_final: bool
    utterance_id: int
    def __init__(self, participant: _Optional[str] = ..., text: _Optional[str] = ..., is_final: _Optional[bool] = ..., utterance_id: _Optional[int] = ...) -> None: ...

class SyntheticVoiceAlert(_message.Message):
    __slots__ = ("participant", "utterance_id", "score")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    participant: str
    utterance_id: int
    score: float
    def __init__(self, participant: _Optional[str] = ..., utterance_id: _Optional[int] = ..., score: _Optional[float] = ...) -> None: ...

class EmotionUpdate(_message.Message):
    __slots__ = ("participant", "emotion", "score", "faces")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    participant: str
    emotion: str
    score: float
    faces: int
    def __init__(self, participant: _Optional[str] = ..., emotion: _Optional[str] = ..., score: _Optional[float] = ..., faces: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("reason", "message", "fatal")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FATAL_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    fatal: bool
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ..., fatal: _Optional[bool] = ...) -> None: ...

class Reconnect(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Left(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("timestamp_ms",)
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    def __init__(self, timestamp_ms: _Optional[int] = ...) -> None: ...

class RecordingUpdate(_message.Message):
    __slots__ = ("recording", "recording_name", "download_uri", "by", "consent_notice")
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    RECORDING_NAME_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URI_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    CONSENT_NOTICE_FIELD_NUMBER: _ClassVar[int]
    recording: bool
    recording_name: str
    download_uri: str
    by: str
    consent_notice: str
    def __init__(self, recording: _Optional[bool] = ..., recording_name: _Optional[str] = ..., download_uri: _Optional[str] = ..., by: _Optional[str] = ..., consent_notice: _Optional[str] = ...) -> None: ...

class RequestUnmute(_message.Message):
    __slots__ = ("participant", "source")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    participant: str
    source: TrackSource
    def __init__(self, participant: _Optional[str] = ..., source: _Optional[_Union[TrackSource, str]] = ...) -> None: ...

class MuteParticipant(_message.Message):
    __slots__ = ("participant", "source")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    participant: str
    source: TrackSource
    def __init__(self, participant: _Optional[str] = ..., source: _Optional[_Union[TrackSource, str]] = ...) -> None: ...

class MuteAll(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: TrackSource
    def __init__(self, source: _Optional[_Union[TrackSource, str]] = ...) -> None: ...

class LowerHands(_message.Message):
    __slots__ = ("participants",)
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    participants: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, participants: _Optional[_Iterable[str]] = ...) -> None: ...

class RaiseHand(_message.Message):
    __slots__ = ("raised",)
    RAISED_FIELD_NUMBER: _ClassVar[int]
    raised: bool
    def __init__(self, raised: _Optional[bool] = ...) -> None: ...

class SendReaction(_message.Message):
    __slots__ = ("emoji",)
    EMOJI_FIELD_NUMBER: _ClassVar[int]
    emoji: str
    def __init__(self, emoji: _Optional[str] = ...) -> None: ...

class UnmuteRequested(_message.Message):
    __slots__ = ("source",)
    FROM_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: TrackSource
    def __init__(self, source: _Optional[_Union[TrackSource, str]] = ..., **kwargs) -> None: ...

class HandUpdate(_message.Message):
    __slots__ = ("participant", "raised", "by")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    RAISED_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    participant: str
    raised: bool
    by: str
    def __init__(self, participant: _Optional[str] = ..., raised: _Optional[bool] = ..., by: _Optional[str] = ...) -> None: ...

class Reaction(_message.Message):
    __slots__ = ("emoji",)
    FROM_FIELD_NUMBER: _ClassVar[int]
    EMOJI_FIELD_NUMBER: _ClassVar[int]
    emoji: str
    def __init__(self, emoji: _Optional[str] = ..., **kwargs) -> None: ...

class LobbyUpdate(_message.Message):
    __slots__ = ("change", "participant", "display_name")
    class Change(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE_UNSPECIFIED: _ClassVar[LobbyUpdate.Change]
        CHANGE_WAITING: _ClassVar[LobbyUpdate.Change]
        CHANGE_ADMITTED: _ClassVar[LobbyUpdate.Change]
        CHANGE_DENIED: _ClassVar[LobbyUpdate.Change]
        CHANGE_LEFT: _ClassVar[LobbyUpdate.Change]
    CHANGE_UNSPECIFIED: LobbyUpdate.Change
    CHANGE_WAITING: LobbyUpdate.Change
    CHANGE_ADMITTED: LobbyUpdate.Change
    CHANGE_DENIED: LobbyUpdate.Change
    CHANGE_LEFT: LobbyUpdate.Change
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    change: LobbyUpdate.Change
    participant: str
    display_name: str
    def __init__(self, change: _Optional[_Union[LobbyUpdate.Change, str]] = ..., participant: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class TrackVisibility(_message.Message):
    __slots__ = ("hidden", "shown")
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    SHOWN_FIELD_NUMBER: _ClassVar[int]
    hidden: _containers.RepeatedScalarFieldContainer[str]
    shown: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hidden: _Optional[_Iterable[str]] = ..., shown: _Optional[_Iterable[str]] = ...) -> None: ...
