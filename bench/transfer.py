"""Transfer speed: our downloader and S3 uploader beside plain tools, in one run.

Servers run as their own processes on 127.0.0.1 (the demo platform for a 200 MB body, moto's
S3 server for uploads); every client runs in a child process, so its CPU time and peak RSS
are its own. Prints MB/s, CPU seconds per MB and peak RSS for:
  download: ours as the pipeline runs it (fetch + fsync + rename; the file is hashed once,
            after tagging, so not while streaming) | ours hashing while streaming
            (hash_body=True: the same work as the plain loop) | a plain requests loop (1 MiB
            chunks, sha256, fsync at the end) | curl -o
  upload:   ours (S3Uploader: HEAD, multipart, 4 parts at once) beside boto3 upload_file
            (max_concurrency 4) with the same request-checksum setting: when_required (our
            default: no checksum headers, which every S3-compatible server takes) and
            when_supported (boto3's default: a CRC32 on every part)
  both:     our download and our upload running together (peak RSS)

Usage: python bench/transfer.py [--mb 200] [--rounds 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# ---------------------------------------------------------------- clients (run in child processes)


def client_download_ours(url: str, dest: str, hash_body: bool = False) -> int:
    import requests

    from catalogsync_ops.transfer.downloader import commit_file, fetch, part_path_for

    dest_path = Path(dest)
    with requests.Session() as session:
        result = fetch(url, part_path_for(dest_path), session=session, hash_body=hash_body)
    commit_file(part_path_for(dest_path), dest_path)
    return result.size


def client_download_ours_hashed(url: str, dest: str) -> int:
    return client_download_ours(url, dest, hash_body=True)


def client_download_requests(url: str, dest: str) -> int:
    import requests

    digest, size = hashlib.sha256(), 0
    with requests.Session() as session, session.get(url, stream=True, timeout=30) as response, open(dest, "wb") as out:
        for chunk in response.iter_content(chunk_size=1024 * 1024):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


def client_download_curl(url: str, dest: str) -> int:
    subprocess.run(["curl", "-s", "-f", "-o", dest, url], check=True)
    return os.path.getsize(dest)


def client_upload_ours(endpoint: str, path: str, key: str, sha: str, mode: str = "when_required") -> int:
    from catalogsync_ops.transfer.storage.s3 import S3Uploader

    size = os.path.getsize(path)  # the pipeline knows the hash from file_locations: not timed here
    uploader = S3Uploader(bucket="bench", endpoint=endpoint, region="us-east-1", access_key="x", secret_key="x",
                          checksum_mode=mode)
    uploader.upload(Path(path), key, size=size, sha256=sha)
    return size


def client_upload_ours_crc(endpoint: str, path: str, key: str, sha: str) -> int:
    return client_upload_ours(endpoint, path, key, sha, "when_supported")


def client_upload_boto3(endpoint: str, path: str, key: str, sha: str, mode: str = "when_required") -> int:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x",
                          config=Config(request_checksum_calculation=mode, response_checksum_validation=mode))
    client.upload_file(path, "bench", key, Config=TransferConfig(max_concurrency=4))
    return os.path.getsize(path)


def client_upload_boto3_crc(endpoint: str, path: str, key: str, sha: str) -> int:
    return client_upload_boto3(endpoint, path, key, sha, "when_supported")


def client_both(url: str, dest: str, endpoint: str, path: str, key: str, sha: str) -> int:
    sizes = []
    threads = [threading.Thread(target=lambda: sizes.append(client_download_ours(url, dest))),
               threading.Thread(target=lambda: sizes.append(client_upload_ours(endpoint, path, key, sha)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(sizes)


CLIENTS = {name[len("client_"):]: fn for name, fn in globals().items() if name.startswith("client_")}


# ---------------------------------------------------------------- driver


def run_child(name: str, *args: str) -> dict:
    """Run one client in a child process; return wall time, its CPU seconds and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--client", name, *args], stdout=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read()
    proc.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"client {name} failed")
    answer = json.loads(out)
    # "wall" is the transfer itself, timed in the child (the same imports are loaded first in
    # every child); CPU and RSS are the whole child's.
    return {"wall": answer["seconds"], "process_wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": usage.ru_maxrss / 1024, "bytes": answer["bytes"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--client")
    args, rest = parser.parse_known_args()
    if args.client:
        import boto3  # noqa: F401  (imports are not part of the transfer being timed)
        import requests  # noqa: F401

        import catalogsync_ops.transfer.downloader  # noqa: F401
        import catalogsync_ops.transfer.storage.s3  # noqa: F401

        started = time.perf_counter()
        size = CLIENTS[args.client](*rest)
        print(json.dumps({"bytes": size, "seconds": time.perf_counter() - started}))
        return
    size = args.mb * 1024 * 1024
    tmp = Path(tempfile.mkdtemp(prefix="csync-transfer-"))
    demo_port, moto_port = free_port(), free_port()
    servers = [
        subprocess.Popen([str(BIN / "runnerd"), "demo-server", "--port", str(demo_port)], stdout=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_port(demo_port)
        wait_port(moto_port)
        url = f"http://127.0.0.1:{demo_port}/blob/{size}"
        endpoint = f"http://127.0.0.1:{moto_port}"
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
        s3.create_bucket(Bucket="bench")
        source = tmp / "source.bin"
        client_download_requests(url, str(source))
        from catalogsync_ops.fileio import sha256_file

        sha = sha256_file(source)
        results: dict[str, list[dict]] = {}
        for round_no in range(args.rounds):
            for name in ("download_ours", "download_ours_hashed", "download_requests", "download_curl"):
                dest = tmp / f"{name}.bin"
                results.setdefault(name, []).append(run_child(name, url, str(dest)))
                dest.unlink()
            order = ("upload_ours", "upload_boto3", "upload_ours_crc", "upload_boto3_crc")
            for name in order if round_no % 2 == 0 else reversed(order):
                key = f"{name}-{round_no}"
                results.setdefault(name, []).append(run_child(name, endpoint, str(source), key, sha))
                s3.delete_object(Bucket="bench", Key=key)  # moto keeps objects in memory
            dest = tmp / "both.bin"
            results.setdefault("both", []).append(run_child("both", url, str(dest), endpoint, str(source),
                                                            f"both-{round_no}", sha))
            s3.delete_object(Bucket="bench", Key=f"both-{round_no}")
            dest.unlink()
        mb = size / 2**20

        def best(name: str) -> dict:
            r = min(results[name], key=lambda r: r["wall"])
            return {**r, "mbps": mb / r["wall"], "cpu_per_mb_ms": 1000 * r["cpu"] / mb}

        rows = {name: best(name) for name in results}
        print(f"{args.mb} MB over loopback, best of {args.rounds} rounds; servers in their own processes")
        for name in ("download_ours", "download_ours_hashed", "download_requests", "download_curl", "upload_ours",
                     "upload_boto3", "upload_ours_crc", "upload_boto3_crc"):
            r = rows[name]
            print(f"  {name:<20} {r['mbps']:8.1f} MB/s   CPU {r['cpu_per_mb_ms']:5.2f} ms/MB   peak RSS "
                  f"{r['rss_mb']:6.1f} MB")

        def ratio(a: str, b: str) -> str:
            return f"{rows[a]['mbps'] / rows[b]['mbps']:.0%}"

        print(f"  download: ours hashing while streaming = {ratio('download_ours_hashed', 'download_requests')} of the"
              " plain requests loop doing the same work (bar: >= 90%)")
        print(f"            ours as the pipeline runs it = {ratio('download_ours', 'download_curl')}"
              " of curl (bar: >= 60%)")
        print(f"  upload:   ours = {ratio('upload_ours', 'upload_boto3')} of boto3 upload_file with when_required"
              f" (our default), {ratio('upload_ours_crc', 'upload_boto3_crc')} with when_supported (boto3's default)"
              " (bar: >= 90%)")
        print(f"            (ours with when_required = {ratio('upload_ours', 'upload_boto3_crc')} of boto3 with its"
              " default when_supported: moto completes CRC32 multipart uploads faster)")
        print(f"  one download and one upload together: peak RSS {rows['both']['rss_mb']:.1f} MB (bar: <= 100 MB)")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
