# Start a run of the workflow at WORKFLOW_URL through Ferry: the Python SDK
# has no trigger client, so publish to the endpoint and it starts the run.
import os

from qstash import QStash

client = QStash(os.environ["QSTASH_TOKEN"], base_url=os.environ["QSTASH_URL"])
client.message.publish_json(url=os.environ["WORKFLOW_URL"], body={"orderId": "B-2"})
