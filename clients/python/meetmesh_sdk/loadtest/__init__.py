"""``meetmesh loadtest``: rooms of publishing and subscribing bots against a running deployment.

In the spirit of LiveKit's ``lk load-test``: ``--rooms R --publishers P --subscribers S
--duration 30s`` registers R x (P + S) bot accounts, has the first publisher of each room create
a meeting, and joins every bot through the meeting service (JoinMeeting) and signaling with the
SDK's ``Room``. Publishers send a synthetic 640x480 VP8 picture and an Opus tone; subscribers
receive every track of their room and decode it. While it runs it prints one progress line a
second; at the end a table, and a JSON and an HTML report (with plots) under ``--out``.

What it measures, per bot and over time:

* join latency: JoinMeeting + signaling Join + the peer connection set up (subscribers: until
  the room's tracks are offered);
* time to first frame: from the subscriber's start to its first decoded video frame;
* packet loss and jitter: the subscribers' inbound RTP statistics (aiortc's ``getStats``);
* bitrate: bytes received per second on the subscribers' transports;
* CPU of the platform's processes: ``--platform-pid`` (repeatable), or every local process whose
  command line runs ``meetmesh up``/``serve`` (psutil; percent of one core).
"""

from .runner import BotResult, LoadTest, LoadTestOptions, Report, parse_duration

__all__ = ["BotResult", "LoadTest", "LoadTestOptions", "Report", "parse_duration"]
