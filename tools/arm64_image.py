"""The image on arm64 (most NAS boxes of the last years), built and run here under emulation.

No image registry is reachable from these machines and the official Python image cannot be
pulled, so, as tests/test_container.py does for amd64, the base is made from Debian's arm64
packages with mmdebstrap and given to deploy/container/Containerfile through its BASE build
argument. The arm64 binaries run through qemu-user-static (binfmt_misc, registered with the F
flag so that containers use it). Then, as a NAS owner's first start goes: an empty /config is
initialised by the image, the runner and the console start as PUID:PGID, /healthz answers,
the demo pipeline runs to the end, and the library's files belong to PUID:PGID.

Not part of CI: emulation makes it minutes of one core. Prints the image's size, the build
time and the cold start (container start to /healthz 200) under emulation.

Needs root, podman, runc, mmdebstrap and qemu-user-static (Debian packages):
    apt-get install podman runc mmdebstrap qemu-user-static binfmt-support
    python tools/arm64_image.py [--keep-image]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_container import (  # noqa: E402  (the container test's helpers: podman flags, volumes, waits)
    CACHE,
    HOST_CA,
    PGID,
    PUID,
    RUN_FLAGS,
    Volumes,
    enqueue,
    free_port,
    healthz,
    podman,
    set_env,
    wait_job,
)

from catalogsync_ops.demo.server import DemoServer  # noqa: E402

ARCH = "arm64"
BASE = f"localhost/catalogsync-test-base:bookworm-{ARCH}"
IMAGE = f"localhost/catalogsync-ops:{ARCH}"


def emulation_ready() -> None:
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not handler.exists():
        raise SystemExit("no qemu-aarch64 handler in binfmt_misc: apt-get install qemu-user-static binfmt-support "
                         "(and mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc if it is not mounted)")
    if "flags: " not in handler.read_text() or "F" not in handler.read_text().split("flags: ", 1)[1].split()[0]:
        raise SystemExit("qemu-aarch64 is registered without the F flag: containers cannot use it")


def base_image() -> None:
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / f"base-bookworm-{ARCH}.tar"
    if not tar.exists():
        subprocess.run(["mmdebstrap", f"--architectures={ARCH}", "--variant=minbase", "--format=tar",
                        "--include=python3,python3-venv,ca-certificates,tzdata", "bookworm", str(tar) + ".part",
                        "http://deb.debian.org/debian"], check=True, capture_output=True, timeout=1800)
        os.replace(str(tar) + ".part", tar)
    podman("import", "--arch", ARCH, str(tar), BASE)


def build() -> float:
    flags = ["--arch", ARCH, "--build-arg", f"BASE={BASE}"]
    if Path(HOST_CA).exists():
        flags += ["-v", f"{HOST_CA}:/host-ca.crt:ro", "--build-arg", "PIP_CERT=/host-ca.crt"]
    started = time.monotonic()
    podman("build", "--format", "docker", *RUN_FLAGS, *flags, "-f", "deploy/container/Containerfile", "-t", IMAGE,
           str(ROOT), timeout=3600)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-image", action="store_true", help="leave the arm64 image in podman's store")
    args = parser.parse_args()
    emulation_ready()
    base_image()
    built = build()
    machine = podman("run", "--rm", "--arch", ARCH, *RUN_FLAGS, "--entrypoint", "uname", IMAGE, "-m").stdout.strip()
    assert machine == "aarch64", machine
    names = ["csync-arm64-runnerd", "csync-arm64-web"]
    with tempfile.TemporaryDirectory(prefix="csync-arm64-") as tmp, DemoServer() as demo:
        volumes = Volumes(Path(tmp))
        try:
            # An empty /config made into a home by the image itself, then pointed at the demo.
            podman("run", "--rm", "--arch", ARCH, *RUN_FLAGS, *volumes.flags(), IMAGE, "init")
            port = free_port()
            set_env(volumes.config, DEMO_BASE_URL=demo.base_url, DOWNLOAD_SOURCES="demo,demo2", MIN_FREE_DISK_MB=1,
                    RETRY_BACKOFF_SECONDS=0, WEB_PORT=port)
            (volumes.config / "input" / "demo.txt").write_text(demo.playlist_urls()[0] + "\n", encoding="utf-8")
            started = time.monotonic()
            for name, service in zip(names, ("runnerd", "web"), strict=True):
                podman("rm", "-f", name, check=False)
                podman("run", "-d", "--name", name, "--arch", ARCH, *RUN_FLAGS, *volumes.flags(), IMAGE, service)
            healthz(port, timeout=600)
            cold = time.monotonic() - started
            job = enqueue(names[0])
            status = wait_job(volumes, job, timeout=1200)
            songs = [p for p in volumes.music.rglob("*") if p.is_file()]
            owners = {(p.stat().st_uid, p.stat().st_gid) for p in volumes.music.rglob("*")}
            health = [podman("exec", name, "catalogsync", "health", check=False).returncode for name in names]
            size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
            print(f"arm64 image ({machine}, under qemu): {size / 2**20:.0f} MiB, built in {built:.0f} s; cold start"
                  f" to /healthz 200: {cold:.1f} s; demo pipeline: {status}, {len(songs)} files; owners {owners}"
                  f" (PUID:PGID {PUID}:{PGID}); health checks {health}")
            assert status == "completed" and songs and owners == {(PUID, PGID)} and health == [0, 0]
        finally:
            for name in names:
                podman("rm", "-f", "-t", "5", name, check=False)
            if not args.keep_image:
                podman("rmi", "-f", IMAGE, check=False)


if __name__ == "__main__":
    main()
