# The Littlest JupyterHub: copy this file to /opt/tljh/config/jupyterhub_config.d/kvnb.py, then
# `sudo tljh-config reload`. TLJH loads every *.py there after its own config.
#
# It needs, on the TLJH machine:
#   - kvnb installed into the user environment AND the hub environment:
#       sudo /opt/tljh/user/bin/pip install 'kvnb[hub]'   and   sudo /opt/tljh/hub/bin/pip install 'kvnb[hub]'
#   - the classroom's files from `kvnb hub --export /srv/kvnb --participants N --nats-url nats://HOST:4222`:
#     /srv/kvnb/hub-state.json (0600, owned by root: it holds every seed) and accounts.conf for NATS;
#   - a NATS server using accounts.conf (see ../README.md), then once:
#       sudo /opt/tljh/hub/bin/python -m kvnb.hub shared-bucket /srv/kvnb/hub-state.json
#   - the learner notebooks in /srv/kvnb/learner (a checkout's learner/ folder) and /srv/kvnb/instructor.ipynb
#     (its notebooks/instructor.ipynb).
#
# TLJH runs each user as a real Unix user (jupyter-<name>) with a home of their own: unlike
# `kvnb hub`'s one-machine mode, participants cannot read each other's files.
# `c` is defined by JupyterHub when it loads this file.
import os
import pwd

from kvnb.hub import JoinSheetAuthenticator, classroom_hook

STATE = "/srv/kvnb/hub-state.json"

c.JupyterHub.authenticator_class = JoinSheetAuthenticator  # noqa: F821
c.JoinSheetAuthenticator.state_file = STATE  # noqa: F821

_hook = classroom_hook(STATE, home_template="/home/jupyter-{username}", learner_dir="/srv/kvnb/learner",
                       instructor_notebook="/srv/kvnb/instructor.ipynb")


async def kvnb_pre_spawn_hook(spawner):
    """kvnb's hook (NATS login, notebooks), then hand the notebooks to the user's Unix account."""
    await _hook(spawner)
    home = f"/home/jupyter-{spawner.user.name}"
    try:
        owner = pwd.getpwnam(f"jupyter-{spawner.user.name}")
    except KeyError:  # TLJH makes the Unix user on first spawn, after this hook: it owns its home then
        return
    for root, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), owner.pw_uid, owner.pw_gid)


c.Spawner.pre_spawn_hook = kvnb_pre_spawn_hook  # noqa: F821
