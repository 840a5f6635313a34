"""The user service: accounts, credentials, sessions and profiles (gRPC :8080, HTTP :9080)."""
