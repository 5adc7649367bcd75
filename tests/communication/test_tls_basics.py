"""The TLS page's claims, checked against a trustme-made CA, http.client and OpenSSL.

Oracles: trustme (a CA made at test time, with an intermediate), `http.client` as a real
HTTPS client of our server, and OpenSSL itself (through `ssl`) as the verifier whose
error codes the page quotes.
"""

from __future__ import annotations

import datetime
import http.client
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from snippets.communication import tls_basics as tls
from tests.helpers import TIMEOUT, run_demo

HAS_OPENSSL = shutil.which("openssl") is not None
needs_openssl = pytest.mark.skipif(not HAS_OPENSSL, reason="no openssl command here")


def write_pki(folder: Path, leaf: trustme.LeafCert, root: trustme.CA) -> tls.PkiFiles:
    """Write a trustme chain in the file layout the snippet's functions take."""
    root.cert_pem.write_to_path(folder / "root.pem")
    leaf.cert_chain_pems[0].write_to_path(folder / "leaf.pem")
    for i, pem in enumerate(leaf.cert_chain_pems):
        pem.write_to_path(folder / "chain.pem", append=i > 0)
    leaf.private_key_pem.write_to_path(folder / "leaf.key")
    return tls.PkiFiles(
        folder / "root.pem",
        folder / "leaf.pem",
        folder / "chain.pem",
        folder / "leaf.key",
    )


@pytest.fixture(scope="module")
def root_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pki(tmp_path: Path, root_ca: trustme.CA) -> tls.PkiFiles:
    """root -> intermediate -> leaf for localhost and 127.0.0.1, made by trustme."""
    intermediate = root_ca.create_child_ca()
    leaf = intermediate.issue_cert("localhost", "127.0.0.1")
    return write_pki(tmp_path, leaf, root_ca)


@pytest.fixture
def server(pki: tls.PkiFiles):
    with tls.TLSServer(tls.server_context(pki.chain_cert, pki.leaf_key)) as server:
        yield server


def address(server: tls.TLSServer) -> tuple[str, int]:
    return server.server_address[:2]


def test_http_client_gets_a_200_from_our_server_trusting_the_trustme_ca(
    server: tls.TLSServer, root_ca: trustme.CA
) -> None:
    """Oracle: http.client, with trust configured by trustme itself, talks HTTPS to us."""
    context = ssl.create_default_context()
    root_ca.configure_trust(context)
    connection = http.client.HTTPSConnection(
        *address(server), context=context, timeout=TIMEOUT
    )
    try:
        connection.request("GET", "/orders/42")
        reply = connection.getresponse()
        body = reply.read().decode()
    finally:
        connection.close()
    assert reply.status == 200
    assert body.startswith("hello over TLSv1.3 with TLS_")


def test_http_client_keeps_one_tls_connection_for_two_requests(
    server: tls.TLSServer, pki: tls.PkiFiles
) -> None:
    context = tls.client_context(pki.root_cert)
    connection = http.client.HTTPSConnection(
        *address(server), context=context, timeout=TIMEOUT
    )
    try:
        for _ in range(2):
            connection.request("GET", "/")
            assert connection.getresponse().read().startswith(b"hello over TLSv1.3")
        assert connection.sock.version() == "TLSv1.3"
    finally:
        connection.close()


def test_tls_get_negotiates_tls13_and_verifies_the_leaf_through_the_chain(
    server: tls.TLSServer, pki: tls.PkiFiles
) -> None:
    answer = tls.tls_get(
        address(server), "localhost", tls.client_context(pki.root_cert)
    )
    assert answer.version == "TLSv1.3"
    assert answer.cipher in {
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
    assert ("DNS", "localhost") in answer.peer["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in answer.peer["subjectAltName"]
    assert answer.response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.response.endswith(f"with {answer.cipher}\n".encode())


def test_a_tls12_only_client_still_connects_and_gets_tls12(
    server: tls.TLSServer, pki: tls.PkiFiles
) -> None:
    context = tls.client_context(pki.root_cert)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    answer = tls.tls_get(address(server), "localhost", context)
    assert answer.version == "TLSv1.2"


def refused(
    certfile: Path, keyfile: Path, hostname: str, cafile: Path
) -> tuple[ssl.SSLCertVerificationError, tls.TLSServer]:
    """Serve `certfile`, connect as a client of `hostname` trusting `cafile`: refused."""
    with (
        tls.TLSServer(tls.server_context(certfile, keyfile)) as server,
        pytest.raises(ssl.SSLCertVerificationError) as caught,
    ):
        tls.tls_get(address(server), hostname, tls.client_context(cafile))
    return caught.value, server  # leaving the block joined the server's threads


def test_a_hostname_mismatch_is_refused_with_verify_code_62(pki: tls.PkiFiles) -> None:
    error, _ = refused(pki.chain_cert, pki.leaf_key, "wrong.example", pki.root_cert)
    assert error.verify_code == 62
    assert error.verify_message == (
        "Hostname mismatch, certificate is not valid for 'wrong.example'."
    )


def test_the_server_records_the_handshake_the_client_aborted(pki: tls.PkiFiles) -> None:
    _, server = refused(pki.chain_cert, pki.leaf_key, "wrong.example", pki.root_cert)
    assert len(server.failures) == 1
    assert isinstance(server.failures[0], ssl.SSLError)
    assert server.failures[0].reason == "SSLV3_ALERT_BAD_CERTIFICATE"


def test_a_server_that_sends_no_intermediate_is_refused_with_code_20(
    pki: tls.PkiFiles,
) -> None:
    error, server = refused(pki.leaf_cert, pki.leaf_key, "localhost", pki.root_cert)
    assert error.verify_code == 20
    assert error.verify_message == "unable to get local issuer certificate"
    assert server.failures[0].reason == "TLSV1_ALERT_UNKNOWN_CA"


def test_a_client_that_trusts_another_ca_refuses_the_server(
    server: tls.TLSServer, tmp_path: Path
) -> None:
    other = tmp_path / "other-root.pem"
    trustme.CA().cert_pem.write_to_path(other)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        tls.tls_get(address(server), "localhost", tls.client_context(other))
    assert caught.value.verify_code == 20


@pytest.fixture
def expired_pki(tmp_path: Path, root_ca: trustme.CA) -> tls.PkiFiles:
    """root -> intermediate -> a leaf for localhost that expired yesterday."""
    now = datetime.datetime.now(datetime.UTC)
    leaf = root_ca.create_child_ca().issue_cert(
        "localhost",
        not_before=now - datetime.timedelta(days=10),
        not_after=now - datetime.timedelta(days=1),
    )
    return write_pki(tmp_path, leaf, root_ca)


def test_an_expired_leaf_is_refused_with_code_10(expired_pki: tls.PkiFiles) -> None:
    pki = expired_pki
    error, _ = refused(pki.chain_cert, pki.leaf_key, "localhost", pki.root_cert)
    assert error.verify_code == 10
    assert error.verify_message == "certificate has expired"


def test_an_expired_leaf_for_the_wrong_name_reports_the_name_first(
    expired_pki: tls.PkiFiles,
) -> None:
    """OpenSSL checks the host name (check_id) before the dates (internal_verify)."""
    pki = expired_pki
    error, _ = refused(pki.chain_cert, pki.leaf_key, "wrong.example", pki.root_cert)
    assert error.verify_code == 62


def test_a_missing_chain_is_reported_before_the_name_and_the_dates(
    expired_pki: tls.PkiFiles,
) -> None:
    """Expired, wrong name and no intermediate: chain building fails first."""
    pki = expired_pki
    error, _ = refused(pki.leaf_cert, pki.leaf_key, "wrong.example", pki.root_cert)
    assert error.verify_code == 20


@needs_openssl
def test_an_issuer_that_is_not_a_ca_is_reported_before_the_name(tmp_path: Path) -> None:
    """OpenSSL checks CA flags (check_extensions) before the host name (check_id).

    trustme only makes CAs, so this chain comes from the snippet's openssl helper.
    """
    not_a_ca = "basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash\n"
    root = tls.issue(tmp_path, "root", "Test Root", tls.ROOT, "root")
    middle = tls.issue(tmp_path, "middle", "Not A CA", not_a_ca, "root")
    leaf_extensions = tls.LEAF.format(host="localhost")
    leaf = tls.issue(tmp_path, "leaf", "localhost", leaf_extensions, "middle")
    chain = tmp_path / "chain.pem"
    chain.write_text(leaf.read_text() + middle.read_text())
    for hostname in ("localhost", "wrong.example"):
        error, _ = refused(chain, tmp_path / "leaf.key", hostname, root)
        assert error.verify_code == 79
        assert error.verify_message == "invalid CA certificate"


def test_plain_http_to_the_tls_port_is_refused_and_the_server_keeps_serving(
    pki: tls.PkiFiles,
) -> None:
    with tls.TLSServer(tls.server_context(pki.chain_cert, pki.leaf_key)) as server:
        with socket.create_connection(address(server), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            try:
                answer = plain.recv(4096)
            except ConnectionResetError:  # closed with our request unread: a reset
                answer = b""
        assert b"HTTP/1.1" not in answer  # no HTTP answer in clear
        context = tls.client_context(pki.root_cert)
        good = tls.tls_get(address(server), "localhost", context)
    assert good.response.startswith(b"HTTP/1.1 200 OK")
    assert server.failures[0].reason == "HTTP_REQUEST"


def test_a_silent_client_is_dropped_after_the_handshake_timeout(
    pki: tls.PkiFiles,
) -> None:
    with tls.TLSServer(tls.server_context(pki.chain_cert, pki.leaf_key)) as server:
        server.handshake_timeout = 0.2
        with socket.create_connection(address(server), timeout=TIMEOUT) as silent:
            assert (
                silent.recv(1) == b""
            )  # the server gave up and closed, well before 5 s
    assert isinstance(server.failures[0], TimeoutError)


# ---------------------------------------------------------------------------------------
# What the ClientHello shows to anyone on the path


# A client context that trusts nothing and verifies nothing: enough to make a ClientHello.
LOOSE = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
LOOSE.check_hostname = False
LOOSE.verify_mode = ssl.CERT_NONE


def test_the_client_hello_carries_the_server_name_and_versions_in_clear() -> None:
    record = tls.client_hello_bytes(ssl.create_default_context(), "api.example.com")
    extensions = tls.parse_client_hello(record)
    assert tls.server_name(extensions) == "api.example.com"
    assert tls.supported_versions(extensions)[0] == "0x0304"  # TLS 1.3 first
    assert b"api.example.com" in record


hostnames = st.from_regex(r"\A[a-z][a-z0-9]{0,20}(\.[a-z][a-z0-9]{0,10}){1,3}\Z")


@settings(max_examples=50)
@given(hostname=hostnames)
def test_any_server_name_openssl_sends_is_read_back_by_our_parser(
    hostname: str,
) -> None:
    """Oracle: OpenSSL writes the ClientHello, our parser reads the name back."""
    record = tls.client_hello_bytes(LOOSE, hostname)
    assert tls.server_name(tls.parse_client_hello(record)) == hostname


def test_every_truncation_of_a_client_hello_is_a_typed_error() -> None:
    record = tls.client_hello_bytes(LOOSE, "localhost")
    tls.parse_client_hello(record)
    for cut in range(len(record)):
        with pytest.raises(tls.ClientHelloError):
            tls.parse_client_hello(record[:cut])


@settings(max_examples=200)
@given(data=st.binary(max_size=300))
def test_random_bytes_either_parse_or_raise_client_hello_error(data: bytes) -> None:
    try:
        extensions = tls.parse_client_hello(data)
    except tls.ClientHelloError:
        return
    assert isinstance(extensions, dict)


def build_hello(
    extensions: bytes, record_type: int = 22, message_type: int = 1
) -> bytes:
    """A minimal ClientHello record around the given extension bytes."""
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += len(extensions).to_bytes(2, "big") + extensions
    message = bytes([message_type]) + len(body).to_bytes(3, "big") + body
    return bytes([record_type, 3, 1]) + len(message).to_bytes(2, "big") + message


def test_our_minimal_hello_parses_and_has_no_server_name() -> None:
    extensions = tls.parse_client_hello(build_hello(b""))
    assert extensions == {}
    with pytest.raises(tls.ClientHelloError, match="no server_name"):
        tls.server_name(extensions)
    with pytest.raises(tls.ClientHelloError, match=r"not a TLS 1\.3 client"):
        tls.supported_versions(extensions)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (build_hello(b"", record_type=23), "not a TLS handshake record"),
        (build_hello(b"", message_type=2), "not a ClientHello"),
        (build_hello(b"\x00\x2b\x00\x00" * 2), "extension 43 appears twice"),
    ],
)
def test_wrong_records_are_refused_with_a_reason(record: bytes, message: str) -> None:
    with pytest.raises(tls.ClientHelloError, match=message):
        tls.parse_client_hello(record)


def test_a_server_name_of_another_type_is_refused() -> None:
    sni = b"\x00\x06" + b"\x01" + b"\x00\x03abc"  # name_type 1 is not host_name
    extensions = tls.parse_client_hello(build_hello(b"\x00\x00\x00\x08" + sni))
    with pytest.raises(tls.ClientHelloError, match="not a host name"):
        tls.server_name(extensions)


# ---------------------------------------------------------------------------------------
# The openssl-made PKI of the demo


@needs_openssl
def test_the_openssl_made_pki_verifies_with_openssl_and_with_python(
    tmp_path: Path,
) -> None:
    pki = tls.make_test_pki(tmp_path)
    chain = ["-CAfile", pki.root_cert, "-untrusted", pki.chain_cert, pki.leaf_cert]
    verify = subprocess.run(
        ["openssl", "verify", *chain],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr
    with tls.TLSServer(tls.server_context(pki.chain_cert, pki.leaf_key)) as server:
        context = tls.client_context(pki.root_cert)
        answer = tls.tls_get(address(server), "localhost", context)
        by_ip = tls.tls_get(address(server), "127.0.0.1", context)
    assert tls.common_name(answer.peer, "issuer") == "Demo Intermediate CA"
    assert by_ip.peer == answer.peer


@needs_openssl
def test_openssl_failures_surface_as_called_process_error(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        tls.openssl("x509", "-in", tmp_path / "missing.pem")


@needs_openssl
def test_the_demo_prints_what_the_page_shows() -> None:
    result = run_demo("snippets.communication.tls_basics", check=True)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("TLSv1.3 TLS_")
    assert (
        "62 Hostname mismatch, certificate is not valid for 'wrong.example'." in lines
    )
    assert "20 unable to get local issuer certificate" in lines
    assert lines[-1] == "SSLV3_ALERT_BAD_CERTIFICATE TLSV1_ALERT_UNKNOWN_CA"
