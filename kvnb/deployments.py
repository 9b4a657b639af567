"""External NATS deployments: where to connect and how to log in, from the environment or a ``nats`` context.

kvnb reads the same settings as the ``nats`` CLI, so a notebook runs unchanged against a hosted
or self-run cluster:

- ``NATS_CONTEXT=name`` (or ``resolve(context="name")``) loads the CLI's context file
  ``~/.config/nats/context/<name>.json`` (``$XDG_CONFIG_HOME`` is honoured; a path to a ``.json``
  file works too): ``url``, ``user``/``password``, ``token``, ``creds``, ``nkey``, ``ca``,
  ``cert``/``key``, ``tls_first``, ``inbox_prefix``, ``jetstream_domain``/``jetstream_api_prefix``.
- Environment variables override the context, field by field: ``NATS_URL`` (one URL or several,
  comma separated), ``NATS_USER``, ``NATS_PASSWORD``, ``NATS_TOKEN``, ``NATS_CREDS``, ``NATS_NKEY``,
  ``NATS_NKEY_SEED`` (the seed itself, where a file is awkward: a hub's spawner hands it out),
  ``NATS_CA``, ``NATS_CERT``, ``NATS_KEY``, ``NATS_INBOX_PREFIX``, ``NATS_JS_PREFIX``.

Example::

    export NATS_URL=tls://nats1.example.org:4222,tls://nats2.example.org:4222
    export NATS_CREDS=~/creds/learner.creds NATS_CA=~/creds/ca.pem

    dep = kvnb.deployments.resolve()     # None when nothing is configured: the bundled server is used
    print(dep)                           # the URL and how it logs in; never a secret
    nc = await kvnb.connect()            # uses it

This module needs only the standard library (``ssl`` for TLS), so the server module can use it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import InvalidOption, NotSupported

__all__ = ["ENV_VARS", "Deployment", "context_dir", "external_url", "load_context", "resolve"]

# environment variable -> Deployment field (names follow the nats CLI where it has one)
ENV_VARS: dict[str, str] = {
    "NATS_URL": "url",
    "NATS_USER": "user",
    "NATS_PASSWORD": "password",
    "NATS_TOKEN": "token",
    "NATS_CREDS": "creds",
    "NATS_NKEY": "nkey",
    "NATS_NKEY_SEED": "nkey_seed",
    "NATS_CA": "ca",
    "NATS_CERT": "cert",
    "NATS_KEY": "key",
    "NATS_INBOX_PREFIX": "inbox_prefix",
    "NATS_JS_PREFIX": "js_prefix",
}
_SECRET = ("password", "token", "nkey_seed")
_FILES = ("creds", "nkey", "ca", "cert", "key")


@dataclass
class Deployment:
    """Where a NATS deployment is and how to log in to it. Secrets never appear in ``repr``."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    creds: str | None = None
    """Path of a ``.creds`` file (a user JWT and its nkey seed)."""
    nkey: str | None = None
    """Path of a file holding an nkey seed."""
    nkey_seed: str | None = field(default=None, repr=False)
    """An nkey seed itself (``SU...``), for spawners that pass secrets in the environment."""
    ca: str | None = None
    """Path of the CA certificate(s) that signed the server's certificate."""
    cert: str | None = None
    """Path of a client certificate (for servers that verify clients), with ``key``."""
    key: str | None = None
    tls_first: bool = False
    inbox_prefix: str | None = None
    js_prefix: str | None = None
    """JetStream API prefix for ``open_bucket(js_prefix=...)`` (from a context's domain or prefix)."""
    source: str = "environment"
    """Where these settings came from (a context file, the environment), for messages."""

    # --- what nats-py needs ------------------------------------------------------------------
    @property
    def uses_tls(self) -> bool:
        """True when the URL asks for TLS or a CA / client certificate is configured."""
        schemes = {u.strip().split("://", 1)[0] for u in self.url.split(",") if "://" in u}
        return bool(schemes & {"tls", "wss"}) or any((self.ca, self.cert, self.tls_first))

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: the system's CAs plus ``ca``, and the client certificate if any."""
        self.check_files()
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=_path(self.ca) if self.ca else None)
        if self.cert:
            try:
                ctx.load_cert_chain(_path(self.cert), _path(self.key) if self.key else None)
            except ssl.SSLError as err:
                raise InvalidOption(
                    f"cannot load the client certificate {self.cert} with key {self.key} ({self.source}): {err}. "
                    "Fix: NATS_CERT must be a PEM certificate and NATS_KEY its unencrypted PEM private key."
                ) from None
        return ctx

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect`` / :func:`kvnb.connect` (without ``servers``)."""
        self.check_files()
        options: dict[str, Any] = {}
        if self.user is not None:
            options["user"] = self.user
            options["password"] = self.password or ""
        if self.token:
            options["token"] = self.token
        if self.creds or self.nkey or self.nkey_seed:
            if importlib.util.find_spec("nkeys") is None:
                raise NotSupported(
                    f"logging in with a {'creds' if self.creds else 'nkey'} file ({self.source}) needs the `nkeys` "
                    "package, which is not installed. Fix: pip install nkeys"
                )
            if self.creds:
                options["user_credentials"] = _path(self.creds)
            elif self.nkey:
                options["nkeys_seed"] = _path(self.nkey)
            else:
                options["nkeys_seed_str"] = self.nkey_seed
        if self.uses_tls:
            options["tls"] = self.ssl_context()
            if self.tls_first:
                options["tls_handshake_first"] = True
        if self.inbox_prefix:
            options["inbox_prefix"] = self.inbox_prefix
        return options

    def check_files(self) -> None:
        """Raise :class:`InvalidOption` naming the setting when a configured file is missing."""
        for name in _FILES:
            value = getattr(self, name)
            if value and not Path(_path(value)).is_file():
                env = next(k for k, v in ENV_VARS.items() if v == name)
                raise InvalidOption(
                    f"the {name} file {value!r} ({self.source}) does not exist or is not a file. "
                    f"Fix: set {env} (or the context's \"{name}\") to an existing file, or unset it."
                )
        if self.key and not self.cert:
            raise InvalidOption(f"a client key is set without a certificate ({self.source}). Fix: set NATS_CERT too.")
        if self.nkey_seed and not self.nkey_seed.startswith("SU"):
            raise InvalidOption(f"NATS_NKEY_SEED ({self.source}) is not a user nkey seed: a seed starts with 'SU'. "
                                "Fix: copy the whole seed from the join sheet, or set NATS_NKEY to a file holding it.")
        if self.user is None and self.password:
            raise InvalidOption(f"a password is set without a user ({self.source}). Fix: set NATS_USER too.")

    def describe(self) -> str:
        """One line for people: the URL and how it logs in, secrets masked."""
        auth = []
        if self.user is not None:
            auth.append(f"user {self.user!r} with a password")
        if self.token:
            auth.append("a token")
        if self.creds:
            auth.append(f"creds {self.creds}")
        if self.nkey:
            auth.append(f"nkey {self.nkey}")
        if self.nkey_seed:
            auth.append("an nkey seed (NATS_NKEY_SEED)")
        if self.cert:
            auth.append(f"client certificate {self.cert}")
        tls = f", TLS (CA {self.ca or 'system'})" if self.uses_tls else ""
        return f"{self.url} ({', '.join(auth) or 'no login'}{tls}; from {self.source})"

    def __str__(self) -> str:
        return self.describe()


def _path(value: str) -> str:
    return str(Path(value).expanduser())


def context_dir(env: Mapping[str, str] | None = None) -> Path:
    """The ``nats`` CLI's context folder: ``$XDG_CONFIG_HOME/nats/context`` or ``~/.config/nats/context``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base).expanduser() / "nats" / "context"


def load_context(name: str, env: Mapping[str, str] | None = None) -> Deployment:
    """Read the ``nats`` CLI context ``name`` (or a path to a context ``.json`` file)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidOption(f"a context name must be a non-empty str, got {name!r}. Example: NATS_CONTEXT=workshop")
    folder = context_dir(env)
    if name.endswith(".json") and (os.sep in name or name.startswith("~")):
        path = Path(name).expanduser()
    elif "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidOption(f"invalid context name {name!r}: a name is one word, or a path ending in .json. "
                            "Example: NATS_CONTEXT=workshop")
    else:
        path = folder / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        known = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        raise InvalidOption(
            f"no nats context {name!r}: {path} does not exist (contexts found: {', '.join(known) or 'none'}). "
            "Fix: create it with `nats context add NAME --server URL ...`, or set NATS_URL instead."
        ) from None
    except (OSError, ValueError) as err:
        raise InvalidOption(f"cannot read nats context {path}: {err}. Fix: it must be a JSON object as written by "
                            "`nats context add`.") from None
    if not isinstance(data, dict):
        raise InvalidOption(f"nats context {path} is not a JSON object. Fix: recreate it with `nats context add`.")
    unsupported = [k for k in ("nsc", "socks_proxy", "user_jwt") if data.get(k)]
    if unsupported:
        raise NotSupported(f"nats context {path} uses {', '.join(unsupported)}, which kvnb does not support. "
                           "Fix: export a creds file and set \"creds\" (or NATS_CREDS) instead.")
    js_prefix = data.get("jetstream_api_prefix") or (
        f"$JS.{data['jetstream_domain']}.API" if data.get("jetstream_domain") else None)
    url = data.get("url") or "nats://127.0.0.1:4222"  # the CLI's default when a context names no server
    return Deployment(
        url=url, user=data.get("user") or None, password=data.get("password") or None,
        token=data.get("token") or None, creds=data.get("creds") or None, nkey=data.get("nkey") or None,
        ca=data.get("ca") or None, cert=data.get("cert") or None, key=data.get("key") or None,
        tls_first=bool(data.get("tls_first")), inbox_prefix=data.get("inbox_prefix") or None,
        js_prefix=js_prefix, source=f"nats context {path}",
    )


def resolve(context: str | None = None, env: Mapping[str, str] | None = None) -> Deployment | None:
    """The configured external deployment, or None (then kvnb uses its bundled server).

    ``context`` (else ``NATS_CONTEXT``) names a ``nats`` CLI context; ``NATS_*`` variables
    override its fields. Without a context, ``NATS_URL`` must be set for a deployment to exist.
    """
    env = os.environ if env is None else env
    name = context or env.get("NATS_CONTEXT")
    base = load_context(name, env) if name else None
    overrides = {attr: env[var] for var, attr in ENV_VARS.items() if env.get(var)}
    if base is None and "url" not in overrides:
        # NATS_USER & co. without NATS_URL belong to something else (the nats CLI defaults to
        # localhost): kvnb ignores them and uses its bundled server; `kvnb doctor` mentions them.
        return None
    if base is None:
        base = Deployment(url=overrides["url"], source="environment")
    elif overrides:
        base.source += f" + {', '.join(var for var in ENV_VARS if env.get(var))}"
    values = {f.name: getattr(base, f.name) for f in fields(base)}
    values.update(overrides)
    return Deployment(**values)


def external_url(env: Mapping[str, str] | None = None) -> str | None:
    """The URL of the configured external deployment (``NATS_URL`` or ``NATS_CONTEXT``'s), else None."""
    env = os.environ if env is None else env
    if env.get("NATS_URL"):
        return env["NATS_URL"]
    if env.get("NATS_CONTEXT"):
        dep = resolve(env=env)
        return dep.url if dep is not None else None
    return None
