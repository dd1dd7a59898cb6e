// What the scripts that drive Ferry with the official JS SDK share: named
// checks with a tally, announcements of the deliveries the driving test
// must find at its sink, and assertions on the SDK's errors.
//
// Output protocol: one line per check (`ok   <name>` or `FAIL <name>: <why>`),
// then `N passed, M failed` from `finish()`, which also sets the exit code.
// `expect-delivery <json>` and `expect-callback <json>` lines tell the
// driving test what must arrive at the sink.

import assert from "node:assert/strict";
import { QstashError } from "@upstash/qstash";

const tally = { passed: 0, failed: 0 };

export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${process.argv[1]}: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

export function describe(error) {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Runs one named check; a thrown error (failed assertion included) fails it. */
export async function check(name, run) {
  try {
    await run();
    tally.passed += 1;
    console.log(`ok   ${name}`);
  } catch (error) {
    tally.failed += 1;
    console.log(`FAIL ${name}: ${describe(error).replaceAll("\n", " ")}`);
  }
}

/** Prints the summary line and sets the exit code: 1 if any check failed. */
export function finish() {
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  process.exitCode = tally.failed === 0 ? 0 : 1;
}

/** Tells the driving test that `delivery` must arrive at the sink. */
export function expectDelivery(delivery) {
  console.log(`expect-delivery ${JSON.stringify({ status: 200, ...delivery })}`);
}

/** Tells the driving test that a (failure) callback must arrive. */
export function expectCallback(callback) {
  console.log(`expect-callback ${JSON.stringify(callback)}`);
}

/** Asserts that `call` fails with a `QstashError` carrying Ferry's JSON error body. */
export async function rejectsWith(call, status, fragment) {
  await assert.rejects(call, (error) => {
    assert.ok(error instanceof QstashError, `expected a QstashError, got ${describe(error)}`);
    assert.equal(error.status, status, `status of ${error.message}`);
    assert.ok(
      error.message.includes(fragment),
      `${JSON.stringify(error.message)} does not mention ${JSON.stringify(fragment)}`,
    );
    assert.equal(typeof JSON.parse(error.message).error, "string", "body is {\"error\": ...}");
    return true;
  });
}

export function assertMessageId(id) {
  assert.match(id, /^msg_\w+$/, "message id");
}

/** Polls `probe` until it returns a truthy value, which it returns; fails after `limitMs`. */
export async function waitFor(what, probe, limitMs = 10_000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const found = await probe();
    if (found) {
      return found;
    }
    assert.ok(Date.now() < deadline, `${what} within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
