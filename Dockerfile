# One image for every dmfrec service (web, workers, beat, migrations); docker-compose.yml picks
# the command. TORCH_INDEX selects the torch build: the CPU wheels by default, a CUDA index
# (e.g. https://download.pytorch.org/whl/cu128) for the GPU training worker.
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX" "torch>=2.8"
COPY pyproject.toml README.md requirements.lock ./
COPY config ./config
COPY model ./model
COPY storage ./storage
COPY webhook ./webhook
COPY worker ./worker
COPY cli ./cli
# The runtime dependencies at the versions requirements.lock pins (dev and demo left out).
RUN pip install -c requirements.lock .
COPY alembic.ini gunicorn.conf.py ./
COPY migrations ./migrations

RUN useradd --create-home --uid 10001 dmfrec && mkdir -p /app/var/models /app/var/spool \
    && chown -R dmfrec /app/var
USER dmfrec
EXPOSE 8000
# Inside the container, on the internal network only (docker-compose publishes the proxy).
CMD ["gunicorn", "--bind", "0.0.0.0:8000"]
