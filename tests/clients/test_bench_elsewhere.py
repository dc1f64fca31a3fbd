"""`coffre bench` is a load generator for any S3 endpoint, not only Coffre: its workloads run
against another implementation (moto's S3 server, started here on loopback) and report
their operations without errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request

import pytest

from coffre_server import free_port, require_binary

WORKLOADS = [
    ["--workload", "put", "--ops", "30"],
    ["--workload", "get", "--ops", "30", "--keys", "10"],
    ["--workload", "mixed", "--ops", "40", "--keys", "10"],
    ["--workload", "list", "--ops", "2", "--keys", "50", "--size", "0"],
    ["--workload", "delete", "--keys", "10"],
    # Not `multipart`: moto answers CompleteMultipartUpload with a root element AWS does not
    # use (CompleteMultipartUploadResponse), which aws-sdk-s3 rightly refuses to read.
]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    moto = shutil.which("moto_server")
    assert moto, "moto_server missing: run scripts/install-test-deps.sh"
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except OSError:
                assert proc.poll() is None, "moto_server exited"
                time.sleep(0.1)  # start-up poll interval, bounded by the loop
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w[1])
def test_bench_workloads_run_against_another_s3_implementation(moto_endpoint, workload):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    env.pop("AWS_PROFILE", None)
    out = subprocess.run(
        [str(require_binary()), "bench", "--endpoint", moto_endpoint, "--json", "--concurrency", "4", *workload],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["report"]
    assert report["errors"] == 0, report
    assert report["operations"] >= 2, report
    if workload[1] == "list":
        assert report["keys_listed"] == 2 * 50, "a full and a delimiter listing, 50 keys each"
