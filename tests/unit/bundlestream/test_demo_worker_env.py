"""The demo worker's environment: a longer upload deadline unless the caller chose one."""

from __future__ import annotations

from bundlestream.demo import DEMO_UPLOAD_DEADLINE_S, worker_env
from core.settings import Settings


def test_the_demo_worker_gets_a_longer_upload_deadline_that_still_passes_the_settings_check():
    env = worker_env({"PATH": "/bin"})
    assert env == {"PATH": "/bin", "BUNDLESTREAM_UPLOAD_DEADLINE_S": DEMO_UPLOAD_DEADLINE_S}
    # the stall alarm (default) must outlast the deadline, or the worker refuses to start
    assert Settings(upload_deadline_s=float(DEMO_UPLOAD_DEADLINE_S)).upload_deadline_s == 50.0


def test_a_deadline_or_stall_alarm_the_caller_set_is_left_alone():
    assert worker_env({"BUNDLESTREAM_UPLOAD_DEADLINE_S": "5"}) == {
        "BUNDLESTREAM_UPLOAD_DEADLINE_S": "5"
    }
    assert worker_env({"BUNDLESTREAM_STALL_AFTER_S": "30"}) == {"BUNDLESTREAM_STALL_AFTER_S": "30"}
