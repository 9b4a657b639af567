# The hub's image for Zero to JupyterHub (hub.image in values.yaml): the chart's own hub image plus kvnb,
# whose JoinSheetAuthenticator and classroom_hook the hub.extraConfig snippet imports.
# Build from the repository root: docker build -f deploy/jupyterhub/z2jh/hub.Dockerfile -t kvnb-hub .
# K8S_HUB_TAG: the k8s-hub tag that matches your chart version (see the chart's values.yaml, hub.image.tag).
ARG K8S_HUB_TAG
FROM jupyterhub/k8s-hub:${K8S_HUB_TAG}

USER root
COPY pyproject.toml README.md /opt/kvnb/
COPY kvnb /opt/kvnb/kvnb
RUN pip install --no-cache-dir /opt/kvnb && python -c "import kvnb.hub"
USER jovyan
