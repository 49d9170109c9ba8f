#!/usr/bin/env python3
"""A webhook receiver for tests: answers each path with the status named in a file, and
records every payload it receives.

usage: webhook_server.py PORT_FILE DIR
  Listens on 127.0.0.1 at a free port, written to PORT_FILE once it listens.
  DIR/status/<path with / as _>  holds the status to answer for that path (default 200);
                                 edit it at run time to switch the answer.
  DIR/received.jsonl             one line per request: {"path": ..., "body": <the JSON sent>}.
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    port_file, root = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(root, "status"), exist_ok=True)
    log_path = os.path.join(root, "received.jsonl")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with open(log_path, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
            name = self.path.strip("/").replace("/", "_") or "root"
            status = 200
            try:
                with open(os.path.join(root, "status", name)) as f:
                    status = int(f.read().strip() or 200)
            except (OSError, ValueError):
                pass
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
