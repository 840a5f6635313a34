"""The ai service: analysis streams from media, Triton inference, model administration, results
store, transcripts and insights (gRPC :9085, HTTP :8085)."""
