"""TLS on loopback: a test PKI, a TLS server and client, and what a handshake
reveals.

Read first: the sockets page (a TCP byte stream) and the HTTP/1.1 messages page.
This module puts TLS between the two. It makes a three-level test PKI (root CA,
intermediate CA, leaf certificate for `localhost` and `127.0.0.1`) with the
`openssl` command-line tool, because the standard library can verify
certificates but cannot create them. It serves HTTP over TLS with `ssl` and
`http.server`, connects with a verifying client, prints the negotiated version
and cipher, parses the ClientHello to show what travels in clear (the server
name), and shows the two verification failures every backend engineer meets: a
hostname mismatch and a missing intermediate certificate.

What it leaves out: the cryptography itself (key exchange, AEAD ciphers,
signatures are OpenSSL's job), revocation (OCSP, CRLs), session resumption and
0-RTT, client certificates (mutual TLS), certificate rotation, and the ACME
protocol that real servers use to get certificates from a public CA.

Run it: `python -m snippets.communication.tls_basics` (needs the `openssl`
command).
"""

# --8<-- [start:pki]
import dataclasses
import secrets
import subprocess
from pathlib import Path

NEW_KEY = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
]
CA = "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
ROOT = "basicConstraints=critical,CA:TRUE\n" + CA
INTERMEDIATE = (
    "basicConstraints=critical,CA:TRUE,pathlen:0\n"
    "authorityKeyIdentifier=keyid\n" + CA
)
LEAF = (
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\n"
    "subjectAltName=DNS:{host},IP:127.0.0.1\n"  # the names a client checks
)


@dataclasses.dataclass(frozen=True)
class PkiFiles:
    """The PEM files of a test PKI: what a client trusts, what a server
    loads."""

    root_cert: Path  # the trust anchor: clients load this one and nothing else
    leaf_cert: Path  # the server's own certificate, alone
    chain_cert: Path  # leaf then intermediate: what a server must send
    leaf_key: Path  # the server's private key: it never leaves the server


def openssl(*args: str | Path) -> None:
    """Run the openssl command-line tool; raise CalledProcessError if it
    fails."""
    command = ["openssl", *map(str, args)]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


# --8<-- [end:pki]


# --8<-- [start:pki_issue]
def issue(
    folder: Path, name: str, subject: str, extensions: str, issuer: str
) -> Path:
    """Make `<name>.key` and `<name>.pem`, signed by `<issuer>` (by itself if
    same)."""
    key, csr, ext, cert = (
        folder / f"{name}.{s}" for s in ("key", "csr", "ext", "pem")
    )
    ext.write_text(extensions)
    openssl(
        "req",
        "-new",
        *NEW_KEY,
        "-keyout",
        key,
        "-subj",
        f"/CN={subject}",
        "-out",
        csr,
    )
    if issuer == name:  # self-signed: a root vouches for itself
        signer = ["-signkey", key]
    else:
        signer = [
            "-CA",
            folder / f"{issuer}.pem",
            "-CAkey",
            folder / f"{issuer}.key",
        ]
    # unique and positive (RFC 5280, 4.1.2.2)
    serial = str(secrets.randbits(63) | 1)
    validity = ["-days", "1", "-set_serial", serial, "-extfile", ext]
    openssl("x509", "-req", "-in", csr, *signer, *validity, "-out", cert)
    return cert


def make_test_pki(folder: Path, host: str = "localhost") -> PkiFiles:
    """Create root CA -> intermediate CA -> leaf for `host` and 127.0.0.1."""
    root = issue(folder, "root", "Demo Root CA", ROOT, "root")
    middle = issue(
        folder, "middle", "Demo Intermediate CA", INTERMEDIATE, "root"
    )
    leaf = issue(folder, "leaf", host, LEAF.format(host=host), "middle")
    chain = folder / "chain.pem"
    chain.write_text(leaf.read_text() + middle.read_text())
    return PkiFiles(root, leaf, chain, folder / "leaf.key")


# --8<-- [end:pki_issue]


# --8<-- [start:server]
import contextlib
import http.server
import socket
import ssl
import threading

from snippets.communication.http_messages.message_server import (
    TIMEOUT,
    FramedRequestHandler,
)


def server_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A server-side context presenting `certfile` (leaf first, then
    intermediates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # refuse SSLv3, TLS 1.0 and 1.1
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


class HelloHandler(FramedRequestHandler):
    """Answers every GET with the TLS version and cipher of its own
    connection."""

    protocol_version = "HTTP/1.1"
    timeout = TIMEOUT  # seconds a connection may stay silent

    def do_GET(self) -> None:
        version, cipher = self.connection.version(), self.connection.cipher()[0]
        body = f"hello over {version} with {cipher}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's output to what the page shows."""


# --8<-- [end:server]


# --8<-- [start:tls_server]
class TLSServer(http.server.ThreadingHTTPServer):
    """An HTTPS server: TCP accept, then a TLS handshake in the connection's
    thread."""

    daemon_threads = False  # server_close() joins every connection thread
    # seconds: a silent client cannot hold a thread for ever
    handshake_timeout = 5.0

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), HelloHandler)
        self.context = context
        # handshakes that failed; append only
        self.failures: list[Exception] = []
        # daemon: should a caller never stop the server, the process can still
        # exit
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,))
        self.thread.daemon = True
        self.thread.start()

    def finish_request(
        self, request: socket.socket, client_address: tuple
    ) -> None:
        request.settimeout(self.handshake_timeout)
        try:
            with self.context.wrap_socket(request, server_side=True) as tls:
                super().finish_request(tls, client_address)
        # e.g. the client refused our cert
        except (ssl.SSLError, OSError) as error:
            self.failures.append(error)

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()  # stop serve_forever (it checks every 0.05 s)...
        self.thread.join(timeout=TIMEOUT)
        # ...close the listening socket, join connection threads
        self.server_close()


# --8<-- [end:tls_server]


# --8<-- [start:client]
def client_context(cafile: Path) -> ssl.SSLContext:
    """A client-side context that trusts `cafile` only and checks the host
    name."""
    # CERT_REQUIRED, check_hostname
    return ssl.create_default_context(cafile=cafile)


@dataclasses.dataclass(frozen=True)
class TLSAnswer:
    """What a TLS client learned from one request."""

    version: str  # the negotiated protocol, e.g. "TLSv1.3"
    cipher: str  # the negotiated cipher suite
    peer: dict  # the server certificate as decoded by ssl (after verification)
    response: bytes  # the HTTP response, head and body


def tls_get(
    address: tuple[str, int], hostname: str, context: ssl.SSLContext
) -> TLSAnswer:
    """Connect over TCP, handshake as a client of `hostname`, send one GET."""
    request = f"GET / HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection(address, timeout=TIMEOUT) as raw,
        # the handshake
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        version, cipher, peer = tls.version(), tls.cipher(), tls.getpeercert()
        tls.sendall(request.encode("ascii"))
        chunks = []
        while chunk := tls.recv(4096):
            chunks.append(chunk)
    return TLSAnswer(
        str(version), cipher[0] if cipher else "", peer or {}, b"".join(chunks)
    )


def common_name(certificate: dict, field: str) -> str:
    """The common name in a certificate's `subject` or `issuer`, as ssl decodes
    it."""
    return next(
        v for rdn in certificate[field] for k, v in rdn if k == "commonName"
    )


# --8<-- [end:client]


# --8<-- [start:client_hello]
def client_hello_bytes(context: ssl.SSLContext, hostname: str) -> bytes:
    """The first bytes a TLS client sends, taken from memory: no network at
    all."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=hostname)
    # now it waits for the server
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


class ClientHelloError(ValueError):
    """The bytes are not one complete TLS record holding a ClientHello."""


class Reader:
    """Reads big-endian numbers and length-prefixed vectors (RFC 8446, section
    3)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ClientHelloError(
                f"truncated: need {n} bytes at offset {self.at}"
            )
        self.at += n
        return self.data[self.at - n : self.at]

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, length_size: int) -> "Reader":
        return Reader(self.take(self.number(length_size)))


# --8<-- [end:client_hello]


# --8<-- [start:parse_hello]
def parse_client_hello(record: bytes) -> dict[int, bytes]:
    """Parse one TLS record holding a ClientHello; return its extensions by
    type.

    RFC 8446: the record header (section 5.1), the handshake header (section 4)
    and the ClientHello (section 4.1.2). Raises ClientHelloError on anything
    else.
    """
    outer = Reader(record)
    # handshake(22), 0x03xx
    if outer.number(1) != 22 or outer.number(2) >> 8 != 3:
        raise ClientHelloError("not a TLS handshake record")
    message = outer.vector(2)
    if message.number(1) != 1:  # client_hello(1)
        raise ClientHelloError("not a ClientHello")
    hello = message.vector(3)
    hello.take(2 + 32)  # legacy_version and 32 random bytes
    # session id, suites, compression
    hello.vector(1), hello.vector(2), hello.vector(1)
    extensions, listed = {}, hello.vector(2)
    while listed.at < len(listed.data):
        kind, data = listed.number(2), listed.vector(2).data
        # "MUST NOT" appear twice (RFC 8446, section 4.2)
        if kind in extensions:
            raise ClientHelloError(f"extension {kind} appears twice")
        extensions[kind] = data
    return extensions


def server_name(extensions: dict[int, bytes]) -> str:
    """The host name of the server_name extension (type 0, RFC 6066, section
    3)."""
    if 0 not in extensions:
        raise ClientHelloError("no server_name extension")
    names = Reader(extensions[0]).vector(2)
    if names.number(1) != 0:  # name_type host_name(0)
        raise ClientHelloError("not a host name")
    return names.vector(2).data.decode("ascii", errors="replace")


def supported_versions(extensions: dict[int, bytes]) -> list[str]:
    """The versions of the supported_versions extension (43, RFC 8446,
    4.2.1)."""
    if 43 not in extensions:
        raise ClientHelloError(
            "no supported_versions extension: not a TLS 1.3 client"
        )
    versions = Reader(extensions[43]).vector(1)
    return [
        f"{versions.number(2):#06x}" for _ in range(len(versions.data) // 2)
    ]


# --8<-- [end:parse_hello]


if __name__ == "__main__":
    # The page checks the `#>` lines under each print: the formatter must keep
    # them.
    # fmt: off
    # --8<-- [start:demo_pki]
    import tempfile

    stack = contextlib.ExitStack()  # closes the servers, then deletes the files
    pki = make_test_pki(
        Path(stack.enter_context(tempfile.TemporaryDirectory()))
    )
    # leaf + intermediate
    serving_chain = server_context(pki.chain_cert, pki.leaf_key)
    server = stack.enter_context(TLSServer(serving_chain))
    trusting_root = client_context(pki.root_cert)
    # --8<-- [end:demo_pki]
    try:
        # --8<-- [start:demo_connect]
        answer = tls_get(server.server_address[:2], "localhost", trusting_root)
        print(answer.version, answer.cipher)
        #> TLSv1.3 TLS_AES_256_GCM_SHA384
        subject, issuer = (
            common_name(answer.peer, f) for f in ("subject", "issuer")
        )
        print(subject, "<-", issuer)
        #> localhost <- Demo Intermediate CA
        print(answer.peer["subjectAltName"])
        #> (('DNS', 'localhost'), ('IP Address', '127.0.0.1'))
        print(answer.response.split(b"\r\n")[0].decode())
        #> HTTP/1.1 200 OK
        # --8<-- [end:demo_connect]
        # --8<-- [start:demo_hello]
        record = client_hello_bytes(trusting_root, "localhost")
        extensions = parse_client_hello(record)
        print(server_name(extensions), supported_versions(extensions))
        #> localhost ['0x0304', '0x0303']
        print(b"localhost" in record)
        #> True
        # --8<-- [end:demo_hello]
        # --8<-- [start:demo_mismatch]
        try:
            tls_get(server.server_address[:2], "wrong.example", trusting_root)
        except ssl.SSLCertVerificationError as error:
            print(error.verify_code, error.verify_message)
            #> 62 Hostname mismatch, certificate is not valid for 'wrong.example'.
        # --8<-- [end:demo_mismatch]
        # --8<-- [start:demo_missing_intermediate]
        # forgot the chain
        leaf_only = server_context(pki.leaf_cert, pki.leaf_key)
        broken = stack.enter_context(TLSServer(leaf_only))
        try:
            tls_get(broken.server_address[:2], "localhost", trusting_root)
        except ssl.SSLCertVerificationError as error:
            print(error.verify_code, error.verify_message)
            #> 20 unable to get local issuer certificate
        # --8<-- [end:demo_missing_intermediate]
        # --8<-- [start:demo_http_client]
        import http.client

        # 127.0.0.1: checked against the IP SAN
        host, port = server.server_address[:2]
        connection = http.client.HTTPSConnection(
            host, port, context=trusting_root, timeout=TIMEOUT
        )
        connection.request("GET", "/orders/42")
        reply = connection.getresponse()
        print(reply.status, reply.read().decode().strip())
        #> 200 hello over TLSv1.3 with TLS_AES_256_GCM_SHA384
        connection.close()
        # --8<-- [end:demo_http_client]
    finally:
        # --8<-- [start:demo_cleanup]
        # stops both servers, joins their threads, deletes the files
        stack.close()
        # --8<-- [end:demo_cleanup]
    # --8<-- [start:demo_failures]
    # handshakes our clients refused
    print(len(server.failures), len(broken.failures))
    #> 1 1
    print(server.failures[0].reason, broken.failures[0].reason)
    #> SSLV3_ALERT_BAD_CERTIFICATE TLSV1_ALERT_UNKNOWN_CA
    # --8<-- [end:demo_failures]
    # fmt: on
