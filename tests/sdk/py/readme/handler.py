# The endpoint at HOOK_URL: accepts only requests Ferry signed.
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from qstash import Receiver
from qstash.errors import SignatureError

receiver = Receiver(
    current_signing_key=os.environ["QSTASH_CURRENT_SIGNING_KEY"],
    next_signing_key=os.environ["QSTASH_NEXT_SIGNING_KEY"],
)


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            receiver.verify(
                signature=self.headers.get("Upstash-Signature", ""),
                body=body.decode(),
                url=os.environ["HOOK_URL"],
            )
        except SignatureError:
            self.send_response(401)
        else:
            print("verified", self.headers["Upstash-Message-Id"])
            self.send_response(200)
        self.end_headers()


HTTPServer(("", int(os.environ["PORT"])), Hook).serve_forever()
