# The `jupyterlab` service of docker-compose.yml: JupyterLab with kvnb installed, opened on
# my-notebooks/ (the learner copies, without solutions; `kvnb lab` fills it and never overwrites an edit).
# It uses the `nats` service through NATS_URL (set in docker-compose.yml), so no server runs in here.
FROM python:3.11-slim

RUN useradd --create-home --uid 1000 kvnb
WORKDIR /opt/kvnb
COPY pyproject.toml README.md ./
COPY kvnb ./kvnb
RUN pip install --no-cache-dir . && kvnb --help > /dev/null

USER kvnb
WORKDIR /home/kvnb
COPY --chown=kvnb:kvnb learner ./learner
COPY --chown=kvnb:kvnb notebooks ./notebooks
# owned by kvnb, so the named volume mounted here is writable by the learner
RUN mkdir my-notebooks
EXPOSE 8888
# 0.0.0.0 inside the container only: docker-compose.yml publishes 8888 on the host's 127.0.0.1.
CMD ["kvnb", "lab", "--ip", "0.0.0.0", "--port", "8888", "--no-browser"]
