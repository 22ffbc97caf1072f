"""Webhook payloads from commerce platforms -> our events. Pure: bytes and headers in, data out."""
