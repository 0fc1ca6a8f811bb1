"""A fake Hugging Face Hub on 127.0.0.1, so tests can pull models over HTTP without the internet.

Point huggingface_hub at it with `HF_ENDPOINT=<hub.url>` (read when huggingface_hub is imported, so set it in a
subprocess's environment). It serves model repos made from local folders, one commit each, at the endpoints
`snapshot_download` and diffusers' `DiffusionPipeline.download` use (huggingface_hub 1.x/2.x):

- GET  /api/models/{repo}[/revision/{rev}]   model info: `sha` (the commit) and `siblings` (every file)
- GET  /api/models/{repo}/tree/{rev}[/path]  the file listing (one page, `recursive` or not)
- HEAD /{repo}/resolve/{rev}/{path}          `X-Repo-Commit`, `ETag`, `Content-Length`; no body
- GET  /{repo}/resolve/{rev}/{path}          the same headers and the file

A repo it does not hold answers 404 with `X-Error-Code: RepoNotFound`, a missing file 404 `EntryNotFound`, a
revision other than `main` or the commit 404 `RevisionNotFound`, as the real hub does; `refusals` make a repo id
answer a fixed status and error code (401 `GatedRepo`, a bare 503). ETags are the file's
sha256 for weights (stored in git-lfs on the real hub) and its git blob id otherwise. No auth, no xet, no ranges,
no pagination. Each request is recorded as "METHOD /path" in `requests`, so tests can say what was fetched.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".pkl", ".msgpack", ".onnx")


@dataclass(frozen=True)
class RepoFile:
    """One file of a repo, with the ids the hub gives it."""

    data: bytes
    git_oid: str  # sha1 of the git blob
    sha256: str

    @classmethod
    def read(cls, path: Path) -> RepoFile:
        data = path.read_bytes()
        git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id, not security
        return cls(data, git_oid, hashlib.sha256(data).hexdigest())

    def etag(self, path: str) -> str:
        return self.sha256 if path.endswith(LFS_SUFFIXES) else self.git_oid


@dataclass
class Repo:
    """A model repo at a single commit: its files by path in the repo."""

    files: dict[str, RepoFile]
    sha: str = ""

    @classmethod
    def from_folder(cls, folder: Path) -> Repo:
        files = {p.relative_to(folder).as_posix(): RepoFile.read(p) for p in sorted(folder.rglob("*")) if p.is_file()}
        commit = hashlib.sha1("".join(f"{p}:{f.git_oid}\n" for p, f in files.items()).encode())  # noqa: S324
        return cls(files, commit.hexdigest())


@dataclass
class FakeHub:
    """The server's state: repos by id ("org/name"), and the requests it has answered."""

    repos: dict[str, Repo]
    refusals: dict[str, tuple[int, str]] = field(default_factory=dict)  # repo id -> (status, X-Error-Code or "")
    url: str = ""
    requests: list[str] = field(default_factory=list)

    def fetched(self, repo_id: str) -> set[str]:
        """Paths of `repo_id` whose content was sent (GET .../resolve/...)."""
        prefix = f"GET /{repo_id}/resolve/"
        return {r.removeprefix(prefix).split("/", 1)[1] for r in self.requests if r.startswith(prefix)}


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Quiet: the test reads `hub.requests` instead."""

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(with_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(with_body=True)

    def _answer(self, *, with_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.requests.append(f"{self.command} {path}")
        if path.startswith("/api/models/"):
            self._api(path.removeprefix("/api/models/").split("/"), with_body)
        elif "/resolve/" in path:
            repo_id, rest = path.lstrip("/").split("/resolve/", 1)
            revision, _, file_path = rest.partition("/")
            self._resolve(repo_id, revision, file_path, with_body)
        else:
            self._error(404, "NotFound", with_body)

    def _repo(self, repo_id: str, revision: str, with_body: bool) -> Repo | None:
        """The repo at `revision`, or None after answering 404 the way the hub does."""
        repo = self.hub.repos.get(repo_id)
        if repo_id in self.hub.refusals:
            self._error(*self.hub.refusals[repo_id], with_body)
        elif repo is None:
            self._error(404, "RepoNotFound", with_body)
        elif revision not in ("main", repo.sha):
            self._error(404, "RevisionNotFound", with_body, repo)
        else:
            return repo
        return None

    def _api(self, parts: list[str], with_body: bool) -> None:
        repo_id, rest = "/".join(parts[:2]), parts[2:]
        if not rest or rest[0] == "revision":
            if (repo := self._repo(repo_id, rest[1] if rest else "main", with_body)) is not None:
                siblings = [{"rfilename": p} for p in repo.files]
                self._json({"id": repo_id, "modelId": repo_id, "sha": repo.sha, "siblings": siblings}, with_body)
        elif rest[0] == "tree" and len(rest) >= 2:
            if (repo := self._repo(repo_id, rest[1], with_body)) is not None:
                folder = "/".join(rest[2:])
                recursive = "recursive=true" in urlsplit(self.path).query.lower()
                self._json([_tree_entry(p, f) for p, f in repo.files.items()
                            if _under(p, folder, recursive=recursive)], with_body)
        else:
            self._error(404, "NotFound", with_body)

    def _resolve(self, repo_id: str, revision: str, file_path: str, with_body: bool) -> None:
        if (repo := self._repo(repo_id, revision, with_body)) is None:
            return
        file = repo.files.get(file_path)
        if file is None:
            self._error(404, "EntryNotFound", with_body, repo)
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", repo.sha)
        self.send_header("ETag", f'"{file.etag(file_path)}"')
        self.send_header("Content-Length", str(len(file.data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if with_body:
            self.wfile.write(file.data)

    def _json(self, value: object, with_body: bool) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _error(self, status: int, code: str, with_body: bool, repo: Repo | None = None) -> None:
        body = json.dumps({"error": f"{code}: {self.path}"}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if repo is not None:  # the hub names the commit when the repo exists but the file does not
            self.send_header("X-Repo-Commit", repo.sha)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)


def _under(path: str, folder: str, *, recursive: bool) -> bool:
    """Whether a tree listing of `folder` shows the file `path`."""
    prefix = f"{folder}/" if folder else ""
    return path.startswith(prefix) and (recursive or "/" not in path.removeprefix(prefix))


def _tree_entry(path: str, file: RepoFile) -> dict:
    entry: dict = {"type": "file", "path": path, "size": len(file.data), "oid": file.git_oid}
    if path.endswith(LFS_SUFFIXES):
        entry["lfs"] = {"oid": file.sha256, "size": len(file.data), "pointerSize": 134}
    return entry


@contextmanager
def serving(repos: dict[str, Path], refusals: dict[str, tuple[int, str]] | None = None) -> Iterator[FakeHub]:
    """A FakeHub serving each folder as the repo named by its key, on a free port, until the block ends."""
    hub = FakeHub({repo_id: Repo.from_folder(folder) for repo_id, folder in repos.items()}, refusals or {})
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
