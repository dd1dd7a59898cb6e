# A workflow endpoint at WORKFLOW_URL: two steps and a sleep between them.
import os

from flask import Flask
from upstash_workflow.flask import Serve

app = Flask(__name__)
serve = Serve(app)


@serve.route("/api/workflow")
def order(context):
    def reserve():
        print("reserved", context.request_payload["orderId"])
        return context.request_payload["orderId"]

    order_id = context.run("reserve", reserve)
    context.sleep("cool-down", 1)
    context.run("confirm", lambda: print("confirmed", order_id))


app.run(port=int(os.environ["PORT"]))
