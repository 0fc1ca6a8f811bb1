"""Both image stores behind one interface: the data folder, and an S3 bucket on a local moto server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import Config, StorageSettings
from bot.startup import StartupError, check_storage
from bot.storage import ImageStore, LocalStore, S3Store, StorageError
from tests.s3_server import Bucket, s3_bucket, s3_endpoint, s3_environment  # noqa: F401

StoreAt = Callable[[Path], ImageStore]  # one host's store, rooted at that host's data folder


@pytest.fixture(params=["local", "s3"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> StoreAt:
    """Local: every host sees one data folder. S3: each host has its own folder and they share the bucket."""
    if request.param == "local":
        shared = tmp_path / "shared"
        return lambda _: LocalStore(shared)
    bucket: Bucket = request.getfixturevalue("s3_bucket")
    return lambda data_dir: S3Store(data_dir, bucket.name, prefix="imagine/", endpoint=bucket.endpoint)


def _write_job(store: ImageStore, job_id: int, names: tuple[str, ...] = ("tile-1.png", "grid.png")) -> None:
    folder = store.job_folder(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode() * 10)


def _write_preview(store: ImageStore, job_id: int, data: bytes) -> None:
    store.job_folder(job_id).mkdir(parents=True, exist_ok=True)
    (store.job_folder(job_id) / "preview.jpg").write_bytes(data)
    store.publish_preview(job_id)


def test_a_published_job_is_read_by_another_host(store_at: StoreAt, tmp_path: Path) -> None:
    """What a worker publishes, the bot reads as grid.png, else tile-1.png."""
    worker, bot = store_at(tmp_path / "worker"), store_at(tmp_path / "bot")
    _write_job(worker, 7)
    worker.publish_job(7)
    assert bot.result_file(7).read_bytes() == b"grid.png" * 10
    _write_job(worker, 8, ("tile-1.png",))
    worker.publish_job(8)
    assert bot.result_file(8).name == "tile-1.png"


def test_a_job_with_no_files_reads_as_missing(store_at: StoreAt, tmp_path: Path) -> None:
    """No images: FileNotFoundError, which delivery reports as missing files."""
    with pytest.raises(FileNotFoundError):
        store_at(tmp_path / "bot").result_file(99).read_bytes()


def test_previews_appear_once_published(store_at: StoreAt, tmp_path: Path) -> None:
    """No preview yet: None; after publish_preview, the latest bytes."""
    worker, bot = store_at(tmp_path / "worker"), store_at(tmp_path / "bot")
    assert bot.preview_bytes(3) is None
    for data in (b"first", b"second"):
        _write_preview(worker, 3, data)
        assert bot.preview_bytes(3) == data


def test_an_upload_reaches_a_worker(store_at: StoreAt, tmp_path: Path) -> None:
    """The bot publishes an upload; a worker gets a local copy, then drops it."""
    bot, worker = store_at(tmp_path / "bot"), store_at(tmp_path / "worker")
    path = bot.data_dir / "uploads" / "123.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"upload")
    bot.publish_file("uploads/123.png")
    copy = worker.local_copy("uploads/123.png")
    assert copy.read_bytes() == b"upload"
    worker.drop_local_copy("uploads/123.png")
    assert worker.local_copy("uploads/123.png").read_bytes() == b"upload"  # still stored


def test_deleting_a_job_frees_its_images(store_at: StoreAt, tmp_path: Path) -> None:
    """delete_job removes every file of the job (preview included) and counts the bytes."""
    worker, bot = store_at(tmp_path / "worker"), store_at(tmp_path / "bot")
    _write_preview(worker, 5, b"preview.jpg" * 10)
    _write_job(worker, 5)
    worker.publish_job(5)
    bot.result_file(5)  # the bot holds a copy (S3: in its cache)
    assert bot.delete_job(5) == 100 + 80 + 110
    with pytest.raises(FileNotFoundError):
        bot.result_file(5).read_bytes()
    assert bot.delete_job(5) == 0  # already gone is fine


def test_old_uploads_are_deleted_new_ones_kept(store_at: StoreAt, tmp_path: Path) -> None:
    """Uploads written before the cutoff go; later ones stay."""
    bot = store_at(tmp_path / "bot")
    folder = bot.data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "1.png").write_bytes(b"12345")
    bot.publish_file("uploads/1.png")
    now = datetime.now(UTC)
    assert bot.delete_uploads_before(now - timedelta(hours=1)) == (0, 0)
    assert bot.delete_uploads_before(now + timedelta(hours=1)) == (1, 5)
    assert not bot.export_file("uploads/1.png", tmp_path / "out.png")


def test_export_copies_a_jobs_files_and_an_upload(store_at: StoreAt, tmp_path: Path) -> None:
    """export_job copies every file of a job; export_file one upload; missing ones count 0 / False."""
    worker, bot = store_at(tmp_path / "worker"), store_at(tmp_path / "bot")
    _write_preview(worker, 4, b"p")
    _write_job(worker, 4)
    worker.publish_job(4)
    assert bot.export_job(4, tmp_path / "export" / "images" / "4") == 3
    assert sorted(p.name for p in (tmp_path / "export" / "images" / "4").iterdir()) == [
        "grid.png", "preview.jpg", "tile-1.png"]
    assert bot.export_job(40, tmp_path / "export" / "images" / "40") == 0
    assert not bot.export_file("uploads/none.png", tmp_path / "export" / "uploads" / "none.png")


def test_s3_keys_live_under_the_prefix_and_the_worker_keeps_nothing(s3_bucket: Bucket,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    """Objects are `<prefix>/outputs/<job>/<file>`; the worker's working folder is gone once published."""
    worker = S3Store(tmp_path / "worker", s3_bucket.name, prefix="/prod/", endpoint=s3_bucket.endpoint)
    _write_preview(worker, 12, b"p")
    assert not worker.job_folder(12).exists()  # a preview leaves nothing behind either
    _write_job(worker, 12)
    worker.publish_job(12)
    assert s3_bucket.keys() == [f"prod/outputs/12/{name}" for name in ("grid.png", "preview.jpg", "tile-1.png")]
    assert not worker.job_folder(12).exists()
    other = S3Store(tmp_path / "bot", s3_bucket.name, prefix="staging", endpoint=s3_bucket.endpoint)
    with pytest.raises(FileNotFoundError):
        other.result_file(12)


def _s3_config(tmp_path: Path, bucket: str, endpoint: str) -> Config:
    return Config(data_dir=tmp_path / "data",
                  storage=StorageSettings(backend="s3", bucket=bucket, endpoint=endpoint))


def test_startup_accepts_a_reachable_bucket(s3_bucket: Bucket, tmp_path: Path) -> None:  # noqa: F811
    """The start check passes for a bucket that exists and takes the credentials."""
    check_storage(_s3_config(tmp_path, s3_bucket.name, s3_bucket.endpoint))


def test_startup_names_a_missing_bucket(s3_bucket: Bucket, tmp_path: Path) -> None:  # noqa: F811
    """A bucket that does not exist is named, with the endpoint."""
    with pytest.raises(StartupError, match=r"storage.bucket = 'nope' does not exist at http://127.0.0.1"):
        check_storage(_s3_config(tmp_path, "nope", s3_bucket.endpoint))


def test_startup_names_an_unreachable_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listening at the endpoint: "unreachable", naming it."""
    import socket

    s3_environment(monkeypatch)
    with socket.socket() as probe:  # a port with nothing behind it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StartupError, match=rf"object store at http://127.0.0.1:{port} is unreachable"):
        check_storage(_s3_config(tmp_path, "imagine", f"http://127.0.0.1:{port}"))


def test_startup_names_missing_credentials(s3_endpoint: str, tmp_path: Path,  # noqa: F811
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere: the message says which environment variables to set."""
    s3_environment(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StartupError, match="no S3 credentials found: set AWS_ACCESS_KEY_ID"):
        check_storage(_s3_config(tmp_path, "imagine", s3_endpoint))


def test_startup_names_refused_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 403 from the store: the credentials were refused (the stub answers as AWS does)."""
    import boto3
    from botocore.stub import Stubber

    s3_environment(monkeypatch)
    client = boto3.session.Session().client("s3", region_name="us-east-1")
    store = S3Store(tmp_path, "imagine", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(StorageError, match=r"storage.bucket = 'imagine': the object store refused the cred"):
            store.check()


def test_worker_exits_2_with_one_line_when_the_bucket_is_missing(s3_bucket: Bucket, tmp_path: Path,  # noqa: F811
                                                                 capsys: pytest.CaptureFixture) -> None:
    """`python -m bot worker` with a missing bucket: exit 2 and one line naming it, before any model loads."""
    config = tmp_path / "config.toml"
    config.write_text(f'[data]\ndir = "{tmp_path / "data"}"\n[storage]\nbackend = "s3"\nbucket = "missing"\n'
                      f'endpoint = "{s3_bucket.endpoint}"\n')
    assert main(["--config", str(config), "worker"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the log lines: the one line that says why
    assert last.startswith("imagine-bot: storage.bucket = 'missing' does not exist at http://127.0.0.1")
