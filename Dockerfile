# campaign-gitops: the reconcile daemon (and its web UI) in a small non-root image.
#
#   docker build -t campaign-gitops .
#   docker run --rm -e CAMPAIGN_GITOPS_DB=postgresql+psycopg://... campaign-gitops \
#     reconcile --repo https://git.example.com/team/campaigns.git --health-port 9464 ...
#
# Stage 1 builds the wheels (the project and every dependency, psycopg's binary
# PostgreSQL driver included); stage 2 installs them on a fresh slim Python with git
# (for --repo and --source git), ssh and the CA certificates, and nothing to build with.

FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim-bookworm
# Debian's security updates move these versions; the base image tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links /wheels campaign-gitops \
    && rm -rf /wheels
RUN groupadd --system --gid 10001 campaign-gitops \
    && useradd --system --uid 10001 --gid campaign-gitops --home-dir /srv/campaign-gitops \
       --create-home --shell /usr/sbin/nologin campaign-gitops
WORKDIR /srv/campaign-gitops
USER 10001:10001
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/srv/campaign-gitops
# 9464: /healthz, /readyz, /metrics; 8080: the web UI, its API and POST /hooks/git.
EXPOSE 9464 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
ENTRYPOINT ["campaign-gitops"]
CMD ["reconcile", "--health-port", "9464", "--health-host", "0.0.0.0", "--log-format", "json"]
