# The OMS worker image: the `oms` package on a pinned slim Python, run as an unprivileged user.
# docker-compose.yml builds it for the `worker` and `migrate` services; any `oms` command runs in it.

# Build every wheel (ours and our dependencies') in a throwaway stage, so the image carries no sources.
FROM python:3.11.13-slim-bookworm AS wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY workflows ./workflows
COPY activities ./activities
COPY store ./store
COPY starter ./starter
COPY gateways ./gateways
COPY worker.py settings.py ./
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.13-slim-bookworm
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMS_METRICS_PORT=9000
# The wheels are mounted for the install only, not copied into a layer of the image.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels oms \
    && useradd --create-home --uid 10001 --user-group oms
# Numeric, so a runtime that refuses root containers can tell without looking the name up.
USER 10001:10001
WORKDIR /home/oms
EXPOSE 9000
# Says the worker process is up and its Temporal runtime serves metrics; a worker whose polling fails for
# good exits (and `restart` brings it back), so an alive process is the useful signal here.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['OMS_METRICS_PORT'] + '/metrics', timeout=2)"
CMD ["oms", "worker"]
