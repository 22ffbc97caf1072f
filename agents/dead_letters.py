"""Send an undecodable or unprocessable record to its dead-letter topic, bytes and reason intact."""

from __future__ import annotations

import logging

import faust
from faust.types import EventT

from models import DeadLetter
from models.codec import Rejected

log = logging.getLogger(__name__)


async def send_dead_letter(dlq: faust.TopicT, event: EventT, rejected: Rejected) -> None:
    msg = event.message
    letter = DeadLetter.for_record(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        reason_code=rejected.reason_code,
        reason=rejected.reason,
        errors=rejected.errors,
    )
    log.warning("dead letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, rejected.reason)
    # force: produce now even if stream_publish_on_commit is ever enabled (a dead letter must not
    # wait for the source offset's commit, which for a partition's last record may never come)
    await dlq.send(key=msg.key, value=letter.to_bytes(), force=True)
