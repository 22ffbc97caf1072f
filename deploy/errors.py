"""Errors of the local stack and topic admin, with messages meant for a person to act on."""


class StackError(RuntimeError):
    """The local Kafka or Redis could not be provided; the message says why and what to do."""


class TopicMismatchError(RuntimeError):
    """An existing topic contradicts its contract (e.g. partition count); the message names it."""
