"""Real reminder workers for tests and bench/faults.py: `celery worker` processes against a
given database and broker, and a private redis-server that can be killed and restarted.

No Django import at module level: the fault script loads this before it sets Django up.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition, timeout=60.0, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


class Workers:
    """Start and stop `celery worker` processes against one database.

    Email goes through Django's file backend (tests.backends.SlowFileEmailBackend) into
    `mail/` unless the caller's environment says otherwise, so what each worker delivered can
    be counted: every message carries its reminder id.
    """

    def __init__(self, tmp: Path, *, database_url: str):
        self.tmp = tmp
        self.database_url = database_url
        self.mail = tmp / "mail"
        self.mail.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []

    def start(
        self, name: str, *, broker: str, concurrency: int = 1, wait: bool = True, **env
    ) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        full_env = {
            **os.environ,
            "DEBUG": "1",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": broker,
            "CLINIC_TIME_ZONE": "Europe/Berlin",
            "EMAIL_BACKEND": "tests.backends.SlowFileEmailBackend",
            "EMAIL_FILE_PATH": str(self.mail),
            "SMS_BACKEND": "reminders.channels.LocmemSmsBackend",
            **{k: str(v) for k, v in env.items()},
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "clinic",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={concurrency}",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=full_env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill takes the pool children too
        )
        proc.name = name
        self.procs.append(proc)
        if wait:
            self.wait_ready(proc)
        return proc

    def wait_ready(self, proc) -> None:
        log = self.tmp / f"{proc.name}.log"
        wait_for(lambda: "ready." in log.read_text(), timeout=60, what=f"worker {proc.name} ready")

    def kill(self, proc, sig=signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc.wait(timeout=60)

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    continue
                self.kill(proc, signal.SIGTERM)

    def delivered(self) -> dict[int, int]:
        """How many times each reminder id was written out by any worker."""
        counts: dict[int, int] = {}
        for path in self.mail.glob("*.log"):
            for rid in re.findall(r"^X-Clinic-Reminder: (\d+)$", path.read_text(), re.M):
                counts[int(rid)] = counts.get(int(rid), 0) + 1
        return counts


class RedisServer:
    """A redis-server of one's own on `port` (no persistence), to kill and restart."""

    def __init__(self, port: int, directory: Path):
        if not shutil.which("redis-server"):
            raise RuntimeError(
                "redis-server is not installed; the fault tests need it: "
                "apt-get install redis-server"
            )
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)

        def answers():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, timeout=20, what="private redis")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
