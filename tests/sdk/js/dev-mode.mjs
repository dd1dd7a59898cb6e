// An app in local development: QSTASH_DEV is set and no URL or token is
// given, so the SDK looks for a dev server on 127.0.0.1:QSTASH_DEV_PORT by
// calling `GET /v2/keys`. If the answer carries the public development keys
// it uses that server; otherwise it downloads and starts Upstash's binary.
//
// Environment: QSTASH_DEV, QSTASH_DEV_PORT, and TARGET_URL (where to publish).
// Prints `published <messageId>`.

import { Client } from "@upstash/qstash";

const target = process.env.TARGET_URL;
if (!target) {
  console.error("dev-mode.mjs: TARGET_URL must be set");
  process.exit(2);
}
const client = new Client();
const { messageId } = await client.publish({ url: target, body: "from dev mode" });
console.log(`published ${messageId}`);
