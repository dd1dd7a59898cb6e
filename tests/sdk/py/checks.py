"""What the programs that drive Ferry with the official Python SDK share:
named checks with a tally, announcements of the deliveries the driving test
must find at its sink, and assertions on the SDK's errors.

Output protocol: one line per check (``ok   <name>`` or ``FAIL <name>:
<why>``), then ``N passed, M failed``. ``expect-delivery {json}`` and
``expect-callback {json}`` lines tell the driving test what must arrive at
the sink.
"""

import json
import time

from qstash.errors import QStashError

POLL_S = 0.05


class Failure(Exception):
    """A check saw something other than what it expected."""


def expect(condition, what):
    if not condition:
        raise Failure(what)


def expect_eq(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def expect_qstash_error(call, status, fragment):
    """Runs ``call`` and checks it raises a QStashError for ``status`` whose
    message contains ``fragment``."""
    try:
        result = call()
    except QStashError as error:
        message = str(error)
        expect(
            f"status: {status}," in message,
            f"expected status {status} in {message!r}",
        )
        expect(fragment in message, f"expected {fragment!r} in {message!r}")
        return
    raise Failure(f"expected a QStashError with status {status}, got {result!r}")


def now_ms():
    return int(time.time() * 1000)


def wait_for(what, probe, limit_s=10.0):
    """Polls ``probe`` until it returns something truthy, which it returns;
    fails after ``limit_s`` seconds."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise Failure(f"{what} within {limit_s}s")
        time.sleep(POLL_S)


def announce_delivery(path, **fields):
    """Tells the runner a delivery to ``path`` must reach the sink."""
    print("expect-delivery " + json.dumps({"path": path, **fields}), flush=True)


def announce_callback(path, **fields):
    """Tells the runner a callback to ``path`` must reach the sink."""
    print("expect-callback " + json.dumps({"path": path, **fields}), flush=True)


def run_checks(checks, target):
    """Runs each check on ``target``, prints the tally, and returns how many
    failed."""
    passed = failed = 0
    for check in checks:
        name = check.__name__.removeprefix("check_")
        try:
            check(target)
        except Exception as error:  # Every failure is reported, whatever its kind.
            failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
        else:
            passed += 1
            print(f"ok   {name}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return failed
