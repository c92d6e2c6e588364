# One image for the api and the worker (the command differs).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 cardioalert

WORKDIR /app
COPY pyproject.toml README.md ./
COPY services ./services
COPY booking ./booking
COPY ecg_ml ./ecg_ml
COPY notifications ./notifications
COPY i18n ./i18n
COPY clinics_seed ./clinics_seed
COPY migrations ./migrations
# The CPU build of torch: the default PyPI wheel for Linux carries CUDA (several GB).
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu .

USER cardioalert
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD curl --fail --silent http://127.0.0.1:8000/healthz || exit 1
# One process per container; scale with replicas. uvicorn's own --workers leaves TCP_NODELAY off
# (uvicorn issue #3149: every keep-alive request then waits ~40 ms) and lets one process take
# most connections while another core idles. X-Forwarded-For is believed only from the
# addresses in FORWARDED_ALLOW_IPS (uvicorn's default: itself; set the load balancer's): with '*'
# any client could name its own address and step around the per-address login limit.
CMD ["uvicorn", "services.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--limit-concurrency", "400", "--no-access-log", "--proxy-headers"]
