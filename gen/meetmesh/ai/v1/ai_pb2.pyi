import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Emotion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMOTION_UNSPECIFIED: _ClassVar[Emotion]
    EMOTION_ANGRY: _ClassVar[Emotion]
    EMOTION_DISGUST: _ClassVar[Emotion]
    EMOTION_FEAR: _ClassVar[Emotion]
    EMOTION_HAPPY: _ClassVar[Emotion]
    EMOTION_SAD: _ClassVar[Emotion]
    EMOTION_SURPRISE: _ClassVar[Emotion]
    EMOTION_NEUTRAL: _ClassVar[Emotion]

class TranscriptFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSCRIPT_FORMAT_UNSPECIFIED: _ClassVar[TranscriptFormat]
    TRANSCRIPT_FORMAT_TEXT: _ClassVar[TranscriptFormat]
    TRANSCRIPT_FORMAT_WEBVTT: _ClassVar[TranscriptFormat]

class ModelVersionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_VERSION_STATE_UNSPECIFIED: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_UNAVAILABLE: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_LOADING: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_READY: _ClassVar[ModelVersionState]
    MODEL_VERSION_STATE_UNLOADING: _ClassVar[ModelVersionState]
EMOTION_UNSPECIFIED: Emotion
EMOTION_ANGRY: Emotion
EMOTION_DISGUST: Emotion
EMOTION_FEAR: Emotion
EMOTION_HAPPY: Emotion
EMOTION_SAD: Emotion
EMOTION_SURPRISE: Emotion
EMOTION_NEUTRAL: Emotion
TRANSCRIPT_FORMAT_UNSPECIFIED: TranscriptFormat
TRANSCRIPT_FORMAT_TEXT: TranscriptFormat
TRANSCRIPT_FORMAT_WEBVTT: TranscriptFormat
MODEL_VERSION_STATE_UNSPECIFIED: ModelVersionState
MODEL_VERSION_STATE_UNAVAILABLE: ModelVersionState
MODEL_VERSION_STATE_LOADING: ModelVersionState
MODEL_VERSION_STATE_READY: ModelVersionState
MODEL_VERSION_STATE_UNLOADING: ModelVersionState

class TranscriptSegment(_message.Message):
    __slots__ = ("name", "speaker", "start_offset", "end_offset", "text", "synthetic_score")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_SCORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    speaker: str
    start_offset: _duration_pb2.Duration
    end_offset: _duration_pb2.Duration
    text: str
    synthetic_score: float
    def __init__(self, name: _Optional[str] = ..., speaker: _Optional[str] = ..., start_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., end_offset: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., text: _Optional[str] = ..., synthetic_score: _Optional[float] = ...) -> None: ...

class FaceEmotion(_message.Message):
    __slots__ = ("box", "emotion", "scores")
    BOX_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    box: BoundingBox
    emotion: Emotion
    scores: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, box: _Optional[_Union[BoundingBox, _Mapping]] = ..., emotion: _Optional[_Union[Emotion, str]] = ..., scores: _Optional[_Iterable[float]] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: int
    y: int
    width: int
    height: int
    def __init__(self, x: _Optional[int] = ..., y: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class AnalyzeAudioRequest(_message.Message):
    __slots__ = ("audio",)
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    def __init__(self, audio: _Optional[bytes] = ...) -> None: ...

class AnalyzeAudioResponse(_message.Message):
    __slots__ = ("segments", "duration")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[TranscriptSegment]
    duration: _duration_pb2.Duration
    def __init__(self, segments: _Optional[_Iterable[_Union[TranscriptSegment, _Mapping]]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class AnalyzeImageRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    def __init__(self, image: _Optional[bytes] = ...) -> None: ...

class AnalyzeImageResponse(_message.Message):
    __slots__ = ("faces",)
    FACES_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[FaceEmotion]
    def __init__(self, faces: _Optional[_Iterable[_Union[FaceEmotion, _Mapping]]] = ...) -> None: ...

class ListTranscriptSegmentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTranscriptSegmentsResponse(_message.Message):
    __slots__ = ("transcript_segments", "next_page_token")
    TRANSCRIPT_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transcript_segments: _containers.RepeatedCompositeFieldContainer[TranscriptSegment]
    next_page_token: str
    def __init__(self, transcript_segments: _Optional[_Iterable[_Union[TranscriptSegment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportTranscriptRequest(_message.Message):
    __slots__ = ("name", "format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: TranscriptFormat
    def __init__(self, name: _Optional[str] = ..., format: _Optional[_Union[TranscriptFormat, str]] = ...) -> None: ...

class ExportTranscriptResponse(_message.Message):
    __slots__ = ("content_type", "content")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    content: str
    def __init__(self, content_type: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class MeetingInsights(_message.Message):
    __slots__ = ("name", "participants", "emotion_timeline", "emotion_interval")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    EMOTION_TIMELINE_FIELD_NUMBER: _ClassVar[int]
    EMOTION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    participants: _containers.RepeatedCompositeFieldContainer[ParticipantInsights]
    emotion_timeline: _containers.RepeatedCompositeFieldContainer[EmotionInterval]
    emotion_interval: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., participants: _Optional[_Iterable[_Union[ParticipantInsights, _Mapping]]] = ..., emotion_timeline: _Optional[_Iterable[_Union[EmotionInterval, _Mapping]]] = ..., emotion_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ParticipantInsights(_message.Message):
    __slots__ = ("participant", "speaking_time", "utterance_count", "join_count", "leave_count", "published_track_count", "first_join_time", "last_leave_time")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_TIME_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    JOIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEAVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_TRACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_JOIN_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_LEAVE_TIME_FIELD_NUMBER: _ClassVar[int]
    participant: str
    speaking_time: _duration_pb2.Duration
    utterance_count: int
    join_count: int
    leave_count: int
    published_track_count: int
    first_join_time: _timestamp_pb2.Timestamp
    last_leave_time: _timestamp_pb2.Timestamp
    def __init__(self, participant: _Optional[str] = ..., speaking_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., utterance_count: _Optional[int] = ..., join_count: _Optional[int] = ..., leave_count: _Optional[int] = ..., published_track_count: _Optional[int] = ..., first_join_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_leave_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EmotionInterval(_message.Message):
    __slots__ = ("start_time", "counts")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    counts: _containers.RepeatedCompositeFieldContainer[EmotionCount]
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counts: _Optional[_Iterable[_Union[EmotionCount, _Mapping]]] = ...) -> None: ...

class EmotionCount(_message.Message):
    __slots__ = ("emotion", "count")
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    emotion: Emotion
    count: int
    def __init__(self, emotion: _Optional[_Union[Emotion, str]] = ..., count: _Optional[int] = ...) -> None: ...

class MeetingActivity(_message.Message):
    __slots__ = ("name", "participant", "kind", "time", "duration", "track_kind")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[MeetingActivity.Kind]
        KIND_JOINED: _ClassVar[MeetingActivity.Kind]
        KIND_LEFT: _ClassVar[MeetingActivity.Kind]
        KIND_TRACK_PUBLISHED: _ClassVar[MeetingActivity.Kind]
        KIND_SPOKE: _ClassVar[MeetingActivity.Kind]
    KIND_UNSPECIFIED: MeetingActivity.Kind
    KIND_JOINED: MeetingActivity.Kind
    KIND_LEFT: MeetingActivity.Kind
    KIND_TRACK_PUBLISHED: MeetingActivity.Kind
    KIND_SPOKE: MeetingActivity.Kind
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TRACK_KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    participant: str
    kind: MeetingActivity.Kind
    time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    track_kind: str
    def __init__(self, name: _Optional[str] = ..., participant: _Optional[str] = ..., kind: _Optional[_Union[MeetingActivity.Kind, str]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., track_kind: _Optional[str] = ...) -> None: ...

class GetMeetingInsightsRequest(_message.Message):
    __slots__ = ("name", "emotion_interval")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMOTION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    emotion_interval: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., emotion_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetMeetingInsightsResponse(_message.Message):
    __slots__ = ("insights",)
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    insights: MeetingInsights
    def __init__(self, insights: _Optional[_Union[MeetingInsights, _Mapping]] = ...) -> None: ...

class ListMeetingActivitiesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMeetingActivitiesResponse(_message.Message):
    __slots__ = ("meeting_activities", "next_page_token")
    MEETING_ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meeting_activities: _containers.RepeatedCompositeFieldContainer[MeetingActivity]
    next_page_token: str
    def __init__(self, meeting_activities: _Optional[_Iterable[_Union[MeetingActivity, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Model(_message.Message):
    __slots__ = ("name", "versions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersion]
    def __init__(self, name: _Optional[str] = ..., versions: _Optional[_Iterable[_Union[ModelVersion, _Mapping]]] = ...) -> None: ...

class ModelVersion(_message.Message):
    __slots__ = ("name", "state", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: ModelVersionState
    reason: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[ModelVersionState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ...) -> None: ...

class LoadModelVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LoadModelVersionResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class UnloadModelVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UnloadModelVersionResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class GetModelStatisticsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetModelStatisticsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersionStatistics]
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersionStatistics, _Mapping]]] = ...) -> None: ...

class ModelVersionStatistics(_message.Message):
    __slots__ = ("name", "success_count", "failure_count", "execution_count", "inference_count", "mean_queue_time", "mean_compute_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_TIME_FIELD_NUMBER: _ClassVar[int]
    MEAN_COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    success_count: int
    failure_count: int
    execution_count: int
    inference_count: int
    mean_queue_time: _duration_pb2.Duration
    mean_compute_time: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., success_count: _Optional[int] = ..., failure_count: _Optional[int] = ..., execution_count: _Optional[int] = ..., inference_count: _Optional[int] = ..., mean_queue_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., mean_compute_time: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
