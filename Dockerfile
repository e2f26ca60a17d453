# valuesbot's container image (OCI: Docker and Podman build it alike).
#
#   docker build -t valuesbot .
#   podman build --format docker -t valuesbot .     (Podman's own OCI format drops HEALTHCHECK)
#
# BASE_IMAGE is any image with Python 3.11 or newer and its venv module, the same in both
# stages: the official slim Python image by default, or one of your own (scripts/test-image
# makes a Debian one from the distribution's packages where no registry can be reached).
# The runtime stage holds the installed package only: no compiler, no source tree, no pip.
# It runs as an unprivileged user, writes nowhere but /var/lib/valuesbot (the default SQLite
# database; mount a volume there, or use PostgreSQL and a read-only root filesystem), listens
# on 3978 and answers GET /healthz. `valuesbot db upgrade` is the same image with other
# arguments (deploy/compose.yaml, deploy/kubernetes/).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

# checkov:skip=CKV_DOCKER_7:The base is a build argument whose default has a fixed version tag
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies first, pinned by constraints.txt, in a layer of their own: a change to the
# code alone does not download them again. (With no package folders yet, installing the project
# installs its dependencies only.)
COPY pyproject.toml constraints.txt README.md ./
RUN python3 -m venv /opt/valuesbot \
    && /opt/valuesbot/bin/pip install --no-compile -c constraints.txt .
COPY bot bot
COPY adapters adapters
COPY dialogs dialogs
COPY storage storage
RUN /opt/valuesbot/bin/pip install --no-compile --no-deps --force-reinstall \
        -c constraints.txt . \
    && /opt/valuesbot/bin/pip uninstall --yes pip setuptools \
    && /opt/valuesbot/bin/python -m compileall -q -j 0 /opt/valuesbot/lib

FROM ${BASE_IMAGE}
ARG APP_UID=10001
RUN groupadd --gid "${APP_UID}" valuesbot \
    && useradd --uid "${APP_UID}" --gid "${APP_UID}" --home-dir /var/lib/valuesbot \
        --no-create-home --shell /usr/sbin/nologin valuesbot \
    && install -d -o "${APP_UID}" -g "${APP_UID}" -m 0750 /var/lib/valuesbot
COPY --from=build /opt/valuesbot /opt/valuesbot
ENV PATH=/opt/valuesbot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VALUESBOT_HOST=0.0.0.0 \
    VALUESBOT_PORT=3978 \
    DATABASE_URL=sqlite:////var/lib/valuesbot/valuesbot.db
WORKDIR /var/lib/valuesbot
VOLUME ["/var/lib/valuesbot"]
USER ${APP_UID}:${APP_UID}
EXPOSE 3978
# /healthz: 200 when the database answers (the body says what else is up), 503 when not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, sys, urllib.request as r; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('VALUESBOT_PORT', '3978'); sys.exit(0 if r.urlopen(url, timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["valuesbot"]
CMD ["serve"]
