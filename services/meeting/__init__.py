"""The meeting service: meetings, lobby, participants, roles and grants, invitations, recordings
metadata and join tokens (gRPC :8082, HTTP :9082)."""
