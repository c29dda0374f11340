"""A stopped worker's process ends even when a non-daemon thread lingers."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)


def test_a_lingering_thread_does_not_keep_the_process_alive() -> None:
    done = run("""
        import threading
        from fleetgraph.cli.worker import exit_past_lingering_threads
        mine = threading.Thread(target=threading.Event().wait, name="callers-own")
        mine.start()
        before = set(threading.enumerate())
        threading.Thread(target=threading.Event().wait, name="stuck-consumer").start()
        print("report", flush=True)
        exit_past_lingering_threads(before, grace_s=0.2)
        print("not reached")
    """)
    assert done.returncode == 0
    assert done.stdout == "report\n"
    assert "stuck-consumer" in done.stderr and "callers-own" not in done.stderr


def test_threads_alive_before_the_worker_started_are_not_its_own() -> None:
    done = run("""
        import os, threading
        from fleetgraph.cli.worker import exit_past_lingering_threads
        threading.Thread(target=threading.Event().wait, daemon=False).start()
        exit_past_lingering_threads(set(threading.enumerate()), grace_s=0.2)
        print("returned", flush=True)
        os._exit(3)
    """)
    assert done.returncode == 3 and done.stdout == "returned\n"


def test_threads_that_end_in_time_are_waited_for() -> None:
    done = run("""
        import threading, time
        from fleetgraph.cli.worker import exit_past_lingering_threads
        before = set(threading.enumerate())
        threading.Thread(target=time.sleep, args=(0.2,)).start()
        exit_past_lingering_threads(before, grace_s=5.0)
        print("returned")
    """)
    assert done.returncode == 0 and done.stdout == "returned\n"
