"""A local S3-compatible server for tests: moto's server mode in a subprocess on a free 127.0.0.1 port.

A subprocess, not moto's ThreadedMotoServer: delta-rs holds the GIL in some calls, and a server thread
in the same process then cannot answer them.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest


@pytest.fixture(scope="session")
def s3_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # until it answers (or the deadline: the server failed to start)
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("moto_server exited")
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not answer")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def s3_lake(s3_server, monkeypatch):
    """A fresh bucket on the local server, the AWS_* variables pointing at it; the lake's s3:// URL."""
    import boto3

    for key, value in {"AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/pifu"
