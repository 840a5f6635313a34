from buf.validate import validate_pb2 as _validate_pb2
from meetmesh.ai.v1 import ai_pb2 as _ai_pb2
from meetmesh.options.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_LINEAR16: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_FLOAT32: _ClassVar[AudioEncoding]
AUDIO_ENCODING_UNSPECIFIED: AudioEncoding
AUDIO_ENCODING_LINEAR16: AudioEncoding
AUDIO_ENCODING_FLOAT32: AudioEncoding

class StreamConfig(_message.Message):
    __slots__ = ("participant", "sample_rate_hertz", "encoding", "captions", "synthetic_voice", "emotion")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HERTZ_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    CAPTIONS_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_VOICE_FIELD_NUMBER: _ClassVar[int]
    EMOTION_FIELD_NUMBER: _ClassVar[int]
    participant: str
    sample_rate_hertz: int
    encoding: AudioEncoding
    captions: bool
    synthetic_voice: bool
    emotion: bool
    def __init__(self, participant: _Optional[str] = ..., sample_rate_hertz: _Optional[int] = ..., encoding: _Optional[_Union[AudioEncoding, str]] = ..., captions: _Optional[bool] = ..., synthetic_voice: _Optional[bool] = ..., emotion: _Optional[bool] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class VideoFrame(_message.Message):
    __slots__ = ("image", "offset_ms")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    offset_ms: int
    def __init__(self, image: _Optional[bytes] = ..., offset_ms: _Optional[int] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("config", "audio", "frame")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    audio: AudioChunk
    frame: VideoFrame
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ..., frame: _Optional[_Union[VideoFrame, _Mapping]] = ...) -> None: ...

class VoiceActivity(_message.Message):
    __slots__ = ("speaking", "offset_ms")
    SPEAKING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    speaking: bool
    offset_ms: int
    def __init__(self, speaking: _Optional[bool] = ..., offset_ms: _Optional[int] = ...) -> None: ...

class Caption(_message.Message):
    __slots__ = ("utterance_id", "is_final", "text", "start_ms", "end_ms", "segment")
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    utterance_id: int
    is_final: bool
    text: str
    start_ms: int
    end_ms: int
    segment: str
    def __init__(self, utterance_id: _Optional[int] = ..., is_final: _Optional[bool] = ..., text: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., segment: _Optional[str] = ...) -> None: ...

class FrameEmotions(_message.Message):
    __slots__ = ("offset_ms", "faces")
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    offset_ms: int
    faces: _containers.RepeatedCompositeFieldContainer[_ai_pb2.FaceEmotion]
    def __init__(self, offset_ms: _Optional[int] = ..., faces: _Optional[_Iterable[_Union[_ai_pb2.FaceEmotion, _Mapping]]] = ...) -> None: ...

class SyntheticVoice(_message.Message):
    __slots__ = ("utterance_id", "score", "alert")
    UTTERANCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    utterance_id: int
    score: float
    alert: bool
    def __init__(self, utterance_id: _Optional[int] = ..., score: _Optional[float] = ..., alert: _Optional[bool] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("voice_activity", "caption", "emotions", "synthetic_voice")
    VOICE_ACTIVITY_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    EMOTIONS_FIELD_NUMBER: _ClassVar[int]
    SYNTHETIC_VOICE_FIELD_NUMBER: _ClassVar[int]
    voice_activity: VoiceActivity
    caption: Caption
    emotions: FrameEmotions
    synthetic_voice: SyntheticVoice
    def __init__(self, voice_activity: _Optional[_Union[VoiceActivity, _Mapping]] = ..., caption: _Optional[_Union[Caption, _Mapping]] = ..., emotions: _Optional[_Union[FrameEmotions, _Mapping]] = ..., synthetic_voice: _Optional[_Union[SyntheticVoice, _Mapping]] = ...) -> None: ...
