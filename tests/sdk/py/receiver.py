"""A webhook endpoint that checks every request with the official Python
SDK's ``Receiver``, the way a QStash user's handler does.

It proves that Ferry's signed deliveries pass the verification code QStash
users already run. Every request is verified with the keys given in the
environment; valid ones are answered 200, anything else 401 with the
verification error. ``GET /__results`` returns what was seen so far, as JSON.

Environment:
  QSTASH_CURRENT_SIGNING_KEY, QSTASH_NEXT_SIGNING_KEY  the keys to verify with
  RECEIVER_PUBLIC_URL  the URL this server is reached at, without a trailing
      slash (default ``http://127.0.0.1:<port>``); the signature's subject
      must equal this plus the request path and query

On start it prints ``listening <port>``.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from qstash import Receiver
from qstash.errors import SignatureError

RESULTS_PATH = "/__results"


class Results:
    """Every verification outcome, in arrival order, shared by all threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []

    def add(self, entry):
        with self._lock:
            self._entries.append(entry)

    def as_json(self):
        with self._lock:
            return json.dumps(self._entries)


def verify(receiver, signature, body, url):
    """Returns None when the request is authentic, else the reason."""
    if signature is None:
        return "missing Upstash-Signature header"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        # The SDK can only hash text, so a binary body cannot be verified.
        return f"body is not UTF-8: {error}"
    try:
        receiver.verify(signature=signature, body=text, url=url)
    except SignatureError as error:
        return str(error)
    return None


def make_handler(receiver, results, public_url):
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections open, as a production server would.
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == RESULTS_PATH:
                self._answer(200, results.as_json(), "application/json")
            else:
                self._check()

        def do_POST(self):
            self._check()

        def do_PUT(self):
            self._check()

        def do_PATCH(self):
            self._check()

        def do_DELETE(self):
            self._check()

        def _check(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get("Upstash-Signature")
            error = verify(receiver, signature, body, public_url + self.path)
            results.add(
                {
                    "method": self.command,
                    "path": self.path,
                    "messageId": self.headers.get("Upstash-Message-Id"),
                    "signature": signature,
                    "body": body.decode("utf-8", errors="replace"),
                    "valid": error is None,
                    "error": error,
                }
            )
            if error is None:
                self._answer(200, "ok", "text/plain")
            else:
                self._answer(401, json.dumps({"error": error}), "application/json")

        def _answer(self, status, text, content_type):
            payload = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):
            # Results are reported through /__results; access logs would only
            # clutter the output of the tests that run this server.
            pass

    return Handler


def main():
    receiver = Receiver(
        current_signing_key=os.environ["QSTASH_CURRENT_SIGNING_KEY"],
        next_signing_key=os.environ["QSTASH_NEXT_SIGNING_KEY"],
    )
    results = Results()
    # The handler needs the public URL, which depends on the port the OS
    # picks, so the server is bound first and the handler set afterwards.
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    public_url = os.environ.get("RECEIVER_PUBLIC_URL", f"http://127.0.0.1:{port}")
    server.RequestHandlerClass = make_handler(receiver, results, public_url.rstrip("/"))
    print(f"listening {port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
