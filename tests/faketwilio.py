"""A local stand-in for Twilio's Messages API (never the network): a threaded http.server
that implements POST /2010-04-01/Accounts/{AccountSid}/Messages.json with Twilio's documented
JSON answers: 201 with the message resource, or an error body {code, message, more_info,
status}. Tests choose the answer per destination number (`answers`) and may make it hang
(`delay`) to test timeouts."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


def error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio:
    def __init__(self, *, account_sid: str, auth_token: str):
        self.account_sid, self.auth_token = account_sid, auth_token
        self.requests: list[dict] = []
        self.answers: dict[str, tuple[int, dict]] = {}  # by "To"
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                expected = (
                    "Basic "
                    + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                )
                if self.headers.get("Authorization") != expected:
                    return self._answer(*error(401, 20003, "Authenticate"))
                if self.path != path:
                    return self._answer(*error(404, 20404, "The requested resource was not found"))
                fake.requests.append(form)
                if fake.delay:
                    time.sleep(fake.delay)
                if form.get("To") in fake.answers:
                    return self._answer(*fake.answers[form["To"]])
                sid = "SM" + uuid.uuid4().hex
                return self._answer(
                    201,
                    {
                        "account_sid": fake.account_sid,
                        "api_version": "2010-04-01",
                        "body": form.get("Body", ""),
                        "date_created": "Mon, 04 Jan 2027 08:00:00 +0000",
                        "direction": "outbound-api",
                        "error_code": None,
                        "error_message": None,
                        "from": form.get("From"),
                        "messaging_service_sid": None,
                        "num_media": "0",
                        "num_segments": "1",
                        "price": None,
                        "price_unit": "USD",
                        "sid": sid,
                        "status": "queued",
                        "to": form.get("To"),
                        "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}.json",
                    },
                )

            def _answer(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
