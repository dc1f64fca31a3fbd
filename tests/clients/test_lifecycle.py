"""Lifecycle (issue 16 §3): Put/Get/DeleteBucketLifecycleConfiguration with AWS's validation,
`x-amz-expiration`, and the lifecycle worker applying rules on a server whose lifecycle day
is shortened to a second by the test-only setting (COFFRE_TEST_ONLY_LIFECYCLE_DAY_SECONDS).

Waits poll what a client sees (listings, the worker's status) until it holds or a deadline
passes: the worker runs on its own schedule, and the day has to pass."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import coffre_server
from conftest import Server
from test_tenancy import Keys, err, s3_client

WAIT_S = 60


def wait_for(what: str, check, timeout: float = WAIT_S):
    """Polls `check()` until it returns a truthy value, which it returns."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def name(prefix: str = "lc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def rule(rule_id: str, **kw) -> dict:
    out = {"ID": rule_id, "Status": "Enabled", "Filter": kw.pop("Filter", {"Prefix": ""})}
    out.update(kw)
    return out


def put_rules(s3, bucket: str, *rules: dict):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def versions_of(s3, bucket: str, key: str) -> list[tuple[str, bool]]:
    """[(version id, is delete marker)] of `key`, newest first."""
    page = s3.list_object_versions(Bucket=bucket, Prefix=key)
    rows = [(v["VersionId"], False, v["LastModified"]) for v in page.get("Versions", []) if v["Key"] == key]
    rows += [(m["VersionId"], True, m["LastModified"]) for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    # AWS order: newest first (ids sort newest first within a key).
    return [(vid, marker) for vid, marker, _ in sorted(rows, key=lambda r: r[0])]


def audit_records(server) -> list[dict]:
    """Every record of the server's audit trail (segment lines: SEQ, PREV, HASH, JSON)."""
    out = []
    for path in sorted((server.data_dir / "audit").rglob("*.log")):
        if path.name == "checkpoints.log":
            continue
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split("\t", 3)
            if len(parts) == 4:
                try:
                    out.append(json.loads(parts[3]))
                except ValueError:
                    pass
    return out


def worker_status(server, name: str) -> dict:
    """A background worker's status, as operators see it (`coffre admin workers`)."""
    return next(w for w in server.admin_json("workers") if w["name"] == name)


def lifecycle_status(server) -> dict:
    return worker_status(server, "lifecycle")


def wait_passes(server, n: int = 2) -> None:
    """Waits until the worker has finished `n` more passes (so every rule was applied at
    least once on what exists now)."""
    start = lifecycle_status(server)["passes"]
    wait_for(f"{n} lifecycle passes", lambda: lifecycle_status(server)["passes"] >= start + n)


# --------------------------------------------------------------------------
# configuration (the shared server: real days)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3c(server):
    return s3_client(server, Keys(server.access_key, server.secret_key))


def test_a_configuration_round_trips_through_the_aws_cli(aws, bucket, tmp_path):
    # Goal: what a client puts is what it gets back, in the form it gave (legacy Prefix
    # kept, filters as given), and deleting it leaves NoSuchLifecycleConfiguration.
    config = {"Rules": [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
         "Expiration": {"Days": 30}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "old-style", "Status": "Disabled", "Prefix": "tmp/", "Expiration": {"Days": 1}},
        {"ID": "tagged", "Status": "Enabled",
         "Filter": {"And": {"Prefix": "db/", "Tags": [{"Key": "class", "Value": "scratch"}],
                            "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 1000}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}},
        {"ID": "markers", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "dated", "Status": "Enabled", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
         "Expiration": {"Date": "2030-01-01T00:00:00Z"}},
    ]}
    path = tmp_path / "lifecycle.json"
    path.write_text(json.dumps(config))
    aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket,
        "--lifecycle-configuration", f"file://{path}")
    got = aws.json("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "old-style", "tagged", "markers", "dated"]
    assert got[0]["Filter"] == {"Prefix": "logs/"} and got[0]["Expiration"] == {"Days": 30}
    assert got[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert got[1]["Prefix"] == "tmp/" and "Filter" not in got[1] and got[1]["Status"] == "Disabled"
    assert got[2]["Filter"]["And"] == config["Rules"][2]["Filter"]["And"]
    assert got[2]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}
    assert got[3]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert got[4]["Expiration"]["Date"].startswith("2030-01-01T00:00:00")
    aws("s3api", "delete-bucket-lifecycle", "--bucket", bucket)
    p = aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket, check=False)
    assert p.returncode != 0 and "NoSuchLifecycleConfiguration" in p.stderr


def test_a_bucket_without_rules_answers_no_such_lifecycle_configuration(s3c, bucket):
    with pytest.raises(ClientError) as e:
        s3c.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert err(e.value) == (404, "NoSuchLifecycleConfiguration")


INVALID = [
    ("no rules", [], (400, "MalformedXML")),
    ("no action", [rule("a")], (400, "InvalidRequest")),
    ("id too long", [rule("x" * 256, Expiration={"Days": 1})], (400, "InvalidArgument")),
    ("duplicate ids", [rule("a", Expiration={"Days": 1}), rule("a", Expiration={"Days": 2})],
     (400, "InvalidArgument")),
    ("zero days", [rule("a", Expiration={"Days": 0})], (400, "InvalidArgument")),
    ("negative noncurrent days", [rule("a", NoncurrentVersionExpiration={"NoncurrentDays": -1})],
     (400, "InvalidArgument")),
    ("too many newer noncurrent versions",
     [rule("a", NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 101})],
     (400, "InvalidArgument")),
    ("zero days after initiation", [rule("a", AbortIncompleteMultipartUpload={"DaysAfterInitiation": 0})],
     (400, "InvalidArgument")),
    ("date not at midnight", [rule("a", Expiration={"Date": dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone.utc)})],
     (400, "InvalidArgument")),
    ("days and date", [rule("a", Expiration={"Days": 1, "Date": dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)})],
     (400, "MalformedXML")),
    ("delete markers with days", [rule("a", Expiration={"Days": 1, "ExpiredObjectDeleteMarker": True})],
     (400, "InvalidArgument")),
    ("delete markers with a tag filter",
     [rule("a", Filter={"Tag": {"Key": "k", "Value": "v"}}, Expiration={"ExpiredObjectDeleteMarker": True})],
     (400, "InvalidRequest")),
    ("abort with a tag filter",
     [rule("a", Filter={"Tag": {"Key": "k", "Value": "v"}}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})],
     (400, "InvalidRequest")),
    ("two conditions in a filter",
     [rule("a", Filter={"Prefix": "p/", "Tag": {"Key": "k", "Value": "v"}}, Expiration={"Days": 1})],
     (400, "MalformedXML")),
    ("prefix and filter", [dict(rule("a", Expiration={"Days": 1}), Prefix="p/")], (400, "MalformedXML")),
    ("neither prefix nor filter", [{"ID": "a", "Status": "Enabled", "Expiration": {"Days": 1}}],
     (400, "MalformedXML")),
    ("bad status", [dict(rule("a", Expiration={"Days": 1}), Status="Sometimes")], (400, "MalformedXML")),
    ("sizes crossed", [rule("a", Filter={"And": {"ObjectSizeGreaterThan": 100, "ObjectSizeLessThan": 100}},
                            Expiration={"Days": 1})], (400, "InvalidArgument")),
    ("transition", [rule("a", Transitions=[{"Days": 30, "StorageClass": "GLACIER"}])], (501, "NotImplemented")),
]


@pytest.mark.parametrize("case,rules,expected", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_configurations_get_aws_s_errors_and_change_nothing(s3c, bucket, case, rules, expected):
    put_rules(s3c, bucket, rule("kept", Expiration={"Days": 9}))
    with pytest.raises(ClientError) as e:
        s3c.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert err(e.value) == expected, (case, e.value.response)
    got = s3c.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["kept"], "a refused configuration leaves the previous one"


def expected_expiry(last_modified: dt.datetime, days: int) -> dt.datetime:
    """AWS's rule: creation plus the days, rounded up to the next midnight UTC."""
    end = last_modified + dt.timedelta(days=days)
    midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == end else midnight + dt.timedelta(days=1)


def parse_expiration(value: str) -> tuple[dt.datetime, str]:
    date = value.split('expiry-date="', 1)[1].split('"', 1)[0]
    rule_id = value.split('rule-id="', 1)[1].split('"', 1)[0]
    when = dt.datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.timezone.utc)
    return when, rule_id


def test_objects_a_rule_will_expire_say_when_on_put_head_and_get(s3c, bucket):
    # Goal: x-amz-expiration names the date and the rule that will expire an object, on
    # PUT, HEAD and GET, and only on objects a rule selects (prefix, tags).
    put_rules(s3c, bucket,
              rule("tmp-3d", Filter={"Prefix": "tmp/"}, Expiration={"Days": 3}),
              rule("scratch-1d", Filter={"Tag": {"Key": "class", "Value": "scratch"}}, Expiration={"Days": 1}),
              rule("off", Status="Disabled", Filter={"Prefix": ""}, Expiration={"Days": 1}))
    put = s3c.put_object(Bucket=bucket, Key="tmp/a", Body=b"x")
    head = s3c.head_object(Bucket=bucket, Key="tmp/a")
    when, rule_id = parse_expiration(put["Expiration"])
    assert rule_id == "tmp-3d"
    assert when == expected_expiry(head["LastModified"], 3)
    assert parse_expiration(head["Expiration"]) == (when, "tmp-3d")
    assert parse_expiration(s3c.get_object(Bucket=bucket, Key="tmp/a")["Expiration"]) == (when, "tmp-3d")
    # The earliest rule that selects the object names it.
    s3c.put_object(Bucket=bucket, Key="tmp/b", Body=b"x", Tagging="class=scratch")
    assert parse_expiration(s3c.head_object(Bucket=bucket, Key="tmp/b")["Expiration"])[1] == "scratch-1d"
    s3c.put_object(Bucket=bucket, Key="keep/c", Body=b"x")
    assert "Expiration" not in s3c.head_object(Bucket=bucket, Key="keep/c")
    # Copies and completed multipart uploads say it too.
    copied = s3c.copy_object(Bucket=bucket, Key="tmp/copy", CopySource={"Bucket": bucket, "Key": "keep/c"})
    assert parse_expiration(copied["Expiration"])[1] == "tmp-3d"
    assert "Expiration" not in s3c.copy_object(Bucket=bucket, Key="keep/copy",
                                               CopySource={"Bucket": bucket, "Key": "tmp/a"})
    upload = s3c.create_multipart_upload(Bucket=bucket, Key="tmp/multi")["UploadId"]
    part = s3c.upload_part(Bucket=bucket, Key="tmp/multi", UploadId=upload, PartNumber=1, Body=b"m")
    done = s3c.complete_multipart_upload(Bucket=bucket, Key="tmp/multi", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    when, rule_id = parse_expiration(done["Expiration"])
    assert rule_id == "tmp-3d"
    assert when == expected_expiry(s3c.head_object(Bucket=bucket, Key="tmp/multi")["LastModified"], 3)
    s3c.delete_bucket_lifecycle(Bucket=bucket)
    assert "Expiration" not in s3c.head_object(Bucket=bucket, Key="tmp/a")


# --------------------------------------------------------------------------
# the worker (a server of its own, with a one-second lifecycle day)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lc_server(tmp_path_factory):
    yield from coffre_server.serve(
        tmp_path_factory, Server, "coffre-lifecycle", extra_env={"COFFRE_TEST_ONLY_LIFECYCLE_DAY_SECONDS": "1"},
    )


@pytest.fixture(scope="module")
def lc(lc_server):
    return s3_client(lc_server, Keys(lc_server.access_key, lc_server.secret_key))


def keys_of(s3, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_expiration_deletes_what_its_rule_selects_and_is_audited(lc_server, lc):
    # Goal: in a bucket without versioning, Expiration deletes the objects its filter selects
    # (here: a prefix), leaves the others, and each deletion is on the audit trail as the
    # lifecycle principal's, under the bucket owner's tenant.
    bucket = name()
    lc.create_bucket(Bucket=bucket)
    for key in ("old/a", "old/b", "keep/c"):
        lc.put_object(Bucket=bucket, Key=key, Body=b"data")
    put_rules(lc, bucket, rule("old", Filter={"Prefix": "old/"}, Expiration={"Days": 1}))
    wait_for("old/ to expire", lambda: keys_of(lc, bucket) == {"keep/c"})
    assert lc.get_object(Bucket=bucket, Key="keep/c")["Body"].read() == b"data"

    def recorded():
        return [r for r in audit_records(lc_server)
                if r.get("bucket") == bucket and r["operation"] == "LifecycleExpiration"]
    records = wait_for("the lifecycle audit records", lambda: len(recorded()) == 2 and recorded())
    assert sorted(r["key"] for r in records) == ["old/a", "old/b"]
    for r in records:
        assert r["interface"] == "lifecycle" and r["status"] == 200
        assert r["actor"] == {"kind": "system", "user": "lifecycle"}
        assert r["tenant"] == coffre_server.TENANT and r["note"] == "lifecycle rule old"
    status = lifecycle_status(lc_server)
    assert status["counters"].get("expired", 0) >= 2 and status["state"] in ("idle", "running", "throttled")


def test_versioned_expiration_hides_behind_markers_and_noncurrent_versions_go_but_the_newest(lc_server, lc):
    # Goal: with versioning on, Expiration writes a delete marker (the data stays as a
    # noncurrent version); NoncurrentVersionExpiration removes noncurrent versions but the
    # NewerNoncurrentVersions newest; the marker, with a version behind it, stays.
    bucket = name()
    lc.create_bucket(Bucket=bucket)
    lc.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [lc.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)]
    put_rules(lc, bucket, rule("all", Expiration={"Days": 1},
                                NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 1}))

    def settled():
        v = versions_of(lc, bucket, "k")
        return v if len(v) == 2 and v[0][1] and v[1] == (ids[2], False) else None
    wait_for("a marker over the newest version only", settled)
    wait_passes(lc_server)
    assert len(versions_of(lc, bucket, "k")) == 2, "the kept noncurrent version and its marker stay"
    got = lc.get_object(Bucket=bucket, Key="k", VersionId=ids[2])["Body"].read()
    assert got == b"v2"
    with pytest.raises(ClientError) as e:
        lc.head_object(Bucket=bucket, Key="k")
    assert err(e.value)[0] == 404


def test_lone_delete_markers_are_removed_and_markers_with_versions_stay(lc_server, lc):
    bucket = name()
    lc.create_bucket(Bucket=bucket)
    lc.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    lone = lc.put_object(Bucket=bucket, Key="lone", Body=b"x")["VersionId"]
    lc.delete_object(Bucket=bucket, Key="lone")
    lc.delete_object(Bucket=bucket, Key="lone", VersionId=lone)
    lc.put_object(Bucket=bucket, Key="backed", Body=b"y")
    lc.delete_object(Bucket=bucket, Key="backed")
    assert [m for _, m in versions_of(lc, bucket, "lone")] == [True]
    put_rules(lc, bucket, rule("markers", Expiration={"ExpiredObjectDeleteMarker": True}))
    wait_for("the lone marker to go", lambda: versions_of(lc, bucket, "lone") == [])
    wait_passes(lc_server)
    assert [m for _, m in versions_of(lc, bucket, "backed")] == [True, False]


def test_incomplete_uploads_are_aborted(lc_server, lc):
    bucket = name()
    lc.create_bucket(Bucket=bucket)
    upload = lc.create_multipart_upload(Bucket=bucket, Key="big/file")["UploadId"]
    lc.upload_part(Bucket=bucket, Key="big/file", UploadId=upload, PartNumber=1, Body=b"p" * 1024)
    other = lc.create_multipart_upload(Bucket=bucket, Key="other/file")["UploadId"]
    put_rules(lc, bucket, rule("abort", Filter={"Prefix": "big/"}, AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1}))

    def uploads():
        return {u["UploadId"] for u in lc.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}
    wait_for("the upload to be aborted", lambda: uploads() == {other})
    with pytest.raises(ClientError) as e:
        lc.list_parts(Bucket=bucket, Key="big/file", UploadId=upload)
    assert err(e.value) == (404, "NoSuchUpload")
    lc.abort_multipart_upload(Bucket=bucket, Key="other/file", UploadId=other)


def test_a_locked_version_survives_its_rule(lc_server, lc):
    # Goal: lifecycle never removes a version Object Lock keeps, whatever its rule says;
    # an unlocked version under the same rule goes.
    bucket = name("lclock")
    lc.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    locked = lc.put_object(Bucket=bucket, Key="locked", Body=b"evidence", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=until)["VersionId"]
    held = lc.put_object(Bucket=bucket, Key="held", Body=b"hold", ObjectLockLegalHoldStatus="ON")["VersionId"]
    free = lc.put_object(Bucket=bucket, Key="free", Body=b"old")["VersionId"]
    for key in ("locked", "held", "free"):
        lc.put_object(Bucket=bucket, Key=key, Body=b"newer")
    put_rules(lc, bucket, rule("noncurrent", NoncurrentVersionExpiration={"NoncurrentDays": 1}))
    wait_for("the unlocked noncurrent version to go",
             lambda: free not in [v for v, _ in versions_of(lc, bucket, "free")])
    wait_passes(lc_server)
    assert locked in [v for v, _ in versions_of(lc, bucket, "locked")]
    assert held in [v for v, _ in versions_of(lc, bucket, "held")]
    assert lc.get_object(Bucket=bucket, Key="locked", VersionId=locked)["Body"].read() == b"evidence"
    assert lifecycle_status(lc_server)["counters"].get("kept_locked", 0) >= 2
    lc.put_object_legal_hold(Bucket=bucket, Key="held", VersionId=held, LegalHold={"Status": "OFF"})
    wait_for("the released version to go", lambda: held not in [v for v, _ in versions_of(lc, bucket, "held")])


def test_every_background_worker_reports_its_status_to_operators(lc_server):
    # Goal: no background work is anonymous: operators see each worker, its state and what it
    # did; tenants do not.
    status = lifecycle_status(lc_server)
    assert status["passes"] >= 1 and status["errors"] == 0, status
    workers = {w["name"]: w for w in json.loads(lc_server.admin("workers").stdout)}
    assert set(workers) == {"garbage-collector", "access-log-delivery", "audit-intent-sweeper", "lifecycle"}
    assert all(w["state"] in ("idle", "running", "throttled") for w in workers.values()), workers
    wait_for("an audit intent sweep", lambda: worker_status(lc_server, "audit-intent-sweeper")["passes"] >= 1)
    tenant_admin = lc_server.admin("workers", env={"COFFRE_ADMIN_ACCESS_KEY": lc_server.access_key,
                                                   "COFFRE_ADMIN_SECRET_KEY": lc_server.secret_key}, check=False)
    assert tenant_admin.returncode != 0, "only operators see the workers"
