// Drives Ferry with the official QStash JavaScript SDK, exactly as an
// application would, and checks the values the SDK returns, so that a
// change in Ferry's wire format that breaks QStash users fails a test.
//
// Environment:
//   QSTASH_URL    Ferry's base URL
//   QSTASH_TOKEN  a tenant token
//   QSTASH_OTHER_TOKEN  a token of a second tenant: cancelling all of its
//                 messages leaves this suite's own deliveries alone
//   SINK_URL      a loopback URL prefix for deliveries: every path under it
//                 answers 200, except paths containing `/fail`, which answer 500
//
// Output: one line per check (`ok   <name>` or `FAIL <name>: <why>`), then
// `N passed, M failed`; the exit code is 1 if any check failed. Deliveries
// the suite expects at the sink are announced as `expect-delivery <json>` and
// `expect-callback <json>` lines, so the driving test can check that they
// arrived signed with the tenant's keys.

import assert from "node:assert/strict";
import { Client } from "@upstash/qstash";

import {
  assertMessageId,
  check,
  expectCallback,
  expectDelivery,
  finish,
  rejectsWith,
  requiredEnv,
  waitFor,
} from "./checks.mjs";

const HOUR_S = 3600;
const HOUR_MS = HOUR_S * 1000;
/** How long a message published with `retries: 0` may take to reach the DLQ. */
const DEAD_LETTER_WAIT_MS = 10_000;
const NO_SUCH_MESSAGE = "msg_00000000000000000000000000000000000";
/** Makes deduplication ids and bodies unique per run, so a rerun against the same relay passes. */
const RUN = crypto.randomUUID();

const baseUrl = requiredEnv("QSTASH_URL");
const token = requiredEnv("QSTASH_TOKEN");
const sinkUrl = requiredEnv("SINK_URL").replace(/\/$/, "");
const client = new Client({ baseUrl, token });
const otherClient = new Client({ baseUrl, token: requiredEnv("QSTASH_OTHER_TOKEN") });

function sink(path) {
  return `${sinkUrl}${path}`;
}

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

async function publishDelayed(request) {
  const published = await client.publish({ delay: "1h", ...request });
  assertMessageId(published.messageId);
  return published;
}

/** Polls the DLQ until `messageId` is a dead letter there and returns it. */
async function waitForDeadLetter(messageId) {
  const messages = await waitFor(
    `${messageId} dead-lettered`,
    async () => {
      const { messages } = await client.dlq.listMessages({ filter: { messageId } });
      return messages.length > 0 && messages;
    },
    DEAD_LETTER_WAIT_MS,
  );
  assert.equal(messages.length, 1, "one dead letter per message");
  return messages[0];
}

/** `GET /v2/keys` or `POST /v2/keys/rotate`, sent like the SDK sends its requests. */
async function keysRequest(method, path) {
  const response = await fetch(`${baseUrl.replace(/\/$/, "")}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(response.status, 200, `${method} ${path}`);
  return await response.json();
}

function assertSigningKeys(keys) {
  assert.deepEqual(Object.keys(keys).sort(), ["current", "next"]);
  assert.match(keys.current, /^sig_\w{28,}$/);
  assert.match(keys.next, /^sig_\w{28,}$/);
  assert.notEqual(keys.current, keys.next);
}

// ---------------------------------------------------------------- publish

await check("publish: plain body, query string kept, delivered", async () => {
  const url = sink("/plain?x=1&y=a%20b");
  const published = await client.publish({ url, body: "hello" });
  assertMessageId(published.messageId);
  assert.equal(published.deduplicated, undefined);
  expectDelivery({ messageId: published.messageId, method: "POST", url, body: "hello" });
});

await check("publish: method and forwarded headers reach the destination", async () => {
  const url = sink("/headers");
  const published = await client.publish({
    url,
    body: "with headers",
    method: "PUT",
    headers: { "X-Custom": "abc", "Content-Type": "text/plain" },
  });
  assertMessageId(published.messageId);
  expectDelivery({
    messageId: published.messageId,
    method: "PUT",
    url,
    body: "with headers",
    headers: { "x-custom": "abc", "content-type": "text/plain" },
  });
});

await check("publish: every option shows in messages.get", async () => {
  const url = sink("/configured");
  const published = await client.publish({
    url,
    body: "configured",
    delay: HOUR_S,
    retries: 5,
    retryDelay: "pow(2, retried) * 1000",
    timeout: 10,
    callback: sink("/cb"),
    failureCallback: sink("/fcb"),
    method: "PATCH",
    label: ["nightly", "billing"],
    headers: { "X-Custom": "abc", "Content-Type": "text/plain" },
  });
  const message = await client.messages.get(published.messageId);
  assert.equal(message.messageId, published.messageId);
  assert.equal(message.url, url);
  assert.equal(message.method, "PATCH");
  assert.equal(message.body, "configured");
  assert.deepEqual(message.header, { "Content-Type": ["text/plain"], "X-Custom": ["abc"] });
  assert.equal(message.maxRetries, 5);
  assert.equal(message.retryDelayExpression, "pow(2, retried) * 1000");
  assert.equal(message.callback, sink("/cb"));
  assert.equal(message.failureCallback, sink("/fcb"));
  assert.equal(message.label, "nightly");
  assert.deepEqual(message.labels, ["nightly", "billing"]);
  assert.equal(message.notBefore - message.createdAt, HOUR_MS);
  assert.ok(Math.abs(message.createdAt - Date.now()) < 60_000, "createdAt is Unix ms");
  assert.equal(message.urlGroup, undefined);
});

await check("messages.cancel: a delayed message is cancelled, then 404", async () => {
  const { messageId } = await publishDelayed({ url: sink("/to-cancel"), body: "x" });
  assert.deepEqual(await client.messages.cancel(messageId), { cancelled: 1 });
  await rejectsWith(() => client.messages.get(messageId), 404, messageId);
  await rejectsWith(() => client.messages.cancel(messageId), 404, messageId);
});

await check("messages.get: an unknown id is a 404", async () => {
  await rejectsWith(() => client.messages.get(NO_SUCH_MESSAGE), 404, NO_SUCH_MESSAGE);
});

await check("publish: delay as a duration string", async () => {
  const { messageId } = await publishDelayed({ url: sink("/later"), body: "x", delay: "1h" });
  const message = await client.messages.get(messageId);
  assert.equal(message.notBefore - message.createdAt, HOUR_MS);
});

await check("publish: notBefore (Unix seconds) becomes notBefore in ms", async () => {
  const notBefore = nowSeconds() + HOUR_S;
  const published = await client.publish({ url: sink("/nb"), body: "x", notBefore });
  const message = await client.messages.get(published.messageId);
  assert.equal(message.notBefore, notBefore * 1000);
});

await check("publish: deduplicationId twice gives one message, marked deduplicated", async () => {
  const request = { url: sink("/dedup"), body: "once", deduplicationId: `js-suite-${RUN}` };
  const first = await publishDelayed(request);
  const second = await publishDelayed(request);
  assert.equal(first.deduplicated, undefined);
  assert.equal(second.messageId, first.messageId);
  assert.equal(second.deduplicated, true);
});

await check("publish: contentBasedDeduplication keys on the content", async () => {
  const request = { url: sink("/content-dedup"), body: `same ${RUN}`, contentBasedDeduplication: true };
  const first = await publishDelayed(request);
  const second = await publishDelayed(request);
  const other = await publishDelayed({ ...request, body: `different ${RUN}` });
  assert.equal(second.messageId, first.messageId);
  assert.equal(second.deduplicated, true);
  assert.notEqual(other.messageId, first.messageId);
  assert.equal(other.deduplicated, undefined);
});

await check("publishJSON: serialised body and JSON content type are stored", async () => {
  const published = await client.publishJSON({
    url: sink("/json-later"),
    body: { hello: "world", n: 1 },
    delay: "1h",
  });
  const message = await client.messages.get(published.messageId);
  assert.equal(message.body, '{"hello":"world","n":1}');
  assert.deepEqual(message.header["Content-Type"], ["application/json"]);
});

await check("publishJSON: delivered as JSON", async () => {
  const url = sink("/json");
  const published = await client.publishJSON({ url, body: { hello: "world" } });
  assertMessageId(published.messageId);
  expectDelivery({
    messageId: published.messageId,
    method: "POST",
    url,
    body: '{"hello":"world"}',
    headers: { "content-type": "application/json" },
  });
});

await check("publish: the callback is called after delivery", async () => {
  const url = sink("/with-callback");
  const published = await client.publish({ url, body: "call me back", callback: sink("/callback") });
  expectDelivery({ messageId: published.messageId, method: "POST", url, body: "call me back" });
  expectCallback({ sourceMessageId: published.messageId, url: sink("/callback"), failure: false });
});

await check("publish: an invalid destination is a 400 with the QStash message", async () => {
  await rejectsWith(
    () => client.publish({ url: "ftp://example.com/file", body: "x" }),
    400,
    "invalid destination url: endpoint has invalid scheme, add http:// or https://",
  );
});

await check("publish: a wrong token is a 401", async () => {
  const stranger = new Client({ baseUrl, token: "not-a-ferry-token" });
  await rejectsWith(() => stranger.publish({ url: sink("/never"), body: "x" }), 401, "token");
});

// -------------------------------------------------------------------- DLQ

const failUrl = sink("/fail");
let deadLetters = {};

await check("dlq.listMessages: a failed message with retries 0 is a dead letter", async () => {
  const doomed = await client.publish({
    url: failUrl,
    body: "doomed",
    retries: 0,
    failureCallback: sink("/on-failure"),
  });
  const alsoDoomed = await client.publish({ url: failUrl, body: "doomed too", retries: 0 });
  expectDelivery({ messageId: doomed.messageId, method: "POST", url: failUrl, status: 500 });
  expectCallback({ sourceMessageId: doomed.messageId, url: sink("/on-failure"), failure: true });
  const dead = await waitForDeadLetter(doomed.messageId);
  assert.match(dead.dlqId, /\S/, "dlqId");
  assert.equal(dead.messageId, doomed.messageId);
  assert.equal(dead.url, failUrl);
  assert.equal(dead.responseStatus, 500);
  assert.equal(dead.body, "doomed");
  assert.equal(dead.maxRetries, 0);
  assert.equal(dead.failureCallback, sink("/on-failure"));
  deadLetters = { doomed: dead, alsoDoomed: await waitForDeadLetter(alsoDoomed.messageId) };
});

await check("dlq.listMessages: by dlqIds, and unfiltered without a cursor", async () => {
  const { doomed, alsoDoomed } = deadLetters;
  const byId = await client.dlq.listMessages({ dlqIds: [doomed.dlqId] });
  assert.deepEqual(
    byId.messages.map((message) => message.dlqId),
    [doomed.dlqId],
  );
  const all = await client.dlq.listMessages();
  const ids = all.messages.map((message) => message.dlqId);
  assert.ok(ids.includes(doomed.dlqId) && ids.includes(alsoDoomed.dlqId), `${ids}`);
  assert.equal(all.cursor, undefined);
});

await check("dlq.retry: the dead letter is published again as a new message", async () => {
  const { doomed } = deadLetters;
  const retried = await client.dlq.retry(doomed.dlqId);
  assert.equal(retried.responses.length, 1);
  const [{ messageId }] = retried.responses;
  assertMessageId(messageId);
  assert.notEqual(messageId, doomed.messageId);
  assert.equal(retried.cursor, undefined);
  const gone = await client.dlq.listMessages({ dlqIds: [doomed.dlqId] });
  assert.deepEqual(gone.messages, []);
  // The copy goes to the same failing URL with the same retries, so it dies too.
  expectDelivery({ messageId, method: "POST", url: failUrl, status: 500 });
  deadLetters.retried = await waitForDeadLetter(messageId);
  assert.equal(deadLetters.retried.body, "doomed");
});

await check("dlq.delete: one dead letter, then 404", async () => {
  const { alsoDoomed } = deadLetters;
  assert.deepEqual(await client.dlq.delete(alsoDoomed.dlqId), { deleted: 1 });
  await rejectsWith(() => client.dlq.delete(alsoDoomed.dlqId), 404, alsoDoomed.dlqId);
});

await check("dlq.delete: an array of dlqIds", async () => {
  const { retried } = deadLetters;
  const deleted = await client.dlq.delete([retried.dlqId]);
  assert.equal(deleted.deleted, 1);
  const left = await client.dlq.listMessages({ filter: { url: failUrl } });
  assert.deepEqual(left.messages, []);
});

// ------------------------------------------------------ queues and more

await check("queue.enqueue: creates the queue with parallelism 1, delivered", async () => {
  const url = sink("/queue/plain");
  const queue = client.queue({ queueName: "js-suite" });
  const enqueued = await queue.enqueue({ url, body: "queued" });
  assertMessageId(enqueued.messageId);
  expectDelivery({ messageId: enqueued.messageId, method: "POST", url, body: "queued" });
  const shown = await queue.get();
  assert.equal(shown.name, "js-suite");
  assert.equal(shown.parallelism, 1);
  assert.equal(shown.paused, false);
  assert.equal(typeof shown.lag, "number");
  assert.ok(shown.createdAt > 0 && shown.updatedAt >= shown.createdAt, "times");
});

await check("queue.enqueueJSON: delivered as JSON", async () => {
  const url = sink("/queue/json");
  const enqueued = await client.queue({ queueName: "js-suite" }).enqueueJSON({ url, body: { a: 1 } });
  assertMessageId(enqueued.messageId);
  expectDelivery({
    messageId: enqueued.messageId,
    method: "POST",
    url,
    body: '{"a":1}',
    headers: { "content-type": "application/json" },
  });
});

await check("queue.upsert, pause, resume and list", async () => {
  const queue = client.queue({ queueName: "js-managed" });
  await queue.upsert({ parallelism: 2 });
  assert.equal((await queue.get()).parallelism, 2);
  await queue.pause();
  assert.equal((await queue.get()).paused, true);
  await queue.resume();
  const resumed = await queue.get();
  assert.deepEqual([resumed.paused, resumed.parallelism, resumed.lag], [false, 2, 0]);
  const listed = await client.queue().list();
  assert.deepEqual(
    listed.map((q) => q.name).filter((name) => name.startsWith("js-")),
    ["js-managed", "js-suite"],
  );
});

await check("queue.delete: then the queue is gone (404)", async () => {
  const queue = client.queue({ queueName: "js-gone" });
  await queue.upsert({ parallelism: 1, paused: true });
  await queue.delete();
  await rejectsWith(() => queue.get(), 404, "js-gone");
});

await check("batch: every item is published in request order", async () => {
  const first = sink("/batch/1");
  const second = sink("/batch/2?q=x");
  const results = await client.batch([
    { url: first, body: "one", headers: { "X-Item": "1" } },
    { url: second, body: "two", method: "PUT" },
  ]);
  assert.equal(results.length, 2);
  results.forEach((r) => assertMessageId(r.messageId));
  assert.notEqual(results[0].messageId, results[1].messageId);
  expectDelivery({ messageId: results[0].messageId, method: "POST", url: first, body: "one", headers: { "x-item": "1" } });
  expectDelivery({ messageId: results[1].messageId, method: "PUT", url: second, body: "two" });
});

await check("batchJSON: JSON bodies with the JSON content type", async () => {
  const url = sink("/batch/json");
  const [result] = await client.batchJSON([{ url, body: { a: 1 } }]);
  assertMessageId(result.messageId);
  expectDelivery({
    messageId: result.messageId,
    method: "POST",
    url,
    body: '{"a":1}',
    headers: { "content-type": "application/json" },
  });
});

await check("urlGroups: add, get, list, remove endpoints and delete", async () => {
  await client.urlGroups.addEndpoints({
    name: "js-suite",
    endpoints: [{ url: sink("/group/a"), name: "a" }, { url: sink("/group/b") }],
  });
  const group = await client.urlGroups.get("js-suite");
  assert.equal(group.name, "js-suite");
  assert.deepEqual(group.endpoints.map((e) => e.url).sort(), [sink("/group/a"), sink("/group/b")]);
  assert.equal(typeof group.createdAt, "number");
  const all = await client.urlGroups.list();
  assert.ok(all.some((g) => g.name === "js-suite"));
  await client.urlGroups.removeEndpoints({ name: "js-suite", endpoints: [{ name: "a" }] });
  assert.deepEqual((await client.urlGroups.get("js-suite")).endpoints, [{ url: sink("/group/b") }]);
  await client.urlGroups.delete("js-suite");
  await rejectsWith(() => client.urlGroups.get("js-suite"), 404, "js-suite");
});

await check("publish to a URL group fans out to every endpoint", async () => {
  await client.urlGroups.addEndpoints({
    name: "js-fan",
    endpoints: [{ url: sink("/fan/1") }, { url: sink("/fan/2") }],
  });
  const results = await client.publish({ urlGroup: "js-fan", body: "to all" });
  assert.equal(results.length, 2);
  for (const r of results) {
    assertMessageId(r.messageId);
    expectDelivery({ messageId: r.messageId, method: "POST", url: r.url, body: "to all", headers: { "upstash-topic-name": "js-fan" } });
  }
  await rejectsWith(() => client.publish({ urlGroup: "js-no-such-group", body: "x" }), 404, "js-no-such-group");
});

await check("schedules.create and get: the returned fields", async () => {
  const { scheduleId } = await client.schedules.create({
    destination: sink("/s"),
    cron: "*/5 * * * * ",
    body: "tick",
    retries: 2,
    scheduleId: "js-suite-schedule",
  });
  assert.equal(scheduleId, "js-suite-schedule");
  const got = await client.schedules.get(scheduleId);
  assert.equal(got.scheduleId, scheduleId);
  assert.equal(got.cron, "*/5 * * * *");
  assert.equal(got.destination, sink("/s"));
  assert.equal(got.retries, 2);
  assert.equal(got.body, "tick");
  assert.equal(got.isPaused, false);
});

await check("schedules.list, pause, resume and delete", async () => {
  const scheduleId = "js-suite-schedule";
  const listed = await client.schedules.list();
  assert.ok(listed.some((s) => s.scheduleId === scheduleId), "listed");
  await client.schedules.pause({ schedule: scheduleId });
  assert.equal((await client.schedules.get(scheduleId)).isPaused, true);
  await client.schedules.resume({ schedule: scheduleId });
  assert.equal((await client.schedules.get(scheduleId)).isPaused, false);
  await client.schedules.delete(scheduleId);
  await rejectsWith(() => client.schedules.get(scheduleId), 404, scheduleId);
});

await check("publish with flowControl: delivered; flowControl.get shows the key", async () => {
  const url = sink("/flow");
  const key = `js-flow-${RUN}`;
  const { messageId } = await client.publish({
    url,
    body: "limited",
    flowControl: { key, parallelism: 2, rate: 10, period: "1m" },
  });
  expectDelivery({ messageId, method: "POST", url, body: "limited" });
  const info = await client.flowControl.get(key);
  assert.equal(info.flowControlKey, key);
  assert.equal(info.parallelismMax, 2);
  assert.equal(info.rateMax, 10);
  assert.equal(info.ratePeriod, 60);
  for (const field of ["waitListSize", "parallelismCount", "rateCount", "ratePeriodStart"]) {
    assert.equal(typeof info[field], "number", field);
  }
  await rejectsWith(() => client.flowControl.get(`js-none-${RUN}`), 404, "not found");
});

await check("flowControl: pause, resume, pin, unpin and resetRate", async () => {
  const key = `js-steer-${RUN}`;
  const { messageId } = await publishDelayed({
    url: sink("/flow/steered"),
    body: "x",
    flowControl: { key, parallelism: 5 },
  });
  await client.flowControl.pause(key);
  assert.equal((await client.flowControl.get(key)).isPaused, true);
  await client.flowControl.resume(key);
  assert.equal((await client.flowControl.get(key)).isPaused, false);
  await client.flowControl.pin(key, { parallelism: 1, rate: 3, period: 10 });
  const pinned = await client.flowControl.get(key);
  assert.deepEqual(
    [pinned.isPinnedParallelism, pinned.isPinnedRate, pinned.parallelismMax, pinned.rateMax, pinned.ratePeriod],
    [true, true, 1, 3, 10],
  );
  await client.flowControl.unpin(key, { parallelism: true, rate: true });
  const unpinned = await client.flowControl.get(key);
  assert.deepEqual([unpinned.isPinnedParallelism, unpinned.isPinnedRate], [false, false]);
  await client.flowControl.resetRate(key);
  assert.equal((await client.flowControl.get(key)).rateCount, 0);
  await client.messages.cancel(messageId);
});

await check("flowControl.getGlobalParallelism answers numbers", async () => {
  const info = await client.flowControl.getGlobalParallelism();
  assert.equal(typeof info.parallelismMax, "number");
  assert.equal(typeof info.parallelismCount, "number");
});

await check("logs: a message's life, filtered by its id", async () => {
  const { messageId } = await client.publish({ url: sink("/logged"), body: "x", delay: "1h", label: "js-logs" });
  await client.messages.cancel(messageId);
  const { logs, cursor } = await client.logs({ filter: { messageId } });
  assert.equal(cursor, undefined);
  assert.deepEqual(logs.map((l) => l.state).sort(), ["CANCELED", "CREATED"]);
  for (const line of logs) {
    assert.equal(line.messageId, messageId);
    assert.equal(line.url, sink("/logged"));
    assert.equal(typeof line.time, "number");
  }
  const { logs: byIds } = await client.logs({ messageIds: [messageId] });
  assert.equal(byIds.length, 2);
});

await check("messages.cancel with an id array cancels those messages", async () => {
  const a = await publishDelayed({ url: sink("/bulk/a"), body: "a" });
  const b = await publishDelayed({ url: sink("/bulk/b"), body: "b" });
  const result = await client.messages.cancel([a.messageId, b.messageId, NO_SUCH_MESSAGE]);
  assert.equal(result.cancelled, 2);
  await rejectsWith(() => client.messages.get(a.messageId), 404, "not found");
});

await check("messages.cancel({ filter, count }) cancels every matching message in one call", async () => {
  const label = `js-cancel-${RUN}`;
  for (const path of ["/filtered/a", "/filtered/b", "/filtered/c"]) {
    await publishDelayed({ url: sink(path), body: "x", label });
  }
  const kept = await publishDelayed({ url: sink("/filtered/kept"), body: "x", label: "js-kept" });
  const filter = { label: [label, "js-no-such-label"] };
  // The SDK documents `count` as legacy and ignored by the server.
  assert.deepEqual(await client.messages.cancel({ filter, count: 2 }), { cancelled: 3 });
  assert.deepEqual(await client.messages.cancel({ filter }), { cancelled: 0 });
  assert.equal((await client.messages.get(kept.messageId)).messageId, kept.messageId);
  await client.messages.cancel(kept.messageId);
});

await check("messages.cancel({ all: true }) cancels every message of the tenant", async () => {
  // On the second tenant, so this suite's own pending deliveries stay.
  const { messageId } = await otherClient.publish({ url: sink("/other/all"), body: "x", delay: "1h" });
  assertMessageId(messageId);
  await otherClient.publish({ url: sink("/other/all"), body: "y", delay: "1h" });
  assert.deepEqual(await otherClient.messages.cancel({ all: true, count: 1 }), { cancelled: 2 });
  assert.deepEqual(await otherClient.messages.cancel({ all: true }), { cancelled: 0 });
  await rejectsWith(() => otherClient.messages.get(messageId), 404, "not found");
});

await check("publish: redact hides the body in the API", async () => {
  const { messageId } = await publishDelayed({ url: sink("/redact"), body: "secret", redact: { body: true } });
  const message = await client.messages.get(messageId);
  assert.match(message.body, /^REDACTED:[0-9a-f]{64}$/);
});

// ------------------------------------------------------------ signing keys
//
// @upstash/qstash 2.12.0 has no signing-key API (its only use of /v2/keys
// is the dev-mode probe), so these two requests are sent the way the SDK
// sends every request: the base URL, the path, and the bearer token.

let keysBefore;

await check("GET /v2/keys answers the current and next keys", async () => {
  keysBefore = await keysRequest("GET", "/v2/keys");
  assertSigningKeys(keysBefore);
});

await check("POST /v2/keys/rotate promotes next; GET shows the rotated pair", async () => {
  const rotated = await keysRequest("POST", "/v2/keys/rotate");
  assertSigningKeys(rotated);
  assert.equal(rotated.current, keysBefore.next);
  assert.notEqual(rotated.next, keysBefore.current);
  assert.deepEqual(await keysRequest("GET", "/v2/keys"), rotated);
});

finish();
