"""A local S3-compatible server for the object-storage tests: moto's server mode (the
`moto_server` of moto[server], a dev dependency) on a free port of 127.0.0.1, never the
network. It accepts any credentials; a bucket is made per use.

No Django import at module level (like tests/workers.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REGION = "us-east-1"
ACCESS_KEY = "clinic-test-key"
SECRET_KEY = "clinic-test-secret"  # noqa: S105 - moto accepts any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    program = str(script) if script.exists() else shutil.which("moto_server")
    if program is None:
        raise RuntimeError("moto_server is not installed: pip install -e '.[dev]'")
    return [program, "-H", "127.0.0.1", "-p", str(port)]


class MotoServer:
    def __init__(self, log: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        self.proc = subprocess.Popen(
            _moto_command(self.port),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not answer in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=5),
        )

    def new_bucket(self) -> str:
        name = f"clinic-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_url(self, bucket: str, prefix: str = "media") -> str:
        return (
            f"s3://{ACCESS_KEY}:{SECRET_KEY}@{bucket}/{prefix}"
            f"?endpoint_url={self.endpoint}&region={REGION}"
        )

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents", []))
