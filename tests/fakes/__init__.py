"""Local stand-ins for external services (the Anthropic Messages API)."""
