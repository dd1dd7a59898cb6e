// The endpoint at HOOK_URL: accepts only requests Ferry signed.
import http from "node:http";
import { Receiver } from "@upstash/qstash";

const receiver = new Receiver({
  currentSigningKey: process.env.QSTASH_CURRENT_SIGNING_KEY,
  nextSigningKey: process.env.QSTASH_NEXT_SIGNING_KEY,
});

http
  .createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const valid = await receiver
      .verify({
        signature: req.headers["upstash-signature"] ?? "",
        body: Buffer.concat(chunks).toString("utf8"),
        url: process.env.HOOK_URL,
      })
      .catch(() => false);
    if (valid) console.log(`verified ${req.headers["upstash-message-id"]}`);
    res.writeHead(valid ? 200 : 401).end();
  })
  .listen(process.env.PORT);
