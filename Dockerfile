# syntax=docker/dockerfile:1
#
# The duragent worker image. One image serves every worker: pick the App with --app.
#
#   docker build -t duragent .
#   docker run --rm -e TEMPORAL_ADDRESS=host.docker.internal:7233 duragent
#   docker run --rm duragent duragent worker --app mypackage.app:app
#
# Two stages: the first builds a virtualenv from the repository, the second copies only that
# virtualenv onto a clean base, so no source tree, build tooling or pip cache ships.

FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
RUN python -m venv /opt/duragent

# Only what `pip install .` reads: the project metadata (README.md is its long description,
# so the build fails without it) and the packages pyproject.toml lists.
COPY pyproject.toml README.md ./
COPY duragent ./duragent
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY examples ./examples
RUN /opt/duragent/bin/pip install .


FROM python:3.11.11-slim-bookworm

# tini as PID 1: Python run as PID 1 ignores SIGTERM, so without it `docker stop` and
# Kubernetes would wait out the grace period and SIGKILL the worker mid-activity.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 duragent \
    && useradd --system --uid 10001 --gid duragent --home-dir /app --shell /usr/sbin/nologin duragent \
    && mkdir /app /var/lib/duragent \
    && chown duragent:duragent /app /var/lib/duragent

COPY --from=build /opt/duragent /opt/duragent

# TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE are Temporal's standard variables, read by duragent's
# settings; the address defaults to the `temporal` service of docker-compose.yml (and the usual
# Kubernetes service name). DURAGENT_* variables tune the worker (see duragent/settings.py).
ENV PATH=/opt/duragent/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TEMPORAL_ADDRESS=temporal:7233 \
    TEMPORAL_NAMESPACE=default

# `--app` resolves modules from the working directory first: mount your own code at /app to
# serve it without rebuilding (`-v ./myapp:/app/myapp ... --app myapp.app:app`).
WORKDIR /app
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

ENTRYPOINT ["tini", "--"]
CMD ["duragent", "worker", "--app", "duragent.examples.customer_support.app:app"]
