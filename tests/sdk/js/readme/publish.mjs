// Publish a JSON message through Ferry with the official QStash SDK.
import { Client } from "@upstash/qstash";

const client = new Client({
  baseUrl: process.env.QSTASH_URL,
  token: process.env.QSTASH_TOKEN,
});
const { messageId } = await client.publishJSON({
  url: process.env.HOOK_URL,
  body: { hello: "world" },
});
console.log(messageId);
