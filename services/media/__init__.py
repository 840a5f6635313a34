"""The media service: the SFU (aiortc peer connections, encoded-frame forwarding), recording and the
AI tap (gRPC :8083, internal only; HTTP :9083; a UDP port range for WebRTC)."""
