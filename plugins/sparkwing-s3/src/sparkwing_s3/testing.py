"""A local S3 server for tests and benchmarks: moto's threaded server on loopback.

Needs the ``test`` extra (``pip install 'sparkwing-s3[test]'``)::

    with MotoS3() as s3:
        s3.create_bucket("team-ci")
        profile_block = {"type": "s3", "bucket": "team-ci", "endpoint_url": s3.endpoint_url}

moto accepts any credentials; :data:`CREDENTIALS` are the ones the tests put
in the environment. The server runs in a thread of the calling process.
"""

from __future__ import annotations

import logging
from typing import Any

#: Environment for boto3 talking to the local server (moto accepts any keys).
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "sparkwing-test",
    "AWS_SECRET_ACCESS_KEY": "sparkwing-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class MotoS3:
    """moto's S3 server on ``127.0.0.1`` (a free port); a context manager."""

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint_url = ""

    def start(self) -> MotoS3:
        """Start the server; raise when it does not come up."""
        # werkzeug logs every request at INFO; the tests' output stays readable without it.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def client(self) -> Any:
        """A boto3 client for the server (for setting up buckets)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket *name* and return it."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        finally:
            client.close()
        return name

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
