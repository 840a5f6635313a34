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

class Publication(_message.Message):
    __slots__ = ("mid", "track_id")
    MID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    mid: str
    track_id: str
    def __init__(self, mid: _Optional[str] = ..., track_id: _Optional[str] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("mid", "track_id")
    MID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    mid: str
    track_id: str
    def __init__(self, mid: _Optional[str] = ..., track_id: _Optional[str] = ...) -> None: ...

class NegotiateRequest(_message.Message):
    __slots__ = ("meeting", "participant", "sdp", "publish", "subscribe")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    PUBLISH_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    participant: str
    sdp: str
    publish: _containers.RepeatedCompositeFieldContainer[Publication]
    subscribe: _containers.RepeatedCompositeFieldContainer[Subscription]
    def __init__(self, meeting: _Optional[str] = ..., participant: _Optional[str] = ..., sdp: _Optional[str] = ..., publish: _Optional[_Iterable[_Union[Publication, _Mapping]]] = ..., subscribe: _Optional[_Iterable[_Union[Subscription, _Mapping]]] = ...) -> None: ...

class NegotiateResponse(_message.Message):
    __slots__ = ("sdp",)
    SDP_FIELD_NUMBER: _ClassVar[int]
    sdp: str
    def __init__(self, sdp: _Optional[str] = ...) -> None: ...

class RelayedTrack(_message.Message):
    __slots__ = ("track_id", "participant", "kind")
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    track_id: str
    participant: str
    kind: str
    def __init__(self, track_id: _Optional[str] = ..., participant: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class RelayTracksRequest(_message.Message):
    __slots__ = ("meeting", "source_node", "tracks")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    SOURCE_NODE_FIELD_NUMBER: _ClassVar[int]
    TRACKS_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    source_node: str
    tracks: _containers.RepeatedCompositeFieldContainer[RelayedTrack]
    def __init__(self, meeting: _Optional[str] = ..., source_node: _Optional[str] = ..., tracks: _Optional[_Iterable[_Union[RelayedTrack, _Mapping]]] = ...) -> None: ...

class RelayTracksResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddIceCandidateRequest(_message.Message):
    __slots__ = ("meeting", "participant", "candidate", "sdp_mid", "sdp_mline_index")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    SDP_MID_FIELD_NUMBER: _ClassVar[int]
    SDP_MLINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    participant: str
    candidate: str
    sdp_mid: str
    sdp_mline_index: int
    def __init__(self, meeting: _Optional[str] = ..., participant: _Optional[str] = ..., candidate: _Optional[str] = ..., sdp_mid: _Optional[str] = ..., sdp_mline_index: _Optional[int] = ...) -> None: ...

class AddIceCandidateResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnsubscribeRequest(_message.Message):
    __slots__ = ("meeting", "participant", "track_ids")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    TRACK_IDS_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    participant: str
    track_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, meeting: _Optional[str] = ..., participant: _Optional[str] = ..., track_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UnsubscribeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetSubscriptionsPausedRequest(_message.Message):
    __slots__ = ("meeting", "participant", "track_ids", "paused")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    TRACK_IDS_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    participant: str
    track_ids: _containers.RepeatedScalarFieldContainer[str]
    paused: bool
    def __init__(self, meeting: _Optional[str] = ..., participant: _Optional[str] = ..., track_ids: _Optional[_Iterable[str]] = ..., paused: _Optional[bool] = ...) -> None: ...

class SetSubscriptionsPausedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetTrackMutedRequest(_message.Message):
    __slots__ = ("meeting", "track_id", "muted")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    track_id: str
    muted: bool
    def __init__(self, meeting: _Optional[str] = ..., track_id: _Optional[str] = ..., muted: _Optional[bool] = ...) -> None: ...

class SetTrackMutedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnpublishTrackRequest(_message.Message):
    __slots__ = ("meeting", "track_id")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    track_id: str
    def __init__(self, meeting: _Optional[str] = ..., track_id: _Optional[str] = ...) -> None: ...

class UnpublishTrackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveParticipantRequest(_message.Message):
    __slots__ = ("meeting", "participant")
    MEETING_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    participant: str
    def __init__(self, meeting: _Optional[str] = ..., participant: _Optional[str] = ...) -> None: ...

class RemoveParticipantResponse(_message.Message):
    __slots__ = ("track_ids",)
    TRACK_IDS_FIELD_NUMBER: _ClassVar[int]
    track_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, track_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StartRecordingRequest(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    def __init__(self, meeting: _Optional[str] = ...) -> None: ...

class StartRecordingResponse(_message.Message):
    __slots__ = ("start_time",)
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StopRecordingRequest(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    def __init__(self, meeting: _Optional[str] = ...) -> None: ...

class StopRecordingResponse(_message.Message):
    __slots__ = ("recording_name", "object_key", "media_type", "duration_seconds", "size_bytes", "download_uri", "transcode_job")
    RECORDING_NAME_FIELD_NUMBER: _ClassVar[int]
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URI_FIELD_NUMBER: _ClassVar[int]
    TRANSCODE_JOB_FIELD_NUMBER: _ClassVar[int]
    recording_name: str
    object_key: str
    media_type: str
    duration_seconds: float
    size_bytes: int
    download_uri: str
    transcode_job: str
    def __init__(self, recording_name: _Optional[str] = ..., object_key: _Optional[str] = ..., media_type: _Optional[str] = ..., duration_seconds: _Optional[float] = ..., size_bytes: _Optional[int] = ..., download_uri: _Optional[str] = ..., transcode_job: _Optional[str] = ...) -> None: ...

class WatchMeetingRequest(_message.Message):
    __slots__ = ("meeting",)
    MEETING_FIELD_NUMBER: _ClassVar[int]
    meeting: str
    def __init__(self, meeting: _Optional[str] = ...) -> None: ...

class AudioLevel(_message.Message):
    __slots__ = ("participant", "level")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    participant: str
    level: float
    def __init__(self, participant: _Optional[str] = ..., level: _Optional[float] = ...) -> None: ...

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

class WatchMeetingResponse(_message.Message):
    __slots__ = ("audio_levels", "caption", "synthetic_voice", "emotions")
    AUDIO_LEVELS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_VOICE_FIELD_NUMBER: _ClassVar[int]
    EMOTIONS_FIELD_NUMBER: _ClassVar[int]
    audio_levels: AudioLevels
    caption: Caption
    synthetic_voice: SyntheticVoiceScore
    emotions: FrameEmotions
    def __init__(self, audio_levels: _Optional[_Union[AudioLevels, _Mapping]] = ..., caption: _Optional[_Union[Caption, _Mapping]] = ..., synthetic_voice: _Optional[_Union[SyntheticVoiceScore, _Mapping]] = ..., emotions: _Optional[_Union[FrameEmotions, _Mapping]] = ...) -> None: ...

class SyntheticVoiceScore(_message.Message):
    __slots__ = ("participant", "utterance_id", "score", "alert")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    participant: str
    utterance_id: int
    score: float
    alert: bool
    def __init__(self, participant: _Optional[str] = ..., utterance_id: _Optional[int] = ..., score: _Optional[float] = ..., alert: _Optional[bool] = ...) -> None: ...

class FrameEmotions(_message.Message):
    __slots__ = ("participant", "emotion", "score", "faces", "live")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    participant: str
    emotion: str
    score: float
    faces: int
    live: bool
    def __init__(self, participant: _Optional[str] = ..., emotion: _Optional[str] = ..., score: _Optional[float] = ..., faces: _Optional[int] = ..., live: _Optional[bool] = ...) -> None: ...

class AudioLevels(_message.Message):
    __slots__ = ("levels",)
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    levels: _containers.RepeatedCompositeFieldContainer[AudioLevel]
    def __init__(self, levels: _Optional[_Iterable[_Union[AudioLevel, _Mapping]]] = ...) -> None: ...

class WatchTranscodeRequest(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: str
    def __init__(self, job: _Optional[str] = ...) -> None: ...

class WatchTranscodeResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: TranscodeJob
    def __init__(self, job: _Optional[_Union[TranscodeJob, _Mapping]] = ...) -> None: ...

class TranscodeJob(_message.Message):
    __slots__ = ("id", "recording", "state", "progress", "attempts", "mp4_key", "hls_key", "mp4_uri", "error", "duration_seconds")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[TranscodeJob.State]
        STATE_QUEUED: _ClassVar[TranscodeJob.State]
        STATE_RUNNING: _ClassVar[TranscodeJob.State]
        STATE_DONE: _ClassVar[TranscodeJob.State]
        STATE_FAILED: _ClassVar[TranscodeJob.State]
    STATE_UNSPECIFIED: TranscodeJob.State
    STATE_QUEUED: TranscodeJob.State
    STATE_RUNNING: TranscodeJob.State
    STATE_DONE: TranscodeJob.State
    STATE_FAILED: TranscodeJob.State
    ID_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MP4_KEY_FIELD_NUMBER: _ClassVar[int]
    HLS_KEY_FIELD_NUMBER: _ClassVar[int]
    MP4_URI_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    recording: str
    state: TranscodeJob.State
    progress: float
    attempts: int
    mp4_key: str
    hls_key: str
    mp4_uri: str
    error: str
    duration_seconds: float
    def __init__(self, id: _Optional[str] = ..., recording: _Optional[str] = ..., state: _Optional[_Union[TranscodeJob.State, str]] = ..., progress: _Optional[float] = ..., attempts: _Optional[int] = ..., mp4_key: _Optional[str] = ..., hls_key: _Optional[str] = ..., mp4_uri: _Optional[str] = ..., error: _Optional[str] = ..., duration_seconds: _Optional[float] = ...) -> None: ...
