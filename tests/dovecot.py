"""A real IMAP server for tests: Debian's dovecot-imapd, configured and run under a temp folder.

Everything dovecot writes (its runtime sockets, state, log, the user's Maildir) lives in the
folder; it listens on a free loopback port with a certificate from a test CA (trustme), so a
system dovecot, if one runs, is never touched. As root the mail processes run as `nobody`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

DOVECOT = Path("/usr/sbin/dovecot")
USER, PASSWORD = "bounces", "imap-test-password"
START_DEADLINE_SECONDS = 30

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
first_valid_uid = {uid}
first_valid_gid = {gid}
default_internal_user = {internal_user}
default_login_user = {login_user}
mail_location = maildir:~/Maildir
mail_home = {root}/home/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass
class ImapServer:
    host: str
    port: int
    username: str
    password: str
    ca_file: Path
    maildir: Path

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_dovecot() -> Iterator[ImapServer]:
    """Start dovecot under a fresh temp folder; stop it and remove the folder afterwards."""
    if not DOVECOT.exists():
        if os.environ.get("CI"):
            pytest.fail("dovecot-imapd must be installed in CI (see .ci/run)")
        pytest.skip("dovecot-imapd is not installed")
    # Not under pytest's tmp_path: dovecot's unprivileged processes must reach it.
    root = Path(tempfile.mkdtemp(prefix="publisher-dovecot-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        mail_user = pwd.getpwnam("nobody")
        internal_user, login_user = "dovecot", "dovenull"
    else:
        mail_user = pwd.getpwuid(os.geteuid())
        internal_user = login_user = mail_user.pw_name
    process = None
    try:
        authority = trustme.CA()
        certificate = authority.issue_cert("127.0.0.1", "localhost")
        certificate.private_key_pem.write_to_path(str(root / "key.pem"))
        certificate.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
        authority.cert_pem.write_to_path(str(root / "ca.pem"))
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        home = root / "home" / USER
        home.mkdir(parents=True)
        os.chown(home, mail_user.pw_uid, mail_user.pw_gid)
        port = _free_port()
        (root / "dovecot.conf").write_text(
            CONFIG.format(
                root=root,
                port=port,
                uid=mail_user.pw_uid,
                gid=mail_user.pw_gid,
                internal_user=internal_user,
                login_user=login_user,
            )
        )
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        _wait_until_listening(port, process, root)
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, root / "ca.pem", home / "Maildir")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"dovecot exited {process.returncode}: {output}{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on port {port} within {START_DEADLINE_SECONDS}s")
