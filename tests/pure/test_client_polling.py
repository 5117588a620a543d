"""The poll state machine and backoff (pure: answers and clock are passed in)."""

from blender_ltx.core import job_poll
from blender_ltx.core.job_poll import DONE, DOWNLOAD, POLL, Backoff, JobWatch
from blender_ltx.core.protocol import ServerError


def test_backoff_doubles_then_caps():
    b = Backoff(first=1.0, factor=2.0, maximum=30.0)
    assert [b.delay(n) for n in range(0, 8)] == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_queued_running_succeeded():
    w = JobWatch("j1")
    assert w.due(0.0)
    assert w.on_status({"status": "queued", "progress": 0}, now=10.0) == "Queued on the server."
    assert not w.due(10.5) and w.due(10.0 + job_poll.POLL_QUEUED_S)
    msg = w.on_status({"status": "running", "progress": 0.25}, now=11.0)
    assert msg == "Generating: 25%." and w.progress == 0.25 and w.phase == POLL
    assert w.next_at == 11.0 + job_poll.POLL_RUNNING_S
    msg = w.on_status({"status": "succeeded", "progress": 1.0, "timings": {"total_s": 3.21}}, now=12.0)
    assert w.phase == DOWNLOAD and w.due(12.0) and "3.2 s" in msg
    w.on_downloaded()
    assert w.phase == DONE and not w.due(1e9)


def test_failed_keeps_the_servers_sentence():
    w = JobWatch("j2")
    msg = w.on_status({"status": "failed", "error": "out of memory at step 3"}, now=0.0)
    assert w.phase == DONE and w.status == "failed" and "out of memory at step 3" in msg


def test_cancelled_is_final():
    w = JobWatch("j3")
    w.on_status({"status": "cancelled"}, now=0.0)
    assert w.phase == DONE and w.message == "Cancelled."


def test_unreachable_server_backs_off_and_recovers():
    w = JobWatch("j4", backoff=Backoff(first=1.0, maximum=4.0))
    down = ServerError("No LTX server at http://127.0.0.1:1: start it.")
    waits = []
    now = 100.0
    for _ in range(5):
        msg = w.on_error(down, now)
        waits.append(w.next_at - now)
        assert "No LTX server" in msg and "retrying" in msg and "j4" in msg
        assert w.phase == POLL and w.status == "queued"  # the job is kept, not failed
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    w.on_status({"status": "running", "progress": 0.5}, now)
    assert w.failures == 0
    w.on_error(down, now)
    assert w.next_at - now == 1.0  # backoff starts over after an answer


def test_job_unknown_to_server_is_final():
    w = JobWatch("j5")
    w.on_error(ServerError("Job j5 is not on the server.", status=404), now=0.0)
    assert w.phase == DONE and w.status == "error" and "not on the server" in w.message


def test_download_failure_retries_the_download():
    w = JobWatch("j6")
    w.on_status({"status": "succeeded"}, now=0.0)
    w.on_error(ServerError("The connection broke.", status=None), now=1.0)
    assert w.phase == DOWNLOAD and w.next_at == 2.0


def test_downloaded_job_is_followed_until_its_motion_is_final():
    w = JobWatch("j9")
    w.on_status({"status": "succeeded", "motion": None}, now=0.0)
    assert not w.on_downloaded({"status": "succeeded", "motion": None}, now=1.0)
    assert w.phase == job_poll.MEASURE and not w.due(1.5) and w.due(1.0 + job_poll.POLL_MOTION_S)
    assert not w.on_motion({"motion": {"pending": True}}, now=2.0) and w.phase == job_poll.MEASURE
    measured = {"measurable": True, "kinds": ["pan_left"], "agreement": {"score": 0.8}}
    assert w.on_motion({"motion": measured}, now=3.0) and w.phase == DONE
    assert job_poll.final_motion({"motion": measured}) == (True, measured)


def test_motion_wait_is_bounded_and_an_old_server_is_not_waited_for():
    w = JobWatch("j10")
    assert w.on_downloaded({"status": "succeeded"}, now=0.0) and w.phase == DONE  # no meter: no field
    assert job_poll.final_motion({"status": "succeeded"}) == (True, None)
    w = JobWatch("j11")
    assert not w.on_downloaded({"motion": {"pending": True}}, now=0.0)
    assert not w.on_motion({"motion": {"pending": True}}, now=job_poll.MOTION_WAIT_S - 1)
    assert w.on_motion({"motion": {"pending": True}}, now=job_poll.MOTION_WAIT_S) and w.phase == DONE
    assert job_poll.final_motion({"motion": {"pending": True}}) == (False, None)
