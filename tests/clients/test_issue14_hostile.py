"""Issue 14 regressions: hostile requests that used to read data across its owner's fence,
pass unsigned headers, or get a 500 / a protocol error instead of AWS's answer.

Requests are signed here by hand (SigV4 as AWS specifies it) where the attack needs a
signature botocore would never produce: one that leaves `host` out, or lists a header the
request does not carry.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import re
import socket
import ssl
import subprocess
import urllib.parse
import zlib

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from test_malformed import error_of
from test_tenancy import Keys, exists, janitor  # noqa: F401  (janitor is a fixture)

REGION = "us-east-1"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def answer(resp) -> tuple[int, str | None]:
    return resp.status_code, error_of(resp)


def botocore_signed(server, keys, method, path, *, query="", headers=None, body=b""):
    """(url, headers) signed by botocore over every header given (what an SDK sends)."""
    url = server.endpoint + path + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    S3SigV4Auth(Credentials(keys.access_key, keys.secret_key), "s3", REGION).add_auth(req)
    return url, dict(req.headers.items())


def send(method, url, headers, body=b"", ca=None):
    prep = requests.Request(method, url, headers=headers, data=body).prepare()
    prep.url = url  # exactly what was signed
    return requests.Session().send(prep, verify=ca, timeout=60, allow_redirects=False)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def hand_signed(server, keys, method, path, *, headers, signed_names, listed_names=None):
    """SigV4 by hand: the canonical request covers `signed_names` (the headers present), while
    `SignedHeaders` lists `listed_names` (default: the same)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {k.lower(): v for k, v in headers.items()}
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = EMPTY_SHA256
    canonical_headers = "".join(f"{n}:{headers[n].strip()}\n" for n in sorted(signed_names))
    listed = ";".join(sorted(listed_names or signed_names))
    canonical = "\n".join([method, urllib.parse.quote(path), "", canonical_headers, listed, EMPTY_SHA256])
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + keys.secret_key).encode(), amz_date[:8]), REGION), "s3"),
                "aws4_request")
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={keys.access_key}/{scope}, SignedHeaders={listed}, Signature={sig}"
    )
    return server.endpoint + path, headers


# --------------------------------------------------------------------------
# 1. the copy source is authorised exactly as it is parsed
# --------------------------------------------------------------------------


def test_issue14_copy_source_with_question_mark_is_authorised_on_the_real_key(server, janitor):
    a, b = janitor.tenant("cpa"), janitor.tenant("cpb")
    a_s3, b_s3 = a.s3(), b.s3()
    a_bucket, b_bucket = janitor.bucket(a_s3, "cpsrc"), janitor.bucket(b_s3, "cpdst")
    a_s3.put_object(Bucket=a_bucket, Key="pub", Body=b"public", ACL="public-read")
    a_s3.put_object(Bucket=a_bucket, Key="pub?x/secret", Body=b"tenant A's secret")

    # Control: B may copy what A made public.
    url, hdrs = botocore_signed(server, b.admin_keys, "PUT", f"/{b_bucket}/copied-pub",
                                headers={"x-amz-copy-source": f"{a_bucket}/pub"})
    assert answer(send("PUT", url, hdrs, ca=server.ca))[0] == 200

    # The raw header names A's private key `pub?x/secret`, not `pub`.
    url, hdrs = botocore_signed(server, b.admin_keys, "PUT", f"/{b_bucket}/stolen",
                                headers={"x-amz-copy-source": f"{a_bucket}/pub?x/secret"})
    r = send("PUT", url, hdrs, ca=server.ca)
    assert answer(r) == (403, "AccessDenied"), r.text
    assert not exists(b_s3, b_bucket, "stolen")

    up = b_s3.create_multipart_upload(Bucket=b_bucket, Key="stolen-mpu")["UploadId"]
    url, hdrs = botocore_signed(server, b.admin_keys, "PUT", f"/{b_bucket}/stolen-mpu",
                                query=f"partNumber=1&uploadId={up}",
                                headers={"x-amz-copy-source": f"{a_bucket}/pub?x/secret"})
    r = send("PUT", url, hdrs, ca=server.ca)
    assert answer(r) == (403, "AccessDenied"), r.text
    assert b_s3.list_parts(Bucket=b_bucket, Key="stolen-mpu", UploadId=up).get("Parts", []) == []
    b_s3.abort_multipart_upload(Bucket=b_bucket, Key="stolen-mpu", UploadId=up)


# --------------------------------------------------------------------------
# 2-3. what a signature must cover
# --------------------------------------------------------------------------


def test_issue14_presigned_put_refuses_unsigned_amz_headers(server, janitor):
    t = janitor.tenant("pre")
    s3 = t.s3()
    bucket = janitor.bucket(s3, "pre")
    s3.put_object(Bucket=bucket, Key="payroll.csv", Body=b"name,salary\n")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "harmless.txt"},
                                    ExpiresIn=300)
    r = requests.put(url, data=b"x", verify=server.ca, timeout=60, headers={
        "x-amz-copy-source": f"/{bucket}/payroll.csv", "x-amz-acl": "public-read"})
    assert answer(r) == (403, "AccessDenied"), r.text
    assert "not signed" in r.text
    assert not exists(s3, bucket, "harmless.txt")

    # Standard headers that do not change the operation may stay unsigned, as on AWS.
    r = requests.put(url, data=b"hello", verify=server.ca, timeout=60,
                     headers={"User-Agent": "some-browser/1.0", "Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="harmless.txt")["Body"].read() == b"hello"


@pytest.mark.parametrize("header,value", [
    ("x-amz-acl", "public-read"),
    ("x-amz-meta-injected", "yes"),
    ("x-amz-tagging", "owner=attacker"),
])
def test_issue14_header_signed_request_refuses_added_unsigned_amz_header(server, janitor, header, value):
    t = janitor.tenant("hdr")
    s3 = t.s3()
    bucket = janitor.bucket(s3, "hdr")
    url, hdrs = botocore_signed(server, t.admin_keys, "PUT", f"/{bucket}/k", body=b"data")
    hdrs[header] = value  # added after signing
    r = send("PUT", url, hdrs, b"data", ca=server.ca)
    assert answer(r) == (403, "AccessDenied"), r.text
    assert header in r.text
    assert not exists(s3, bucket, "k")


def test_issue14_signature_must_cover_host(server, janitor):
    t = janitor.tenant("host")
    s3 = t.s3()
    bucket = janitor.bucket(s3, "host")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    path = f"/{bucket}/k"
    # Control: the same hand-made signature with host covered is accepted.
    url, hdrs = hand_signed(server, t.admin_keys, "GET", path, headers={"host": server.host},
                            signed_names=["host", "x-amz-content-sha256", "x-amz-date"])
    r = send("GET", url, hdrs, ca=server.ca)
    assert r.status_code == 200 and r.content == b"v", r.text
    # Without host, the signature could be replayed against any other host.
    url, hdrs = hand_signed(server, t.admin_keys, "GET", path, headers={"host": server.host},
                            signed_names=["x-amz-content-sha256", "x-amz-date"])
    r = send("GET", url, hdrs, ca=server.ca)
    assert answer(r) == (403, "AccessDenied"), r.text
    assert "host" in r.text


def test_issue14_signed_headers_must_be_present(server, janitor):
    t = janitor.tenant("absent")
    s3 = t.s3()
    bucket = janitor.bucket(s3, "absent")
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    url, hdrs = hand_signed(server, t.admin_keys, "GET", f"/{bucket}/k", headers={"host": server.host},
                            signed_names=["host", "x-amz-content-sha256", "x-amz-date"],
                            listed_names=["host", "x-amz-content-sha256", "x-amz-date", "x-amz-meta-gone"])
    r = send("GET", url, hdrs, ca=server.ca)
    assert answer(r) == (403, "SignatureDoesNotMatch"), r.text


# --------------------------------------------------------------------------
# 7. digests on every body
# --------------------------------------------------------------------------


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def delete_body(*keys: str) -> bytes:
    objects = "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
    return f"<Delete>{objects}</Delete>".encode()


@pytest.mark.parametrize("digest,expected", [
    ({"Content-MD5": md5_b64(b"another key list")}, (400, "BadDigest")),
    ({"x-amz-checksum-crc32": crc32_b64(b"another key list")}, (400, "BadDigest")),
    ({}, (400, "InvalidRequest")),
], ids=["wrong-content-md5", "wrong-crc32", "no-digest"])
def test_issue14_delete_objects_checks_its_digest(server, s3, bucket, digest, expected):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"v")
    body = delete_body("keep")
    url, hdrs = botocore_signed(server, server_keys(server), "POST", f"/{bucket}", query="delete",
                                headers=digest, body=body)
    r = send("POST", url, hdrs, body, ca=server.ca)
    assert answer(r) == expected, r.text
    assert exists(s3, bucket, "keep")
    # Control: the right digest deletes.
    url, hdrs = botocore_signed(server, server_keys(server), "POST", f"/{bucket}", query="delete",
                                headers={"Content-MD5": md5_b64(body)}, body=body)
    r = send("POST", url, hdrs, body, ca=server.ca)
    assert r.status_code == 200, r.text
    assert not exists(s3, bucket, "keep")


def test_issue14_put_object_tagging_checks_content_md5(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v", Tagging="a=1")
    body = b"<Tagging><TagSet><Tag><Key>a</Key><Value>2</Value></Tag></TagSet></Tagging>"
    url, hdrs = botocore_signed(server, server_keys(server), "PUT", f"/{bucket}/k", query="tagging",
                                headers={"Content-MD5": md5_b64(b"other")}, body=body)
    r = send("PUT", url, hdrs, body, ca=server.ca)
    assert answer(r) == (400, "BadDigest"), r.text
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "a", "Value": "1"}]


def server_keys(server):
    return Keys(server.access_key, server.secret_key)


# --------------------------------------------------------------------------
# 8. client mistakes are 400s, never 500s
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method,query,path_suffix,body", [
    ("POST", "delete", "", delete_body("k")),
    ("PUT", "tagging", "", b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"),
    ("PUT", "policy", "", b'{"Version":"2012-10-17","Statement":[]}'),
    ("POST", "uploadId=UPLOAD", "/mpu", b"<CompleteMultipartUpload></CompleteMultipartUpload>"),
], ids=["delete-objects", "put-bucket-tagging", "put-bucket-policy", "complete-multipart"])
def test_issue14_wrong_content_sha256_on_a_document_is_400(server, s3, bucket, method, query, path_suffix, body):
    if "UPLOAD" in query:
        up = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
        query = f"uploadId={up}"
    path = f"/{bucket}{path_suffix}"
    # Signed for one body, sent with another of the same length: damaged in transit.
    url, hdrs = botocore_signed(server, server_keys(server), method, path, query=query,
                                headers={"Content-MD5": md5_b64(body)}, body=body)
    tampered = body[:-2] + b"  "
    r = send(method, url, hdrs, tampered, ca=server.ca)
    assert answer(r) == (400, "XAmzContentSHA256Mismatch"), r.text


def raw_tls_exchange(server, head: bytes, body: bytes = b"", read_until_close=False) -> bytes:
    """Sends `head` (and `body`) over TLS and returns what the server answers first."""
    ctx = ssl.create_default_context(cafile=server.ca)
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
            tls.sendall(head + body)
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                reply += chunk
            head_part, _, rest = reply.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head_part)
            want = int(m.group(1)) if m else 0
            while len(rest) < want:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return head_part + b"\r\n\r\n" + rest


def signed_head(server, method, path, query, headers, payload_hash) -> bytes:
    url = server.endpoint + path + (f"?{query}" if query else "")
    req = AWSRequest(method=method, url=url, data=b"", headers=dict(headers))
    req.headers["X-Amz-Content-SHA256"] = payload_hash
    S3SigV4Auth(Credentials(server.access_key, server.secret_key), "s3", REGION).add_auth(req)
    target = path + (f"?{query}" if query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {server.host}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_issue14_oversized_document_is_refused_before_it_is_read(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"v")
    size = 21 * 1024 * 1024
    head = signed_head(server, "POST", f"/{bucket}", "delete",
                       {"Content-Length": str(size), "Content-MD5": md5_b64(b"x"), "Expect": "100-continue"},
                       "UNSIGNED-PAYLOAD")
    reply = raw_tls_exchange(server, head)
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 400"), reply[:500]
    assert b"<Code>MaxMessageLengthExceeded</Code>" in reply, reply[:500]
    assert exists(s3, bucket, "keep")


def test_issue14_entity_too_large_before_100_continue(server, s3, bucket):
    size = 6 * 1024 ** 3  # over the 5 GiB a single PUT may carry
    head = signed_head(server, "PUT", f"/{bucket}/huge", "",
                       {"Content-Length": str(size), "Expect": "100-continue"}, "UNSIGNED-PAYLOAD")
    reply = raw_tls_exchange(server, head)
    status_line = reply.split(b"\r\n", 1)[0]
    assert not status_line.startswith(b"HTTP/1.1 100"), "the server asked for 6 GiB it would refuse"
    assert status_line.startswith(b"HTTP/1.1 400"), reply[:500]
    assert b"<Code>EntityTooLarge</Code>" in reply, reply[:500]
    assert not exists(s3, bucket, "huge")


# --------------------------------------------------------------------------
# 10. HEAD replies carry no body, over HTTP/2 too
# --------------------------------------------------------------------------


def test_issue14_head_error_over_http2_has_no_body(server, s3, bucket):
    url, hdrs = botocore_signed(server, server_keys(server), "HEAD", f"/{bucket}/missing")
    cmd = ["curl", "--silent", "--show-error", "--http2", "--head", "--cacert", server.ca,
           "--write-out", "%{http_version} %{http_code}"]
    for k, v in hdrs.items():
        cmd += ["-H", f"{k}: {v}"]
    p = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"curl failed ({p.returncode}): {p.stderr}"
    assert p.stdout.strip().endswith("2 404"), p.stdout


# --------------------------------------------------------------------------
# 11. byte metrics count what is sent
# --------------------------------------------------------------------------


def sent_bytes(server, operation: str, status: str) -> float:
    text = requests.get(f"{server.admin_url}/metrics", timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("coffre_s3_sent_bytes_total{") and f'operation="{operation}"' in line \
                and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_issue14_sent_bytes_count_bodies_not_heads(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"z" * 100_000)
    head_before = sent_bytes(server, "HeadObject", "200")
    s3.head_object(Bucket=bucket, Key="obj")
    assert sent_bytes(server, "HeadObject", "200") == head_before, "a HEAD sends no body"
    list_before = sent_bytes(server, "ListObjectsV2", "200")
    url, hdrs = botocore_signed(server, server_keys(server), "GET", f"/{bucket}", query="list-type=2")
    r = send("GET", url, hdrs, ca=server.ca)
    assert r.status_code == 200
    assert sent_bytes(server, "ListObjectsV2", "200") - list_before == len(r.content)



# --------------------------------------------------------------------------
# 5. connections that say nothing, or stop halfway, are closed
# --------------------------------------------------------------------------

SHORT_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """A server of its own whose connection timeouts are short enough to watch."""
    import coffre_server
    from conftest import Server

    yield from coffre_server.serve(tmp_path_factory, Server, "coffre-timeouts", extra_env={
        "COFFRE_FIRST_BYTE_TIMEOUT_SECONDS": str(SHORT_TIMEOUT_S),
        "COFFRE_HEADER_TIMEOUT_SECONDS": str(SHORT_TIMEOUT_S),
        "COFFRE_BODY_IDLE_TIMEOUT_SECONDS": str(SHORT_TIMEOUT_S),
    })


def tls_connect(server, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=server.ca)
    ctx.set_alpn_protocols(list(alpn))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    return ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def closed_within(conn, limit_s: float) -> float:
    """Seconds until the server closes `conn` (reads until EOF); fails past `limit_s`."""
    import time

    started = time.monotonic()
    conn.settimeout(limit_s)
    try:
        while conn.recv(65536):
            pass
    except (ConnectionResetError, ssl.SSLError, OSError) as e:
        if isinstance(e, socket.timeout):
            pytest.fail(f"the server kept the connection open for more than {limit_s}s")
    return time.monotonic() - started


def test_issue14_a_silent_tcp_connection_is_closed(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=30) as raw:
        assert closed_within(raw, 10 * SHORT_TIMEOUT_S) >= SHORT_TIMEOUT_S * 0.5


@pytest.mark.parametrize("alpn", [("http/1.1",), ("h2",)], ids=["http1", "h2"])
def test_issue14_a_silent_tls_connection_is_closed(strict_server, alpn):
    with tls_connect(strict_server, alpn) as conn:
        closed_within(conn, 10 * SHORT_TIMEOUT_S)


def test_issue14_a_request_head_that_never_ends_is_closed(strict_server):
    with tls_connect(strict_server) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed_within(conn, 10 * SHORT_TIMEOUT_S)


def test_issue14_a_stalled_upload_body_times_out_and_leaves_nothing(strict_server):
    s3 = boto3_for(strict_server)
    bucket = f"stall-{hashlib.sha1(str(id(s3)).encode()).hexdigest()[:12]}"
    s3.create_bucket(Bucket=bucket)
    head = signed_head(strict_server, "PUT", f"/{bucket}/stalled", "", {"Content-Length": "1000"},
                       "UNSIGNED-PAYLOAD")
    with tls_connect(strict_server) as conn:
        conn.sendall(head + b"x" * 100)  # 100 of the 1000 bytes announced, then silence
        conn.settimeout(10 * SHORT_TIMEOUT_S)
        reply = b""
        try:
            while b"</Error>" not in reply:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except socket.timeout:
            pytest.fail(f"no answer to a stalled body within {10 * SHORT_TIMEOUT_S}s: {reply[:300]!r}")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:500]
    assert b"<Code>RequestTimeout</Code>" in reply, reply[:500]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    s3.delete_bucket(Bucket=bucket)


def boto3_for(server):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key, region_name=REGION, verify=server.ca,
                        config=Config(s3={"addressing_style": "path"}))


def test_issue14_a_request_then_a_half_close_still_gets_its_answer(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"answer")
    head = signed_head(server, "GET", f"/{bucket}/k", "", {}, EMPTY_SHA256)
    ctx = ssl.create_default_context(cafile=server.ca)
    ctx.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
        tls.write(head)
        sock.sendall(outgoing.read())
        sock.shutdown(socket.SHUT_WR)  # the request is complete: nothing more from us
        reply = b""
        while True:
            try:
                chunk = tls.read(65536)
                if not chunk:
                    break
                reply += chunk
                if reply.endswith(b"answer"):
                    break
            except ssl.SSLWantReadError:
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert reply.endswith(b"answer"), reply[-300:]
