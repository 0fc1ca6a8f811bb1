#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: a virtualenv, the CPU build of torch, the project with
# its test extras, a local PostgreSQL for the queue tests, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
# torch first and pinned: 2.13.0 is the CPU build these machines carry; an unpinned torch pulls gigabytes of CUDA.
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -e '.[test]'

# The queue tests run on SQLite and on a real PostgreSQL (trust auth on 127.0.0.1:5432, database "test").
if [ -z "${TEST_POSTGRES_URL:-}" ] && command -v pg_isready >/dev/null; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432; then
        export TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    fi
fi

# One torch thread per process: the tests run the fake Discord, the bot's event loop and the generation thread in
# one process, and torch's spinning OpenMP workers starved the other two (the sampler reproductions alone went from
# 4 s to minutes each). The bot itself is not limited by this; only the test run is.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# Two test processes (pytest-xdist): most tests wait on sockets, subprocesses and timers rather than compute, so a
# second process nearly halves the wall time on CI's 2 cores. Each test keeps its own temp folder, SQLite file,
# PostgreSQL schema and 127.0.0.1 ports, so the processes share nothing. TEST_WORKERS=0 runs in this process.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" "$@"
