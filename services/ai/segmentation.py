"""Utterance segmentation from per-window speech probabilities (silero-vad's 32 ms windows).

Pure state machine, no I/O: speech starts when a window crosses `onset`, ends after `min_silence_ms`
below `offset`, or sooner, once the pause holds `confident_silence_ms` of windows in a row below
`confident_silence` (the VAD is sure nobody speaks; measured on flite and the real recordings, the
end of speech is one or two windows between 0.05 and 0.35, then below 0.05, while pauses within a
sentence stay short or above 0.05); an utterance longer than `max_utterance_ms` is cut. Offsets
are in samples at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 512
_MS = 16  # samples per millisecond


@dataclass(frozen=True)
class SegmenterOptions:
    onset: float = 0.5
    offset: float = 0.35
    min_silence_ms: int = 300
    confident_silence: float = 0.05
    confident_silence_ms: int = 160
    min_speech_ms: int = 200
    max_utterance_ms: int = 20000
    pad_ms: int = 120


@dataclass(frozen=True)
class SpeechStarted:
    start: int


@dataclass(frozen=True)
class SpeechEnded:
    start: int
    end: int


class Segmenter:
    def __init__(self, options: SegmenterOptions | None = None) -> None:
        self.o = options or SegmenterOptions()
        self.position = 0  # samples consumed
        self.start: int | None = None
        self._speech_from = 0  # where speech was detected (without the pad)
        self._silence_since: int | None = None
        self._quiet_since: int | None = None  # windows below confident_silence from here on

    @property
    def speaking(self) -> bool:
        return self.start is not None

    @property
    def pause_end(self) -> int | None:
        """Where the utterance in progress ends (pad included) if the pause it is in now turns out
        to be its end; None while speech goes on. The audio up to there is known once `position`
        reached it, before the pause has lasted `min_silence_ms`."""
        if self.start is None or self._silence_since is None:
            return None
        return self._silence_since + self.o.pad_ms * _MS

    def push(self, probability: float) -> SpeechStarted | SpeechEnded | None:
        """Feeds one window's probability; returns an event when speech starts or ends."""
        here = self.position
        self.position += WINDOW
        if self.start is None:
            if probability >= self.o.onset:
                self.start = max(0, here - self.o.pad_ms * _MS)
                self._speech_from = here
                self._silence_since = None
                return SpeechStarted(self.start)
            return None
        if probability < self.o.offset:
            if self._silence_since is None:
                self._silence_since = here
            if probability >= self.o.confident_silence:
                self._quiet_since = None
            elif self._quiet_since is None:
                self._quiet_since = here
            paused = here + WINDOW - self._silence_since
            quiet = here + WINDOW - self._quiet_since if self._quiet_since is not None else 0
            if paused >= self.o.min_silence_ms * _MS or quiet >= self.o.confident_silence_ms * _MS:
                return self._end(self._silence_since)
        else:
            self._silence_since = self._quiet_since = None
        if self.position - self.start >= self.o.max_utterance_ms * _MS:
            return self._end(self.position)
        return None

    def flush(self) -> SpeechEnded | None:
        """Ends an utterance in progress (the stream ended)."""
        return self._end(self.position) if self.start is not None else None

    def _end(self, speech_to: int) -> SpeechEnded | None:
        start, self.start, self._silence_since, self._quiet_since = self.start, None, None, None
        assert start is not None
        if speech_to - self._speech_from < self.o.min_speech_ms * _MS:
            return None  # a blip, not an utterance
        return SpeechEnded(start, min(speech_to + self.o.pad_ms * _MS, self.position))
