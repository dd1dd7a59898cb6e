"""Drives Ferry with the official QStash Python SDK through the calls that
combine features or push at their edges, and checks that Ferry does what
QStash does: batches with queues and flow control that are all or nothing
(and never an answer the SDK cannot parse), queues that fan out to URL
groups, schedules with a queue, a flow-control key or a URL group, whole
header sets passed on, callbacks that carry a whole response, time cursors,
rate-limit errors with their fields, cancelling everything, and publishing
through an ``api`` provider.

Environment (as for parity.mjs):
  QSTASH_URL          base URL of the relay; it must accept a per-second cron
  QSTASH_TOKEN        API token of the relay
  QSTASH_OTHER_TOKEN  API token of a second tenant, whose pending messages
                      the cancel-everything check may cancel
  QSTASH_FULL_URL     a second relay, for the same tokens, that accepts one
                      waiting message and then refuses with 429
  SINK_URL            loopback URL prefix for deliveries: paths containing
                      ``/fail`` answer 500, ``/big`` answers 200 with 40,000
                      bytes, ``/v1/chat/completions`` answers an LLM's JSON

Output: see checks.py; announcements are as parity.mjs describes them.
"""

import os
import sys
import uuid

from qstash import QStash
from qstash.chat import custom
from qstash.log import LogState
from qstash.errors import RateLimitExceededError

from checks import (
    Failure,
    announce_callback,
    announce_delivery,
    expect,
    expect_eq,
    expect_qstash_error,
    now_ms,
    run_checks,
    wait_for,
)

# More pending messages than a page of any bulk operation.
MANY = 130
# The relay runs with an every-second cron allowed, so ticks come quickly.
EVERY_SECOND = "* * * * * *"
# The size of the sink's ``/big`` answer.
BIG_ANSWER = 40_000


class Parity:
    """The SDK clients, the sink and the names this run uses."""

    def __init__(self, env):
        token = env["QSTASH_TOKEN"]
        self.q = QStash(token, base_url=env["QSTASH_URL"])
        self.other = QStash(env["QSTASH_OTHER_TOKEN"], base_url=env["QSTASH_URL"])
        self.full = QStash(token, base_url=env["QSTASH_FULL_URL"])
        self.sink = env["SINK_URL"].rstrip("/")
        # Makes names, labels and keys unique to this run.
        self.run = uuid.uuid4().hex[:8]
        self.group = f"py-fanned-{self.run}"

    def sink_url(self, path):
        return self.sink + path

    def path_of(self, url):
        return url[len(self.sink) :]

    def wait_for_ticks(self, schedule_id, n):
        def delivered():
            page = self.q.log.list(filter={"schedule_id": schedule_id, "state": LogState.DELIVERED})
            return len(page.logs) >= n

        wait_for(f"{n} delivered ticks of {schedule_id}", delivered)

    # -- bulk cancel ----------------------------------------------------------

    def check_cancel_all_takes_every_pending_message_at_once(self):
        pending = {"url": self.sink_url("/other/all"), "body": "later", "delay": "1h"}
        self.other.message.batch([pending] * MANY)
        expect_eq(self.other.message.cancel_all(), MANY, "cancelled")
        expect_eq(self.other.message.cancel_all(), 0, "cancelled again")

    # -- batches --------------------------------------------------------------

    def check_batch_with_a_queue_and_flow_control(self):
        queue = f"py-batched-{self.run}"
        results = self.q.message.batch(
            [
                {
                    "url": self.sink_url("/py/batched/1"),
                    "body": "one",
                    "queue": queue,
                    "flow_control": {"key": f"py-batched-{self.run}", "parallelism": 1},
                },
                {"url": self.sink_url("/py/batched/2"), "body": "two", "queue": queue},
            ]
        )
        expect_eq(len(results), 2, "one answer per item")
        for idx, result in enumerate(results, start=1):
            expect(result.message_id.startswith("msg_"), f"message id {result!r}")
            body = ["one", "two"][idx - 1]
            announce_delivery(f"/py/batched/{idx}", messageId=result.message_id, body=body)

    def check_batch_json_with_a_queue(self):
        [result] = self.q.message.batch_json(
            [{"url": self.sink_url("/py/batched/json"), "body": {"n": 1}, "queue": f"py-json-{self.run}"}]
        )
        announce_delivery(
            "/py/batched/json",
            messageId=result.message_id,
            body='{"n": 1}',
            headers={"content-type": "application/json"},
        )

    def check_a_batch_with_a_bad_item_stores_none_of_it(self):
        label = f"py-all-or-nothing-{self.run}"
        items = [
            {
                "url": self.sink_url("/never"),
                "body": "x",
                "queue": f"py-never-{self.run}",
                "flow_control": {"key": "k", "parallelism": 1},
                "label": label,
            },
            {"url_group": f"py-no-such-group-{self.run}", "body": "x", "label": label},
        ]
        expect_qstash_error(lambda: self.q.message.batch(items), 404, "batch item 1")
        expect_eq(self.q.log.list(filter={"label": label}).logs, [], "logged lines")

    def check_a_batch_refused_for_a_full_backlog_raises_the_rate_limit_error(self):
        items = [{"url": self.sink_url("/never"), "body": str(n), "delay": "1h"} for n in range(3)]
        try:
            self.full.message.batch(items)
        except RateLimitExceededError as error:
            expect_eq((error.limit, error.remaining), ("1", "0"), "limit and remaining")
            expect(int(error.reset) * 1000 > now_ms() - 60_000, f"reset {error.reset}")
        else:
            raise Failure("a batch past the backlog bound was accepted")
        try:
            self.full.message.publish(url=self.sink_url("/never"), body="one more")
        except RateLimitExceededError as error:
            expect_eq(error.limit, "1", "limit")
        else:
            raise Failure("a publish past the backlog bound was accepted")

    # -- queues ---------------------------------------------------------------

    def check_enqueue_to_a_url_group(self):
        self.q.url_group.upsert_endpoints(
            url_group=self.group,
            endpoints=[{"url": self.sink_url("/py/fanned/a")}, {"url": self.sink_url("/py/fanned/b")}],
        )
        results = self.q.message.enqueue(queue=f"py-fanned-{self.run}", url_group=self.group, body="to all")
        expect_eq(
            sorted(r.url for r in results),
            [self.sink_url("/py/fanned/a"), self.sink_url("/py/fanned/b")],
            "one message per endpoint",
        )
        for result in results:
            announce_delivery(
                self.path_of(result.url),
                messageId=result.message_id,
                body="to all",
                headers={"upstash-topic-name": self.group},
            )

    def check_enqueue_json(self):
        enqueued = self.q.message.enqueue_json(
            queue=f"py-json-{self.run}", url=self.sink_url("/py/queued-json"), body={"queued": True}
        )
        announce_delivery(
            "/py/queued-json",
            messageId=enqueued.message_id,
            body='{"queued": true}',
            headers={"content-type": "application/json"},
        )

    # -- schedules ------------------------------------------------------------

    def check_schedule_create_json_with_a_queue_and_flow_control(self):
        schedule_id = f"py-metered-{self.run}"
        key = f"py-ticks-{self.run}"
        self.q.schedule.create_json(
            schedule_id=schedule_id,
            destination=self.sink_url("/py/ticks/metered"),
            cron=EVERY_SECOND,
            body={"tick": True},
            queue=f"py-ticks-{self.run}",
            flow_control={"key": key, "parallelism": 1},
        )
        created = self.q.schedule.get(schedule_id)
        expect_eq(created.queue, f"py-ticks-{self.run}", "queue")
        expect_eq((created.flow_control.key, created.flow_control.parallelism), (key, 1), "flow control")
        expect_eq(created.body, '{"tick": true}', "body")
        self.wait_for_ticks(schedule_id, 1)
        self.q.schedule.delete(schedule_id)
        announce_delivery(
            "/py/ticks/metered",
            body='{"tick": true}',
            headers={"upstash-schedule-id": schedule_id, "content-type": "application/json"},
        )

    def check_schedule_to_a_url_group_with_a_queue(self):
        schedule_id = f"py-fanned-{self.run}"
        self.q.schedule.create(
            schedule_id=schedule_id,
            destination=self.group,
            cron=EVERY_SECOND,
            body="tick",
            queue=f"py-fanned-ticks-{self.run}",
        )
        self.wait_for_ticks(schedule_id, 2)
        self.q.schedule.delete(schedule_id)
        for path in ["/py/fanned/a", "/py/fanned/b"]:
            announce_delivery(
                path,
                body="tick",
                headers={"upstash-schedule-id": schedule_id, "upstash-topic-name": self.group},
            )

    # -- forwarding, callbacks, logs --------------------------------------------

    def check_publish_with_a_whole_header_set(self):
        # As an application passing on the headers of the request it handles;
        # the SDK prefixes each one with Upstash-Forward-.
        published = self.q.message.publish(
            url=self.sink_url("/py/passed-on"),
            body="step",
            headers={
                "Host": "app.example",
                "Connection": "close",
                "Content-Length": "999",
                "User-Agent": "python-httpx",
                "Accept-Encoding": "gzip",
                "Upstash-Signature": "eyJ.forged.sig",
                "Upstash-Message-Id": "msg_forged",
                "X-Kept": "yes",
            },
        )
        announce_delivery(
            "/py/passed-on",
            messageId=published.message_id,
            body="step",
            headers={"x-kept": "yes", "user-agent": "Upstash-QStash", "content-length": "4"},
            absent=["accept-encoding"],
        )

    def check_a_callback_carries_the_whole_response(self):
        published = self.q.message.publish(
            url=self.sink_url("/py/big"), body="ask", callback=self.sink_url("/py/big-callback")
        )
        announce_delivery("/py/big", messageId=published.message_id, body="ask")
        announce_callback(
            "/py/big-callback", sourceMessageId=published.message_id, bodyLength=BIG_ANSWER
        )

    def check_publish_json_through_an_api_provider_with_a_callback(self):
        published = self.q.message.publish_json(
            api={"name": "llm", "provider": custom(self.sink_url("/py/llm"), "sk-parity")},
            body={"model": "any", "messages": [{"role": "user", "content": "hello"}]},
            callback=self.sink_url("/py/llm-callback"),
        )
        announce_delivery(
            "/py/llm/v1/chat/completions",
            messageId=published.message_id,
            headers={"authorization": "Bearer sk-parity", "content-type": "application/json"},
        )
        announce_callback(
            "/py/llm-callback",
            sourceMessageId=published.message_id,
            body='{"choices":[{"message":{"role":"assistant","content":"hi"}}]}',
        )

    def check_logs_with_a_time_cursor(self):
        before = now_ms() - 1
        published = self.q.message.publish(
            url=self.sink_url("/py/logged"), body="later", delay="1h"
        )
        message_id = published.message_id
        now = self.q.log.list(cursor=str(now_ms()), filter={"message_id": message_id})
        expect_eq([line.state.value for line in now.logs], ["CREATED"], "states")
        earlier = self.q.log.list(cursor=str(before), filter={"message_id": message_id})
        expect_eq(earlier.logs, [], "lines before it was published")
        self.q.message.cancel(message_id)


CHECKS = [
    Parity.check_cancel_all_takes_every_pending_message_at_once,
    Parity.check_batch_with_a_queue_and_flow_control,
    Parity.check_batch_json_with_a_queue,
    Parity.check_a_batch_with_a_bad_item_stores_none_of_it,
    Parity.check_a_batch_refused_for_a_full_backlog_raises_the_rate_limit_error,
    Parity.check_enqueue_to_a_url_group,
    Parity.check_enqueue_json,
    Parity.check_schedule_create_json_with_a_queue_and_flow_control,
    Parity.check_schedule_to_a_url_group_with_a_queue,
    Parity.check_publish_with_a_whole_header_set,
    Parity.check_a_callback_carries_the_whole_response,
    Parity.check_publish_json_through_an_api_provider_with_a_callback,
    Parity.check_logs_with_a_time_cursor,
]


def main():
    return 1 if run_checks(CHECKS, Parity(os.environ)) else 0


if __name__ == "__main__":
    sys.exit(main())
