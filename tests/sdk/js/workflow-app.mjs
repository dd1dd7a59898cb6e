// A workflow app built on the official @upstash/workflow (pinned in
// package.json), served on loopback with signature verification on, plus
// the official Client to trigger runs. Driven by tests/it/workflow_js.rs.
//
// Routes:
//   /wf/<name>        the workflows below (the SDK's `serve`)
//   /echo             a third party for context.call: 201 with the request echoed
//   /unauthorized     a third party that always answers 401
//   POST /__trigger   {workflow, body, headers, retries, label, workflowRunId}
//                     -> client.trigger(...) -> {workflowRunId}
//   POST /__notify    {eventId, eventData, workflowRunId} -> client.notify(...)
//   GET /__waiters?eventId=...  -> client.getWaiters(...)
//   POST /__cancel    the body as client.cancel's argument -> its answer
//   POST /__logs      the body as client.logs' argument -> its answer
//   GET /__state      {counts, seen}: how often each step body ran, and what it saw
//
// Prints `listening <port>` once it accepts requests.
import http from "node:http";
import { Client, serve } from "@upstash/workflow";

const env = {
  QSTASH_URL: process.env.QSTASH_URL,
  QSTASH_TOKEN: process.env.QSTASH_TOKEN,
  QSTASH_CURRENT_SIGNING_KEY: process.env.QSTASH_CURRENT_SIGNING_KEY,
  QSTASH_NEXT_SIGNING_KEY: process.env.QSTASH_NEXT_SIGNING_KEY,
};
const client = new Client({ baseUrl: env.QSTASH_URL, token: env.QSTASH_TOKEN });

const counts = {};
const seen = {};
const bump = (name) => {
  counts[name] = (counts[name] ?? 0) + 1;
};
let origin = "";

const workflows = {
  main: serve(
    async (context) => {
      const input = context.requestPayload;
      const first = await context.run("step-1", () => {
        bump("main/step-1");
        seen.firstUser = context.headers.get("x-user");
        return { n: input.n + 1 };
      });
      await context.sleep("sleep-1", 1);
      const [p1, p2] = await Promise.all([
        context.run("par-1", () => {
          bump("main/par-1");
          return "P1";
        }),
        context.run("par-2", () => {
          bump("main/par-2");
          return { v: 2 };
        }),
        context.sleep("par-sleep", 1),
      ]);
      const echoed = await context.call("call-1", {
        url: `${origin}/echo`,
        method: "POST",
        body: { hello: "world" },
        headers: { "x-h": "v" },
      });
      const refused = await context.call("call-2", {
        url: `${origin}/unauthorized`,
        method: "PATCH",
        retries: 1,
      });
      await context.run("final", () => {
        bump("main/final");
        seen.main = {
          first,
          p1,
          p2,
          callStatus: echoed.status,
          callBody: echoed.body,
          callReply: echoed.header["X-Reply"]?.[0] ?? null,
          refusedStatus: refused.status,
          refusedBody: refused.body,
          user: context.headers.get("x-user"),
          label: context.label ?? null,
          createdAt: typeof context.workflowRunCreatedAt,
        };
      });
      return { done: true };
    },
    { env },
  ),
  failing: serve(
    async (context) => {
      await context.run("f-1", () => {
        bump("failing/f-1");
        return 1;
      });
      await context.run("f-2", () => {
        bump("failing/f-2");
        throw new Error("step exploded");
      });
    },
    {
      env,
      failureFunction: async ({ context, failStatus, failResponse }) => {
        bump("failing/failure");
        seen.failure = {
          failStatus,
          failResponse,
          payload: context.requestPayload,
          user: context.headers.get("x-user"),
        };
      },
    },
  ),
  // context.invoke: one child that succeeds, one that fails for good.
  invoker: serve(
    async (context) => {
      const ok = await context.invoke("invoke-ok", {
        workflow: { workflowId: "child-ok" },
        body: "child-input",
        headers: { "x-from": "parent" },
      });
      const failed = await context.invoke("invoke-failing", {
        workflow: { workflowId: "child-failing" },
        body: { n: 9 },
        retries: 0,
      });
      await context.run("after", () => {
        bump("invoker/after");
        seen.invoke = { ok, failed };
      });
      return "parent done";
    },
    { env },
  ),
  "child-ok": serve(
    async (context) => {
      const got = await context.run("child-step", () => {
        bump("child-ok/step");
        return { input: context.requestPayload, from: context.headers.get("x-from") };
      });
      return { childResult: got };
    },
    { env },
  ),
  "child-failing": serve(
    async (context) => {
      await context.run("child-step", () => {
        bump("child-failing/step");
        throw new Error("child exploded");
      });
    },
    {
      env,
      failureFunction: async ({ context, failStatus }) => {
        bump("child-failing/failure");
        seen.childFailure = { failStatus, payload: context.requestPayload };
      },
    },
  ),
  // context.cancel: the step after it never runs.
  "self-cancel": serve(
    async (context) => {
      await context.run("before", () => bump("self-cancel/before"));
      await context.cancel();
      await context.run("never", () => bump("self-cancel/never"));
    },
    { env },
  ),
  // Sleeps long enough for client.cancel to stop it.
  sleeper: serve(
    async (context) => {
      await context.run("start", () => bump("sleeper/start"));
      await context.sleep("long", 30);
      await context.run("woke", () => bump("sleeper/woke"));
    },
    { env },
  ),
  once: serve(
    async (context) => {
      // Keeps the run active while the test triggers it again.
      await context.sleep("hold", 2);
      await context.run("once", () => {
        bump("once/once");
        seen.once = context.requestPayload;
      });
    },
    { env },
  ),
  // Waits for the event the payload names; `timeout` in seconds. A step
  // before the wait holds the run for `hold` seconds first (lookback).
  waiter: serve(
    async (context) => {
      const { key, timeout, hold } = context.requestPayload;
      await context.run("before-wait", () => {
        bump(`waiter/${key}/before`);
      });
      if (hold) await context.sleep("hold", hold);
      const result = await context.waitForEvent("wait-event", `event-${key}`, { timeout });
      await context.run("after-wait", () => {
        bump(`waiter/${key}/after`);
        seen[`waiter/${key}`] = result;
      });
    },
    { env },
  ),
  // Creates a webhook, calls it itself before it waits (lookback), then
  // waits for the call. Runs with a token that names its user, as
  // createWebhook needs.
  hook: serve(
    async (context) => {
      const webhook = await context.createWebhook("create-hook");
      await context.run("call-hook", async () => {
        bump("hook/call");
        const response = await fetch(`${webhook.webhookUrl}?via=test`, {
          method: "PUT",
          headers: { "content-type": "application/json", "x-hook": "h1" },
          body: JSON.stringify({ paid: 7 }),
        });
        return response.status;
      });
      const { request, timeout } = await context.waitForWebhook("wait-hook", webhook, "30s");
      await context.run("after-hook", async () => {
        bump("hook/after");
        seen.hook = {
          timeout,
          sameUrl: request?.url === `${webhook.webhookUrl}?via=test`,
          method: request?.method,
          header: request?.headers.get("x-hook"),
          body: request ? await request.json() : null,
        };
      });
    },
    { env: { ...env, QSTASH_TOKEN: process.env.WEBHOOK_TOKEN } },
  ),
};

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function requestHeaders(req) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return headers;
}

async function answer(res, response) {
  const headers = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  res.end(Buffer.from(await response.arrayBuffer()));
}

function json(res, status, value, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(value));
}

const server = http.createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    const path = req.url.split("?")[0];
    if (path.startsWith("/wf/")) {
      const workflow = workflows[path.slice(4)];
      if (!workflow) return json(res, 404, { error: "no such workflow" });
      const request = new Request(`${origin}${req.url}`, {
        method: req.method,
        headers: requestHeaders(req),
        body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
      });
      return answer(res, await workflow.handler(request));
    }
    if (path === "/echo") {
      bump("echo");
      return json(res, 201, { echoed: JSON.parse(body.toString() || "null"), h: req.headers["x-h"] ?? null }, { "x-reply": "r1" });
    }
    if (path === "/unauthorized") {
      bump("unauthorized");
      return json(res, 401, { error: `attempt ${counts.unauthorized}` });
    }
    if (path === "/__trigger") {
      const t = JSON.parse(body.toString());
      const { workflowRunId } = await client.trigger({
        url: `${origin}/wf/${t.workflow}`,
        body: t.body,
        headers: t.headers,
        retries: t.retries,
        label: t.label,
        workflowRunId: t.workflowRunId,
      });
      return json(res, 200, { workflowRunId });
    }
    if (path === "/__notify") {
      const n = JSON.parse(body.toString());
      return json(res, 200, await client.notify(n));
    }
    if (path === "/__waiters") {
      const eventId = new URL(req.url, origin).searchParams.get("eventId");
      return json(res, 200, await client.getWaiters({ eventId }));
    }
    if (path === "/__cancel") return json(res, 200, await client.cancel(JSON.parse(body.toString())));
    if (path === "/__logs") return json(res, 200, await client.logs(JSON.parse(body.toString())));
    if (path === "/__state") return json(res, 200, { counts, seen });
    json(res, 404, { error: "not found" });
  } catch (error) {
    json(res, 500, { error: String(error?.stack ?? error) });
  }
});

server.listen(0, "127.0.0.1", () => {
  origin = `http://127.0.0.1:${server.address().port}`;
  console.log(`listening ${server.address().port}`);
});
