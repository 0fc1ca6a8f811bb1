"""Where images live: the data folder (`[storage] backend = "local"`) or an S3-compatible bucket (`"s3"`).

Both stores keep one layout, relative to the data folder or under the bucket's prefix: `outputs/<job_id>/` (tiles,
grid.png, preview.jpg) and `uploads/<name>.png`; the paths stored in jobs are these relative paths. Workers always
write a job into their own data folder (`job_folder`) and then `publish_job`; with S3 that uploads the files and
removes the local copies, and the bot fetches what it posts into `<data.dir>/cache/`. So with S3, the bot and
workers on other machines share only the database URL and the bucket.

Every method is blocking (file I/O, boto3): callers run them in a thread (`asyncio.to_thread`), never on the loop.
S3 failures raise `StorageError` (an `OSError`, so delivery retries them and the pruner tries again next pass);
a missing object raises `FileNotFoundError`, as a missing file does.
"""

from __future__ import annotations

import mimetypes
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.config import Config

PREVIEW = "preview.jpg"
RESULT_FILES = ("grid.png", "tile-1.png")  # what is posted: the grid, or the one image of a single-image job


class StorageError(OSError):
    """The object store failed or refused a request; the message names the bucket, the key and the reason."""


class ImageStore(Protocol):
    """What the worker, delivery, the pruner and export need from wherever images live."""

    data_dir: Path  # this host's data folder: the stored layout (local) or the working folder and cache (S3)

    def job_folder(self, job_id: int) -> Path:
        """The local folder a worker writes a job's files (and previews) into."""

    def publish_job(self, job_id: int) -> None:
        """Make the job's folder visible to the bot (before the job is marked succeeded)."""

    def publish_preview(self, job_id: int) -> None:
        """Make the job's latest preview.jpg visible to the bot."""

    def publish_file(self, relative: str) -> None:
        """Make one file under the data folder (an upload) visible to every worker."""

    def local_copy(self, relative: str) -> Path:
        """A local path holding the file stored at `relative` (an init image); FileNotFoundError if none."""

    def drop_local_copy(self, relative: str) -> None:
        """Forget a copy made by `local_copy` (the worker is done with it)."""

    def result_file(self, job_id: int) -> Path:
        """A local path of what to post for a finished job: grid.png, else tile-1.png."""

    def preview_bytes(self, job_id: int) -> bytes | None:
        """The running job's latest preview, or None when there is none yet."""

    def delete_job(self, job_id: int) -> int:
        """Delete a job's images (outputs and preview); the bytes freed."""

    def delete_uploads_before(self, cutoff: datetime) -> tuple[int, int]:
        """Delete uploads last written before `cutoff`; (count, bytes)."""

    def export_job(self, job_id: int, target: Path) -> int:
        """Copy a job's files into `target` (created); the number copied, 0 when it has none."""

    def export_file(self, relative: str, target: Path) -> bool:
        """Copy one stored file to `target`; False when it does not exist."""

    def check(self) -> None:
        """At start: StorageError naming the problem when images cannot be stored."""


class LocalStore:
    """Images in the data folder itself (one host, or a folder every host mounts)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def job_folder(self, job_id: int) -> Path:
        """`<data>/outputs/<job_id>`."""
        return self.data_dir / "outputs" / str(job_id)

    def publish_job(self, job_id: int) -> None:
        """Nothing to do: the files are where the bot reads them."""

    def publish_preview(self, job_id: int) -> None:
        """Nothing to do: the preview is where the bot reads it."""

    def publish_file(self, relative: str) -> None:
        """Nothing to do: the file is where workers read it."""

    def local_copy(self, relative: str) -> Path:
        """The file itself (a worker may find it missing: FileNotFoundError when it is opened)."""
        return self.data_dir / relative

    def drop_local_copy(self, relative: str) -> None:
        """Nothing to do: the file is the original."""

    def result_file(self, job_id: int) -> Path:
        """grid.png when there is one, else tile-1.png."""
        folder = self.job_folder(job_id)
        grid = folder / "grid.png"
        return grid if grid.exists() else folder / "tile-1.png"

    def preview_bytes(self, job_id: int) -> bytes | None:
        """preview.jpg's bytes, or None."""
        try:
            return (self.job_folder(job_id) / PREVIEW).read_bytes()
        except FileNotFoundError:
            return None

    def delete_job(self, job_id: int) -> int:
        """Remove `outputs/<job_id>`; the bytes it held."""
        folder = self.job_folder(job_id)
        if not folder.is_dir():
            return 0
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return size

    def delete_uploads_before(self, cutoff: datetime) -> tuple[int, int]:
        """Remove files in `uploads/` modified before `cutoff`."""
        folder = self.data_dir / "uploads"
        if not folder.is_dir():
            return 0, 0
        count = size = 0
        limit = cutoff.timestamp()
        for file in folder.iterdir():
            try:
                stat = file.stat()
                if file.is_file() and stat.st_mtime < limit:
                    file.unlink()
                    count, size = count + 1, size + stat.st_size
            except FileNotFoundError:
                continue
        return count, size

    def export_job(self, job_id: int, target: Path) -> int:
        """copytree of the job's folder."""
        source = self.job_folder(job_id)
        if not source.is_dir():
            return 0
        shutil.copytree(source, target)
        return sum(1 for f in source.rglob("*") if f.is_file())

    def export_file(self, relative: str, target: Path) -> bool:
        """copy2 of the file."""
        source = self.data_dir / relative
        if not source.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
        return True

    def check(self) -> None:
        """Nothing here: bot/startup.py checks that the data folder is writable."""


class S3Store:
    """Images in an S3-compatible bucket under `<prefix>/`; local files are a working folder and a cache.

    Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
    a shared credentials file, an instance role), never from config.toml.
    """

    def __init__(self, data_dir: Path, bucket: str, *, prefix: str = "", endpoint: str = "", region: str = "",
                 client: Any = None) -> None:
        self.data_dir, self.bucket, self.prefix = data_dir, bucket, prefix.strip("/")
        self.cache_dir = data_dir / "cache"  # copies fetched from the bucket, in the bucket's layout
        self.endpoint, self.region = endpoint, region
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (boto3 clients are thread-safe; sessions are not)."""
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config as BotoConfig

                options = BotoConfig(connect_timeout=5, read_timeout=30,
                                     retries={"max_attempts": 3, "mode": "standard"},
                                     # MinIO, moto and most self-hosted stores want path-style URLs
                                     s3={"addressing_style": "path"} if self.endpoint else None)
                self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint or None,
                                                              region_name=self.region or None, config=options)
            return self._client

    def key(self, relative: str) -> str:
        """The object key of a path relative to the data folder."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def where(self, relative: str = "") -> str:
        """`s3://bucket/key` for messages."""
        return f"s3://{self.bucket}/{self.key(relative)}"

    @contextmanager
    def _errors(self, relative: str) -> Iterator[None]:
        """botocore's exceptions as FileNotFoundError (no such object) or StorageError (anything else)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"{self.where(relative)} does not exist") from None
            raise StorageError(f"object store {self.where(relative)}: {describe(exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(f"object store {self.where(relative)}: {describe(exc)}") from None

    # -- the worker's side ------------------------------------------------------------------------------------

    def job_folder(self, job_id: int) -> Path:
        """`<data>/outputs/<job_id>`: the working folder, emptied once the job is published."""
        return self.data_dir / "outputs" / str(job_id)

    def _put(self, path: Path, relative: str) -> None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with self._errors(relative):
            self.client.upload_file(str(path), self.bucket, self.key(relative),
                                    ExtraArgs={"ContentType": content_type})

    def publish_job(self, job_id: int) -> None:
        """Upload the job's files (previews went up already), then remove the folder (the bucket holds them now)."""
        folder = self.job_folder(job_id)
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.name != PREVIEW:
                self._put(file, f"outputs/{job_id}/{file.name}")
        shutil.rmtree(folder, ignore_errors=True)

    def publish_preview(self, job_id: int) -> None:
        """Upload preview.jpg and remove it here (the worker writes one at most every ~2 s: one small PUT per 2 s)."""
        folder = self.job_folder(job_id)
        self._put(folder / PREVIEW, f"outputs/{job_id}/{PREVIEW}")
        (folder / PREVIEW).unlink(missing_ok=True)
        try:  # a preview saved while the job was being published must not leave a folder behind
            folder.rmdir()
        except OSError:
            pass  # the job's own files are in it: publish_job removes it

    def publish_file(self, relative: str) -> None:
        """Upload the file, then remove the local one."""
        path = self.data_dir / relative
        self._put(path, relative)
        path.unlink(missing_ok=True)

    def local_copy(self, relative: str) -> Path:
        """Download into the cache (once: stored images never change)."""
        target = self.cache_dir / relative
        if target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with self._errors(relative):
            self.client.download_file(self.bucket, self.key(relative), str(partial))
        partial.replace(target)
        return target

    def drop_local_copy(self, relative: str) -> None:
        """Remove the cached copy."""
        (self.cache_dir / relative).unlink(missing_ok=True)

    # -- the bot's side ---------------------------------------------------------------------------------------

    def result_file(self, job_id: int) -> Path:
        """grid.png, else tile-1.png, fetched into the cache."""
        for name in RESULT_FILES:
            try:
                return self.local_copy(f"outputs/{job_id}/{name}")
            except FileNotFoundError:
                continue
        raise FileNotFoundError(f"{self.where(f'outputs/{job_id}/')} holds no grid.png or tile-1.png")

    def preview_bytes(self, job_id: int) -> bytes | None:
        """The preview object's bytes (not cached: it changes while the job runs), or None."""
        relative = f"outputs/{job_id}/{PREVIEW}"
        try:
            with self._errors(relative):
                return self.client.get_object(Bucket=self.bucket, Key=self.key(relative))["Body"].read()
        except FileNotFoundError:
            return None

    def _objects(self, relative_prefix: str) -> Iterator[dict[str, Any]]:
        """Every object under a relative prefix (Key, Size, LastModified), page by page."""
        with self._errors(relative_prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=self.key(relative_prefix))
            for page in pages:
                yield from page.get("Contents", [])

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = [{"Key": key} for key in keys[start:start + 1000]]
            with self._errors(""):
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageError(f"object store s3://{self.bucket}/{first.get('Key')}: could not delete "
                                   f"({first.get('Code')}: {first.get('Message')})")

    def delete_job(self, job_id: int) -> int:
        """Delete `outputs/<job_id>/` in the bucket and any local copies; the bytes freed in the bucket."""
        objects = list(self._objects(f"outputs/{job_id}/"))
        self._delete([obj["Key"] for obj in objects])
        shutil.rmtree(self.cache_dir / "outputs" / str(job_id), ignore_errors=True)
        shutil.rmtree(self.job_folder(job_id), ignore_errors=True)
        return sum(obj["Size"] for obj in objects)

    def delete_uploads_before(self, cutoff: datetime) -> tuple[int, int]:
        """Delete upload objects last modified before `cutoff`, and their cached copies."""
        cutoff = cutoff if cutoff.tzinfo is not None else cutoff.replace(tzinfo=UTC)  # S3 times are aware, UTC
        old = [obj for obj in self._objects("uploads/") if obj["LastModified"] < cutoff]
        self._delete([obj["Key"] for obj in old])
        for obj in old:
            (self.cache_dir / "uploads" / obj["Key"].rsplit("/", 1)[-1]).unlink(missing_ok=True)
        return len(old), sum(obj["Size"] for obj in old)

    def export_job(self, job_id: int, target: Path) -> int:
        """Download `outputs/<job_id>/*` into `target`."""
        objects = list(self._objects(f"outputs/{job_id}/"))
        for obj in objects:
            relative = obj["Key"][len(self.key("")):]
            target.mkdir(parents=True, exist_ok=True)
            with self._errors(relative):
                self.client.download_file(self.bucket, obj["Key"], str(target / relative.rsplit("/", 1)[-1]))
        return len(objects)

    def export_file(self, relative: str, target: Path) -> bool:
        """Download one object to `target`."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._errors(relative):
                self.client.download_file(self.bucket, self.key(relative), str(target))
        except FileNotFoundError:
            target.unlink(missing_ok=True)
            return False
        return True

    def check(self) -> None:
        """The bucket exists and these credentials may use it; StorageError naming the problem otherwise."""
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        at = f" at {self.endpoint}" if self.endpoint else ""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise StorageError(f"storage.bucket = {self.bucket!r}: no S3 credentials found: set AWS_ACCESS_KEY_ID "
                               "and AWS_SECRET_ACCESS_KEY in the environment") from None
        except EndpointConnectionError:
            raise StorageError(f"storage.bucket = {self.bucket!r}: the object store{at or ' (AWS)'} is unreachable: "
                               "check storage.endpoint and the network") from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"storage.bucket = {self.bucket!r} does not exist{at}: create it or fix "
                                   "storage.bucket") from None
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"):
                raise StorageError(f"storage.bucket = {self.bucket!r}{at}: the object store refused the "
                                   f"credentials ({code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and "
                                   "the bucket's policy") from None
            raise StorageError(f"storage.bucket = {self.bucket!r}{at}: {describe(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - other botocore/network failures: one line, named
            raise StorageError(f"storage.bucket = {self.bucket!r}{at}: {describe(exc)}") from None


def describe(exc: BaseException) -> str:
    """One short line for a botocore exception (code and message, no traceback)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error"):
        error = response["Error"]
        return f"{error.get('Code', '?')}: {error.get('Message') or type(exc).__name__}"
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def store_for(config: Config) -> ImageStore:
    """The store `[storage]` asks for, rooted at this host's data folder."""
    s = config.storage
    if s.backend == "s3":
        return S3Store(config.data_dir, s.bucket, prefix=s.prefix, endpoint=s.endpoint, region=s.region)
    return LocalStore(config.data_dir)
