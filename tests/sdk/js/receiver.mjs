// A webhook handler protected by the official QStash `Receiver`, used to
// prove that handlers written for QStash accept Ferry's signed deliveries.
//
// Every request except `GET /__results` is verified with the raw body and the
// full URL it was called at (`RECEIVER_PUBLIC_URL` + path + query), so the
// signature's `sub` claim is checked too. A valid request is answered 200,
// except that a path containing `/fail` answers 500 after verifying: this
// handler then also serves as a destination whose deliveries fail. An
// invalid request is answered 401 with the receiver's error message.
//
// `GET /__results` returns every verified request as JSON, in arrival order,
// so the driving test can assert on what arrived and how it was judged.
//
// Environment:
//   QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY  the keys to verify with
//   RECEIVER_PORT        port on 127.0.0.1 (default 0: any free port)
//   RECEIVER_PUBLIC_URL  scheme://host:port the callers use (default the bound address)
//
// Prints `listening <port>` on stdout once it accepts connections.

import http from "node:http";
import { Receiver } from "@upstash/qstash";

const RESULTS_PATH = "/__results";
const FAILING_PATH_MARK = "/fail";
const FAILING_BODY = "handler failed on purpose";

const receiver = new Receiver({
  currentSigningKey: requiredEnv("QSTASH_CURRENT_SIGNING_KEY"),
  nextSigningKey: requiredEnv("QSTASH_NEXT_SIGNING_KEY"),
});

/** Every verified request, in arrival order. */
const results = [];

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`receiver.mjs: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

/** Returns `null` when the official receiver accepts the request, else its error message. */
async function verificationError(signature, body, url) {
  if (!signature) {
    return "missing Upstash-Signature header";
  }
  try {
    await receiver.verify({ signature, body: body.toString("utf8"), url });
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

function answer(response, status, text) {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  response.end(text);
}

async function handleDelivery(request, response, publicUrl) {
  const body = await readBody(request);
  const url = `${publicUrl}${request.url}`;
  const signature = request.headers["upstash-signature"];
  const error = await verificationError(signature, body, url);
  const failing = error === null && request.url.includes(FAILING_PATH_MARK);
  const status = error !== null ? 401 : failing ? 500 : 200;
  results.push({
    method: request.method,
    url,
    path: request.url,
    status,
    valid: error === null,
    error,
    signature: signature ?? null,
    messageId: request.headers["upstash-message-id"] ?? null,
    headers: request.headers,
    bodyBase64: body.toString("base64"),
  });
  answer(response, status, error ?? (failing ? FAILING_BODY : "ok"));
}

function serve(publicUrlOf) {
  return http.createServer((request, response) => {
    if (request.method === "GET" && request.url === RESULTS_PATH) {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(results));
      return;
    }
    handleDelivery(request, response, publicUrlOf()).catch((error) => {
      answer(response, 500, `receiver.mjs crashed: ${error}`);
    });
  });
}

const port = Number.parseInt(process.env.RECEIVER_PORT ?? "0", 10);
let publicUrl = process.env.RECEIVER_PUBLIC_URL?.replace(/\/$/, "");
const server = serve(() => publicUrl);
server.listen(port, "127.0.0.1", () => {
  const bound = server.address().port;
  publicUrl ??= `http://127.0.0.1:${bound}`;
  console.log(`listening ${bound}`);
});
