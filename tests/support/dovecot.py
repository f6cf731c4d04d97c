"""A real IMAP server for the bounce mailbox tests: Debian's dovecot (package dovecot-imapd), on
127.0.0.1 and a free port, IMAPS only, with a self-signed certificate made for the test, one user
with a password, maildir storage and its log in a folder of its own. Started in the foreground
(`dovecot -F -c CONF`) and stopped by its PID.

Dovecot refuses to give mail access to root: started as root, its internal processes run as
Debian's `dovecot` user, its login processes as `dovenull`, and the mail belongs to `dovecot`;
started as anyone else, everything runs as that user (no chroot)."""

from __future__ import annotations

import datetime
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import quote

from tests.support.network import free_port
from tests.support.outside_parts import require_part

DOVECOT = "/usr/sbin/dovecot"
START_SECONDS = 15
USER = "bounces"
PASSWORD = "p@ss/w%rd#1 ok"  # characters a URL must percent-encode (no ":", the users file's separator)


def write_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    key_file.chmod(0o600)
    return cert_file, key_file


def _config(folder: Path, port: int, cert_file: Path, key_file: Path) -> str:
    if os.geteuid() == 0:
        internal, login, mail_user, chroot = "dovecot", "dovenull", "dovecot", ""
    else:
        internal = login = mail_user = pwd.getpwuid(os.geteuid()).pw_name
        chroot = "  chroot =\n"
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
ssl = required
ssl_cert = <{cert_file}
ssl_key = <{key_file}
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
auth_mechanisms = plain
mail_location = maildir:{folder}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={pwd.getpwnam(mail_user).pw_gid} home={folder}/mail/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
{chroot}}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""


@dataclass
class Dovecot:
    folder: Path
    port: int
    cert_file: Path
    process: subprocess.Popen

    def url(self, scheme: str = "imaps") -> str:
        return f"{scheme}://{quote(USER, safe='')}:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/INBOX"

    def _connect(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.cert_file))
        connection = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=10)
        try:
            connection.login(USER, PASSWORD)
        except imaplib.IMAP4.error:
            connection.shutdown()
            raise
        return connection

    def append(self, *raws: bytes) -> None:
        """Each message, in turn, into INBOX (one connection)."""
        connection = self._connect()
        try:
            for raw in raws:
                typ, data = connection.append("INBOX", None, None, raw)
                assert typ == "OK", data
        finally:
            connection.logout()

    def keywords(self) -> list[set[str]]:
        """The flags and keywords of every message in INBOX, in order."""
        connection = self._connect()
        try:
            connection.select("INBOX", readonly=True)
            typ, data = connection.uid("FETCH", "1:*", "(FLAGS)")
            found = []
            for item in data:
                text = item.decode() if isinstance(item, bytes) else ""
                inside = text[text.index("FLAGS (") + 7:text.index(")", text.index("FLAGS ("))] if "FLAGS (" in text else ""
                found.append(set(inside.split()))
            return found
        finally:
            connection.logout()

    def messages(self) -> list[tuple[str, bool]]:
        """(Message-ID, seen) of every message in INBOX."""
        connection = self._connect()
        try:
            connection.select("INBOX", readonly=True)
            typ, data = connection.uid("SEARCH", None, "ALL")
            found = []
            for uid in data[0].split():
                typ, fetched = connection.uid("FETCH", uid, "(FLAGS BODY.PEEK[HEADER])")
                flags, header = fetched[0]
                found.append((str(message_from_bytes(header, policy=policy.default)["Message-ID"]), b"\\Seen" in flags))
            return found
        finally:
            connection.logout()

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # the master stops its children
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_dovecot() -> Dovecot:
    if not os.access(DOVECOT, os.X_OK):
        require_part("dovecot", f"{DOVECOT} not found (apt-get install dovecot-imapd)")
    # Outside pytest's tmp_path: dovecot's users must reach the folder (tmp_path's parents are 0700).
    folder = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    folder.chmod(0o755)
    for name in ("run", "state", "mail"):
        (folder / name).mkdir()
    if os.geteuid() == 0:
        dovecot_user = pwd.getpwnam("dovecot")
        os.chown(folder / "mail", dovecot_user.pw_uid, dovecot_user.pw_gid)
    cert_file, key_file = write_certificate(folder)
    (folder / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = free_port()
    conf = folder / "dovecot.conf"
    conf.write_text(_config(folder, port, cert_file, key_file))
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = Dovecot(folder, port, cert_file, process)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace")
            server.stop()
            raise AssertionError(f"dovecot exited ({process.returncode}): {output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    log = server.log()
    server.stop()
    raise AssertionError(f"dovecot did not listen on {port} within {START_SECONDS} s: {log}")
