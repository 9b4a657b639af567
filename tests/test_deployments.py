"""External deployments: NATS_URL (one or several), user/password, token, TLS with a client certificate,
user permissions and nats CLI contexts, against real local servers configured for each.

The TLS material (a throwaway CA, server and client certificates) is made at test time with the
``openssl`` command; nothing secret is stored in the repository.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kvnb
from kvnb import deployments
from kvnb.deployments import Deployment, load_context, resolve
from kvnb.server import Server, launch

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

PASSWORD = "pw-" + "x" * 8  # a test-only password for a server that lives for this module


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all made now."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=kvnb test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    for name, usage, san in (("server", "serverAuth", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
                             ("client", "clientAuth", "")):
        (d / f"{name}.ext").write_text(f"{san}extendedKeyUsage={usage}\nkeyUsage=critical,digitalSignature\n"
                                       "authorityKeyIdentifier=keyid\n")
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=kvnb-{name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=d)
    return d


def _server(tmp: Path, name: str, config: str) -> Server:
    path = tmp / f"{name}.conf"
    path.write_text(config)
    return launch(config_file=path, name=f"kvnb-{name}")


@pytest.fixture(scope="module")
def tls_server(pki: Path) -> Iterator[Server]:
    cert, key, ca = (json.dumps(str(pki / f)) for f in ("server.pem", "server.key", "ca.pem"))
    config = f"tls {{ cert_file: {cert}, key_file: {key}, ca_file: {ca}, verify: true }}\n"
    server = _server(pki, "tls", config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Users: ``admin`` may do anything; ``reader`` may only read bucket ``cfg`` (info and direct get)."""
    reader = {"publish": {"allow": ["$JS.API.STREAM.INFO.KV_cfg", "$JS.API.DIRECT.GET.KV_cfg.>"]},
              "subscribe": {"allow": ["_INBOX.>"]}}
    config = ("authorization { users: [\n"
              f"  {{ user: admin, password: {json.dumps(PASSWORD)} }}\n"
              f"  {{ user: reader, password: {json.dumps(PASSWORD)}, permissions: {json.dumps(reader)} }}\n]}}\n")
    server = _server(tmp_path_factory.mktemp("auth"), "auth", config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = _server(tmp_path_factory.mktemp("token"), "token", f"authorization {{ token: {json.dumps(PASSWORD)} }}\n")
    try:
        yield server
    finally:
        server.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, object], signer: object) -> str:
    """A NATS JWT (ed25519-nkey) signed by ``signer``: what `nsc` would make, made here for the test."""
    claims = {"iat": int(time.time()), **claims}
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode()
    head = _b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signer.sign(f'{head}.{body}'.encode()))}"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def creds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, Path, Server]]:
    """A server in operator (JWT) mode with one account and user ``ada`` (her .creds file), and a
    second server that knows user ``bob`` by his nkey alone (his seed file). All keys made now."""
    nkeys = pytest.importorskip("nkeys")
    d = tmp_path_factory.mktemp("creds")

    def pair(prefix: int) -> object:
        return nkeys.from_seed(nkeys.encode_seed(os.urandom(32), prefix))

    op, acc, sys_acc, ada, bob = (pair(p) for p in (nkeys.PREFIX_BYTE_OPERATOR, nkeys.PREFIX_BYTE_ACCOUNT,
                                                    nkeys.PREFIX_BYTE_ACCOUNT, nkeys.PREFIX_BYTE_USER,
                                                    nkeys.PREFIX_BYTE_USER))
    pub = {name: k.public_key.decode() for name, k in  # type: ignore[attr-defined]
           (("op", op), ("acc", acc), ("sys", sys_acc), ("ada", ada), ("bob", bob))}
    unlimited = {k: -1 for k in ("subs", "conn", "leaf", "imports", "exports", "data", "payload", "mem_storage",
                                 "disk_storage", "streams", "consumer")}
    op_jwt = _jwt({"iss": pub["op"], "sub": pub["op"], "name": "op", "nats": {"type": "operator", "version": 2}}, op)
    acc_jwt = _jwt({"iss": pub["op"], "sub": pub["acc"], "name": "learners",
                    "nats": {"type": "account", "version": 2, "limits": {**unlimited, "wildcards": True}}}, op)
    sys_jwt = _jwt({"iss": pub["op"], "sub": pub["sys"], "name": "SYS", "nats": {"type": "account", "version": 2}}, op)
    ada_jwt = _jwt({"iss": pub["acc"], "sub": pub["ada"], "name": "ada",
                    "nats": {"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1,
                             "payload": -1}}, acc)
    creds = d / "ada.creds"
    creds.write_text(f"-----BEGIN NATS USER JWT-----\n{ada_jwt}\n------END NATS USER JWT------\n\n"
                     f"-----BEGIN USER NKEY SEED-----\n{ada.seed.decode()}\n------END USER NKEY SEED------\n")  # type: ignore[attr-defined]
    seed = d / "bob.nk"
    seed.write_text(bob.seed.decode() + "\n")  # type: ignore[attr-defined]
    operator = _server(d, "operator", f'operator: "{op_jwt}"\nsystem_account: {pub["sys"]}\nresolver: MEMORY\n'
                                      f'resolver_preload: {{ {pub["acc"]}: "{acc_jwt}", {pub["sys"]}: "{sys_jwt}" }}\n')
    try:
        nkey_server = _server(d, "nkey", f'authorization {{ users: [ {{ nkey: "{pub["bob"]}" }} ] }}\n')
    except BaseException:
        operator.stop()
        raise
    try:
        yield operator, creds, seed, nkey_server
    finally:
        nkey_server.stop()
        operator.stop()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"nats://127.0.0.1:{s.getsockname()[1]}"


def _tls_url(server: Server) -> str:
    return f"tls://127.0.0.1:{server.port}"


# --- resolving settings (no server) -------------------------------------------------------------

def test_nothing_configured_means_the_bundled_server() -> None:
    assert resolve(env={}) is None
    assert resolve(env={"NATS_USER": "someone", "NATS_PASSWORD": "x"}) is None  # no URL: not kvnb's business
    assert deployments.external_url({}) is None


def test_environment_settings_and_secrets_never_shown() -> None:
    dep = resolve(env={"NATS_URL": "nats://a:4222,nats://b:4222", "NATS_USER": "ann", "NATS_PASSWORD": "hunter2"})
    assert dep is not None and dep.url == "nats://a:4222,nats://b:4222"
    assert dep.connect_options() == {"user": "ann", "password": "hunter2"}
    assert "hunter2" not in repr(dep) and "hunter2" not in str(dep) and "ann" in str(dep)
    token = resolve(env={"NATS_URL": "nats://a:4222", "NATS_TOKEN": "s3cr3t"})
    assert token is not None and token.connect_options() == {"token": "s3cr3t"} and "s3cr3t" not in repr(token)


def test_missing_files_and_half_settings_are_named_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(kvnb.InvalidOption, match="NATS_CA") as err:
        resolve(env={"NATS_URL": "tls://a:4222", "NATS_CA": str(tmp_path / "nope.pem")}).connect_options()  # type: ignore[union-attr]
    assert "Fix:" in str(err.value)
    (tmp_path / "k.pem").write_text("x")
    with pytest.raises(kvnb.InvalidOption, match="NATS_CERT"):
        Deployment(url="tls://a:4222", key=str(tmp_path / "k.pem")).connect_options()
    with pytest.raises(kvnb.InvalidOption, match="NATS_USER"):
        Deployment(url="nats://a:4222", password="x").connect_options()


def test_creds_file_needs_nkeys(tmp_path: Path) -> None:
    creds = tmp_path / "user.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n")
    dep = Deployment(url="nats://a:4222", creds=str(creds))
    try:
        import nkeys  # noqa: F401
    except ImportError:
        with pytest.raises(kvnb.NotSupported, match="pip install nkeys"):
            dep.connect_options()
    else:
        assert dep.connect_options() == {"user_credentials": str(creds)}


def _context(home: Path, name: str, data: dict[str, object]) -> Path:
    folder = home / "nats" / "context"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def test_context_files(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    _context(tmp_path, "hub", {"url": "nats://hub:4222", "user": "u", "password": "p", "jetstream_domain": "leaf",
                               "inbox_prefix": "_INBOX_u", "description": "", "nsc": ""})
    dep = load_context("hub", env)
    assert (dep.url, dep.user, dep.password, dep.js_prefix, dep.inbox_prefix) == \
        ("nats://hub:4222", "u", "p", "$JS.leaf.API", "_INBOX_u")
    chosen = resolve(env={**env, "NATS_CONTEXT": "hub", "NATS_URL": "nats://other:4222"})
    assert chosen is not None and chosen.url == "nats://other:4222" and chosen.user == "u"  # env beats the context
    assert "hub.json" in chosen.source and "NATS_URL" in chosen.source
    with pytest.raises(kvnb.InvalidOption, match="contexts found: hub"):
        load_context("nope", env)
    with pytest.raises(kvnb.InvalidOption, match="one word"):
        load_context("../../etc/passwd", env)
    _context(tmp_path, "legacy", {"url": "nats://x:4222", "nsc": "nsc://op/acc/user"})
    with pytest.raises(kvnb.NotSupported, match="nsc"):
        load_context("legacy", env)


# --- against real servers -----------------------------------------------------------------------

async def test_tls_with_ca_and_client_certificate(tls_server: Server, pki: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", _tls_url(tls_server))
    monkeypatch.setenv("NATS_CA", str(pki / "ca.pem"))
    monkeypatch.setenv("NATS_CERT", str(pki / "client.pem"))
    monkeypatch.setenv("NATS_KEY", str(pki / "client.key"))
    nc = await kvnb.connect()
    try:
        assert nc.is_connected and nc._server_info.get("tls_required")  # type: ignore[attr-defined]
        kv = await kvnb.open_bucket("tls_demo", history=2, nc=nc, fresh=True)
        rev = await kv.put("k", "over TLS")
        assert (await kv.get("k")).revision == rev
    finally:
        await nc.close()


async def test_tls_refused_without_client_certificate_or_ca(tls_server: Server, pki: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", _tls_url(tls_server))
    monkeypatch.setenv("NATS_CA", str(pki / "ca.pem"))
    with pytest.raises(kvnb.ConnectError):  # the server verifies clients: no certificate, no entry
        await kvnb.connect(timeout=1)
    monkeypatch.delenv("NATS_CA")
    monkeypatch.setenv("NATS_CERT", str(pki / "client.pem"))
    monkeypatch.setenv("NATS_KEY", str(pki / "client.key"))
    with pytest.raises(kvnb.ConnectError) as err:  # the system CAs do not know the test CA
        await kvnb.connect(timeout=1)
    print(err.value)


async def test_user_password_and_permissions(auth_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", auth_server.url)
    monkeypatch.setenv("NATS_USER", "admin")
    monkeypatch.setenv("NATS_PASSWORD", PASSWORD)
    admin = await kvnb.connect()
    kv = await kvnb.open_bucket("cfg", history=2, nc=admin, fresh=True)
    await kv.put("mode", "blue")
    monkeypatch.setenv("NATS_USER", "reader")
    reader = await kvnb.connect()
    try:
        readonly = await kvnb.open_bucket("cfg", nc=reader)  # stream info is allowed
        assert (await readonly.get("mode")).text == "blue"  # direct get is allowed
        readonly.js = reader.jetstream(timeout=1.0)  # a denied publish is never answered: do not wait 5 s for it
        with pytest.raises(kvnb.KvnbError):  # publishing to $KV.cfg.> is not
            await readonly.put("mode", "red")
        assert (await kv.get("mode")).text == "blue"
    finally:
        await reader.close()
        await admin.close()
    monkeypatch.setenv("NATS_PASSWORD", "wrong")
    with pytest.raises(kvnb.ConnectError, match=r"uthoriz|uthentic"):
        await kvnb.connect(timeout=3)
    # explicit keyword arguments beat the environment
    nc = await kvnb.connect(user="admin", password=PASSWORD)
    await nc.close()


async def test_token(token_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", token_server.url)
    with pytest.raises(kvnb.ConnectError):
        await kvnb.connect(timeout=3)
    monkeypatch.setenv("NATS_TOKEN", PASSWORD)
    nc = await kvnb.connect()
    assert nc.is_connected
    await nc.close()


async def test_creds_file_and_nkey_seed(creds_server: tuple[Server, Path, Path, Server],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    operator, creds, seed, nkey_server = creds_server
    monkeypatch.setenv("NATS_URL", operator.url)
    with pytest.raises(kvnb.ConnectError, match=r"uthoriz"):
        await kvnb.connect(timeout=2)
    monkeypatch.setenv("NATS_CREDS", str(creds))
    nc = await kvnb.connect()
    try:
        kv = await kvnb.open_bucket("creds_demo", history=2, nc=nc, fresh=True)  # JetStream from the account JWT
        rev = await kv.put("k", "v")
        assert (await kv.get("k")).revision == rev
    finally:
        await nc.close()
    monkeypatch.delenv("NATS_CREDS")
    monkeypatch.setenv("NATS_URL", nkey_server.url)
    monkeypatch.setenv("NATS_NKEY", str(seed))
    nc = await kvnb.connect()
    assert nc.is_connected
    await nc.close()


async def test_several_urls_one_dead(nats_server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", f"{_dead_url()},{nats_server.url}")
    for _ in range(3):  # nats-py shuffles the list: whichever comes first, it ends on the live one
        nc = await kvnb.connect(timeout=5)
        assert nc.connected_url is not None and nc.connected_url.port == nats_server.port
        await nc.close()


async def test_nats_context_by_name_is_used_everywhere(auth_server: Server, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _context(tmp_path, "workshop", {"url": auth_server.url, "user": "admin", "password": PASSWORD})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("NATS_CONTEXT", "workshop")
    server = kvnb.current_server()
    assert server is not None and server.external and server.url == auth_server.url
    assert kvnb.start_server().url == auth_server.url  # nothing spawned: the context's deployment is used
    kv = await kvnb.open_bucket("ctx_demo", history=2, fresh=True)  # default connection, logged in via the context
    try:
        rev = await kv.put("k", "v")
        assert (await kv.get("k")).revision == rev
    finally:
        await kvnb.delete_bucket("ctx_demo")
        await kvnb.close_default_connection()


async def test_nats_context_with_tls_files(tls_server: Server, pki: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _context(tmp_path, "secure", {"url": _tls_url(tls_server), "ca": str(pki / "ca.pem"),
                                  "cert": str(pki / "client.pem"), "key": str(pki / "client.key")})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("NATS_CONTEXT", "secure")
    nc = await kvnb.connect()
    assert nc.is_connected and nc.connected_url is not None and nc.connected_url.port == tls_server.port
    await nc.close()
