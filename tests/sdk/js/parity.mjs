// Drives Ferry with the official QStash JavaScript SDK through the calls
// that combine features or push at their edges, and checks that Ferry does
// what QStash does: bulk cancels that ignore the SDK's legacy `count`, flow
// control on enqueued messages, queues that fan out to URL groups,
// schedules with a queue, a flow-control key or a URL group, whole header
// sets passed on, callbacks that carry a whole response, time cursors,
// rate-limit errors with their fields, dead letters retried and deleted by
// filter and all at once, and publishing through an `api` provider.
//
// Environment:
//   QSTASH_URL          Ferry's base URL; it must accept a per-second cron
//   QSTASH_TOKEN        a tenant token
//   QSTASH_OTHER_TOKEN  a second tenant's token, whose pending messages the
//                       cancel-everything checks may cancel
//   QSTASH_FULL_URL     a second Ferry, for the same tokens, that accepts one
//                       waiting message and then refuses with 429
//   SINK_URL            a loopback URL prefix for deliveries: paths containing
//                       `/fail` answer 500, `/big` answers 200 with 40,000
//                       bytes, `/v1/chat/completions` answers an LLM's JSON,
//                       every other path 200
//
// Output: see checks.mjs. Announced deliveries are JSON objects with `path`
// (path and query at the sink) and, when known, `messageId`, `method`,
// `body`, `headers` (name to exact value) and `absent` (header names);
// announced callbacks have `path`, `sourceMessageId` and `bodyLength` or
// `body` (what the callback's base64 `body` field decodes to).

import assert from "node:assert/strict";
import { Client, QstashRatelimitError, custom } from "@upstash/qstash";

import {
  assertMessageId,
  check,
  expectCallback,
  expectDelivery,
  finish,
  requiredEnv,
  waitFor,
} from "./checks.mjs";

/** Makes names, labels and keys unique per run. */
const RUN = crypto.randomUUID().slice(0, 8);
/** More pending messages than the SDK's legacy `count` of 100. */
const MANY = 130;
/** Ferry runs with an every-second cron allowed, so ticks come quickly. */
const EVERY_SECOND = "* * * * * *";
/** The size of the `/big` answer of the sink. */
const BIG_ANSWER = 40_000;

const baseUrl = requiredEnv("QSTASH_URL");
const token = requiredEnv("QSTASH_TOKEN");
const sinkUrl = requiredEnv("SINK_URL").replace(/\/$/, "");
const client = new Client({ baseUrl, token });
const otherClient = new Client({ baseUrl, token: requiredEnv("QSTASH_OTHER_TOKEN") });
const fullClient = new Client({ baseUrl: requiredEnv("QSTASH_FULL_URL"), token });

/** The sink URL of `path`, and the path alone for announcements. */
function sink(path) {
  return `${sinkUrl}${path}`;
}

function pending(url, label) {
  return { url, body: "later", delay: "1h", label };
}

/** Waits until the log shows `n` deliveries of schedule `scheduleId`. */
async function waitForTicks(scheduleId, n) {
  await waitFor(`${n} delivered ticks of ${scheduleId}`, async () => {
    const { logs } = await client.logs({ filter: { scheduleId, state: "DELIVERED" } });
    return logs.length >= n;
  });
}

// ------------------------------------------------------------ bulk cancel

await check(`messages.cancel({ all: true }) cancels all ${MANY} pending messages at once`, async () => {
  // On the second tenant, so this script's own deliveries stay.
  const sent = await otherClient.batch(
    Array.from({ length: MANY }, () => pending(sink("/other/all"), `all-${RUN}`)),
  );
  assert.equal(sent.length, MANY);
  assert.deepEqual(await otherClient.messages.cancel({ all: true }), { cancelled: MANY });
  assert.deepEqual(await otherClient.messages.cancel({ all: true }), { cancelled: 0 });
});

await check("messages.deleteAll() cancels everything at once", async () => {
  await otherClient.batch(Array.from({ length: MANY }, () => pending(sink("/other/delete-all"))));
  assert.equal(await otherClient.messages.deleteAll(), MANY);
});

await check(`messages.cancel({ filter }) cancels all ${MANY} matches at once`, async () => {
  const label = `filtered-${RUN}`;
  await client.batch(Array.from({ length: MANY }, () => pending(sink("/filtered"), label)));
  const kept = await client.publish(pending(sink("/filtered"), `kept-${RUN}`));
  assert.deepEqual(await client.messages.cancel({ filter: { label } }), { cancelled: MANY });
  assert.equal((await client.messages.get(kept.messageId)).messageId, kept.messageId);
  await client.messages.cancel(kept.messageId);
});

// ------------------------------------------------------ the publish answer

await check("publish and enqueue answer the destination url", async () => {
  const url = sink("/answered?x=1");
  const published = await client.publish({ url, body: "a" });
  assertMessageId(published.messageId);
  assert.equal(published.url, url);
  const enqueued = await client.queue({ queueName: `answered-${RUN}` }).enqueue({ url, body: "b" });
  assert.equal(enqueued.url, url);
  expectDelivery({ path: "/answered?x=1", messageId: published.messageId, body: "a" });
  expectDelivery({ path: "/answered?x=1", messageId: enqueued.messageId, body: "b" });
});

// ------------------------------------------- flow control on enqueued messages

await check("queue.enqueue with flowControl: the queue's turn, then the key's limits", async () => {
  const key = `metered-${RUN}`;
  const queue = client.queue({ queueName: `metered-${RUN}` });
  await queue.upsert({ parallelism: 2 });
  const flowControl = { key, rate: 1, period: "1h" };
  const first = await queue.enqueue({ url: sink("/metered"), body: "first", flowControl });
  const second = await queue.enqueue({ url: sink("/metered"), body: "second", flowControl });
  expectDelivery({ path: "/metered", messageId: first.messageId, body: "first" });
  // The queue admits both; the key's rate of one per hour holds the second.
  const info = await waitFor("the second message waiting under its key", async () => {
    const shown = await client.flowControl.get(key);
    return shown.waitListSize === 1 && shown.rateCount === 1 && shown;
  });
  assert.deepEqual([info.rateMax, info.ratePeriod], [1, 3600]);
  const held = await client.messages.get(second.messageId);
  assert.deepEqual([held.queueName, held.flowControlKey, held.rate], [queue.queueName, key, 1]);
  assert.deepEqual(await client.messages.cancel(second.messageId), { cancelled: 1 });
  assert.equal((await client.flowControl.get(key)).waitListSize, 0);
});

await check("queue.enqueueJSON with flowControl: delivered as JSON", async () => {
  const enqueued = await client.queue({ queueName: `json-${RUN}` }).enqueueJSON({
    url: sink("/queued-json"),
    body: { queued: true },
    flowControl: { key: `json-${RUN}`, parallelism: 1 },
  });
  expectDelivery({
    path: "/queued-json",
    messageId: enqueued.messageId,
    body: '{"queued":true}',
    headers: { "content-type": "application/json" },
  });
});

await check("batch items with a queue, with and without flow control", async () => {
  const queueName = `batched-${RUN}`;
  const results = await client.batch([
    { url: sink("/batched/1"), body: "one", queueName, flowControl: { key: `batched-${RUN}`, parallelism: 1 } },
    { url: sink("/batched/2"), body: "two", queueName },
  ]);
  assert.equal(results.length, 2);
  results.forEach((result, idx) => {
    assertMessageId(result.messageId);
    assert.equal(result.url, sink(`/batched/${idx + 1}`));
  });
  expectDelivery({ path: "/batched/1", messageId: results[0].messageId, body: "one" });
  expectDelivery({ path: "/batched/2", messageId: results[1].messageId, body: "two" });
});

await check("batchJSON with a queue: JSON bodies, enqueued", async () => {
  const [result] = await client.batchJSON([
    { url: sink("/batched/json"), body: { n: 1 }, queueName: `batched-json-${RUN}` },
  ]);
  expectDelivery({
    path: "/batched/json",
    messageId: result.messageId,
    body: '{"n":1}',
    headers: { "content-type": "application/json" },
  });
});

await check("a batch with one bad item stores none of it", async () => {
  const label = `all-or-nothing-${RUN}`;
  await assert.rejects(
    () =>
      client.batch([
        { url: sink("/never"), body: "x", label, queueName: `never-${RUN}`, flowControl: { key: "k", parallelism: 1 } },
        { urlGroup: `no-such-group-${RUN}`, body: "x", label },
      ]),
    (error) => error.status === 404 && error.message.includes("batch item 1"),
  );
  assert.deepEqual(await client.messages.cancel({ filter: { label } }), { cancelled: 0 });
});

// ------------------------------------------------- queues and URL groups

const group = `fanned-${RUN}`;

await check("queue.enqueue to a URL group: one queued message per endpoint", async () => {
  await client.urlGroups.addEndpoints({
    name: group,
    endpoints: [{ url: sink("/fanned/a") }, { url: sink("/fanned/b") }],
  });
  const results = await client.queue({ queueName: `fanned-${RUN}` }).enqueue({ urlGroup: group, body: "to all" });
  assert.deepEqual(results.map((r) => r.url).sort(), [sink("/fanned/a"), sink("/fanned/b")]);
  for (const result of results) {
    assertMessageId(result.messageId);
    const path = result.url.slice(sinkUrl.length);
    expectDelivery({ path, messageId: result.messageId, body: "to all", headers: { "upstash-topic-name": group } });
  }
});

await check("a batch item with a queue and a URL group: a nested answer", async () => {
  const [fanned] = await client.batch([{ urlGroup: group, body: "batched", queueName: `fanned-${RUN}` }]);
  assert.equal(fanned.length, 2);
  for (const result of fanned) {
    expectDelivery({ path: result.url.slice(sinkUrl.length), messageId: result.messageId, body: "batched" });
  }
});

// -------------------------------------------------------------- schedules

await check("schedules.create with a queue, flow control and a JSON body", async () => {
  const scheduleId = `metered-${RUN}`;
  await client.schedules.create({
    scheduleId,
    destination: sink("/ticks/metered"),
    cron: EVERY_SECOND,
    body: JSON.stringify({ tick: true }),
    queueName: `ticks-${RUN}`,
    flowControl: { key: `ticks-${RUN}`, parallelism: 1 },
  });
  const created = await client.schedules.get(scheduleId);
  assert.deepEqual(
    [created.queueName, created.flowControlKey, created.parallelism, created.body],
    [`ticks-${RUN}`, `ticks-${RUN}`, 1, '{"tick":true}'],
  );
  assert.deepEqual(created.header["Content-Type"], ["application/json"]);
  await waitForTicks(scheduleId, 1);
  await client.schedules.delete(scheduleId);
  expectDelivery({
    path: "/ticks/metered",
    body: '{"tick":true}',
    headers: { "upstash-schedule-id": scheduleId, "content-type": "application/json" },
  });
});

await check("schedules.create to a URL group with a queue: every endpoint ticks", async () => {
  const scheduleId = `fanned-${RUN}`;
  await client.schedules.create({ scheduleId, destination: group, cron: EVERY_SECOND, body: "tick", queueName: `fanned-ticks-${RUN}` });
  await waitForTicks(scheduleId, 2);
  await client.schedules.delete(scheduleId);
  for (const path of ["/fanned/a", "/fanned/b"]) {
    expectDelivery({ path, body: "tick", headers: { "upstash-schedule-id": scheduleId, "upstash-topic-name": group } });
  }
});

// ------------------------------------------------------ forwarded headers

await check("publish with a whole header set: what must not be forwarded is dropped", async () => {
  // As an application passing on the headers of the request it handles.
  const published = await client.publish({
    url: sink("/passed-on"),
    body: "step",
    headers: {
      Host: "app.example",
      Connection: "close",
      "Content-Length": "999",
      "User-Agent": "node",
      "Accept-Encoding": "gzip, deflate",
      "Upstash-Forward-Upstash-Signature": "eyJ.forged.sig",
      "Upstash-Forward-Upstash-Message-Id": "msg_forged",
      "Upstash-Schedule-Id": "scd_passed_on",
      "X-Kept": "yes",
      // How Node hands a UTF-8 header of an incoming request to the app.
      "X-Utf8": Buffer.from("grüße ✓", "utf8").toString("latin1"),
    },
  });
  expectDelivery({
    path: "/passed-on",
    messageId: published.messageId,
    body: "step",
    headers: { "x-kept": "yes", "x-utf8": "grüße ✓", "user-agent": "Upstash-QStash", "content-length": "4" },
    absent: ["accept-encoding", "upstash-schedule-id"],
  });
});

// -------------------------------------------------------------- callbacks

await check(`a callback carries the whole ${BIG_ANSWER}-byte response`, async () => {
  const published = await client.publish({ url: sink("/big"), body: "ask", callback: sink("/big-callback") });
  expectDelivery({ path: "/big", messageId: published.messageId, body: "ask" });
  expectCallback({ path: "/big-callback", sourceMessageId: published.messageId, bodyLength: BIG_ANSWER });
});

await check("publishJSON through an api provider with a callback", async () => {
  const published = await client.publishJSON({
    api: { name: "llm", provider: custom({ baseUrl: sink("/llm"), token: "sk-parity" }) },
    body: { model: "any", messages: [{ role: "user", content: "hello" }] },
    callback: sink("/llm-callback"),
  });
  assertMessageId(published.messageId);
  expectDelivery({
    path: "/llm/v1/chat/completions",
    messageId: published.messageId,
    headers: { authorization: "Bearer sk-parity", "content-type": "application/json" },
  });
  expectCallback({
    path: "/llm-callback",
    sourceMessageId: published.messageId,
    body: '{"choices":[{"message":{"role":"assistant","content":"hi"}}]}',
  });
});

// ------------------------------------------------------------------- logs

await check("logs with a numeric cursor (Date.now()) page from that time", async () => {
  const before = Date.now() - 1;
  const { messageId } = await client.publish(pending(sink("/logged"), `logged-${RUN}`));
  const now = await client.logs({ cursor: Date.now(), filter: { messageId } });
  assert.deepEqual(now.logs.map((l) => l.state), ["CREATED"]);
  const earlier = await client.logs({ cursor: before, filter: { messageId } });
  assert.deepEqual(earlier.logs, [], "nothing of it before it was published");
  await client.messages.cancel(messageId);
});

// ------------------------------------------------------------ rate limits

await check("a full backlog is a rate-limit error with its fields", async () => {
  await fullClient.publish({ url: sink("/never"), body: "fills the backlog", delay: "1h" });
  await assert.rejects(
    () => fullClient.publish({ url: sink("/never"), body: "one too many" }),
    (error) => {
      assert.ok(error instanceof QstashRatelimitError, `got ${error}`);
      assert.equal(error.status, 429);
      assert.deepEqual([error.limit, error.remaining], ["1", "0"]);
      assert.ok(Number(error.reset) * 1000 > Date.now() - 60_000, `reset ${error.reset}`);
      return true;
    },
  );
});

// ------------------------------------------------------------ dead letters

await check("dlq.retry and dlq.delete by filter and for all dead letters", async () => {
  const label = `dying-${RUN}`;
  const dying = [];
  for (const name of ["a", "b", "c"]) {
    const url = sink(`/fail/${name}`);
    const { messageId } = await client.publish({ url, body: name, retries: 0, label });
    expectDelivery({ path: `/fail/${name}`, messageId, body: name, status: 500 });
    dying.push(messageId);
  }
  const deadCount = async (filter) => (await client.dlq.listMessages({ filter })).messages.length;
  await waitFor("three dead letters", async () => (await deadCount({ label })) === 3);

  const retried = await client.dlq.retry({ filter: { url: sink("/fail/a") } });
  assert.equal(retried.responses.length, 1);
  assert.equal(retried.cursor, undefined);
  const [{ messageId: again }] = retried.responses;
  assert.ok(!dying.includes(again), "a new message");
  expectDelivery({ path: "/fail/a", messageId: again, body: "a", status: 500 });
  await waitFor("the retried copy dead again", async () => (await deadCount({ messageId: again })) === 1);

  assert.deepEqual(await client.dlq.delete({ filter: { url: sink("/fail/b") } }), { deleted: 1 });
  const all = await client.dlq.retry({ all: true });
  assert.equal(all.responses.length, 2, "a's copy and c");
  for (const { messageId } of all.responses) {
    expectDelivery({ path: undefined, messageId, status: 500 });
  }
  await waitFor("both copies dead again", async () => (await deadCount({ label })) === 2);
  const deleted = await client.dlq.delete({ all: true });
  assert.equal(deleted.deleted, 2);
  assert.equal(deleted.cursor, undefined);
  assert.deepEqual((await client.dlq.listMessages()).messages, []);
});

finish();
