# areafetch: one image for the web app, the worker and migrations.
# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AREAFETCH_WEB_HOST=0.0.0.0 \
    AREAFETCH_LOG_FORMAT=json
RUN groupadd --system areafetch && useradd --system --gid areafetch --home-dir /app --no-create-home areafetch
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER areafetch
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["areafetch"]
CMD ["web"]
