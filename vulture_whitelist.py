"""Names that vulture reports as unused but that are used by a framework, not by a call we write.

``make lint`` passes this file to vulture beside the project packages; it is never imported.
Keep each entry short and say why it is needed; dead code goes, it does not come here.
"""

from agents import worker


def _faust_signal_receiver(sender: object) -> object:
    """Faust calls a signal receiver (``@app.on_partitions_assigned.connect`` and the like) with
    the sender first, whether the receiver needs it or not (agents/expiry.py, agents/uploads.py)."""
    return sender


# agents/worker.py imports these modules only for what importing them does: they register Faust
# agents, tables and services on the app, so one worker process runs all of them.
_registered_on_import = (worker.bundles_store, worker.config_view, worker.keys_view)
