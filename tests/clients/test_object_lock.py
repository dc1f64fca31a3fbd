"""Object Lock with boto3: buckets created with it (and so versioned), default retention,
retention and legal hold per version, and the lock matrix: deleting a locked version by every
S3 path (DELETE by version, DeleteObjects) × {GOVERNANCE without bypass, GOVERNANCE with bypass
but without s3:BypassGovernanceRetention, COMPLIANCE, legal hold} is refused, and the allowed
cases (bypass with the permission, no lock) are allowed. Locked buckets are left to the
session's server: nothing can remove their data, which is the point."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from botocore.exceptions import ClientError

from coffre_server import TENANT
from test_tenancy import Admin, Keys, err, new_key, policy_doc, s3_client


def in_days(days: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)


@pytest.fixture(scope="module")
def admin(server):
    return s3_client(server, Keys(server.access_key, server.secret_key))


@pytest.fixture
def locked_bucket(admin):
    name = f"lock-{uuid.uuid4().hex[:16]}"
    admin.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture(scope="module")
def no_bypass(server):
    """A user of the tests tenant who may delete versions but not bypass GOVERNANCE."""
    user = f"nobypass-{uuid.uuid4().hex[:8]}"
    tenant_admin = Admin(server, keys=Keys(server.access_key, server.secret_key))
    tenant_admin("user", "create", TENANT, user, "--role", "member")
    policy = policy_doc({"Effect": "Allow", "Resource": "*", "Action": [
        "s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion",
        "s3:ListBucket", "s3:ListBucketVersions", "s3:PutObjectRetention", "s3:GetObjectRetention"]})
    tenant_admin("policy", "put", TENANT, user, "main", "--document", policy)
    return s3_client(server, new_key(tenant_admin("key", "create", TENANT, user)))


def refused(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as e:
        call()
    return err(e.value)


def test_a_bucket_created_with_object_lock_is_versioned_for_good(admin, locked_bucket):
    assert admin.get_bucket_versioning(Bucket=locked_bucket)["Status"] == "Enabled"
    config = admin.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"]
    assert config["ObjectLockEnabled"] == "Enabled"
    assert refused(lambda: admin.put_bucket_versioning(
        Bucket=locked_bucket, VersioningConfiguration={"Status": "Suspended"})) == (409, "InvalidBucketState")


def test_object_lock_needs_versioning_and_can_be_enabled_on_a_versioned_bucket(admin):
    name = f"lock-{uuid.uuid4().hex[:16]}"
    admin.create_bucket(Bucket=name)
    config = {"ObjectLockEnabled": "Enabled"}
    assert refused(lambda: admin.put_object_lock_configuration(
        Bucket=name, ObjectLockConfiguration=config)) == (409, "InvalidBucketState")
    assert refused(lambda: admin.get_object_lock_configuration(Bucket=name)) == (
        404, "ObjectLockConfigurationNotFoundError")
    admin.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    admin.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=config)
    assert admin.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"


def test_default_retention_applies_to_new_versions(admin, locked_bucket):
    admin.put_object_lock_configuration(Bucket=locked_bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}})
    rule = admin.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"]["Rule"]
    assert rule["DefaultRetention"] == {"Mode": "COMPLIANCE", "Days": 2}
    vid = admin.put_object(Bucket=locked_bucket, Key="backup", Body=b"data")["VersionId"]
    head = admin.head_object(Bucket=locked_bucket, Key="backup", VersionId=vid)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert in_days(1.9) < head["ObjectLockRetainUntilDate"] < in_days(2.1)
    assert refused(lambda: admin.delete_object(Bucket=locked_bucket, Key="backup", VersionId=vid)) == (
        403, "AccessDenied")
    for bad in ({"Mode": "COMPLIANCE"}, {"Mode": "COMPLIANCE", "Days": 1, "Years": 1},
                {"Mode": "SOMETIMES", "Days": 1}):
        status, _ = refused(lambda: admin.put_object_lock_configuration(Bucket=locked_bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": bad}}))
        assert status == 400, bad


def test_compliance_is_extended_never_weakened(admin, locked_bucket):
    until = in_days(1)
    vid = admin.put_object(Bucket=locked_bucket, Key="k", Body=b"x", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=until)["VersionId"]
    got = admin.get_object_retention(Bucket=locked_bucket, Key="k", VersionId=vid)["Retention"]
    assert got["Mode"] == "COMPLIANCE" and abs((got["RetainUntilDate"] - until).total_seconds()) < 1
    for weaker in ({"Mode": "COMPLIANCE", "RetainUntilDate": in_days(0.5)},
                   {"Mode": "GOVERNANCE", "RetainUntilDate": in_days(2)}):
        assert refused(lambda: admin.put_object_retention(
            Bucket=locked_bucket, Key="k", VersionId=vid, Retention=weaker,
            BypassGovernanceRetention=True)) == (403, "AccessDenied"), weaker
    admin.put_object_retention(Bucket=locked_bucket, Key="k", VersionId=vid,
                               Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(3)})
    assert admin.get_object_retention(Bucket=locked_bucket, Key="k", VersionId=vid)["Retention"][
        "RetainUntilDate"] > in_days(2.9)
    assert refused(lambda: admin.put_object_retention(
        Bucket=locked_bucket, Key="k", VersionId=vid,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(-1)})) == (400, "InvalidArgument")


@pytest.mark.parametrize("lock", ["governance", "compliance", "legal-hold"])
def test_the_lock_matrix_refuses_every_delete_of_a_locked_version(admin, no_bypass, locked_bucket, lock):
    kwargs = {"legal-hold": {"ObjectLockLegalHoldStatus": "ON"},
              "governance": {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": in_days(1)},
              "compliance": {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": in_days(1)}}[lock]
    vid = admin.put_object(Bucket=locked_bucket, Key="locked", Body=b"keep me", **kwargs)["VersionId"]
    attempts = {
        "delete by version": lambda s3, bypass: s3.delete_object(
            Bucket=locked_bucket, Key="locked", VersionId=vid, BypassGovernanceRetention=bypass),
        "DeleteObjects": lambda s3, bypass: s3.delete_objects(
            Bucket=locked_bucket, BypassGovernanceRetention=bypass,
            Delete={"Objects": [{"Key": "locked", "VersionId": vid}]}),
    }
    callers = [("admin without bypass", admin, False), ("user with bypass, no permission", no_bypass, True)]
    if lock != "governance":
        callers.append(("admin with bypass", admin, True))
    for path, attempt in attempts.items():
        for who, s3, bypass in callers:
            try:
                out = attempt(s3, bypass)
            except ClientError as e:
                assert err(e) == (403, "AccessDenied"), (path, who)
            else:
                errors = out.get("Errors", [])
                assert [e["Code"] for e in errors] == ["AccessDenied"], (path, who, out)
            assert admin.get_object(Bucket=locked_bucket, Key="locked", VersionId=vid)["Body"].read() == b"keep me"
    # A delete without a version only hides it behind a marker; the version stays.
    assert admin.delete_object(Bucket=locked_bucket, Key="locked")["DeleteMarker"] is True
    assert admin.get_object(Bucket=locked_bucket, Key="locked", VersionId=vid)["Body"].read() == b"keep me"
    if lock == "governance":
        # Allowed: the bypass, by a caller with s3:BypassGovernanceRetention (the tenant admin).
        admin.delete_object(Bucket=locked_bucket, Key="locked", VersionId=vid, BypassGovernanceRetention=True)
        assert refused(lambda: admin.head_object(Bucket=locked_bucket, Key="locked", VersionId=vid))[0] == 404
    if lock == "legal-hold":
        # Allowed once the hold is lifted.
        admin.put_object_legal_hold(Bucket=locked_bucket, Key="locked", VersionId=vid, LegalHold={"Status": "OFF"})
        assert admin.get_object_legal_hold(Bucket=locked_bucket, Key="locked", VersionId=vid)["LegalHold"][
            "Status"] == "OFF"
        admin.delete_object(Bucket=locked_bucket, Key="locked", VersionId=vid)


def test_governance_is_shortened_only_with_a_permitted_bypass(admin, no_bypass, locked_bucket):
    vid = admin.put_object(Bucket=locked_bucket, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                           ObjectLockRetainUntilDate=in_days(2))["VersionId"]
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": in_days(1)}
    assert refused(lambda: admin.put_object_retention(
        Bucket=locked_bucket, Key="g", VersionId=vid, Retention=shorter)) == (403, "AccessDenied")
    assert refused(lambda: no_bypass.put_object_retention(
        Bucket=locked_bucket, Key="g", VersionId=vid, Retention=shorter,
        BypassGovernanceRetention=True)) == (403, "AccessDenied")
    admin.put_object_retention(Bucket=locked_bucket, Key="g", VersionId=vid, Retention=shorter,
                               BypassGovernanceRetention=True)
    assert admin.get_object_retention(Bucket=locked_bucket, Key="g", VersionId=vid)["Retention"][
        "RetainUntilDate"] < in_days(1.1)
    # Strengthening needs no bypass: GOVERNANCE to COMPLIANCE.
    admin.put_object_retention(Bucket=locked_bucket, Key="g", VersionId=vid,
                               Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(1.5)})


def test_lock_settings_need_a_bucket_with_object_lock(admin):
    name = f"nolock-{uuid.uuid4().hex[:16]}"
    admin.create_bucket(Bucket=name)
    admin.put_object(Bucket=name, Key="k", Body=b"x")
    assert refused(lambda: admin.put_object(Bucket=name, Key="k2", Body=b"x", ObjectLockLegalHoldStatus="ON")) == (
        400, "InvalidRequest")
    assert refused(lambda: admin.put_object_legal_hold(Bucket=name, Key="k", LegalHold={"Status": "ON"})) == (
        400, "InvalidRequest")
    admin.delete_object(Bucket=name, Key="k")
    admin.delete_bucket(Bucket=name)


def test_copies_and_multipart_uploads_take_the_lock_they_name(admin, locked_bucket):
    admin.put_object(Bucket=locked_bucket, Key="src", Body=b"source", ObjectLockLegalHoldStatus="ON")
    until = in_days(1)
    copied = admin.copy_object(Bucket=locked_bucket, Key="copy", CopySource={"Bucket": locked_bucket, "Key": "src"},
                               ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    head = admin.head_object(Bucket=locked_bucket, Key="copy", VersionId=copied["VersionId"])
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert "ObjectLockLegalHoldStatus" not in head, "the copy gets the lock it names, not the source's"
    upload = admin.create_multipart_upload(Bucket=locked_bucket, Key="mp", ObjectLockMode="COMPLIANCE",
                                           ObjectLockRetainUntilDate=until)["UploadId"]
    part = admin.upload_part(Bucket=locked_bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    done = admin.complete_multipart_upload(Bucket=locked_bucket, Key="mp", UploadId=upload,
                                           MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    head = admin.head_object(Bucket=locked_bucket, Key="mp", VersionId=done["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert refused(lambda: admin.delete_object(Bucket=locked_bucket, Key="mp", VersionId=done["VersionId"])) == (
        403, "AccessDenied")


def test_a_retention_set_while_a_delete_races_it_is_never_lost(admin, locked_bucket):
    """A retention change and a delete of the same version are ordered by the commit: either
    the delete wins and the retention finds no version, or the retention wins and the version
    stays. Never an acknowledged retention on a deleted version."""
    from concurrent.futures import ThreadPoolExecutor

    for i in range(20):
        key = f"race-{i}"
        vid = admin.put_object(Bucket=locked_bucket, Key=key, Body=b"x")["VersionId"]

        def retain():
            try:
                admin.put_object_retention(Bucket=locked_bucket, Key=key, VersionId=vid,
                                           Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(1)})
                return True
            except ClientError as e:
                assert err(e) == (404, "NoSuchVersion"), e.response
                return False

        def delete():
            try:
                admin.delete_object(Bucket=locked_bucket, Key=key, VersionId=vid)
                return True
            except ClientError as e:
                assert err(e) == (403, "AccessDenied"), e.response
                return False

        with ThreadPoolExecutor(2) as pool:
            retained, deleted = pool.submit(retain), pool.submit(delete)
            retained, deleted = retained.result(), deleted.result()
        assert retained != deleted, (i, retained, deleted)
        if retained:
            assert admin.head_object(Bucket=locked_bucket, Key=key, VersionId=vid)["ObjectLockMode"] == "COMPLIANCE"


def test_an_immutable_backup_flow_as_veeam_drives_it(admin):
    """Checks the bucket's versioning and lock configuration, writes backup files under a short
    COMPLIANCE retention, extends the retention of those still needed, lists the versions,
    then deletes the versions whose retention has ended: the extended ones stay."""
    import time

    bucket = f"veeam-{uuid.uuid4().hex[:16]}"
    admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    assert admin.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert admin.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    short = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    written = {}
    for i in range(5):
        out = admin.put_object(Bucket=bucket, Key=f"Backup Job/file-{i}.vbk", Body=f"block {i}".encode(),
                               ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=short)
        written[f"Backup Job/file-{i}.vbk"] = out["VersionId"]
    kept = ["Backup Job/file-0.vbk", "Backup Job/file-3.vbk"]
    for key in kept:
        admin.put_object_retention(Bucket=bucket, Key=key, VersionId=written[key],
                                   Retention={"Mode": "COMPLIANCE", "RetainUntilDate": in_days(1)})
    listed = admin.list_object_versions(Bucket=bucket, Prefix="Backup Job/")["Versions"]
    assert {(v["Key"], v["VersionId"]) for v in listed} == set(written.items())
    for key, vid in written.items():
        assert refused(lambda: admin.delete_object(Bucket=bucket, Key=key, VersionId=vid)) == (403, "AccessDenied")
    # The retention ends by the server's clock: wait for that instant (plus a second of margin).
    while dt.datetime.now(dt.timezone.utc) < short + dt.timedelta(seconds=1):
        time.sleep(0.2)
    result = admin.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": k, "VersionId": v} for k, v in written.items()]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(set(written) - set(kept))
    assert sorted((e["Key"], e["Code"]) for e in result["Errors"]) == [(k, "AccessDenied") for k in sorted(kept)]
    remaining = admin.list_object_versions(Bucket=bucket)["Versions"]
    assert sorted(v["Key"] for v in remaining) == sorted(kept)


def test_naming_a_version_needs_the_version_action_and_only_it(server, admin):
    """As in AWS: GET by versionId needs s3:GetObjectVersion (not s3:GetObject), DELETE by
    versionId s3:DeleteObjectVersion (not s3:DeleteObject), and the other way round."""
    bucket = f"vact-{uuid.uuid4().hex[:16]}"
    admin.create_bucket(Bucket=bucket)
    admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    vid = admin.put_object(Bucket=bucket, Key="k", Body=b"v1")["VersionId"]
    tenant_admin = Admin(server, keys=Keys(server.access_key, server.secret_key))

    def user_with(*actions):
        name = f"va-{uuid.uuid4().hex[:8]}"
        tenant_admin("user", "create", TENANT, name, "--role", "member")
        policy = policy_doc({"Effect": "Allow", "Action": list(actions), "Resource": f"arn:aws:s3:::{bucket}/*"})
        tenant_admin("policy", "put", TENANT, name, "main", "--document", policy)
        return s3_client(server, new_key(tenant_admin("key", "create", TENANT, name)))

    versions_only = user_with("s3:GetObjectVersion", "s3:DeleteObjectVersion")
    current_only = user_with("s3:GetObject", "s3:DeleteObject")
    assert versions_only.get_object(Bucket=bucket, Key="k", VersionId=vid)["Body"].read() == b"v1"
    assert refused(lambda: versions_only.get_object(Bucket=bucket, Key="k")) == (403, "AccessDenied")
    assert current_only.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v1"
    assert refused(lambda: current_only.get_object(Bucket=bucket, Key="k", VersionId=vid)) == (403, "AccessDenied")
    assert refused(lambda: current_only.delete_object(Bucket=bucket, Key="k", VersionId=vid)) == (403, "AccessDenied")
    assert refused(lambda: versions_only.delete_object(Bucket=bucket, Key="k")) == (403, "AccessDenied")
    assert current_only.delete_object(Bucket=bucket, Key="k")["DeleteMarker"] is True
    versions_only.delete_object(Bucket=bucket, Key="k", VersionId=vid)
    assert refused(lambda: admin.head_object(Bucket=bucket, Key="k", VersionId=vid))[0] == 404


def test_no_bucket_or_tenant_removal_takes_a_locked_version_with_it(server):
    # Goal: the lock holds on the paths that remove whole buckets and tenants: DeleteBucket
    # of a bucket holding a locked version (behind a delete marker, even) is refused, and so
    # is the admin API's deletion of the tenant that owns it; the version reads back after.
    root = Admin(server)
    tenant = f"lockten-{uuid.uuid4().hex[:8]}"
    owner = s3_client(server, new_key(root("tenant", "create", tenant, "--admin-user", "admin")))
    bucket = f"lockgone-{uuid.uuid4().hex[:12]}"
    owner.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    version = owner.put_object(Bucket=bucket, Key="evidence", Body=b"kept", ObjectLockMode="COMPLIANCE",
                               ObjectLockRetainUntilDate=in_days(1))["VersionId"]
    owner.delete_object(Bucket=bucket, Key="evidence")
    assert refused(lambda: owner.delete_bucket(Bucket=bucket)) == (409, "BucketNotEmpty")
    assert refused(lambda: owner.delete_object(Bucket=bucket, Key="evidence", VersionId=version)) == (
        403, "AccessDenied")
    p = root.run("tenant", "delete", tenant)
    assert p.returncode != 0 and bucket in (p.stdout + p.stderr), "a tenant owning buckets is not deleted"
    assert owner.get_object(Bucket=bucket, Key="evidence", VersionId=version)["Body"].read() == b"kept"
