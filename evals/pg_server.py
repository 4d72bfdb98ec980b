"""A real PostgreSQL server for the tests: Debian's initdb/pg_ctl, a fresh cluster in a temporary folder, on a
free port, trust authentication on 127.0.0.1 only. `.ci/install-postgres.sh` installs the binaries on a fresh
machine. PostgreSQL refuses to run as root: as root the cluster is made and run by the `postgres` account
the Debian package creates.

The same commands are the deployment's (README, "Run it for an organization"): `initdb`, `pg_ctl start`,
then one database per installation.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian's versioned folder, else PATH)."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    user: str = "isms"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "--encoding=UTF8",
                  "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"isms_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_postgres() -> PostgresServer | None:
    """A running server in a new temporary folder, or None when the binaries are not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="isms-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    server = PostgresServer(bin_dir, root, _free_port())
    for attempt in range(3):  # the free port can be taken between picking and binding it
        try:
            return server.start()
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            shutil.rmtree(server.data, ignore_errors=True)
            server.port = _free_port()
            time.sleep(0.5)
    return None
