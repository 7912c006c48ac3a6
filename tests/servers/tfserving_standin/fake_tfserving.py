"""TEST-ONLY: answers TF Serving's REST model-status API like tensorflow_model_server would
for a model directory it found, and reports what the launcher gave it. Never predicts."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.environ.get("MODEL_NAME", "")
BASE = os.path.join(os.environ.get("MODEL_BASE_PATH", "/models"), NAME)
LOADING_POLLS = 3  # answer LOADING first, so the launcher's health polling is exercised
polls = {"n": 0}


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/standin":
            files = sorted(os.path.relpath(os.path.join(d, f), BASE) for d, _, fs in os.walk(BASE) for f in fs)
            return self._send(200, {"argv": sys.argv[1:], "model_name": NAME, "model_files": files})
        if self.path != "/v1/models/" + NAME:
            return self._send(404, {"error": "Servable not found for request: " + self.path})
        polls["n"] += 1
        found = os.path.isfile(os.path.join(BASE, "1", "saved_model.pb"))
        if polls["n"] <= LOADING_POLLS:
            state, status = "LOADING", {"error_code": "OK", "error_message": ""}
        elif found:
            state, status = "AVAILABLE", {"error_code": "OK", "error_message": ""}
        else:
            state, status = "END", {"error_code": "NOT_FOUND", "error_message": "no saved_model.pb under " + BASE}
        self._send(200, {"model_version_status": [{"version": "1", "state": state, "status": status}]})

    def do_POST(self):
        self._send(501, {"error": "test stand-in: no predictions"})

    def log_message(self, fmt, *args):
        sys.stderr.write("stand-in: " + (fmt % args) + "\n")


if __name__ == "__main__":
    print("stand-in TF Serving for", NAME, "args", sys.argv[1:], flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8501), Handler).serve_forever()
