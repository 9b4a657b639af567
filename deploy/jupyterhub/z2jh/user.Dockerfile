# The participants' image for Zero to JupyterHub (singleuser.image in values.yaml): JupyterLab with kvnb
# and jupyterhub-singleuser, the learner notebooks in /opt/kvnb/learner (the postStart hook copies them
# into the user's home, never over an edited copy) and the instructor notebook beside them.
# Build from the repository root: docker build -f deploy/jupyterhub/z2jh/user.Dockerfile -t kvnb-lab .
FROM python:3.11-slim

RUN useradd --create-home --uid 1000 jovyan
WORKDIR /opt/kvnb
COPY pyproject.toml README.md ./
COPY kvnb ./kvnb
RUN pip install --no-cache-dir '.[hub]' && kvnb --help > /dev/null
COPY learner ./learner
COPY notebooks/instructor.ipynb ./learner/instructor.ipynb

USER jovyan
WORKDIR /home/jovyan
EXPOSE 8888
CMD ["jupyterhub-singleuser"]
