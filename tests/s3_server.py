"""A real S3-compatible server on loopback (moto's standalone server), for staging tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

ACCESS_KEY = "s3-test-access"
SECRET_KEY = "s3-test-secret-55aa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def s3_server(bucket: str) -> Iterator[str]:
    """Serve S3 on a free loopback port with `bucket` created; yields the endpoint URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=bucket)
        yield url
    finally:
        server.stop()
