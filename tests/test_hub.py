"""The workshop hub against real servers: the classroom server, a real JupyterHub with its proxy, and
(marked ``browser``) chromium logging participants in through the login page.

Nothing here mocks NATS or JupyterHub: the hook runs against a real classroom server, the hub's login
page answers real HTTP, and stopping the hub must leave no process behind.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import re
import shutil
import socket
import stat
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import nats.js.errors
import pytest
import yaml
from traitlets.config import Config

import kvnb
from kvnb.classroom import Classroom, participant_js_prefix, start_classroom
from kvnb.deployments import resolve
from kvnb.errors import InvalidOption
from kvnb.hub import INSTRUCTOR, HubState, _state_for, classroom_hook, find_proxy

pytest.importorskip("jupyterhub", reason="the hub needs JupyterHub: pip install -e '.[dev]'")
pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "jupyterhub"
FAST = 1.0
DENIED = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError)
# An nkey seed: S, then U(ser), A(ccount) or O(perator), 56 more base32 characters. A public key (56 characters)
# may contain "SU" by chance, so look for the whole shape, not two letters.
NKEY_SEED = re.compile(r"\bS[UAO][A-Z2-7]{56}\b")


def _has_proxy() -> bool:
    try:
        find_proxy()
    except Exception:
        return False
    return True


needs_proxy = pytest.mark.skipif(not _has_proxy(), reason="configurable-http-proxy is not installed: make hub")


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    started = start_classroom(2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def state_file(room: Classroom, tmp_path: Path) -> Path:
    passwords = {u: f"pw-{u}" for u in [*room.users, INSTRUCTOR]}
    state = _state_for(room, passwords, homes=str(tmp_path / "homes" / "{username}"), learner_dir=str(REPO / "learner"),
                       instructor_notebook=str(REPO / "notebooks" / "instructor.ipynb"))
    return state.save(tmp_path / "hub-state.json")


def _spawner(user: str, home: Path | None = None) -> types.SimpleNamespace:
    """What the hook touches on a JupyterHub spawner: its user's name, environment, home, landing page."""
    return types.SimpleNamespace(user=types.SimpleNamespace(name=user), environment={"KEEP": "1"},
                                 home_dir=str(home) if home else "", default_url="")


async def _login_env(env: dict[str, str]) -> kvnb.client.NATS:
    """Connect exactly as a kernel with ``env`` would (kvnb reads NATS_URL, NATS_NKEY_SEED ...)."""
    dep = resolve(env=env)
    assert dep is not None
    return await kvnb.connect(dep.url, **dep.connect_options())


async def test_hook_gives_each_server_its_login_and_notebooks(room: Classroom, state_file: Path,
                                                              tmp_path: Path) -> None:
    hook = classroom_hook(state_file)
    p1, teacher = _spawner("p1"), _spawner(INSTRUCTOR)
    await hook(p1)
    await hook(teacher)
    assert p1.environment["KEEP"] == "1" and p1.environment["NATS_URL"] == room.local_url
    assert p1.environment["NATS_NKEY_SEED"] == room.seat("p1").seed
    assert p1.environment["NATS_INBOX_PREFIX"] == "_INBOX_p1" and p1.environment["KVNB_CLASSROOM_USER"] == "p1"
    assert "KVNB_CLASSROOM_PARTICIPANTS" not in p1.environment
    assert teacher.environment["KVNB_CLASSROOM_PARTICIPANTS"] == "2"
    assert teacher.default_url == "/lab/tree/instructor.ipynb" and p1.default_url == "/lab"

    home = tmp_path / "homes" / "p1"
    learner = sorted(p.name for p in (REPO / "learner").glob("*.ipynb") if p.name != "instructor.ipynb")
    assert sorted(p.name for p in home.glob("*.ipynb")) == learner  # the instructor's notebook is not theirs
    assert (tmp_path / "homes" / INSTRUCTOR / "instructor.ipynb").is_file()
    # solutions stay out: the participant's copy is the learner copy
    assert (home / "01_put_get.ipynb").read_text() == (REPO / "learner" / "01_put_get.ipynb").read_text()

    # An edit survives the next spawn.
    nb = json.loads((home / "01_put_get.ipynb").read_text())
    nb["cells"][0]["source"] = ["my own notes\n"]
    (home / "01_put_get.ipynb").write_text(json.dumps(nb))
    await hook(_spawner("p1"))
    assert "my own notes" in (home / "01_put_get.ipynb").read_text()

    # The environment logs in as p1: p1's own account, not p2's, and the shared bucket reads.
    nc = await _login_env(p1.environment)
    teacher_nc = await room.connect(INSTRUCTOR)
    try:
        kv = await kvnb.open_bucket("hooked", nc=nc)
        await kv.put("who", "p1")
        theirs = await kvnb.open_bucket("hooked", nc=teacher_nc, js_prefix=participant_js_prefix("p1"))
        assert (await theirs.get("who")).text == "p1"
        with pytest.raises(DENIED):
            await nc.jetstream(prefix=participant_js_prefix("p2"), timeout=FAST).stream_info("KV_hooked")
    finally:
        await nc.close()
        await teacher_nc.close()


def test_nkey_seed_variable_logs_in_and_never_shows(room: Classroom) -> None:
    seed = room.seat("p1").seed
    dep = resolve(env={"NATS_URL": room.local_url, "NATS_NKEY_SEED": seed})
    assert dep is not None and dep.connect_options()["nkeys_seed_str"] == seed
    assert seed not in repr(dep) and seed not in str(dep) and "NATS_NKEY_SEED" in str(dep)
    with pytest.raises(InvalidOption, match="starts with 'SU'"):
        resolve(env={"NATS_URL": room.local_url, "NATS_NKEY_SEED": "p1-password"}).connect_options()  # type: ignore[union-attr]


async def test_hook_refuses_a_user_the_classroom_does_not_know(state_file: Path) -> None:
    with pytest.raises(InvalidOption, match="not a user of this classroom"):
        await classroom_hook(state_file)(_spawner("mallory"))


def test_state_file_is_private_and_holds_no_clear_password(state_file: Path) -> None:
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    text = state_file.read_text()
    assert "pw-p1" not in text and "$2b$" in text
    assert HubState.load(state_file).participants == ["p1", "p2"]


# --- deploy/jupyterhub: the files a TLJH or Zero to JupyterHub deployment uses -----------------------

def _run_config(code: str, where: str) -> Config:
    c = Config()
    exec(compile(code, where, "exec"), {"c": c, "__name__": "jupyterhub_config"})
    return c


async def test_z2jh_values_hold_the_hook_and_it_runs(room: Classroom, state_file: Path) -> None:
    values = yaml.safe_load((DEPLOY / "z2jh" / "values.yaml").read_text())
    snippet = values["hub"]["extraConfig"]["kvnb"]
    mount = values["hub"]["extraVolumeMounts"][0]
    assert mount["mountPath"] == "/srv/kvnb" and mount["readOnly"] is True
    assert values["hub"]["extraVolumes"][0]["secret"]["secretName"] == "kvnb-classroom"
    post_start = " ".join(values["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"])
    assert "fill_workspace" in post_start and "/opt/kvnb/learner" in post_start
    user_image = (DEPLOY / "z2jh" / "user.Dockerfile").read_text()
    assert "COPY learner ./learner" in user_image and "WORKDIR /opt/kvnb" in user_image  # what postStart copies
    assert "kvnb" in (DEPLOY / "z2jh" / "hub.Dockerfile").read_text()
    # The snippet as the hub runs it, pointed at this test's state file, against a real classroom.
    c = _run_config(snippet.replace("/srv/kvnb/hub-state.json", str(state_file)), "hub.extraConfig.kvnb")
    assert c.JupyterHub.authenticator_class.__name__ == "JoinSheetAuthenticator"
    spawner = _spawner("p2")
    await c.Spawner.pre_spawn_hook(spawner)
    assert spawner.environment["NATS_NKEY_SEED"] == room.seat("p2").seed
    nc = await _login_env(spawner.environment)
    try:
        kv = await kvnb.open_bucket("from_z2jh", nc=nc)
        assert await kv.put("ok", "yes") >= 1
    finally:
        await nc.close()


def test_nats_chart_values_make_a_jetstream_cluster_with_the_accounts() -> None:
    values = yaml.safe_load((DEPLOY / "z2jh" / "nats-values.yaml").read_text())
    config = values["config"]
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    assert config["jetstream"]["enabled"] is True
    include = config["merge"]["$include"]
    mount = values["container"]["patch"][0]["value"]["mountPath"]
    assert Path("/etc/nats-config", include).resolve().parent == Path(mount)
    assert values["podTemplate"]["patch"][0]["value"]["secret"]["secretName"] == "kvnb-nats-accounts"


async def test_tljh_config_runs_the_hook(room: Classroom, state_file: Path, tmp_path: Path) -> None:
    code = (DEPLOY / "tljh" / "kvnb.py").read_text()
    code = code.replace("/srv/kvnb/hub-state.json", str(state_file)).replace("/srv/kvnb/learner", str(REPO / "learner"))
    code = code.replace("/srv/kvnb/instructor.ipynb", str(REPO / "notebooks" / "instructor.ipynb"))
    code = code.replace("/home/jupyter-{username}", str(tmp_path / "tljh-{username}"))
    c = _run_config(code, "tljh/kvnb.py")
    assert c.JoinSheetAuthenticator.state_file == str(state_file)
    spawner = _spawner(INSTRUCTOR)
    await c.Spawner.pre_spawn_hook(spawner)  # no Unix user jupyter-instructor here: files stay ours
    assert (tmp_path / f"tljh-{INSTRUCTOR}" / "instructor.ipynb").is_file()
    assert spawner.environment["KVNB_CLASSROOM_PARTICIPANTS"] == "2"


def test_export_writes_accounts_that_nats_server_accepts(tmp_path: Path) -> None:
    from kvnb.hub import export_deployment
    from kvnb.server import find_nats_server

    files = export_deployment(3, tmp_path / "out", nats_url="nats://nats.example:4222")
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files.values())
    conf = tmp_path / "server.conf"
    conf.write_text(f"jetstream: {{ store_dir: {json.dumps(str(tmp_path / 'js'))} }}\n"
                    "include out/accounts.conf\n")  # relative to the including file
    import subprocess

    checked = subprocess.run([str(find_nats_server()), "-t", "-c", str(conf)], capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    state = HubState.load(files["state"])
    assert state.participants == ["p1", "p2", "p3"] and state.nats_url == "nats://nats.example:4222"
    assert not NKEY_SEED.search(files["accounts"].read_text())  # public keys only


async def test_exported_classroom_runs_on_a_plain_nats_server(tmp_path: Path) -> None:
    """The path of a deployment elsewhere: exported accounts on a server kvnb did not configure, the shared
    bucket made with the exported instructor seed, and a participant reading its copy with the hook's env."""
    from kvnb.hub import export_deployment, setup_shared_bucket
    from kvnb.server import launch

    files = export_deployment(2, tmp_path / "out", nats_url="nats://placeholder:4222")
    conf = tmp_path / "server.conf"
    conf.write_text("include out/accounts.conf\n")
    with launch(config_file=conf, name="kvnb-exported") as server:
        state = HubState.load(files["state"])
        state.nats_url = server.url
        state.save(files["state"])
        await setup_shared_bucket(state)
        teacher = await kvnb.connect(server.url, nkeys_seed_str=state.users[INSTRUCTOR]["seed"])
        p2 = _spawner("p2")
        await classroom_hook(files["state"], copy_notebooks=False)(p2)
        learner = await _login_env(p2.environment)
        try:
            shared = await kvnb.open_bucket("class", nc=teacher)
            await shared.put("announcement", "hello from the exported classroom")
            copy = await kvnb.open_bucket("class", nc=learner)

            async def arrived() -> bool:
                try:
                    return (await copy.get("announcement")).text.startswith("hello")
                except kvnb.KeyNotFound:
                    return False

            deadline = asyncio.get_running_loop().time() + 10
            while not await arrived():
                assert asyncio.get_running_loop().time() < deadline, "the copy never got the announcement"
                await asyncio.sleep(0.02)
        finally:
            await teacher.close()
            await learner.close()


# --- a real hub ---------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # a login answers with a redirect: keep it, to see where it points


def _login(url: str, user: str, password: str) -> tuple[int, str]:
    """Log in through the hub's login form; returns (status, where it points)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    with opener.open(f"{url}hub/login", timeout=30) as resp:
        page = resp.read().decode()
    xsrf = re.search(r'name="_xsrf"[^>]*value="([^"]+)"', page)
    body = {"username": user, "password": password, **({"_xsrf": xsrf[1]} if xsrf else {})}
    try:
        with opener.open(f"{url}hub/login", urllib.parse.urlencode(body).encode(), timeout=30) as resp:
            return resp.status, resp.url
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Location", "")


@needs_proxy
def test_hub_logs_in_the_sheet_users_refuses_others_and_leaves_nothing(tmp_path: Path) -> None:
    from kvnb.hub import start_hub

    sheet = tmp_path / "sheet.txt"
    hub = start_hub(2, port=_free_port(), sheet=sheet, learner_dir=REPO / "learner",
                    instructor_notebook=REPO / "notebooks" / "instructor.ipynb", homes=tmp_path / "homes")
    try:
        assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
        text = sheet.read_text()
        assert hub.passwords["p1"] in text and hub.url in text
        assert _login(hub.url, "p1", "wrong")[0] == 403
        assert _login(hub.url, "nobody", hub.passwords["p1"])[0] == 403
        status, where = _login(hub.url, "p1", hub.passwords["p1"])
        assert status == 302 and "/hub/login" not in where
        running = hub.processes()
        assert len(running) >= 2  # the hub and its proxy
        work = hub.work_dir
    finally:
        hub.stop()
    assert not [p for p in running if Path(f"/proc/{p}").exists() and _zombie_free(p)]
    assert not work.exists() and not sheet.exists() and not hub.room.is_running
    assert hub.homes == tmp_path / "homes" and hub.homes.is_dir()  # homes given: kept for the next run


def _zombie_free(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- end to end: a real hub, chromium, two participants and the instructor ------------------------------

HUB_BOUND = 120.0  # seconds for a hub login + a server spawn + JupyterLab loading, on a busy 2-core machine
BOARD_BOUND = 10.0  # seconds the board may take to show a check (it takes well under a second: printed)

_CHECK_SHOWN_JS = """(text) => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .some(e => e.innerText.includes(text))"""
_RUN_CELL_JS = """(code) => {
  const nb = window.jupyterapp.shell.currentWidget;
  const model = nb.content.model;
  model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: code});
  nb.content.activeCellIndex = model.cells.length - 1;
  window.jupyterapp.commands.execute('notebook:run-cell');
}"""
# The board's cells for a participant: what the DOM shows once both checks arrived.
_BOARD_SHOWS_JS = """() => {
  const rows = Array.from(document.querySelectorAll('.kvnb-progress tr'));
  const row = (u) => rows.find(r => {
    const c = r.querySelector('.kvnb-progress-user'); return c && c.innerText === u; });
  const p1 = row('p1'), p2 = row('p2');
  return !!p1 && !!p2 && !!p1.querySelector('.kvnb-progress-passed') && !!p2.querySelector('.kvnb-progress-not-yet');
}"""


async def _hub_page(browser: object, hub: object, user: str, password: str, shot: Path | None = None) -> object:
    """Log ``user`` in through the hub's login page; returns the page once their JupyterLab has loaded.

    ``shot``: a screenshot of the filled-in login page, before it is sent."""
    from tests.browser.conftest import PAGE_READY_TIMEOUT

    context = await browser.new_context(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page = await context.new_page()
    page.set_default_timeout(HUB_BOUND * 1000)
    await page.goto(f"{hub.url}hub/login", wait_until="domcontentloaded")  # type: ignore[attr-defined]
    await page.fill("#username_input", user)
    await page.fill("#password_input", password)
    if shot is not None:
        await page.screenshot(path=str(shot))
    await page.click("#login_submit")
    if password != hub.passwords.get(user):  # type: ignore[attr-defined]
        return page
    await page.wait_for_url(f"**/user/{user}/lab**", timeout=HUB_BOUND * 1000, wait_until="commit")
    await page.wait_for_function("() => !!(window.jupyterapp && window.jupyterapp.shell)",
                                 timeout=PAGE_READY_TIMEOUT * 1000, polling=50)
    await page.evaluate("async () => { await window.jupyterapp.restored; }")  # every plugin active
    return page


async def _open_in_lab(page: object, path: str) -> None:
    from tests.browser.conftest import _DOC_OPEN_JS, _KERNEL_READY_JS, PAGE_READY_TIMEOUT

    await page.evaluate("(p) => window.jupyterapp.commands.execute('docmanager:open', {path: p})", path)  # type: ignore[attr-defined]
    for js in (_DOC_OPEN_JS, _KERNEL_READY_JS):
        await page.wait_for_function(js, arg=path, timeout=PAGE_READY_TIMEOUT * 1000, polling=50)  # type: ignore[attr-defined]


async def _run_cell(page: object, code: str, shows: str, what: str) -> None:
    await page.evaluate(_RUN_CELL_JS, code)  # type: ignore[attr-defined]
    try:
        await page.wait_for_function(_CHECK_SHOWN_JS, arg=shows, timeout=60_000, polling=50)  # type: ignore[attr-defined]
    except Exception:
        outputs = await page.evaluate(  # type: ignore[attr-defined]
            "() => Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(e => e.innerText).slice(-5)")
        pytest.fail(f"{what}: {shows!r} not shown within 60 s; last outputs: {outputs}")


@pytest.mark.browser
@needs_proxy
@pytest.mark.timeout(420)
async def test_end_to_end_two_participants_and_the_instructor_board(tmp_path: Path) -> None:
    import time

    from kvnb.hub import start_hub
    from tests.browser.conftest import CHROMIUM_FLAGS, OUTPUT_DIR, SETTING_OVERRIDES, playwright_api

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed. Fix: `make test` installs it (apt-get install -y chromium).")
    hub = await asyncio.to_thread(
        start_hub, 2, port=_free_port(), sheet=None, learner_dir=REPO / "learner",
        instructor_notebook=REPO / "notebooks" / "instructor.ipynb",
        singleuser_args=["--LabApp.expose_app_in_browser=True", "--LanguageServerManager.autodetect=False"])
    for user in ("p1", "p2", INSTRUCTOR):  # quiet JupyterLab: no news toast, no autosave
        labconfig = hub.home(user) / ".jupyter" / "labconfig"
        labconfig.mkdir(parents=True)
        (labconfig / "default_setting_overrides.json").write_text(json.dumps(SETTING_OVERRIDES))
    pw = await playwright_api.async_playwright().start()
    home = tmp_path / "chromium-home"
    home.mkdir()
    browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                                       env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / "c"),
                                            "XDG_CACHE_HOME": str(home / "k"), "PATH": os.environ.get("PATH", "")})
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    running: list[int] = []
    try:
        # A wrong password: the login page again, with JupyterHub's refusal.
        refused = await _hub_page(browser, hub, "p1", "not-the-password", shot=OUTPUT_DIR / "hub-login.png")
        await refused.wait_for_selector(".alert-danger, #login_error, .login_error", timeout=30_000)
        assert "/hub/login" in refused.url
        await refused.screenshot(path=str(OUTPUT_DIR / "hub-login-refused.png"))

        # The instructor lands on the instructor notebook, and starts the board.
        teacher = await _hub_page(browser, hub, INSTRUCTOR, hub.passwords[INSTRUCTOR])
        assert teacher.url.split("?")[0].endswith("/lab/tree/instructor.ipynb")
        await _open_in_lab(teacher, "instructor.ipynb")
        await _run_cell(teacher, "import os, kvnb\nfrom kvnb.classroom import ProgressBoard, prepare_instructor\n"
                        "users = [f'p{i}' for i in range(1, int(os.environ['KVNB_CLASSROOM_PARTICIPANTS']) + 1)]\n"
                        "nc = prepare_instructor(await kvnb.connect(), users)\nboard = ProgressBoard(nc, users)\n"
                        "display(board)\nprint('board for', users)", "board for ['p1', 'p2']", "the instructor's board")
        await teacher.wait_for_selector(".kvnb-progress", timeout=30_000)

        # Two participants log in, open their own learner notebook and run an exercise check there.
        pages = {}
        for user in ("p1", "p2"):
            pages[user] = await _hub_page(browser, hub, user, hub.passwords[user])
            await _open_in_lab(pages[user], "01_put_get.ipynb")
        await _run_cell(pages["p1"], "import kvnb\nkvnb.checks.temp_pattern('sensors.*.temp')", "well done",
                        "p1's passing check")
        await _run_cell(pages["p2"], "import kvnb\nkvnb.checks.temp_pattern('sensors.>')", "not yet",
                        "p2's failing check")
        checked = time.monotonic()
        await teacher.wait_for_function(_BOARD_SHOWS_JS, timeout=BOARD_BOUND * 1000, polling=25)
        print(f"\nthe board showed both checks {time.monotonic() - checked:.2f} s after the second one's output")
        await pages["p1"].screenshot(path=str(OUTPUT_DIR / "hub-participant-notebook.png"))
        await teacher.locator(".kvnb-progress").first.screenshot(path=str(OUTPUT_DIR / "hub-progress-board.png"))

        # p2's kernel cannot open p1's buckets: p1's account is not reachable from p2's.
        await _run_cell(pages["p2"], "nc = await kvnb.client.default_connection()\ntry:\n"
                        "    await nc.jetstream(prefix='$JS.p1.API', timeout=1).stream_info('KV_progress')\n"
                        "    print('OPENED p1')\nexcept Exception as err:\n    print('refused:', type(err).__name__)\n"
                        "print('own progress keys:', await (await kvnb.open_bucket('progress')).keys())",
                        "own progress keys: ['temp_pattern']", "p2 reaching for p1's buckets")
        shown = await pages["p2"].evaluate(
            "() => Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(e => e.innerText).join('\\n')")
        assert "refused:" in shown and "OPENED p1" not in shown
        running = hub.processes()
        assert len(running) >= 5  # hub, proxy, three users' servers (and their kernels)
    finally:
        await browser.close()
        await pw.stop()
        await asyncio.to_thread(hub.stop)
    left = [p for p in running if _zombie_free(p)]
    assert not left, f"still running after the hub stopped: {left}"
    assert not hub.room.is_running and not hub.work_dir.exists()


def test_a_taken_port_is_refused_before_anything_starts() -> None:
    from kvnb.hub import start_hub

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InvalidOption, match=f"cannot listen on 127.0.0.1:{port}.*Fix"):
            start_hub(1, port=port, sheet=None, learner_dir=REPO / "learner",
                      instructor_notebook=REPO / "notebooks" / "instructor.ipynb")


def test_kvnb_hub_export_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kvnb.cli import main

    assert main(["hub", "--participants", "2", "--export", str(tmp_path / "x")]) == 2
    assert "--nats-url" in capsys.readouterr().err
    assert main(["hub", "-n", "2", "--export", str(tmp_path / "x"), "--nats-url", "nats://nats.kvnb:4222"]) == 0
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["accounts.conf", "hub-state.json", "join-sheet.txt"]
    out = capsys.readouterr().out
    assert "$2b$" not in out and not NKEY_SEED.search(out)  # no secret on the terminal


@needs_proxy
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_sigterm_to_kvnb_hub_stops_everything_it_started(tmp_path: Path, sig: str) -> None:
    """`kvnb hub` in a terminal: a participant's server is running when SIGTERM (or Ctrl-C) arrives;
    nothing survives."""
    import signal
    import sys
    import time

    from kvnb import _process
    from kvnb.hub import _descendants

    port = _free_port()
    sheet = tmp_path / "sheet.txt"
    log = tmp_path / "kvnb-hub.log"
    proc = _process.spawn([sys.executable, "-m", "kvnb.cli", "hub", "--participants", "1", "--port", str(port),
                           "--sheet", str(sheet)], log_path=log, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert _process.wait_until(sheet.exists, timeout=HUB_BOUND, interval=0.1, alive=lambda: proc.poll() is None), \
            f"kvnb hub did not start: {log.read_text()[-2000:]}"
        password = next(line.split()[1] for line in sheet.read_text().splitlines() if line.strip().startswith("p1 "))
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{url}hub/login", timeout=30).read().decode()
        xsrf = re.search(r'name="_xsrf"[^>]*value="([^"]+)"', page)
        body = {"username": "p1", "password": password, **({"_xsrf": xsrf[1]} if xsrf else {})}
        opener.open(f"{url}hub/login", urllib.parse.urlencode(body).encode(), timeout=HUB_BOUND).read()

        def user_server_running() -> bool:
            return any("jupyterhub-singleuser" in _cmdline(p) for p in _descendants(proc.pid))

        assert _process.wait_until(user_server_running, timeout=HUB_BOUND, interval=0.2), "p1's server never started"
        tree = [proc.pid, *_descendants(proc.pid)]
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while [p for p in tree if _zombie_free(p)] and time.monotonic() < deadline:
        time.sleep(0.05)  # children of the hub may take a moment to be reaped by init
    assert not [p for p in tree if _zombie_free(p)], f"left running: {[_cmdline(p) for p in tree if _zombie_free(p)]}"
    assert proc.returncode == 0 and not sheet.exists()
    assert "hub stopped" in log.read_text()


@needs_proxy
def test_a_hub_killed_outright_takes_its_proxy_and_servers_along(tmp_path: Path) -> None:
    """SIGKILL gives JupyterHub no chance to clean up: what it started must die with it anyway."""
    import signal

    from kvnb import _process
    from kvnb.hub import _descendants, start_hub

    hub = start_hub(1, port=_free_port(), sheet=None, learner_dir=REPO / "learner",
                    instructor_notebook=REPO / "notebooks" / "instructor.ipynb")
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"{hub.url}hub/login", timeout=30).read().decode()
        xsrf = re.search(r'name="_xsrf"[^>]*value="([^"]+)"', page)
        body = {"username": "p1", "password": hub.passwords["p1"], **({"_xsrf": xsrf[1]} if xsrf else {})}
        opener.open(f"{hub.url}hub/login", urllib.parse.urlencode(body).encode(), timeout=HUB_BOUND).read()

        def user_server_running() -> bool:
            return any("jupyterhub-singleuser" in _cmdline(p) for p in _descendants(hub.process.pid))

        assert _process.wait_until(user_server_running, timeout=HUB_BOUND, interval=0.2), "p1's server never started"
        tree = _descendants(hub.process.pid)
        assert any("configurable-http-proxy" in _cmdline(p) for p in tree)
        hub.process.send_signal(signal.SIGKILL)
        hub.process.wait(timeout=10)

        def all_gone() -> bool:
            return not [p for p in tree if _zombie_free(p)]

        assert _process.wait_until(all_gone, timeout=30, interval=0.1), \
            f"left running after the hub was killed: {[_cmdline(p) for p in tree if _zombie_free(p)]}"
    finally:
        hub.stop()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
