// Start a run of the workflow at WORKFLOW_URL through Ferry.
import { Client } from "@upstash/workflow";

const client = new Client({
  baseUrl: process.env.QSTASH_URL,
  token: process.env.QSTASH_TOKEN,
});
const { workflowRunId } = await client.trigger({
  url: process.env.WORKFLOW_URL,
  body: { orderId: "A-1" },
});
console.log(workflowRunId);
