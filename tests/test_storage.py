"""Uploads to moto's S3 server on 127.0.0.1 and to a local mirror folder."""
from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections import Counter

import boto3
import pytest

from catalogsync_ops.errors import SourceError
from catalogsync_ops.transfer.downloader import Canceled, CancelToken
from catalogsync_ops.transfer.storage import build_uploader
from catalogsync_ops.transfer.storage.base import UploadState
from catalogsync_ops.transfer.storage.local import LocalUploader
from catalogsync_ops.transfer.storage.s3 import S3Uploader

CREDS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


@pytest.fixture
def bucket(moto_endpoint):
    name = f"music-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket=name)
    return name


def make_uploader(moto_endpoint, bucket, **kwargs) -> S3Uploader:
    uploader = S3Uploader(bucket=bucket, endpoint=moto_endpoint, prefix="music", **CREDS, **kwargs)
    uploader.calls = Counter()
    # Count the requests this client really sends (an observer on botocore's own event hook).
    def seen(request, **kw):
        what = "part" if "partNumber=" in request.url else "uploads" if "uploads" in request.url else ""
        uploader.calls.update([f"{request.method} {what}".strip()])

    uploader.client.meta.events.register("before-send.s3.*", seen)
    return uploader


def write_file(path, size: int) -> tuple[int, str]:
    data = os.urandom(size)
    path.write_bytes(data)
    return size, hashlib.sha256(data).hexdigest()


def test_uploading_the_same_file_twice_makes_one_put(moto_endpoint, bucket, tmp_path):
    path = tmp_path / "song.mp3"
    size, sha = write_file(path, 300_000)
    uploader = make_uploader(moto_endpoint, bucket)
    first = uploader.upload(path, uploader.object_key("a/song.mp3"), size=size, sha256=sha)
    second = uploader.upload(path, uploader.object_key("a/song.mp3"), size=size, sha256=sha)
    assert not first.skipped and second.skipped
    assert uploader.calls["PUT"] == 1
    body = uploader.client.get_object(Bucket=bucket, Key="music/a/song.mp3")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha


def test_a_changed_file_is_uploaded_again(moto_endpoint, bucket, tmp_path):
    path = tmp_path / "song.mp3"
    uploader = make_uploader(moto_endpoint, bucket)
    size, sha = write_file(path, 1000)
    uploader.upload(path, "k", size=size, sha256=sha)
    size, sha = write_file(path, 1200)
    assert not uploader.upload(path, "k", size=size, sha256=sha).skipped
    assert uploader.calls["PUT"] == 2


@pytest.mark.parametrize("first_mode,second_mode", [
    ("when_required", "when_required"),
    ("when_supported", "when_supported"),
    # The config changed between the attempts: the upload keeps the checksum it was created with.
    ("when_supported", "when_required"),
])
def test_multipart_interrupted_halfway_resumes_and_leaves_no_dangling_upload(moto_endpoint, bucket, tmp_path,
                                                                            first_mode, second_mode):
    path = tmp_path / "big.flac"
    size, sha = write_file(path, 6 * 5 * 1024 * 1024 + 1234)  # 7 parts of 5 MiB
    kwargs = dict(part_size=5 * 1024 * 1024, multipart_threshold=5 * 1024 * 1024, concurrency=1)
    first = make_uploader(moto_endpoint, bucket, checksum_mode=first_mode, **kwargs)
    recorded = []
    token = CancelToken()

    def on_state(state: UploadState) -> None:
        recorded.append(UploadState(state.upload_id, dict(state.parts)))
        if len(state.parts) == 3:
            token.cancel("interrupt")  # like a process stopped halfway: the upload stays open

    with pytest.raises(Canceled):
        first.upload(path, "big.flac", size=size, sha256=sha, cancel=token, on_state=on_state)
    saved = recorded[-1]
    assert saved.upload_id and len(saved.parts) == 3
    # A stray upload of the same key (a crash before its id was recorded) must be cleaned too.
    first.client.create_multipart_upload(Bucket=bucket, Key="big.flac")
    second = make_uploader(moto_endpoint, bucket, checksum_mode=second_mode, **kwargs)
    result = second.upload(path, "big.flac", size=size, sha256=sha, state=saved)
    assert not result.skipped
    assert second.calls["PUT part"] == 4, second.calls  # only the parts that were missing
    body = second.client.get_object(Bucket=bucket, Key="big.flac")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha
    assert second.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # when_supported: every part went up with a CRC32 the server checked, and the object has one.
    head = second.client.head_object(Bucket=bucket, Key="big.flac", ChecksumMode="ENABLED")
    assert bool(head.get("ChecksumCRC32")) == (first_mode == "when_supported"), head


def test_a_canceled_multipart_upload_is_aborted(moto_endpoint, bucket, tmp_path):
    path = tmp_path / "big.flac"
    size, sha = write_file(path, 3 * 5 * 1024 * 1024)
    uploader = make_uploader(moto_endpoint, bucket, part_size=5 * 1024 * 1024,
                             multipart_threshold=5 * 1024 * 1024, concurrency=1)
    token = CancelToken()
    with pytest.raises(Canceled):
        uploader.upload(path, "big.flac", size=size, sha256=sha, cancel=token,
                        on_state=lambda s: token.cancel("cancel") if s.parts else None)
    assert uploader.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_missing_bucket_fails_as_config_with_a_hint(moto_endpoint, tmp_path):
    from catalogsync_ops.errors import SourceError

    uploader = S3Uploader(bucket="no-such-bucket-here", endpoint=moto_endpoint, **CREDS)
    path = tmp_path / "x"
    size, sha = write_file(path, 10)
    with pytest.raises(SourceError) as info:
        uploader.upload(path, "x", size=size, sha256=sha)
    assert info.value.error_class == "config" and "OBJECT_BUCKET" in str(info.value)


@pytest.fixture
def checking_s3():
    """moto's S3 server checking signatures against its IAM, as a real store does: one user with
    a key that may write one bucket. Its own process (the setting is read at import)."""
    import json
    import subprocess
    import sys

    import boto3

    code = ("from moto.server import ThreadedMotoServer\n"
            "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start()\n"
            "print(s.get_host_and_port()[1], flush=True)\nimport sys; sys.stdin.read()")
    # The first four calls (the setup below) go without a signature check; every later one is checked.
    server = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    try:
        endpoint = f"http://127.0.0.1:{int(server.stdout.readline())}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup",
                           aws_secret_access_key="setup")
        iam.create_user(UserName="nas")
        key = iam.create_access_key(UserName="nas")["AccessKey"]
        iam.put_user_policy(UserName="nas", PolicyName="music", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup",
                     aws_secret_access_key="setup").create_bucket(Bucket="music")
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        server.stdin.close()
        server.kill()
        server.wait(timeout=30)
        server.stdout.close()


@pytest.mark.parametrize("wrong", ["secret", "key id"])
def test_wrong_credentials_fail_as_auth_with_a_hint(checking_s3, tmp_path, wrong):
    from catalogsync_ops.errors import SourceError

    endpoint, key_id, secret = checking_s3
    path = tmp_path / "x"
    size, sha = write_file(path, 10)
    right = S3Uploader(bucket="music", endpoint=endpoint, access_key=key_id, secret_key=secret, region="us-east-1")
    assert right.upload(path, "x", size=size, sha256=sha)  # the right key works: the server is not refusing all
    bad = {"secret": {"access_key": key_id, "secret_key": secret[::-1]},
           "key id": {"access_key": "AKIA" + "X" * 16, "secret_key": secret}}[wrong]
    uploader = S3Uploader(bucket="music", endpoint=endpoint, region="us-east-1", **bad)
    with pytest.raises(SourceError) as info:
        uploader.upload(path, "y", size=size, sha256=sha)
    assert info.value.error_class == "auth", info.value
    # (The first call is a HEAD: an error to a HEAD has no body, so no code, only the 403; as on AWS.)
    assert "refused our credentials" in str(info.value) and "OBJECT_SECRET_ACCESS_KEY" in str(info.value)


def test_local_mirror_copies_atomically_and_skips_an_identical_file(tmp_path):
    path = tmp_path / "song.mp3"
    size, sha = write_file(path, 5000)
    uploader = LocalUploader(tmp_path / "mirror", prefix="music")
    key = uploader.object_key("周杰伦/叶惠美/晴天.mp3")
    assert not uploader.upload(path, key, size=size, sha256=sha).skipped
    assert (tmp_path / "mirror" / key).read_bytes() == path.read_bytes()
    assert uploader.upload(path, key, size=size, sha256=sha).skipped
    assert [p.name for p in (tmp_path / "mirror" / "music" / "周杰伦" / "叶惠美").iterdir()] == ["晴天.mp3"]


def test_backend_none_builds_no_uploader(tmp_path):
    assert build_uploader({"OBJECT_BACKEND_NAME": "none"}) is None
    assert isinstance(build_uploader({"OBJECT_BACKEND_NAME": "local", "MIRROR_DIR": tmp_path}), LocalUploader)


def test_a_mirror_listing_names_each_file_by_key_and_size_as_a_walk_of_the_folder_would(tmp_path):
    """The listing (made by a process of its own) is what a walk of the mirror finds: keys with
    '/', sizes; an upload in progress, a linked folder and whatever lies beside the prefix are
    not in it; a name that is not UTF-8 comes back as the bytes it was."""
    mirror = tmp_path / "mirror"
    uploader = LocalUploader(mirror, prefix="music")
    files = {"周杰伦/叶惠美/晴天.mp3": 5000, "a b/c\nd.flac": 3, "empty.m4a": 0, "deep/er/and/deeper/x.ogg": 17}
    for key, size in files.items():
        path = mirror / "music" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
    odd = os.fsdecode(b"caf\xe9.mp3")  # Latin-1 on disk: kept as surrogate escapes
    (mirror / "music" / odd).write_bytes(b"12")
    (mirror / "music" / "周杰伦" / ".晴天.mp3.part").write_bytes(b"half")  # an upload in progress
    (mirror / "elsewhere.mp3").write_bytes(b"not under the prefix")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "linked.mp3").write_bytes(b"123")
    (mirror / "music" / "link").symlink_to(outside, target_is_directory=True)
    listed = uploader.listing()
    assert listed == {**{f"music/{key}": size for key, size in files.items()}, f"music/{odd}": 2}
    assert LocalUploader(mirror / "music").listing() == {key: size for key, size in files.items()} | {odd: 2}
    with pytest.raises(SourceError) as gone:
        LocalUploader(tmp_path / "nothing-yet", prefix="music").listing()
    assert gone.value.error_class == "config" and "is its disk mounted" in str(gone.value)


def test_a_mirror_folder_the_listing_cannot_open_fails_it_and_names_the_folder(tmp_path):
    """A folder the walk cannot open (here: its path is longer than the system allows) ends the
    listing with that error, as the walk in this process raised it, not a listing without it."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    fd = os.open(mirror, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(25):  # 25 folders of 200 characters: past PATH_MAX (4,096)
            os.mkdir("d" * 200, dir_fd=fd)
            inner = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("deep.mp3", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as deep:
            deep.write(b"1")
    finally:
        os.close(fd)
    with pytest.raises(OSError) as too_long:
        LocalUploader(mirror).listing()
    assert too_long.value.errno == errno.ENAMETOOLONG and too_long.value.filename.startswith(str(mirror / ("d" * 200)))
