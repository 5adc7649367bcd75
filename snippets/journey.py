"""The journey of one request in miniature: a server, a raw request, a status
line.

Read this first: it is the smallest complete round trip on the site. A tiny HTTP
server listens on the loopback interface; a client opens a TCP connection to it,
writes an HTTP/1.1 request as plain bytes, reads the answer until the server
closes the connection, and prints the status line.

What it leaves out: DNS (we connect to an IP address), TLS (the bytes travel in
clear on loopback), a router, a database and logs. The pages of each layer build
those.

Run it: `python -m snippets.journey`.
"""

# --8<-- [start:server]
import http.server
import socket
import threading

# http.server's handler, with the framing rules of the HTTP messages page in
# front
from snippets.communication.http_messages.message_server import (
    TIMEOUT,
    FramedRequestHandler,
)


class HelloHandler(FramedRequestHandler):
    """Answers every GET with a short plain-text greeting."""

    protocol_version = "HTTP/1.1"  # the status line says which version we speak
    # seconds a connection may sit idle before the server closes it
    timeout = TIMEOUT

    def do_GET(self) -> None:
        body = b"hello from the backend\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the page shows."""


def start_server() -> http.server.ThreadingHTTPServer:
    """Listen on a free loopback port and serve in a background thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HelloHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --8<-- [end:server]


# --8<-- [start:request]
def raw_get(host: str, port: int, path: str = "/") -> bytes:
    """Send a GET as raw bytes over a new TCP connection; return the whole
    answer.

    `Connection: close` asks the server to close the connection after its
    response, so "the peer closed" (recv returns b"") marks the end of the
    answer.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(request.encode("ascii"))
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


# --8<-- [end:request]


# The demo's `#>` lines are the output that the docs test checks; ruff format
# would rewrite them as `# >`, so the formatter stops here.
# fmt: off
if __name__ == "__main__":
    # --8<-- [start:demo]
    server = start_server()
    host, port = server.server_address[:2]
    try:
        response = raw_get(host, port)
    finally:
        server.shutdown()  # stop the serving thread...
        server.server_close()  # ...and close the listening socket
    # a blank line ends the headers
    head, _, body = response.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n")[0]
    print(status_line.decode("ascii"))
    #> HTTP/1.1 200 OK
    print(body.decode().strip())
    #> hello from the backend
    # --8<-- [end:demo]
