"""Minimal RecordIO server for benchmarks: answers SUBSCRIBE with a recorded
stream (a file of RecordIO-framed events, chosen by the request's encoding)
and keeps the connection open; other calls get 202. Prints its port.

    fake_master.py PROTOBUF_FILE JSON_FILE [--repeat K]

With --repeat K the stream is sent K times over (the first record, the
SUBSCRIBED event, only once): K x N events from one N-event file."""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STREAMS = {}
REPEAT = 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"version":"1.11.0"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        ctype = self.headers.get("Content-Type", "")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        is_subscribe = (b'"SUBSCRIBE"' in body[:200]) if ctype == "application/json" else body[:4] == b"\x10\x01" or b"\x10\x01" in body[:8]
        if not is_subscribe:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        enc = "json" if ctype == "application/json" else "protobuf"
        data = STREAMS[enc]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Mesos-Stream-Id", "bench-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        step = 1 << 20
        first = data.index(b"\n") + 1
        first += int(data[:first - 1])
        try:
            for k in range(REPEAT):
                body = data if k == 0 else data[first:]
                for i in range(0, len(body), step):
                    part = body[i:i + step]
                    self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
            self.wfile.flush()
        except OSError:
            return
        # Keep the stream open until the client goes away.
        try:
            while self.connection.recv(4096):
                pass
        except OSError:
            pass
        self.close_connection = True


def main():
    global REPEAT
    if "--repeat" in sys.argv:
        REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1])
    STREAMS["protobuf"] = open(sys.argv[1], "rb").read()
    STREAMS["json"] = open(sys.argv[2], "rb").read()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
