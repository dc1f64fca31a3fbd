"""ListObjectVersions over thousands of versions and delete markers (issue 16): the aws CLI
pages through them 100 at a time and gets every entry once, in the order AWS documents
(keys ascending; within a key, newest first), with IsLatest on exactly the newest."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

KEYS = 60
WRITES = 2400


def test_thousands_of_versions_page_in_aws_order_through_the_aws_cli(aws, s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rng = random.Random(16)
    keys = [f"data/{i:03d}" for i in range(KEYS)]
    plan = [(rng.choice(keys), rng.random() < 0.2) for _ in range(WRITES)]

    def write(key_and_delete):
        key, delete = key_and_delete
        if delete:
            out = s3.delete_object(Bucket=bucket, Key=key)
            return key, out["VersionId"], True
        return key, s3.put_object(Bucket=bucket, Key=key, Body=b"v")["VersionId"], False

    # Writes to one key run one after another (one key per worker), so each key's write order
    # is known; keys are written concurrently.
    by_key: dict[str, list] = {k: [] for k in keys}
    for key, delete in plan:
        by_key[key].append((key, delete))
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = dict(zip(keys, pool.map(lambda k: [write(w) for w in by_key[k]], keys)))
    expected = []
    for key in sorted(keys):
        rows = list(reversed(written[key]))  # newest first
        expected.extend((key, vid, marker, i == 0) for i, (_, vid, marker) in enumerate(rows))
    assert len(expected) == WRITES

    out = aws.json("s3api", "list-object-versions", "--bucket", bucket, "--page-size", "100")
    versions = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in out.get("Versions", [])]
    markers = [(m["Key"], m["VersionId"], True, m["IsLatest"]) for m in out.get("DeleteMarkers", [])]
    # The CLI gathers versions and markers in separate lists; their merge by (key, newest
    # first) is AWS's order, which each list must already follow.
    assert versions == [e for e in expected if not e[2]]
    assert markers == [e for e in expected if e[2]]
    # Pages by hand, with the markers the CLI would send: never a repeat, never a gap.
    seen, key_marker, version_marker = [], None, None
    while True:
        args = {"Bucket": bucket, "MaxKeys": 137}
        if key_marker:
            args.update(KeyMarker=key_marker, VersionIdMarker=version_marker)
        page = s3.list_object_versions(**args)
        entries = [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
        entries += [(m["Key"], m["VersionId"], True, m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        seen.extend(sorted(entries, key=lambda e: (e[0], e[1])))
        if not page["IsTruncated"]:
            break
        key_marker, version_marker = page["NextKeyMarker"], page["NextVersionIdMarker"]
    assert seen == expected
