# Publish a JSON message through Ferry with the official QStash SDK.
import os

from qstash import QStash

client = QStash(os.environ["QSTASH_TOKEN"], base_url=os.environ["QSTASH_URL"])
published = client.message.publish_json(
    url=os.environ["HOOK_URL"],
    body={"hello": "world"},
)
print(published.message_id)
