"""The signaling service: client sessions, room events, SDP/ICE relay to media, chat and data, captions
fan-out (gRPC :8081, HTTP :9081 with WebSocket ``/rtc``)."""
