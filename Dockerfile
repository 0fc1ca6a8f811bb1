# imagine-bot on a CUDA host: `docker build -t imagine-bot .` then
#   docker run --gpus all -e DISCORD_TOKEN=... -v imagine-data:/app/data -v hf-cache:/root/.cache/huggingface imagine-bot
# The image brings torch with CUDA from its base; pip keeps that torch (pyproject asks only torch>=2.1).
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY generation ./generation
COPY db ./db
RUN pip install .

COPY config.toml ./
# Outputs, uploads and the default SQLite database live here: mount a volume to keep them across restarts.
VOLUME ["/app/data"]

# Runs database migrations, then the bot with its embedded worker. GPU-only hosts: CMD ["python", "-m", "bot", "worker"].
CMD ["python", "-m", "bot"]
