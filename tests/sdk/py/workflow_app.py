"""A workflow app built on the official upstash-workflow (pinned in
requirements.txt), served on loopback with signature verification on.
Driven by tests/it/workflow_py.rs.

Routes:
  /py/main          run -> sleep(1) -> call(/echo) -> final step
  /py/failing       a step that raises; its failure function records what it got
  /py/sleeper       a step, then a 30 s sleep (long enough to be cancelled), then a step
  /echo             a third party for context.call: 201 with the request echoed
  GET /__state      {"counts", "seen"}: how often each step body ran, and what it saw

Runs start by a signed publish to /py/<name> (the SDK then starts the run
itself). Prints `listening <port>` once it accepts requests.
"""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from upstash_workflow import serve
from upstash_workflow.workflow_types import _SyncRequest

ENV = {
    name: os.environ.get(name)
    for name in (
        "QSTASH_URL",
        "QSTASH_TOKEN",
        "QSTASH_CURRENT_SIGNING_KEY",
        "QSTASH_NEXT_SIGNING_KEY",
    )
}

LOCK = threading.Lock()
COUNTS = {}
SEEN = {}
ORIGIN = {"url": ""}


def bump(name):
    with LOCK:
        COUNTS[name] = COUNTS.get(name, 0) + 1


def header(context, name):
    return {k.lower(): v for k, v in context.headers.items()}.get(name)


def main(context):
    def step_1():
        bump("main/step-1")
        SEEN["firstUser"] = header(context, "x-user")
        return {"n": context.request_payload["n"] + 1}

    first = context.run("step-1", step_1)
    context.sleep("sleep-1", 1)
    echoed = context.call(
        "call-1",
        url=f"{ORIGIN['url']}/echo",
        method="POST",
        body={"hello": "world"},
        headers={"x-h": "v"},
    )

    def final():
        bump("main/final")
        SEEN["main"] = {
            "first": first,
            "callStatus": echoed.status,
            "callBody": echoed.body,
            "user": header(context, "x-user"),
        }

    context.run("final", final)


def failing(context):
    def f_1():
        bump("failing/f-1")
        return 1

    def f_2():
        bump("failing/f-2")
        raise ValueError("py exploded")

    context.run("f-1", f_1)
    context.run("f-2", f_2)


def failure_function(context, fail_status, fail_response, fail_headers):
    bump("failing/failure")
    SEEN["failure"] = {
        "failStatus": fail_status,
        "failResponse": fail_response,
        "payload": context.request_payload,
        "user": header(context, "x-user"),
    }


def sleeper(context):
    context.run("start", lambda: bump("sleeper/start"))
    context.sleep("long", 30)
    context.run("woke", lambda: bump("sleeper/woke"))


WORKFLOWS = {
    "sleeper": serve(sleeper, env=ENV)["handler"],
    "main": serve(main, env=ENV)["handler"],
    "failing": serve(failing, env=ENV, retries=0, failure_function=failure_function)[
        "handler"
    ],
}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body, headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        if parts.path.startswith("/py/"):
            workflow = WORKFLOWS.get(parts.path[4:])
            if workflow is None:
                return self._answer(404, '{"error":"no such workflow"}')
            request = _SyncRequest(
                body=body.decode(),
                # Case-insensitive, as Flask's request.headers: the SDK
                # looks its headers up by their canonical names.
                headers=self.headers,
                query=dict(parse_qsl(parts.query)),
                method=self.command,
                url=f"{ORIGIN['url']}{self.path}",
            )
            response = workflow(request)
            return self._answer(response.status, response.body, response.headers)
        if parts.path == "/echo":
            bump("echo")
            echoed = {"echoed": json.loads(body or b"null"), "h": self.headers.get("x-h")}
            return self._answer(201, json.dumps(echoed))
        if parts.path == "/__state":
            with LOCK:
                return self._answer(200, json.dumps({"counts": COUNTS, "seen": SEEN}))
        self._answer(404, '{"error":"not found"}')

    do_GET = _handle
    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_DELETE = _handle


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    ORIGIN["url"] = f"http://127.0.0.1:{port}"
    print(f"listening {port}", flush=True)
    server.serve_forever()
