// A workflow endpoint at WORKFLOW_URL: two steps and a sleep between them.
import http from "node:http";
import { serve } from "@upstash/workflow";

const { handler } = serve(async (context) => {
  const orderId = await context.run("reserve", () => {
    console.log(`reserved ${context.requestPayload.orderId}`);
    return context.requestPayload.orderId;
  });
  await context.sleep("cool-down", 1);
  await context.run("confirm", () => {
    console.log(`confirmed ${orderId}`);
  });
});

http
  .createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const response = await handler(
      new Request(process.env.WORKFLOW_URL, {
        method: req.method,
        headers: req.headers,
        body: Buffer.concat(chunks),
      }),
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  })
  .listen(process.env.PORT);
