"""Runs the official QStash Python SDK against a relay and checks what it
returns, to show that a QStash user only has to change the base URL and token.

Environment:
  QSTASH_URL    base URL of the relay
  QSTASH_TOKEN  API token of the relay
  QSTASH_OTHER_TOKEN  API token of a second tenant; the cancel-all check
                cancels that tenant's messages, leaving this suite's alone
  SINK_URL      loopback URL prefix that deliveries may go to; paths that
                contain ``/fail`` answer 500, every other path answers 200

Prints one line per check, then ``N passed, M failed``; exits 1 if any check
failed. The tenant must be new: the dead-letter checks expect to see only
the dead letters they make. Deliveries the sink should receive are announced on lines
``expect-delivery {json}`` (keys: path, and when known messageId, method,
body, headers), so whoever runs the sink can check them.

The dead-letter checks run first and one at a time: each failing message is
published only after the previous one is in the dead-letter queue, and no
other message is published before them, so the sink sees the failing
deliveries first and alone.
"""

import asyncio
import json
import os
import sys
import time
import uuid

from qstash import AsyncQStash, QStash

from checks import (
    announce_delivery,
    expect,
    expect_eq,
    expect_qstash_error,
    now_ms,
    run_checks,
    wait_for,
)

# How long to wait for a failed message to reach the dead-letter queue.
DEAD_LETTER_WAIT_S = 15.0
HOUR_MS = 3_600_000
# Tolerance when comparing the relay's clock with ours (same host).
CLOCK_SLACK_MS = 60_000


def expect_recent(timestamp_ms, what):
    expect(
        abs(timestamp_ms - now_ms()) < CLOCK_SLACK_MS,
        f"{what} {timestamp_ms} is not close to now ({now_ms()})",
    )


def header_values(headers, name):
    """The values of header ``name`` in an SDK header map, matched without
    regard to case."""
    for key, values in (headers or {}).items():
        if key.lower() == name.lower():
            return values
    return None


class Suite:
    """The SDK clients and what checks hand on to later checks."""

    def __init__(self, url, token, other_token, sink):
        self.url = url
        self.token = token
        self.sink = sink.rstrip("/")
        self.q = QStash(token, base_url=url)
        self.other = QStash(other_token, base_url=url)
        self.dead = {}
        self.delayed_id = None
        self.keys = None
        # Makes deduplication inputs unique to this run.
        self.run_id = uuid.uuid4().hex

    def sink_url(self, path):
        return self.sink + path

    # -- dead letters (first, see the module docstring) ---------------------

    def publish_to_die(self, name, **options):
        url = self.sink_url(f"/fail/{name}")
        body = f"dying {name}"
        published = self.q.message.publish(url=url, body=body, retries=0, **options)
        announce_delivery(f"/fail/{name}", messageId=published.message_id, body=body)
        dead = self.wait_for_dead_letter(published.message_id)
        expect_eq(dead.url, url, "dead letter url")
        expect_eq(dead.body, body, "dead letter body")
        expect_eq(dead.response_status, 500, "dead letter response_status")
        expect_eq(dead.max_retries, 0, "dead letter max_retries")
        expect_eq(dead.method, "POST", "dead letter method")
        expect(dead.dlq_id, f"dead letter has no dlq_id: {dead!r}")
        expect_recent(dead.created_at, "dead letter created_at")
        self.dead[name] = dead
        return dead

    def wait_for_dead_letter(self, message_id):
        messages = wait_for(
            f"{message_id} dead-lettered",
            lambda: self.q.dlq.list(filter={"message_id": message_id}).messages,
            DEAD_LETTER_WAIT_S,
        )
        expect_eq(len(messages), 1, "dead letters for one message")
        expect_eq(messages[0].message_id, message_id, "dead letter")
        return messages[0]

    def check_dlq_list_shows_a_failed_message(self):
        self.publish_to_die("one")
        page = self.q.dlq.list()
        expect_eq([m.dlq_id for m in page.messages], [self.dead["one"].dlq_id], "dlq ids")
        expect_eq(page.cursor, None, "cursor of the only page")

    def check_dead_letter_keeps_label_and_callbacks(self):
        dead = self.publish_to_die(
            "two",
            callback=self.sink_url("/cb/attempt"),
            failure_callback=self.sink_url("/cb/final"),
            label="py-dying",
        )
        expect_eq(dead.label, "py-dying", "dead letter label")
        expect_eq(dead.callback, self.sink_url("/cb/attempt"), "dead letter callback")
        expect_eq(
            dead.failure_callback,
            self.sink_url("/cb/final"),
            "dead letter failure_callback",
        )
        announce_delivery("/cb/attempt")
        announce_delivery("/cb/final")

    def check_dlq_list_filters_by_label(self):
        page = self.q.dlq.list(filter={"label": "py-dying"})
        expect_eq([m.dlq_id for m in page.messages], [self.dead["two"].dlq_id], "dlq ids")

    def check_dlq_list_pages(self):
        first = self.q.dlq.list(count=1)
        expect_eq([m.dlq_id for m in first.messages], [self.dead["one"].dlq_id], "page 1")
        expect(first.cursor is not None, "a cursor to the second page")
        second = self.q.dlq.list(count=1, cursor=first.cursor)
        expect_eq([m.dlq_id for m in second.messages], [self.dead["two"].dlq_id], "page 2")
        expect_eq(second.cursor, None, "cursor after the last page")

    def check_dlq_get(self):
        listed = self.dead["one"]
        got = self.q.dlq.get(listed.dlq_id)
        expect_eq(got, listed, "dlq.get compared with dlq.list")

    def check_dlq_delete(self):
        dlq_id = self.dead["one"].dlq_id
        expect_eq(self.q.dlq.delete(dlq_id), None, "dlq.delete result")
        expect_qstash_error(lambda: self.q.dlq.get(dlq_id), 404, "not found")
        expect_qstash_error(lambda: self.q.dlq.delete(dlq_id), 404, "not found")

    def check_dlq_delete_many_with_no_ids_deletes_nothing(self):
        expect_eq(self.q.dlq.delete_many([]), 0, "deleted by an empty list")
        remaining = [m.dlq_id for m in self.q.dlq.list().messages]
        expect_eq(remaining, [self.dead["two"].dlq_id], "dead letters left")

    def check_dlq_delete_many(self):
        gone = self.dead["one"].dlq_id
        deleted = self.q.dlq.delete_many([self.dead["two"].dlq_id, gone])
        expect_eq(deleted, 1, "deleted (one id was already gone)")
        page = self.q.dlq.list()
        expect_eq(page.messages, [], "dead letters left")
        expect_eq(page.cursor, None, "cursor")

    # -- publishing -----------------------------------------------------------

    def check_publish(self):
        path = "/plain?x=1&y=two"
        body = "plain body"
        published = self.q.message.publish(url=self.sink_url(path), body=body)
        expect(published.message_id.startswith("msg_"), f"message id {published!r}")
        expect_eq(published.deduplicated, False, "deduplicated")
        announce_delivery(path, messageId=published.message_id, method="POST", body=body)

    def check_publish_json(self):
        payload = {"hello": "world", "n": 1, "ok": True}
        published = self.q.message.publish_json(url=self.sink_url("/json"), body=payload)
        expect(published.message_id.startswith("msg_"), f"message id {published!r}")
        expect_eq(published.deduplicated, False, "deduplicated")
        announce_delivery(
            "/json",
            messageId=published.message_id,
            body=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )

    def check_publish_method_and_forwarded_headers(self):
        published = self.q.message.publish(
            url=self.sink_url("/put"),
            body="put body",
            method="PUT",
            headers={"X-Custom": "abc", "Upstash-Forward-X-Other": "def"},
        )
        announce_delivery(
            "/put",
            messageId=published.message_id,
            method="PUT",
            body="put body",
            headers={"X-Custom": "abc", "X-Other": "def"},
        )

    def check_message_get_of_a_delayed_message(self):
        started = now_ms()
        published = self.q.message.publish(
            url=self.sink_url("/delayed?k=v"),
            body="later",
            content_type="text/plain",
            method="PATCH",
            headers={"X-Custom": "abc"},
            retries=2,
            delay="1h",
            retry_delay="1000 * (1 + retried)",
            timeout=5,
            label="py-later",
            callback=self.sink_url("/delayed-callback"),
            failure_callback=self.sink_url("/delayed-failure-callback"),
            # The SDK sends these as Upstash-Callback-X-Cb and
            # Upstash-Failure-Callback-X-Fcb, without "Forward".
            callback_headers={"X-Cb": "1"},
            failure_callback_headers={"X-Fcb": "2"},
        )
        message = self.q.message.get(published.message_id)
        expect_eq(message.message_id, published.message_id, "message_id")
        expect_eq(message.url, self.sink_url("/delayed?k=v"), "url")
        expect_eq(message.method, "PATCH", "method")
        expect_eq(message.body, "later", "body")
        expect_eq(message.max_retries, 2, "max_retries")
        expect_eq(message.callback, self.sink_url("/delayed-callback"), "callback")
        expect_eq(
            message.failure_callback,
            self.sink_url("/delayed-failure-callback"),
            "failure_callback",
        )
        expect_eq(message.retry_delay_expression, "1000 * (1 + retried)", "retry delay")
        expect_eq(message.label, "py-later", "label")
        expect(message.caller_ip, "caller_ip is set")
        expect_eq(header_values(message.headers, "X-Custom"), ["abc"], "X-Custom header")
        expect_eq(header_values(message.callback_headers, "X-Cb"), ["1"], "callback header")
        expect_eq(
            header_values(message.failure_callback_headers, "X-Fcb"),
            ["2"],
            "failure callback header",
        )
        expect(started - 1000 <= message.created_at <= now_ms() + 1000, "created_at")
        delay_ms = message.not_before - message.created_at
        expect(
            HOUR_MS - 1000 <= delay_ms <= HOUR_MS + 1000,
            f"not_before is {delay_ms} ms after created_at, expected one hour",
        )
        self.delayed_id = published.message_id

    def check_message_get_of_a_binary_body(self):
        published = self.q.message.publish(
            url=self.sink_url("/binary"), body=b"\xff\x00binary", delay="1h"
        )
        message = self.q.message.get(published.message_id)
        expect_eq(message.body, None, "body of a non-UTF-8 message")
        expect_eq(message.body_base64, "/wBiaW5hcnk=", "body_base64")

    def check_delay_in_seconds(self):
        published = self.q.message.publish(url=self.sink_url("/in-2m"), body="x", delay=120)
        message = self.q.message.get(published.message_id)
        delay_ms = message.not_before - message.created_at
        expect(119_000 <= delay_ms <= 121_000, f"delay of {delay_ms} ms, expected 120 s")

    def check_not_before(self):
        not_before = int(time.time()) + 3600
        published = self.q.message.publish(
            url=self.sink_url("/not-before"), body="x", not_before=not_before
        )
        message = self.q.message.get(published.message_id)
        expect_eq(message.not_before, not_before * 1000, "not_before in ms")
        expect_recent(message.created_at, "created_at")

    def check_deduplication_id(self):
        first, second = (
            self.q.message.publish(
                url=self.sink_url("/dedup"),
                body=f"attempt {n}",
                delay="1h",
                deduplication_id=f"py-dedup-{self.run_id}",
            )
            for n in range(2)
        )
        expect_eq(first.deduplicated, False, "first publish deduplicated")
        expect_eq(second.deduplicated, True, "second publish deduplicated")
        expect_eq(second.message_id, first.message_id, "message id of the duplicate")

    def check_content_based_deduplication(self):
        # The SDK sends the Python spelling "True".
        first, second = (
            self.q.message.publish(
                url=self.sink_url("/cbd"),
                body=f"same body {self.run_id}",
                delay="1h",
                content_based_deduplication=True,
            )
            for _ in range(2)
        )
        expect_eq(first.deduplicated, False, "first publish deduplicated")
        expect_eq(second.deduplicated, True, "second publish deduplicated")
        expect_eq(second.message_id, first.message_id, "message id of the duplicate")

    def check_content_based_deduplication_false_keeps_both(self):
        # The SDK sends "False", which must switch deduplication off.
        first, second = (
            self.q.message.publish(
                url=self.sink_url("/no-cbd"),
                body=f"same body {self.run_id}",
                delay="1h",
                content_based_deduplication=False,
            )
            for _ in range(2)
        )
        expect_eq(second.deduplicated, False, "second publish deduplicated")
        expect(first.message_id != second.message_id, "both messages were kept")

    # -- cancelling -----------------------------------------------------------

    def check_message_cancel(self):
        message_id = self.delayed_id
        expect_eq(self.q.message.cancel(message_id), None, "cancel result")
        expect_qstash_error(lambda: self.q.message.get(message_id), 404, "not found")
        expect_qstash_error(lambda: self.q.message.cancel(message_id), 404, "not found")

    def check_message_cancel_many(self):
        # The JSON-body form: {"messageIds": [...]}; an empty list cancels nothing.
        first = self.q.message.publish(url=self.sink_url("/bulk/a"), body="a", delay="1h")
        second = self.q.message.publish(url=self.sink_url("/bulk/b"), body="b", delay="1h")
        expect_eq(self.q.message.cancel_many([]), 0, "an empty list cancels nothing")
        cancelled = self.q.message.cancel_many([first.message_id, second.message_id, "msg_unknown"])
        expect_eq(cancelled, 2, "cancelled count")
        expect_qstash_error(lambda: self.q.message.get(first.message_id), 404, "not found")

    def check_message_cancel_all(self):
        # No query and no body: every pending message of the tenant. It runs
        # on the second tenant, so this suite's own deliveries stay.
        mine = self.q.message.publish(url=self.sink_url("/all/mine"), body="m", delay="1h")
        theirs = [
            self.other.message.publish(url=self.sink_url("/all/theirs"), body=body, delay="1h")
            for body in ("a", "b")
        ]
        expect_eq(self.other.message.cancel_all(), 2, "cancelled count")
        expect_eq(self.other.message.cancel_all(), 0, "nothing is left")
        expect_qstash_error(
            lambda: self.other.message.get(theirs[0].message_id), 404, "not found"
        )
        expect_eq(self.q.message.get(mine.message_id).message_id, mine.message_id, "kept")
        self.q.message.cancel(mine.message_id)

    # -- signing keys -----------------------------------------------------------

    def check_signing_key_get(self):
        keys = self.q.signing_key.get()
        for key in (keys.current, keys.next):
            expect(key.startswith("sig_") and len(key) >= 32, f"signing key {key!r}")
        expect(keys.current != keys.next, "current and next keys differ")
        self.keys = keys

    def check_async_client(self):
        asyncio.run(self.async_calls())

    async def async_calls(self):
        client = AsyncQStash(self.token, base_url=self.url)
        payload = {"from": "async"}
        published = await client.message.publish_json(
            url=self.sink_url("/async-json"), body=payload
        )
        expect(published.message_id.startswith("msg_"), f"message id {published!r}")
        announce_delivery(
            "/async-json", messageId=published.message_id, body=json.dumps(payload)
        )
        delayed = await client.message.publish(
            url=self.sink_url("/async-delayed"), body="async later", delay="1h"
        )
        message = await client.message.get(delayed.message_id)
        expect_eq(message.url, self.sink_url("/async-delayed"), "async message url")
        expect_eq(message.body, "async later", "async message body")
        expect_eq(await client.signing_key.get(), self.keys, "async signing keys")

    def check_signing_key_rotate(self):
        before = self.keys
        rotated = self.q.signing_key.rotate()
        expect_eq(rotated.current, before.next, "current key after rotation")
        expect(rotated.next not in (before.current, before.next), "a new next key")
        expect(rotated.next.startswith("sig_"), f"new next key {rotated.next!r}")
        expect_eq(self.q.signing_key.get(), rotated, "keys read after rotation")

    # -- queues and the rest ---------------------------------------------------

    def check_enqueue(self):
        enqueued = self.q.message.enqueue(queue="py-q", url=self.sink_url("/queue/py"), body="queued")
        expect(enqueued.message_id.startswith("msg_"), f"message id {enqueued!r}")
        announce_delivery("/queue/py", messageId=enqueued.message_id, method="POST", body="queued")
        queue = self.q.queue.get("py-q")
        expect_eq((queue.name, queue.parallelism, queue.paused), ("py-q", 1, False), "auto-created queue")

    def check_batch(self):
        # Python sends "queue": null on every item and may send "body": null.
        results = self.q.message.batch(
            [
                {"url": self.sink_url("/batch/1"), "body": "one", "headers": {"X-Item": "1"}},
                {"url": self.sink_url("/batch/2"), "body": "two", "method": "PUT"},
            ]
        )
        expect_eq(len(results), 2, "one result per item")
        for result in results:
            expect(result.message_id.startswith("msg_"), f"message id {result!r}")
        expect(results[0].message_id != results[1].message_id, "distinct ids")
        announce_delivery("/batch/1", messageId=results[0].message_id, body="one", headers={"X-Item": "1"})
        announce_delivery("/batch/2", messageId=results[1].message_id, body="two", method="PUT")

    def check_queue_upsert(self):
        self.q.queue.upsert("py-managed", parallelism=2)
        expect_eq(self.q.queue.get("py-managed").parallelism, 2, "parallelism")
        self.q.queue.pause("py-managed")
        expect_eq(self.q.queue.get("py-managed").paused, True, "paused")
        self.q.queue.resume("py-managed")
        queue = self.q.queue.get("py-managed")
        expect_eq((queue.paused, queue.lag), (False, 0), "resumed, nothing waiting")
        expect(queue.created_at > 0 and queue.updated_at >= queue.created_at, f"times {queue!r}")

    def check_queue_list(self):
        names = [queue.name for queue in self.q.queue.list()]
        expect_eq(names, ["py-managed", "py-q"], "queues by name")
        self.q.queue.delete("py-managed")
        expect_qstash_error(lambda: self.q.queue.get("py-managed"), 404, "py-managed")

    def check_url_group_upsert_endpoints(self):
        self.q.url_group.upsert_endpoints(
            url_group="py-group",
            endpoints=[
                {"url": self.sink_url("/group/a"), "name": "a"},
                {"url": self.sink_url("/group/b")},
            ],
        )
        group = self.q.url_group.get("py-group")
        expect_eq(group.name, "py-group", "group name")
        expect_eq(
            sorted(e.url for e in group.endpoints),
            [self.sink_url("/group/a"), self.sink_url("/group/b")],
            "endpoint urls",
        )
        self.q.url_group.remove_endpoints(url_group="py-group", endpoints=[{"name": "a"}])
        expect_eq(
            [e.url for e in self.q.url_group.get("py-group").endpoints],
            [self.sink_url("/group/b")],
            "endpoints after removal",
        )

    def check_publish_to_a_url_group(self):
        results = self.q.message.publish(url_group="py-group", body="to the group")
        expect_eq(len(results), 1, "one message per endpoint")
        expect_eq(results[0].url, self.sink_url("/group/b"), "endpoint url")
        announce_delivery(
            "/group/b",
            messageId=results[0].message_id,
            body="to the group",
            headers={"Upstash-Topic-Name": "py-group"},
        )
        expect_qstash_error(
            lambda: self.q.message.publish(url_group="py-no-such-group", body="x"),
            404,
            "url group",
        )

    def check_url_group_list(self):
        names = [g.name for g in self.q.url_group.list()]
        expect("py-group" in names, f"py-group listed in {names}")
        self.q.url_group.delete("py-group")
        expect_qstash_error(lambda: self.q.url_group.get("py-group"), 404, "url group")

    def check_schedule_create(self):
        schedule_id = self.q.schedule.create(
            destination=self.sink_url("/cron"),
            cron="*/5 * * * *",
            body="x",
            retries=2,
            schedule_id="py-suite-schedule",
        )
        expect(schedule_id == "py-suite-schedule", f"schedule id {schedule_id}")
        got = self.q.schedule.get(schedule_id)
        expect(got.schedule_id == schedule_id, f"get {got}")
        expect(got.cron == "*/5 * * * *", f"cron {got.cron}")
        expect(got.destination == self.sink_url("/cron"), f"destination {got.destination}")
        expect(got.retries == 2, f"retries {got.retries}")
        expect(got.paused is False, f"paused {got.paused}")

    def check_schedule_list(self):
        schedule_id = "py-suite-schedule"
        ids = [s.schedule_id for s in self.q.schedule.list()]
        expect(schedule_id in ids, f"{schedule_id} listed in {ids}")
        self.q.schedule.pause(schedule_id)
        expect(self.q.schedule.get(schedule_id).paused is True, "paused")
        self.q.schedule.resume(schedule_id)
        expect(self.q.schedule.get(schedule_id).paused is False, "resumed")
        self.q.schedule.delete(schedule_id)
        expect_qstash_error(lambda: self.q.schedule.get(schedule_id), 404, "schedule")

    def check_event_list(self):
        # The SDK calls GET /v2/events `log.list`.
        published = self.q.message.publish(url=self.sink_url("/logged"), body="x", delay="1h")
        self.q.message.cancel(published.message_id)
        listed = self.q.log.list(filter={"message_id": published.message_id})
        states = sorted(log.state.value for log in listed.logs)
        expect_eq(states, ["CANCELED", "CREATED"], "logged states")
        for log in listed.logs:
            expect_eq(log.message_id, published.message_id, "message id")
            expect_eq(log.url, self.sink_url("/logged"), "url")
            expect(log.time > 0, "time")
        expect_eq(listed.cursor, None, "no cursor after the last page")

    def check_flow_control(self):
        key = f"py-flow-{uuid.uuid4().hex}"
        published = self.q.message.publish(
            url=self.sink_url("/flow/py"),
            body="limited",
            flow_control={"key": key, "parallelism": 2, "rate": 10, "period": 60},
        )
        announce_delivery("/flow/py", messageId=published.message_id, method="POST", body="limited")
        info = self.q.flow_control.get(key)
        expect_eq(
            (info.key, info.parallelism_max, info.rate_max, info.rate_period),
            (key, 2, 10, 60),
            "flow control key",
        )
        self.q.flow_control.pause(key)
        expect_eq(self.q.flow_control.get(key).is_paused, True, "paused")
        self.q.flow_control.resume(key)
        self.q.flow_control.pin(key, {"parallelism": 1})
        pinned = self.q.flow_control.get(key)
        expect_eq((pinned.is_pinned_parallelism, pinned.parallelism_max), (True, 1), "pinned")
        self.q.flow_control.unpin(key, {"parallelism": True, "rate": False})
        expect_eq(self.q.flow_control.get(key).is_pinned_parallelism, False, "unpinned")
        self.q.flow_control.reset_rate(key)
        expect_qstash_error(lambda: self.q.flow_control.get(f"py-none-{uuid.uuid4().hex}"), 404, "not found")
        parallelism = self.q.flow_control.get_global_parallelism()
        expect(isinstance(parallelism.parallelism_count, int), "global parallelism count")


# In running order: the dead-letter checks come first (module docstring), and
# key rotation comes last so that every other check sees the original keys.
CHECKS = [
    Suite.check_dlq_list_shows_a_failed_message,
    Suite.check_dead_letter_keeps_label_and_callbacks,
    Suite.check_dlq_list_filters_by_label,
    Suite.check_dlq_list_pages,
    Suite.check_dlq_get,
    Suite.check_dlq_delete,
    Suite.check_dlq_delete_many_with_no_ids_deletes_nothing,
    Suite.check_dlq_delete_many,
    Suite.check_publish,
    Suite.check_publish_json,
    Suite.check_publish_method_and_forwarded_headers,
    Suite.check_message_get_of_a_delayed_message,
    Suite.check_message_get_of_a_binary_body,
    Suite.check_delay_in_seconds,
    Suite.check_not_before,
    Suite.check_deduplication_id,
    Suite.check_content_based_deduplication,
    Suite.check_content_based_deduplication_false_keeps_both,
    Suite.check_message_cancel,
    Suite.check_message_cancel_many,
    Suite.check_message_cancel_all,
    Suite.check_signing_key_get,
    Suite.check_async_client,
    Suite.check_enqueue,
    Suite.check_batch,
    Suite.check_queue_upsert,
    Suite.check_queue_list,
    Suite.check_url_group_upsert_endpoints,
    Suite.check_publish_to_a_url_group,
    Suite.check_url_group_list,
    Suite.check_schedule_create,
    Suite.check_schedule_list,
    Suite.check_event_list,
    Suite.check_flow_control,
    Suite.check_signing_key_rotate,
]


def main():
    suite = Suite(
        url=os.environ["QSTASH_URL"],
        token=os.environ["QSTASH_TOKEN"],
        other_token=os.environ["QSTASH_OTHER_TOKEN"],
        sink=os.environ["SINK_URL"],
    )
    return 1 if run_checks(CHECKS, suite) else 0


if __name__ == "__main__":
    sys.exit(main())
