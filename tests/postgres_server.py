"""A throwaway PostgreSQL server for the store tests: ``initdb`` in a temporary folder,
listening only on 127.0.0.1 at a free port, with a password-protected superuser, stopped
and removed afterwards.

The server binaries come from the OS package (Debian/Ubuntu: ``apt-get install
postgresql``; they live under /usr/lib/postgresql/<version>/bin); where they are missing
the tests that need the server skip with that reason. PostgreSQL refuses to run as root:
under root the server runs as the ``postgres`` system user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "bench"
# a password with characters that need quoting in a URL, so masking is tested on them
PASSWORD = "s3cret-pw@x:1"


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path, folder: Path, port: int, run_as: str | None) -> None:
        self.bin_dir, self.folder, self.port, self.run_as = bin_dir, folder, port, run_as

    def _cmd(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        from sqlalchemy.engine import URL

        return URL.create(
            driver,
            username=USER,
            password=PASSWORD,
            host="127.0.0.1",
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=PASSWORD,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server (raises RuntimeError with the reason when it cannot)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root and there is no 'postgres' user to run the server as"
            ) from None
        run_as = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        os.chmod(folder, 0o755)
        data = folder / "data"
        pwfile = folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        server = PostgresServer(bin_dir, folder, _free_port(), run_as)
        quiet = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        done = subprocess.run(
            server._cmd(
                "initdb",
                "-D",
                str(data),
                "-U",
                USER,
                "--pwfile",
                str(pwfile),
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            **quiet,
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stdout.strip()[-500:]}")
        options = f"-h 127.0.0.1 -p {server.port} -k {folder} -c fsync=off -c max_connections=200"
        done = subprocess.run(
            server._cmd(
                "pg_ctl", "-D", str(data), "-o", options, "-w", "-l", str(folder / "log"), "start"
            ),
            **quiet,
        )
        if done.returncode:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout.strip()} {log[-500:]}")
        try:
            yield server
        finally:
            subprocess.run(
                server._cmd("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"), **quiet
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
