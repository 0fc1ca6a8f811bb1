# imagine-bot on a CUDA host. Build: `docker build -t imagine-bot .`; run with compose.yaml (profiles one-host and
# scale-out) or by hand:
#   docker run --gpus all -e DISCORD_TOKEN=... -v imagine-data:/app/data -v imagine-models:/models imagine-bot
# The base image brings torch with CUDA; pip keeps that torch (pyproject asks only torch>=2.1).
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

# HF_HOME: models live in the /models volume, so a rebuilt or restarted container never downloads them again.
# IMAGINE_METRICS_PORT/HOST turn on /metrics and /healthz (the HEALTHCHECK below asks it; compose publishes it
# on the host's 127.0.0.1 only).
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HOME=/models IMAGINE_METRICS_PORT=9108 IMAGINE_METRICS_HOST=0.0.0.0
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY generation ./generation
COPY db ./db
RUN pip install .

COPY config.toml ./
# An unprivileged user owns the two volumes; nothing in the container runs as root.
RUN useradd --create-home --uid 10001 imagine && mkdir -p /app/data /models && chown imagine:imagine /app/data /models
USER imagine
# Outputs, uploads and the default SQLite database; the Hugging Face cache with the models.
VOLUME ["/app/data", "/models"]
EXPOSE 9108

# 200 while the gateway is connected and a worker heartbeated within the lease; the first start may download a model.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10m --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status != 200)"]

# Runs database migrations, then the bot with its embedded worker. GPU-only hosts: `python -m bot worker`.
CMD ["python", "-m", "bot"]
