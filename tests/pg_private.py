"""A private, throwaway PostgreSQL cluster for outage tests: initdb + pg_ctl on a free port in a temp folder, as the
postgres user when run as root (like scripts/start-postgres.sh). Tests stop and start it at will; the shared
cluster other tests use is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live_server import free_port


def _bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class PrivateCluster:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://serac@127.0.0.1:{self.port}/serac"

    def _ctl(self, *args: str) -> None:
        command = _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", *args)
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._ctl("-l", str(self.folder / "server.log"), "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are cut, as when the database server goes away."""
        self._ctl("-m", "fast", "stop")

    def psql(self, sql: str, database: str = "postgres") -> None:
        command = _as_postgres(str(self.bin / "psql"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres")
        subprocess.run([*command, "-d", database, "-c", sql], check=True, capture_output=True, timeout=60)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A fresh cluster with a superuser `serac` and a database `serac`, removed afterwards (skips without
    Debian's postgresql server package)."""
    bin_dir = _bin()
    if bin_dir is None or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip("no PostgreSQL server binaries (Debian: postgresql) for a private cluster")
    folder = Path(tempfile.mkdtemp(prefix="serac-pg-private-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    cluster = PrivateCluster(folder, free_port(), bin_dir)
    init = _as_postgres(str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "--auth=trust")
    subprocess.run(init, check=True, capture_output=True, timeout=120)
    cluster.start()
    try:
        cluster.psql("CREATE ROLE serac LOGIN SUPERUSER")
        cluster.psql("CREATE DATABASE serac OWNER serac")
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
