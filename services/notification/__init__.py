"""The notification service: email, SMS, Web Push and webhooks fed by durable events."""
