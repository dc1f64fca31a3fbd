"""Multi-tenancy, identities and authorisation, black-box: tenants, users, access keys, user and
bucket policies, canned ACLs, PublicAccessBlock, quotas, admin tokens and break-glass access,
driven by boto3, the aws CLI and `coffre admin` against the real server.

Every test makes its own tenants (unique names) through `coffre admin` with the root operator's
credentials, and its own buckets through the tenants' keys. Denials are 403 AccessDenied (HEAD
responses have no body, so there boto3 reports the code "403").
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

import coffre_server
from coffre_server import empty_and_delete_bucket
from conftest import Server, client_env, run, unique_bucket

ADMIN_TIMEOUT_S = 60
MiB = 1024 * 1024


# --------------------------------------------------------------------------
# identities and clients
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str


def root_keys(server) -> Keys:
    """The root operator's keys (the harness's `access_key` is the `tests` tenant's admin)."""
    return Keys(server.root_access_key, server.root_secret_key)


def unique_name(prefix: str) -> str:
    """A unique tenant or user name (lowercase letters, digits, '-')."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def s3_client(server, keys: Keys | None):
    """boto3 S3 client for `keys` (`None`: anonymous, unsigned requests), trusting the server's
    CA, path style, one attempt per call (no retries hiding the first answer)."""
    config = Config(
        signature_version=UNSIGNED if keys is None else "s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},
    )
    creds = {} if keys is None else {
        "aws_access_key_id": keys.access_key,
        "aws_secret_access_key": keys.secret_key,
    }
    return boto3.client(
        "s3", endpoint_url=server.endpoint, region_name=server.region, verify=server.ca,
        config=config, **creds,
    )


def err(exc: ClientError) -> tuple[int, str]:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]


def err_message(exc: ClientError) -> str:
    return exc.response["Error"].get("Message", "")


def outcome(call) -> tuple[int, str] | None:
    """`None` if `call()` succeeds, else its (HTTP status, error code)."""
    try:
        call()
        return None
    except ClientError as e:
        return err(e)


def error_of(call) -> ClientError:
    """The ClientError `call()` raises (fails the test if it succeeds)."""
    with pytest.raises(ClientError) as e:
        call()
    return e.value


def assert_denied(call, *, head: bool = False) -> None:
    e = error_of(call)
    assert err(e) == (403, "403" if head else "AccessDenied"), e.response


def exists(s3, bucket: str, key: str) -> bool:
    got = outcome(lambda: s3.head_object(Bucket=bucket, Key=key))
    if got is None:
        return True
    assert got[0] == 404, got
    return False


def keys_of(listing: dict) -> list[str]:
    return [o["Key"] for o in listing.get("Contents", [])]


def wait_until(condition, timeout_s: float, what: str) -> None:
    """Polls `condition()` until true; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting until {what}")
        time.sleep(0.25)  # poll interval, bounded by the deadline


def records(doc, **fields) -> list[dict]:
    """Every JSON object inside `doc`, at any depth, having all of `fields` (the admin CLI's
    listings may be a bare array or wrapped in an object)."""
    found = []

    def walk(x):
        if isinstance(x, dict):
            if all(k in x and x[k] == v for k, v in fields.items()):
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return found


def policy_doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def arn(bucket: str, key: str | None = None) -> str:
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


def user_arn(tenant: str, user: str) -> str:
    return f"arn:aws:iam::{tenant}:user/{user}"


NO_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": False,
    "IgnorePublicAcls": False,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


def public_access_block(s3, bucket: str, **settings) -> None:
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={**NO_PUBLIC_ACCESS_BLOCK, **settings},
    )


# --------------------------------------------------------------------------
# `coffre admin`
# --------------------------------------------------------------------------


class Admin:
    """`coffre admin --admin-url ...` as one identity: the root operator (from
    COFFRE_ROOT_ACCESS_KEY/SECRET_KEY), an access key (--access-key/--secret-key) or a token."""

    def __init__(self, server, *, keys: Keys | None = None, token: str | None = None):
        self.server = server
        self.env = {k: v for k, v in client_env().items() if not k.startswith("COFFRE_")}
        self.auth: list[str] = []
        if token is not None:
            self.auth = ["--token", token]
        elif keys is not None:
            self.auth = ["--access-key", keys.access_key, "--secret-key", keys.secret_key]
        else:
            root = root_keys(server)
            self.env["COFFRE_ROOT_ACCESS_KEY"] = root.access_key
            self.env["COFFRE_ROOT_SECRET_KEY"] = root.secret_key

    def run(self, *args, json_out: bool = True) -> subprocess.CompletedProcess:
        cmd = [
            str(coffre_server.coffre_bin()), "admin",
            "--admin-url", f"http://127.0.0.1:{self.server.admin_port}",
            *(["--json"] if json_out else []), *self.auth, *map(str, args),
        ]
        return run(cmd, env=self.env, timeout=ADMIN_TIMEOUT_S, check=False)

    def __call__(self, *args):
        """Runs with --json; must succeed; the parsed output ({} if none)."""
        p = self.run(*args)
        if p.returncode != 0:
            pytest.fail(f"coffre admin {' '.join(map(str, args))} failed (exit {p.returncode}):\n"
                        f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}")
        try:
            return json.loads(p.stdout) if p.stdout.strip() else {}
        except json.JSONDecodeError:
            pytest.fail(f"coffre admin --json {' '.join(map(str, args))} printed non-JSON:\n{p.stdout}")

    def table(self, *args) -> str:
        """Runs without --json (human output); must succeed; its stdout."""
        p = self.run(*args, json_out=False)
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    def fails(self, *args, status: int) -> str:
        """Runs; must fail with `error: <status>...` on stderr; returns stderr."""
        p = self.run(*args)
        assert p.returncode != 0, (
            f"coffre admin {' '.join(map(str, args))} succeeded, expected HTTP {status}:\n{p.stdout}"
        )
        assert "error:" in p.stderr and str(status) in p.stderr, (
            f"expected an HTTP {status} error, got:\n{p.stderr}"
        )
        return p.stderr


def new_key(out: dict) -> Keys:
    assert out.get("access_key_id") and out.get("secret_access_key"), out
    return Keys(out["access_key_id"], out["secret_access_key"])


@dataclass
class Tenant:
    name: str
    admin_user: str
    admin_keys: Keys
    server: object = field(repr=False)

    @property
    def admin(self) -> Admin:
        """`coffre admin` as this tenant's admin."""
        return Admin(self.server, keys=self.admin_keys)

    def s3(self):
        return s3_client(self.server, self.admin_keys)

    def add_user(self, user: str, role: str = "member", policy: str | None = None) -> Keys:
        """Creates a user (by this tenant's admin), optionally with an identity policy, and an
        access key for it."""
        self.admin("user", "create", self.name, user, "--role", role)
        if policy is not None:
            self.admin("policy", "put", self.name, user, "main", "--document", policy)
        return new_key(self.admin("key", "create", self.name, user))


class Janitor:
    """Removes what a test made: buckets (emptied with their owner's client), then tenants."""

    def __init__(self, server):
        self.server = server
        self.buckets: list[tuple[object, str]] = []
        self.tenants: list[str] = []

    def tenant(self, prefix: str = "t", admin_user: str = "admin") -> Tenant:
        name = unique_name(prefix)
        out = Admin(self.server)("tenant", "create", name, "--admin-user", admin_user)
        self.tenants.append(name)
        return Tenant(name, admin_user, new_key(out), self.server)

    def bucket(self, s3, prefix: str = "ten", **create_args) -> str:
        name = unique_bucket(prefix)
        s3.create_bucket(Bucket=name, **create_args)
        self.buckets.append((s3, name))
        return name

    def clean(self) -> None:
        for s3, name in reversed(self.buckets):
            try:  # a test may have left a Deny policy or a public-access block behind
                s3.delete_bucket_policy(Bucket=name)
            except Exception:
                pass
            empty_and_delete_bucket(s3, name)
        for name in self.tenants:
            Admin(self.server).run("tenant", "delete", name)


@pytest.fixture
def janitor(server):
    j = Janitor(server)
    yield j
    j.clean()


# --------------------------------------------------------------------------
# 1. the access matrix
# --------------------------------------------------------------------------

ALLOW, DENY, NOT_EMPTY = "allow", "deny", "409 BucketNotEmpty"
PRINCIPALS = ("owner", "nogrant", "denied", "tenant_b", "operator", "anonymous")

# Bucket and objects of tenant A. owner: A's admin; nogrant: A member without policies;
# denied: A member allowed s3:* on * but denied s3:GetObject/s3:PutObject on the bucket;
# tenant_b: B's admin (no bucket-policy grant); operator: root; anonymous: unsigned.
ACCESS_MATRIX = {
    #                        owner      nogrant denied     tenant_b operator anonymous
    "ListObjectsV2":         (ALLOW,     DENY,   ALLOW,     DENY,    DENY,    DENY),
    "HeadBucket":            (ALLOW,     DENY,   ALLOW,     DENY,    DENY,    DENY),
    "GetObject":             (ALLOW,     DENY,   DENY,      DENY,    DENY,    DENY),
    "HeadObject":            (ALLOW,     DENY,   DENY,      DENY,    DENY,    DENY),
    "PutObject":             (ALLOW,     DENY,   DENY,      DENY,    DENY,    DENY),
    "DeleteObject":          (ALLOW,     DENY,   ALLOW,     DENY,    DENY,    DENY),
    "CopyObject":            (ALLOW,     DENY,   DENY,      DENY,    DENY,    DENY),
    "CreateMultipartUpload": (ALLOW,     DENY,   DENY,      DENY,    DENY,    DENY),
    "GetObjectTagging":      (ALLOW,     DENY,   ALLOW,     DENY,    DENY,    DENY),
    "PutBucketPolicy":       (ALLOW,     DENY,   ALLOW,     DENY,    DENY,    DENY),
    "GetBucketPolicy":       (ALLOW,     DENY,   ALLOW,     DENY,    DENY,    DENY),
    "DeleteBucket":          (NOT_EMPTY, DENY,   NOT_EMPTY, DENY,    DENY,    DENY),
}


@dataclass
class MatrixWorld:
    bucket: str
    owner: object  # boto3 client of A's admin
    clients: dict
    policy: str  # the bucket's (harmless) policy

    def fresh_object(self, prefix: str) -> str:
        key = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.owner.put_object(Bucket=self.bucket, Key=key, Body=b"fresh")
        return key


@pytest.fixture(scope="module")
def matrix_world(server):
    j = Janitor(server)
    a = j.tenant("ma", admin_user="owner")
    b = j.tenant("mb")
    owner = a.s3()
    bucket = j.bucket(owner, "matrix")
    nogrant = a.add_user("nogrant")
    denied = a.add_user("denied", policy=policy_doc(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": [arn(bucket), arn(bucket, "*")]},
    ))
    owner.put_object(Bucket=bucket, Key="obj", Body=b"matrix object", Tagging="team=a")
    # A policy that grants nothing and denies only plain-HTTP requests (this is HTTPS).
    policy = policy_doc({
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn(bucket), arn(bucket, "*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })
    owner.put_bucket_policy(Bucket=bucket, Policy=policy)
    clients = {
        "owner": owner,
        "nogrant": s3_client(server, nogrant),
        "denied": s3_client(server, denied),
        "tenant_b": b.s3(),
        "operator": s3_client(server, root_keys(server)),
        "anonymous": s3_client(server, None),
    }
    yield MatrixWorld(bucket, owner, clients, policy)
    j.clean()


def attempt(expected: str, call, *, head: bool = False):
    """Runs `call()` and checks the outcome against the matrix; returns the result if allowed."""
    if expected == ALLOW:
        try:
            return call()
        except ClientError as e:
            pytest.fail(f"expected the call to be allowed, got {err(e)}: {err_message(e)}")
    e = error_of(call)
    if expected == DENY:
        assert err(e) == (403, "403" if head else "AccessDenied"), e.response
    else:
        assert err(e) == (409, "BucketNotEmpty"), e.response


def _list(c, w, exp):
    out = attempt(exp, lambda: c.list_objects_v2(Bucket=w.bucket))
    if exp == ALLOW:
        assert "obj" in keys_of(out)


def _head_bucket(c, w, exp):
    attempt(exp, lambda: c.head_bucket(Bucket=w.bucket), head=True)


def _get(c, w, exp):
    out = attempt(exp, lambda: c.get_object(Bucket=w.bucket, Key="obj"))
    if exp == ALLOW:
        assert out["Body"].read() == b"matrix object"


def _head(c, w, exp):
    out = attempt(exp, lambda: c.head_object(Bucket=w.bucket, Key="obj"), head=True)
    if exp == ALLOW:
        assert out["ContentLength"] == len(b"matrix object")


def _put(c, w, exp):
    key = f"put-{uuid.uuid4().hex[:8]}"
    attempt(exp, lambda: c.put_object(Bucket=w.bucket, Key=key, Body=b"written"))
    assert exists(w.owner, w.bucket, key) == (exp == ALLOW)


def _delete(c, w, exp):
    key = w.fresh_object("victim")
    attempt(exp, lambda: c.delete_object(Bucket=w.bucket, Key=key))
    assert exists(w.owner, w.bucket, key) == (exp != ALLOW)


def _copy(c, w, exp):
    key = f"copy-{uuid.uuid4().hex[:8]}"
    attempt(exp, lambda: c.copy_object(
        Bucket=w.bucket, Key=key, CopySource={"Bucket": w.bucket, "Key": "obj"}))
    assert exists(w.owner, w.bucket, key) == (exp == ALLOW)


def _create_multipart(c, w, exp):
    key = f"mpu-{uuid.uuid4().hex[:8]}"
    out = attempt(exp, lambda: c.create_multipart_upload(Bucket=w.bucket, Key=key))
    uploads = w.owner.list_multipart_uploads(Bucket=w.bucket, Prefix=key).get("Uploads", [])
    if exp == ALLOW:
        assert [u["UploadId"] for u in uploads] == [out["UploadId"]]
        w.owner.abort_multipart_upload(Bucket=w.bucket, Key=key, UploadId=out["UploadId"])
    else:
        assert uploads == []


def _get_tagging(c, w, exp):
    out = attempt(exp, lambda: c.get_object_tagging(Bucket=w.bucket, Key="obj"))
    if exp == ALLOW:
        assert out["TagSet"] == [{"Key": "team", "Value": "a"}]


def _put_policy(c, w, exp):
    # The same harmless policy again: allowed or not, the bucket's state does not change.
    attempt(exp, lambda: c.put_bucket_policy(Bucket=w.bucket, Policy=w.policy))
    assert json.loads(w.owner.get_bucket_policy(Bucket=w.bucket)["Policy"]) == json.loads(w.policy)


def _get_policy(c, w, exp):
    out = attempt(exp, lambda: c.get_bucket_policy(Bucket=w.bucket))
    if exp == ALLOW:
        assert json.loads(out["Policy"]) == json.loads(w.policy)


def _delete_bucket(c, w, exp):
    attempt(exp, lambda: c.delete_bucket(Bucket=w.bucket))
    w.owner.head_bucket(Bucket=w.bucket)  # still there


MATRIX_OPS = {
    "ListObjectsV2": _list,
    "HeadBucket": _head_bucket,
    "GetObject": _get,
    "HeadObject": _head,
    "PutObject": _put,
    "DeleteObject": _delete,
    "CopyObject": _copy,
    "CreateMultipartUpload": _create_multipart,
    "GetObjectTagging": _get_tagging,
    "PutBucketPolicy": _put_policy,
    "GetBucketPolicy": _get_policy,
    "DeleteBucket": _delete_bucket,
}
assert MATRIX_OPS.keys() == ACCESS_MATRIX.keys()

MATRIX_CASES = [
    pytest.param(op, who, ACCESS_MATRIX[op][i], id=f"{op}-{who}")
    for op in ACCESS_MATRIX
    for i, who in enumerate(PRINCIPALS)
]


@pytest.mark.parametrize("operation,principal,expected", MATRIX_CASES)
def test_access_matrix(matrix_world, operation, principal, expected):
    MATRIX_OPS[operation](matrix_world.clients[principal], matrix_world, expected)


def test_buckets_belong_to_tenants(server, janitor):
    # Goal: bucket names are global, buckets are listed only to their tenant, operators own none.
    a, b = janitor.tenant("own-a"), janitor.tenant("own-b")
    a_s3, b_s3 = a.s3(), b.s3()
    operator = s3_client(server, root_keys(server))
    bucket = janitor.bucket(a_s3, "owned")
    assert err(error_of(lambda: b_s3.create_bucket(Bucket=bucket))) == (409, "BucketAlreadyExists")
    assert err(error_of(lambda: a_s3.create_bucket(Bucket=bucket))) == (409, "BucketAlreadyOwnedByYou")
    assert bucket in [x["Name"] for x in a_s3.list_buckets()["Buckets"]]
    assert bucket not in [x["Name"] for x in b_s3.list_buckets()["Buckets"]]
    assert operator.list_buckets()["Buckets"] == []
    # Operators run the service but cannot create buckets.
    name = unique_bucket("op")
    assert_denied(lambda: operator.create_bucket(Bucket=name))
    assert name not in [x["Name"] for x in a_s3.list_buckets()["Buckets"]]


def test_nonexistent_bucket_is_404_for_every_authenticated_caller(server, janitor):
    a = janitor.tenant("nx")
    member = a.add_user("member")
    callers = {
        "tenant admin": a.s3(),
        "member without policies": s3_client(server, member),
        "operator": s3_client(server, root_keys(server)),
    }
    missing = unique_bucket("missing")
    wrong = {}
    for who, s3 in callers.items():
        got = outcome(lambda: s3.list_objects_v2(Bucket=missing)), \
            outcome(lambda: s3.get_object(Bucket=missing, Key="k"))
        if got != ((404, "NoSuchBucket"), (404, "NoSuchBucket")):
            wrong[who] = got
    assert wrong == {}, f"expected 404 NoSuchBucket for list and get, got: {wrong}"


# --------------------------------------------------------------------------
# 2. bucket policies across tenants, public policies
# --------------------------------------------------------------------------


def test_cross_tenant_grant_by_bucket_policy(server, janitor):
    a, b = janitor.tenant("xa", admin_user="owner"), janitor.tenant("xb")
    owner, b_admin = a.s3(), b.s3()
    bucket = janitor.bucket(owner, "shared")
    public_access_block(owner, bucket)  # nothing blocked
    for key in ("shared/one", "private/two", "public/three"):
        owner.put_object(Bucket=bucket, Key=key, Body=key.encode())

    # B's admin, by name, may read shared/* and nothing else.
    owner.put_bucket_policy(Bucket=bucket, Policy=policy_doc({
        "Effect": "Allow", "Principal": {"AWS": user_arn(b.name, "admin")},
        "Action": "s3:GetObject", "Resource": arn(bucket, "shared/*"),
    }))
    assert b_admin.get_object(Bucket=bucket, Key="shared/one")["Body"].read() == b"shared/one"
    assert_denied(lambda: b_admin.get_object(Bucket=bucket, Key="private/two"))
    assert_denied(lambda: b_admin.put_object(Bucket=bucket, Key="shared/new", Body=b"x"))
    assert not exists(owner, bucket, "shared/new")
    assert_denied(lambda: b_admin.list_objects_v2(Bucket=bucket))
    assert owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False

    # Granted to tenant B as a whole: B's users also need their own policies to allow it.
    reader = b.add_user("reader")
    reader_s3 = s3_client(server, reader)
    owner.put_bucket_policy(Bucket=bucket, Policy=policy_doc({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{b.name}:root"},
        "Action": "s3:GetObject", "Resource": arn(bucket, "shared/*"),
    }))
    assert b_admin.get_object(Bucket=bucket, Key="shared/one")["Body"].read() == b"shared/one"
    assert_denied(lambda: reader_s3.get_object(Bucket=bucket, Key="shared/one"))
    b.admin("policy", "put", b.name, "reader", "read-a", "--document", policy_doc({
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": arn(bucket, "*"),
    }))
    assert reader_s3.get_object(Bucket=bucket, Key="shared/one")["Body"].read() == b"shared/one"
    # Its own policy alone is not enough on A's bucket.
    assert_denied(lambda: reader_s3.get_object(Bucket=bucket, Key="private/two"))

    # Revoked: nothing left.
    owner.delete_bucket_policy(Bucket=bucket)
    assert_denied(lambda: b_admin.get_object(Bucket=bucket, Key="shared/one"))
    assert_denied(lambda: reader_s3.get_object(Bucket=bucket, Key="shared/one"))
    assert err(error_of(lambda: owner.get_bucket_policy(Bucket=bucket))) == (404, "NoSuchBucketPolicy")


def test_public_bucket_policy_and_public_access_block(server, janitor):
    a, b = janitor.tenant("pub", admin_user="owner"), janitor.tenant("pubb")
    owner, b_admin = a.s3(), b.s3()
    anonymous = s3_client(server, None)
    bucket = janitor.bucket(owner, "public")
    owner.put_object(Bucket=bucket, Key="public/page.html", Body=b"<p>hello</p>")
    owner.put_object(Bucket=bucket, Key="private/notes", Body=b"secret")
    public = policy_doc({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": arn(bucket, "public/*"),
    })

    # BlockPublicPolicy: a public policy is refused and not stored.
    public_access_block(owner, bucket, BlockPublicPolicy=True)
    got = owner.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert got == {**NO_PUBLIC_ACCESS_BLOCK, "BlockPublicPolicy": True}
    assert_denied(lambda: owner.put_bucket_policy(Bucket=bucket, Policy=public))
    assert err(error_of(lambda: owner.get_bucket_policy(Bucket=bucket))) == (404, "NoSuchBucketPolicy")
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="public/page.html"))

    # Without the block: anyone may read public/*, nothing else.
    owner.delete_public_access_block(Bucket=bucket)
    public_access_block(owner, bucket)
    owner.put_bucket_policy(Bucket=bucket, Policy=public)
    assert owner.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert anonymous.get_object(Bucket=bucket, Key="public/page.html")["Body"].read() == b"<p>hello</p>"
    assert b_admin.get_object(Bucket=bucket, Key="public/page.html")["Body"].read() == b"<p>hello</p>"
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="private/notes"))
    assert_denied(lambda: anonymous.list_objects_v2(Bucket=bucket))
    assert_denied(lambda: anonymous.put_object(Bucket=bucket, Key="public/x", Body=b"x"))

    # RestrictPublicBuckets: the public grant only works within the owner tenant.
    public_access_block(owner, bucket, RestrictPublicBuckets=True)
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="public/page.html"))
    assert_denied(lambda: b_admin.get_object(Bucket=bucket, Key="public/page.html"))
    assert owner.get_object(Bucket=bucket, Key="public/page.html")["Body"].read() == b"<p>hello</p>"


# --------------------------------------------------------------------------
# 3. canned ACLs
# --------------------------------------------------------------------------

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def public_read_granted(acl: dict) -> bool:
    return any(
        g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ" for g in acl["Grants"]
    )


def test_object_canned_acls_and_public_access_block(server, janitor):
    a = janitor.tenant("acl", admin_user="owner")
    owner = a.s3()
    anonymous = s3_client(server, None)
    bucket = janitor.bucket(owner, "acl")
    public_access_block(owner, bucket)

    owner.put_object(Bucket=bucket, Key="doc", Body=b"for everyone", ACL="public-read")
    assert public_read_granted(owner.get_object_acl(Bucket=bucket, Key="doc"))
    assert anonymous.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"for everyone"
    # Object public-read gives the object, not the listing nor writes.
    assert_denied(lambda: anonymous.list_objects_v2(Bucket=bucket))
    assert_denied(lambda: anonymous.put_object(Bucket=bucket, Key="doc", Body=b"defaced"))

    owner.put_object_acl(Bucket=bucket, Key="doc", ACL="private")
    assert not public_read_granted(owner.get_object_acl(Bucket=bucket, Key="doc"))
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="doc"))

    owner.put_object_acl(Bucket=bucket, Key="doc", ACL="public-read")
    assert anonymous.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"for everyone"
    # IgnorePublicAcls: the ACL stays but no longer grants anything.
    public_access_block(owner, bucket, IgnorePublicAcls=True)
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="doc"))

    # BlockPublicAcls: setting public-read is refused, in every way; private is still fine.
    public_access_block(owner, bucket, BlockPublicAcls=True)
    owner.put_object(Bucket=bucket, Key="other", Body=b"x")
    assert_denied(lambda: owner.put_object_acl(Bucket=bucket, Key="other", ACL="public-read"))
    assert not public_read_granted(owner.get_object_acl(Bucket=bucket, Key="other"))
    assert_denied(lambda: owner.put_object(Bucket=bucket, Key="new", Body=b"x", ACL="public-read"))
    assert not exists(owner, bucket, "new")
    assert_denied(lambda: owner.put_bucket_acl(Bucket=bucket, ACL="public-read"))
    owner.put_object_acl(Bucket=bucket, Key="other", ACL="private")


def test_canned_acl_on_copy_and_multipart(server, janitor):
    a = janitor.tenant("cacl", admin_user="owner")
    owner = a.s3()
    anonymous = s3_client(server, None)
    bucket = janitor.bucket(owner, "cacl")
    public_access_block(owner, bucket)
    owner.put_object(Bucket=bucket, Key="src", Body=b"source")
    owner.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"},
                      ACL="public-read")
    assert anonymous.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"source"
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="src"))

    def multipart(key: str, acl: str):
        up = owner.create_multipart_upload(Bucket=bucket, Key=key, ACL=acl)["UploadId"]
        etag = owner.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=b"parts")["ETag"]
        owner.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})

    multipart("assembled", "public-read")
    assert anonymous.get_object(Bucket=bucket, Key="assembled")["Body"].read() == b"parts"
    multipart("kept", "private")
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="kept"))

    public_access_block(owner, bucket, BlockPublicAcls=True)
    assert_denied(lambda: owner.copy_object(
        Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "src"}, ACL="public-read"))
    assert not exists(owner, bucket, "copy2")
    assert_denied(lambda: owner.create_multipart_upload(Bucket=bucket, Key="mpu2", ACL="public-read"))
    assert owner.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_bucket_canned_acls(server, janitor):
    a = janitor.tenant("bacl", admin_user="owner")
    owner = a.s3()
    anonymous = s3_client(server, None)
    # x-amz-acl on CreateBucket: anyone may list, but objects stay private.
    bucket = janitor.bucket(owner, "bacl", ACL="public-read")
    owner.put_object(Bucket=bucket, Key="listed", Body=b"x")
    assert public_read_granted(owner.get_bucket_acl(Bucket=bucket))
    assert keys_of(anonymous.list_objects_v2(Bucket=bucket)) == ["listed"]
    assert_denied(lambda: anonymous.get_object(Bucket=bucket, Key="listed"))

    owner.put_bucket_acl(Bucket=bucket, ACL="private")
    assert not public_read_granted(owner.get_bucket_acl(Bucket=bucket))
    assert_denied(lambda: anonymous.list_objects_v2(Bucket=bucket))

    owner.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert keys_of(anonymous.list_objects_v2(Bucket=bucket)) == ["listed"]
    public_access_block(owner, bucket, IgnorePublicAcls=True)
    assert_denied(lambda: anonymous.list_objects_v2(Bucket=bucket))


def test_unsupported_canned_acl_is_not_implemented(server, janitor):
    a = janitor.tenant("nacl", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "nacl")
    owner.put_object(Bucket=bucket, Key="k", Body=b"x")
    for call in (
        lambda: owner.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
        lambda: owner.put_object_acl(Bucket=bucket, Key="k", ACL="public-read-write"),
        lambda: owner.put_object_acl(Bucket=bucket, Key="k", ACL="authenticated-read"),
    ):
        assert err(error_of(call)) == (501, "NotImplemented")
    assert not public_read_granted(owner.get_object_acl(Bucket=bucket, Key="k"))


# --------------------------------------------------------------------------
# 4. conditions
# --------------------------------------------------------------------------


def test_condition_s3_prefix_on_listing(server, janitor):
    a = janitor.tenant("cpfx", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "home")
    for key in ("home/alice/a.txt", "home/bob/b.txt", "top.txt"):
        owner.put_object(Bucket=bucket, Key=key, Body=b"x")
    alice = s3_client(server, a.add_user("alice", policy=policy_doc({
        "Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn(bucket),
        "Condition": {"StringLike": {"s3:prefix": "home/alice/*"}},
    })))
    assert keys_of(alice.list_objects_v2(Bucket=bucket, Prefix="home/alice/")) == ["home/alice/a.txt"]
    assert_denied(lambda: alice.list_objects_v2(Bucket=bucket))
    assert_denied(lambda: alice.list_objects_v2(Bucket=bucket, Prefix="home/bob/"))
    assert_denied(lambda: alice.list_objects_v2(Bucket=bucket, Prefix="home/"))


def test_condition_delimiter_max_keys_and_username(server, janitor):
    a = janitor.tenant("ckey", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "ckey")
    for key in ("a/1", "a/2", "b/3"):
        owner.put_object(Bucket=bucket, Key=key, Body=b"x")
    lister = s3_client(server, a.add_user("lister", policy=policy_doc({
        "Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn(bucket),
        "Condition": {"StringEquals": {"s3:delimiter": "/", "s3:max-keys": "2"}},
    })))
    out = lister.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in out.get("CommonPrefixes", [])] == ["a/", "b/"]
    assert_denied(lambda: lister.list_objects_v2(Bucket=bucket, MaxKeys=2))
    assert_denied(lambda: lister.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=100))

    # One policy for two users, naming one of them by aws:username.
    only_bob = policy_doc({
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": arn(bucket, "*"),
        "Condition": {"StringEquals": {"aws:username": "bob"}},
    })
    bob = s3_client(server, a.add_user("bob", policy=only_bob))
    eve = s3_client(server, a.add_user("eve", policy=only_bob))
    assert bob.get_object(Bucket=bucket, Key="a/1")["Body"].read() == b"x"
    assert_denied(lambda: eve.get_object(Bucket=bucket, Key="a/1"))


def test_condition_secure_transport(server, janitor):
    a = janitor.tenant("ctls", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "tls")
    owner.put_object(Bucket=bucket, Key="k", Body=b"over tls")
    # The classic "deny plain HTTP" policy does not bite over HTTPS...
    owner.put_bucket_policy(Bucket=bucket, Policy=policy_doc({
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn(bucket), arn(bucket, "*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }))
    assert owner.get_object(Bucket=bucket, Key="k")["Body"].read() == b"over tls"
    owner.put_object(Bucket=bucket, Key="k2", Body=b"x")
    assert keys_of(owner.list_objects_v2(Bucket=bucket)) == ["k", "k2"]
    # ...while the same condition with "true" does: the request is known to be HTTPS.
    owner.put_bucket_policy(Bucket=bucket, Policy=policy_doc({
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": arn(bucket, "*"),
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }))
    assert_denied(lambda: owner.get_object(Bucket=bucket, Key="k"))
    owner.delete_bucket_policy(Bucket=bucket)
    assert owner.get_object(Bucket=bucket, Key="k")["Body"].read() == b"over tls"


def test_condition_source_ip(server, janitor):
    a = janitor.tenant("cip", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "ip")
    owner.put_object(Bucket=bucket, Key="k", Body=b"local only")
    keys = a.add_user("ipuser")
    ipuser = s3_client(server, keys)

    def allow_get_if(operator: str, cidr: str) -> None:
        a.admin("policy", "put", a.name, "ipuser", "main", "--document", policy_doc({
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": arn(bucket, "*"),
            "Condition": {operator: {"aws:SourceIp": cidr}},
        }))

    allow_get_if("IpAddress", "127.0.0.1/32")
    assert ipuser.get_object(Bucket=bucket, Key="k")["Body"].read() == b"local only"
    allow_get_if("IpAddress", "10.0.0.0/8")
    assert_denied(lambda: ipuser.get_object(Bucket=bucket, Key="k"))
    allow_get_if("NotIpAddress", "10.0.0.0/8")
    assert ipuser.get_object(Bucket=bucket, Key="k")["Body"].read() == b"local only"
    allow_get_if("NotIpAddress", "127.0.0.0/8")
    assert_denied(lambda: ipuser.get_object(Bucket=bucket, Key="k"))


def test_condition_existing_object_tag(server, janitor):
    a = janitor.tenant("ctag", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "tags")
    owner.put_object(Bucket=bucket, Key="brochure", Body=b"b", Tagging="classification=public")
    owner.put_object(Bucket=bucket, Key="payroll", Body=b"p", Tagging="classification=secret")
    owner.put_object(Bucket=bucket, Key="untagged", Body=b"u")
    reader = s3_client(server, a.add_user("reader", policy=policy_doc({
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": arn(bucket, "*"),
        "Condition": {"StringEquals": {"s3:ExistingObjectTag/classification": "public"}},
    })))
    assert reader.get_object(Bucket=bucket, Key="brochure")["Body"].read() == b"b"
    assert_denied(lambda: reader.get_object(Bucket=bucket, Key="payroll"))
    assert_denied(lambda: reader.get_object(Bucket=bucket, Key="untagged"))
    # Retagging changes what may be read.
    owner.put_object_tagging(Bucket=bucket, Key="payroll",
                             Tagging={"TagSet": [{"Key": "classification", "Value": "public"}]})
    assert reader.get_object(Bucket=bucket, Key="payroll")["Body"].read() == b"p"


def test_condition_server_side_encryption_required(server, janitor):
    a = janitor.tenant("csse", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "sse")
    owner.put_bucket_policy(Bucket=bucket, Policy=policy_doc({
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": arn(bucket, "*"),
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
    }))
    assert_denied(lambda: owner.put_object(Bucket=bucket, Key="plain", Body=b"x"))
    assert not exists(owner, bucket, "plain")
    owner.put_object(Bucket=bucket, Key="sealed", Body=b"x", ServerSideEncryption="AES256")
    assert exists(owner, bucket, "sealed")


def test_delete_objects_is_authorised_per_key(server, janitor):
    a = janitor.tenant("cdel", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "del")
    for key in ("locked/a", "free/b"):
        owner.put_object(Bucket=bucket, Key=key, Body=b"x")
    cleaner = s3_client(server, a.add_user("cleaner", policy=policy_doc(
        {"Effect": "Allow", "Action": ["s3:DeleteObject", "s3:ListBucket"],
         "Resource": [arn(bucket), arn(bucket, "*")]},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": arn(bucket, "locked/*")},
    )))
    out = cleaner.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "locked/a"}, {"Key": "free/b"}]})
    assert [d["Key"] for d in out.get("Deleted", [])] == ["free/b"]
    assert [(e["Key"], e["Code"]) for e in out.get("Errors", [])] == [("locked/a", "AccessDenied")]
    assert keys_of(owner.list_objects_v2(Bucket=bucket)) == ["locked/a"]


# --------------------------------------------------------------------------
# 5. malformed policies
# --------------------------------------------------------------------------


def malformed(principal: str | None, **overrides) -> str:
    """A policy whose one statement is valid but for `overrides` (a None value drops the
    field); bucket policies name a principal, identity policies do not."""
    stmt = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::BUCKET/*"}
    if principal is not None:
        stmt["Principal"] = {"AWS": principal}
    stmt.update(overrides)
    return policy_doc({k: v for k, v in stmt.items() if v is not None})


# (id, document for a principal (None: an identity policy), what the message must mention);
# BUCKET stands for the bucket's name.
MALFORMED = [
    ("not-json", lambda p: '{"Version": "2012-10-17", "Statement": [', "json"),
    ("no-statement", lambda p: json.dumps({"Version": "2012-10-17"}), "statement"),
    ("bad-version", lambda p: json.dumps(
        {**json.loads(malformed(p)), "Version": "2099-01-01"}), "version"),
    ("bad-effect", lambda p: malformed(p, Effect="Permit"), "permit"),
    ("no-action", lambda p: malformed(p, Action=None), "action"),
    ("foreign-action", lambda p: malformed(p, Action="ec2:RunInstances"), "ec2:runinstances"),
    ("unknown-operator", lambda p: malformed(
        p, Condition={"StringSortOf": {"aws:username": "x"}}), "stringsortof"),
    ("bad-cidr", lambda p: malformed(
        p, Condition={"IpAddress": {"aws:SourceIp": "999.1.1.1/8"}}), "999.1.1.1"),
]


@pytest.mark.parametrize("make,mentions", [pytest.param(d, m, id=i) for i, d, m in MALFORMED])
def test_malformed_bucket_policy(server, janitor, make, mentions):
    a = janitor.tenant("mal", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "mal")
    document = make(user_arn(a.name, "owner")).replace("BUCKET", bucket)
    e = error_of(lambda: owner.put_bucket_policy(Bucket=bucket, Policy=document))
    assert err(e) == (400, "MalformedPolicy"), e.response
    assert mentions in err_message(e).lower(), f"message does not mention {mentions!r}: {err_message(e)!r}"
    assert err(error_of(lambda: owner.get_bucket_policy(Bucket=bucket))) == (404, "NoSuchBucketPolicy")


def test_bucket_policy_naming_another_bucket_is_malformed(server, janitor):
    a = janitor.tenant("mal2", admin_user="owner")
    owner = a.s3()
    bucket = janitor.bucket(owner, "mine")
    other = janitor.bucket(owner, "other")
    e = error_of(lambda: owner.put_bucket_policy(Bucket=bucket, Policy=policy_doc({
        "Effect": "Allow", "Principal": {"AWS": user_arn(a.name, "owner")},
        "Action": "s3:GetObject", "Resource": arn(other, "*"),
    })))
    assert err(e) == (400, "MalformedPolicy"), e.response
    assert "resource" in err_message(e).lower(), err_message(e)


@pytest.mark.parametrize("make,mentions", [pytest.param(d, m, id=i) for i, d, m in MALFORMED])
def test_malformed_user_policy_via_admin_cli(server, janitor, make, mentions):
    a = janitor.tenant("malu")
    a.add_user("someone")
    document = make(None).replace("BUCKET", "any-bucket")
    stderr = a.admin.fails("policy", "put", a.name, "someone", "p1", "--document", document, status=400)
    assert mentions in stderr.lower(), f"message does not mention {mentions!r}: {stderr!r}"
    # Nothing was attached.
    a.admin.fails("policy", "get", a.name, "someone", "p1", status=404)


# --------------------------------------------------------------------------
# 6. the admin CLI: tenants, users, keys
# --------------------------------------------------------------------------


def test_admin_cli_tenant_user_key_lifecycle(server, janitor):
    root = Admin(server)
    # A tenant without an admin user: no key is made.
    bare = unique_name("bare")
    out = root("tenant", "create", bare)
    janitor.tenants.append(bare)
    assert out["tenant"]["name"] == bare
    assert "access_key_id" not in out and "secret_access_key" not in out
    t = janitor.tenant("life", admin_user="boss")
    assert records(root("tenant", "list"), name=t.name)
    assert records(root("tenant", "list"), name=bare)
    listing = root.table("tenant", "list")
    assert t.name in listing and bare in listing

    # Users: default role member.
    t.admin("user", "create", t.name, "carol")
    t.admin("user", "create", t.name, "dave", "--role", "admin")
    users = t.admin("user", "list", t.name)
    assert records(users, name="carol", role="member"), users
    assert records(users, name="dave", role="admin"), users
    assert records(users, name="boss", role="admin"), users
    human = t.admin.table("user", "list", t.name)
    assert "carol" in human and "dave" in human and "member" in human

    # Keys: carol may use S3 once a policy lets her.
    t.admin("policy", "put", t.name, "carol", "all", "--document",
            policy_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    assert "s3:*" in json.dumps(t.admin("policy", "get", t.name, "carol", "all"))
    bucket = janitor.bucket(t.s3(), "life")
    key = new_key(t.admin("key", "create", t.name, "carol"))
    assert key.access_key != t.admin_keys.access_key
    carol = s3_client(server, key)
    assert bucket in [b["Name"] for b in carol.list_buckets()["Buckets"]]
    assert records(t.admin("key", "list", t.name, "--user", "carol"),
                   access_key_id=key.access_key, status="active")
    assert key.access_key in t.admin.table("key", "list", t.name)

    t.admin("key", "disable", t.name, key.access_key)
    assert records(t.admin("key", "list", t.name), access_key_id=key.access_key, status="inactive")
    assert outcome(carol.list_buckets) == (403, "InvalidAccessKeyId")
    t.admin("key", "enable", t.name, key.access_key)
    assert bucket in [b["Name"] for b in carol.list_buckets()["Buckets"]]
    t.admin("key", "delete", t.name, key.access_key)
    assert not records(t.admin("key", "list", t.name), access_key_id=key.access_key)
    assert outcome(carol.list_buckets) == (403, "InvalidAccessKeyId")

    # A key that expires: works at once, refused after its expiry.
    before = time.time()
    out = t.admin("key", "create", t.name, "carol", "--expires-in", "3")
    assert before + 1 <= out["expires_unix_s"] <= time.time() + 5, out
    short = s3_client(server, new_key(out))
    assert bucket in [b["Name"] for b in short.list_buckets()["Buckets"]]
    wait_until(lambda: outcome(short.list_buckets) == (403, "InvalidAccessKeyId"), 30,
               "the 3-second key is refused with InvalidAccessKeyId")

    # Deleting a user removes it and its keys.
    last = s3_client(server, new_key(t.admin("key", "create", t.name, "carol")))
    t.admin("user", "delete", t.name, "carol")
    assert not records(t.admin("user", "list", t.name), name="carol")
    assert outcome(last.list_buckets) == (403, "InvalidAccessKeyId")

    # A tenant that owns buckets cannot be deleted; once they are gone it can, with its keys.
    stderr = root.fails("tenant", "delete", t.name, status=409)
    assert bucket in stderr or "bucket" in stderr.lower(), stderr
    assert records(root("tenant", "list"), name=t.name)
    t.s3().delete_bucket(Bucket=bucket)
    root("tenant", "delete", t.name)
    assert not records(root("tenant", "list"), name=t.name)
    assert t.name not in root.table("tenant", "list")
    assert outcome(t.s3().list_buckets) == (403, "InvalidAccessKeyId")


# --------------------------------------------------------------------------
# 7. quotas and usage
# --------------------------------------------------------------------------


def usage_of(doc: dict, bucket: str) -> dict:
    found = [b for b in doc.get("buckets", []) if b.get("bucket") == bucket]
    assert len(found) == 1, doc
    return found[0]


def test_quota_max_objects(server, janitor):
    root = Admin(server)
    t = janitor.tenant("qobj")
    s3 = t.s3()
    bucket = janitor.bucket(s3, "qobj")
    root("quota", "set", bucket, "--max-objects", "2")
    assert records(root("quota", "get", bucket), max_objects=2)
    # Tenant admins do not set their own quotas.
    t.admin.fails("quota", "set", bucket, "--max-objects", "100", status=403)

    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    s3.put_object(Bucket=bucket, Key="two", Body=b"22")
    e = error_of(lambda: s3.put_object(Bucket=bucket, Key="three", Body=b"333"))
    assert err(e) == (403, "QuotaExceeded"), e.response
    assert not exists(s3, bucket, "three")
    e = error_of(lambda: s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "one"}))
    assert err(e) == (403, "QuotaExceeded"), e.response
    assert not exists(s3, bucket, "copy")
    # Overwriting does not add an object.
    s3.put_object(Bucket=bucket, Key="one", Body=b"one, rewritten")
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"one, rewritten"
    # Freeing a slot makes room again.
    s3.delete_object(Bucket=bucket, Key="two")
    s3.put_object(Bucket=bucket, Key="three", Body=b"333")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["one", "three"]


def test_quota_max_bytes_single_and_multipart(server, janitor):
    root = Admin(server)
    t = janitor.tenant("qbyt")
    s3 = t.s3()
    bucket = janitor.bucket(s3, "qbyt")
    root("quota", "set", bucket, "--max-bytes", str(6 * MiB))
    assert records(root("quota", "get", bucket), max_bytes=6 * MiB)

    e = error_of(lambda: s3.put_object(Bucket=bucket, Key="big", Body=os.urandom(7 * MiB)))
    assert err(e) == (403, "QuotaExceeded"), e.response
    assert not exists(s3, bucket, "big")

    # Multipart: each part fits, the whole does not; refused when completing.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    parts = []
    for n, size in ((1, 5 * MiB), (2, 2 * MiB)):
        etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=up, PartNumber=n,
                              Body=os.urandom(size))["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    e = error_of(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="mpu", UploadId=up, MultipartUpload={"Parts": parts}))
    assert err(e) == (403, "QuotaExceeded"), e.response
    assert not exists(s3, bucket, "mpu")
    assert outcome(lambda: s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up)) in (
        None, (404, "NoSuchUpload"))

    # What fits is accepted, up to the limit.
    s3.put_object(Bucket=bucket, Key="fits", Body=os.urandom(4 * MiB))
    e = error_of(lambda: s3.put_object(Bucket=bucket, Key="more", Body=os.urandom(3 * MiB)))
    assert err(e) == (403, "QuotaExceeded"), e.response
    s3.put_object(Bucket=bucket, Key="more", Body=os.urandom(2 * MiB))
    assert sorted(keys_of(s3.list_objects_v2(Bucket=bucket))) == ["fits", "more"]


def test_usage_matches_what_was_written(server, janitor):
    root = Admin(server)
    t = janitor.tenant("use")
    s3 = t.s3()
    b1, b2 = janitor.bucket(s3, "use1"), janitor.bucket(s3, "use2")
    root("quota", "set", b1, "--max-objects", "10")
    sizes1 = {"a": 1000, "b": 2500, "c": 0}
    sizes2 = {"x": 123_456}
    for key, size in sizes1.items():
        s3.put_object(Bucket=b1, Key=key, Body=os.urandom(size))
    for key, size in sizes2.items():
        s3.put_object(Bucket=b2, Key=key, Body=os.urandom(size))
    s3.put_object(Bucket=b1, Key="a", Body=os.urandom(700))  # overwrite: 1000 -> 700 bytes
    sizes1["a"] = 700
    s3.put_object(Bucket=b2, Key="gone", Body=os.urandom(50))
    s3.delete_object(Bucket=b2, Key="gone")

    expected = {
        b1: (sum(sizes1.values()), len(sizes1)),
        b2: (sum(sizes2.values()), len(sizes2)),
    }

    def figures(doc):
        return {b: (usage_of(doc, b)["bytes"], usage_of(doc, b)["objects"]) for b in expected}

    last = {}

    def matches(admin):
        last["doc"] = admin("usage", t.name)
        return figures(last["doc"]) == expected

    wait_until(lambda: matches(root), 10, f"usage reports {expected}")
    doc = last["doc"]
    assert doc["tenant"] == t.name
    assert doc["total_bytes"] == sum(v[0] for v in expected.values())
    assert doc["total_objects"] == sum(v[1] for v in expected.values())
    assert records(usage_of(doc, b1)["quota"], max_objects=10), doc
    # The tenant's admin sees the same figures for its own tenant.
    assert figures(t.admin("usage", t.name)) == expected


# --------------------------------------------------------------------------
# 8. admin tokens: scopes, expiry, who may do what
# --------------------------------------------------------------------------


def test_token_scopes_and_expiry(server, janitor):
    root = Admin(server)
    everything = root("login")
    assert set(everything["scopes"]) == {"tenants", "iam", "quotas", "usage", "kms", "break-glass"}

    t = janitor.tenant("tok")
    usage_only = root("login", "--scope", "usage")
    assert usage_only["scopes"] == ["usage"]
    scoped = Admin(server, token=usage_only["token"])
    assert scoped("usage", t.name)["tenant"] == t.name
    name = unique_name("never")
    stderr = scoped.fails("tenant", "create", name, status=403)
    assert "scope" in stderr and "tenants" in stderr, stderr
    assert not records(root("tenant", "list"), name=name)

    before = time.time()
    short = root("login", "--ttl", "2")
    assert before + 1 <= short["expires_unix_s"] <= time.time() + 4, short
    brief = Admin(server, token=short["token"])
    assert records(brief("tenant", "list"), name=t.name)

    def refused() -> bool:
        p = brief.run("tenant", "list")
        return p.returncode != 0 and "401" in p.stderr

    wait_until(refused, 30, "the 2-second token is refused with 401")

    # The same, configured from the environment instead of options.
    env = {k: v for k, v in client_env().items() if not k.startswith("COFFRE_")}
    env["COFFRE_ADMIN_URL"] = f"http://127.0.0.1:{server.admin_port}"
    env["COFFRE_ADMIN_TOKEN"] = usage_only["token"]
    p = run([str(coffre_server.coffre_bin()), "admin", "--json", "usage", t.name], env=env)
    assert json.loads(p.stdout)["tenant"] == t.name
    del env["COFFRE_ADMIN_TOKEN"]
    env["COFFRE_ADMIN_ACCESS_KEY"] = t.admin_keys.access_key
    env["COFFRE_ADMIN_SECRET_KEY"] = t.admin_keys.secret_key
    p = run([str(coffre_server.coffre_bin()), "admin", "--json", "user", "list", t.name], env=env)
    assert records(json.loads(p.stdout), name="admin", role="admin")

    # A tenant admin's token holds at most iam and usage.
    login = t.admin("login")
    assert set(login["scopes"]) == {"iam", "usage", "audit"}
    t.admin.fails("login", "--scope", "tenants", status=403)


def test_who_may_administer_what(server, janitor):
    root = Admin(server)
    a, b = janitor.tenant("wa"), janitor.tenant("wb")
    policy = policy_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})

    # Tenant admins: their own tenant only; no tenants, no other tenant's usage or users.
    name = unique_name("nope")
    a.admin.fails("tenant", "create", name, status=403)
    assert not records(root("tenant", "list"), name=name)
    a.admin.fails("usage", b.name, status=403)
    assert a.admin("usage", a.name)["tenant"] == a.name
    a.admin.fails("user", "create", b.name, "intruder", status=403)
    a.admin.fails("key", "create", b.name, "admin", status=403)
    assert not records(b.admin("user", "list", b.name), name="intruder")

    # Operators: no users, keys or policies inside a tenant.
    root.fails("user", "create", a.name, "planted", status=403)
    root.fails("key", "create", a.name, "admin", status=403)
    root.fails("policy", "put", a.name, "admin", "p", "--document", policy, status=403)
    assert not records(a.admin("user", "list", a.name), name="planted")
    assert len(records(a.admin("key", "list", a.name), user="admin")) == 1
    # They do see any tenant's usage.
    assert root("usage", a.name)["tenant"] == a.name


def test_key_list_never_shows_secrets(server, janitor):
    t = janitor.tenant("sec")
    shown = new_key(t.admin("key", "create", t.name, "admin"))
    as_json = t.admin.run("key", "list", t.name)
    as_table = t.admin.run("key", "list", t.name, json_out=False)
    for p in (as_json, as_table):
        assert p.returncode == 0, p.stderr
        assert shown.access_key in p.stdout
        for secret in (shown.secret_key, t.admin_keys.secret_key):
            assert secret not in p.stdout and secret not in p.stderr
    for rec in records(json.loads(as_json.stdout), access_key_id=shown.access_key):
        assert not any("secret" in k for k in rec), rec


# --------------------------------------------------------------------------
# 9. break-glass
# --------------------------------------------------------------------------


@pytest.fixture
def break_glass_server(tmp_path_factory):
    """A server of its own: no operators but those the test bootstraps (the root credentials
    create only the first two) and no cool-down (operators may approve as soon as they are
    active; the default is 24 h)."""
    yield from coffre_server.serve(
        tmp_path_factory, Server, "coffre-bg", extra_env={"COFFRE_BREAK_GLASS_COOLDOWN_SECONDS": "0"},
    )


@pytest.fixture
def bg_janitor(break_glass_server):
    j = Janitor(break_glass_server)
    yield j
    j.clean()


def test_break_glass_needs_a_second_operator(break_glass_server, bg_janitor):
    # Goal: break-glass needs two distinct people (issue 14): two operators created
    # independently (by the root credentials, at bootstrap); root itself, the requester and
    # an operator the requester created are no second person.
    server, janitor = break_glass_server, bg_janitor
    root = Admin(server)
    names = {who: unique_name(who) for who in ("ann", "bob", "alt")}
    ann_out = root("operator", "create", names["ann"])
    bob_out = root("operator", "create", names["bob"])
    assert ann_out["status"] == bob_out["status"] == "active", (ann_out, bob_out)
    ann, bob = Admin(server, keys=new_key(ann_out)), Admin(server, keys=new_key(bob_out))
    t = janitor.tenant("bg", admin_user="owner")
    owner = t.s3()
    bucket = janitor.bucket(owner, "bg")
    elsewhere = janitor.bucket(owner, "bgother")
    owner.put_object(Bucket=bucket, Key="evidence", Body=b"logs")
    owner.put_object(Bucket=elsewhere, Key="evidence", Body=b"other")
    operator = s3_client(server, new_key(ann_out))
    approver_s3 = s3_client(server, new_key(bob_out))
    root_s3 = s3_client(server, root_keys(server))

    ask = ("break-glass", "request", t.name, "--bucket", bucket,
           "--reason", "incident 42: customer asked us to look", "--duration", "600")
    assert "bootstrap identity" in root.fails(*ask, status=403)
    bg = ann(*ask)["id"]
    assert "two-person" in ann.fails("break-glass", "approve", bg, status=403)
    assert "bootstrap identity" in root.fails("break-glass", "approve", bg, status=403)
    assert_denied(lambda: operator.get_object(Bucket=bucket, Key="evidence"))
    assert_denied(lambda: operator.list_objects_v2(Bucket=bucket))

    bob("break-glass", "approve", bg)
    assert operator.get_object(Bucket=bucket, Key="evidence")["Body"].read() == b"logs"
    assert keys_of(operator.list_objects_v2(Bucket=bucket)) == ["evidence"]
    # Read-only, one bucket, for the requester only.
    assert_denied(lambda: operator.put_object(Bucket=bucket, Key="planted", Body=b"x"))
    assert not exists(owner, bucket, "planted")
    assert_denied(lambda: operator.delete_object(Bucket=bucket, Key="evidence"))
    assert exists(owner, bucket, "evidence")
    assert_denied(lambda: operator.get_object(Bucket=elsewhere, Key="evidence"))
    assert_denied(lambda: approver_s3.get_object(Bucket=bucket, Key="evidence"))
    assert_denied(lambda: root_s3.get_object(Bucket=bucket, Key="evidence"))

    listed = records(root("break-glass", "list"), id=bg)
    assert len(listed) == 1, listed
    assert listed[0]["approved_by"] == names["bob"]
    assert listed[0]["requested_by"] == names["ann"]
    assert listed[0]["tenant"] == t.name
    assert bg in root.table("break-glass", "list")

    # Past bootstrap: root creates no operator; ann's stand-in waits for bob, and even then
    # is no second person for ann.
    assert "only bootstrap" in root.fails("operator", "create", unique_name("third"), status=403)
    alt_out = ann("operator", "create", names["alt"])
    assert alt_out["status"] == "pending", alt_out
    alt = Admin(server, keys=new_key(alt_out))
    alt.fails("break-glass", "list", status=401)
    assert "two-person" in ann.fails("operator", "approve", names["alt"], status=403)
    assert bob("operator", "approve", names["alt"])["status"] == "active"
    listed = records(root("operator", "list"), name=names["alt"])
    assert listed and listed[0]["created_by"] == names["ann"], listed
    assert listed[0]["creation_approved_by"] == names["bob"], listed
    second = ann(*ask)["id"]
    assert "created or approved by" in alt.fails("break-glass", "approve", second, status=403)
    assert records(root("break-glass", "list"), id=second)[0]["approved_by"] is None


# --------------------------------------------------------------------------
# 10. the aws CLI with two tenants' keys
# --------------------------------------------------------------------------


def aws_cli(server, keys: Keys, tmp_path):
    env = client_env()
    env.update({
        "AWS_ACCESS_KEY_ID": keys.access_key,
        "AWS_SECRET_ACCESS_KEY": keys.secret_key,
        "AWS_DEFAULT_REGION": server.region,
        "AWS_CA_BUNDLE": server.ca,
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config-absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-creds-absent"),
    })

    def aws(*args, check=True):
        return run(["aws", "--endpoint-url", server.endpoint, *map(str, args)], env=env, check=check)

    return aws


def test_aws_cli_two_tenants(server, janitor, tmp_path):
    a, b = janitor.tenant("cla"), janitor.tenant("clb")
    aws_a, aws_b = aws_cli(server, a.admin_keys, tmp_path), aws_cli(server, b.admin_keys, tmp_path)
    bucket = unique_bucket("cli")
    aws_a("s3", "mb", f"s3://{bucket}")
    janitor.buckets.append((a.s3(), bucket))
    src = tmp_path / "report.txt"
    src.write_bytes(b"tenant A's report\n" * 100)
    aws_a("s3", "cp", src, f"s3://{bucket}/report.txt")

    assert bucket in aws_a("s3", "ls").stdout
    assert bucket not in aws_b("s3", "ls").stdout
    p = aws_b("s3", "ls", f"s3://{bucket}", check=False)
    assert p.returncode != 0 and "AccessDenied" in p.stderr, p.stderr
    stolen = tmp_path / "stolen.txt"
    p = aws_b("s3", "cp", f"s3://{bucket}/report.txt", stolen, check=False)
    # `s3 cp` starts with a HeadObject, whose 403 has no body (no error code to show).
    assert p.returncode != 0 and "403" in p.stderr, p.stderr
    p = aws_b("s3api", "get-object", "--bucket", bucket, "--key", "report.txt", stolen, check=False)
    assert p.returncode != 0 and "AccessDenied" in p.stderr, p.stderr
    assert not stolen.exists()
    p = aws_b("s3", "mb", f"s3://{bucket}", check=False)
    assert p.returncode != 0 and "BucketAlreadyExists" in p.stderr, p.stderr

    back = tmp_path / "back.txt"
    aws_a("s3", "cp", f"s3://{bucket}/report.txt", back)
    assert back.read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------
# 11. the admin API's description and authentication
# --------------------------------------------------------------------------


def admin_get(server, path: str, token: str | None = None):
    req = urllib.request.Request(f"http://127.0.0.1:{server.admin_port}{path}")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    return urllib.request.urlopen(req, timeout=30)


def test_openapi_document(server):
    with admin_get(server, "/openapi.json") as r:
        assert r.status == 200
        doc = json.loads(r.read())
    assert str(doc["openapi"]).startswith("3."), doc.get("openapi")
    paths = doc["paths"]
    assert "/admin/v1/tenants" in paths
    assert "/admin/v1/tokens" in paths
    assert any("break-glass" in p for p in paths), sorted(paths)


@pytest.mark.parametrize("token", [None, "coffre_not-a-real-token"], ids=["no-token", "bad-token"])
def test_admin_api_requires_a_token(server, token):
    with pytest.raises(urllib.error.HTTPError) as e:
        admin_get(server, "/admin/v1/tenants", token)
    assert e.value.code == 401
