"""Opening the IMAGE argument the same way in every command, with a progress bar on a TTY."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from imgsec.cli.common import read_password_stdin, stderr_console
from imgsec.image.model import Image, Platform
from imgsec.image.sources import RegistryOptions, open_image


def registry_options(
    username: str | None, password_stdin: bool, ca_cert: Path | None, insecure: bool
) -> RegistryOptions:
    return RegistryOptions(
        username=username,
        password=read_password_stdin(password_stdin),
        ca_cert=ca_cert,
        insecure=insecure,
    )


def open_cli_image(spec: str, platform: str | None, registry: RegistryOptions) -> Image:
    return open_image(spec, platform=Platform.parse(platform) if platform else None, registry=registry)


@contextmanager
def byte_progress(
    image: Image, quiet: bool, label: str = "reading layers"
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over the image's layer bytes, only when stderr is a terminal."""
    total = sum(layer.descriptor.size for layer in image.layers)
    if quiet or not sys.stderr.isatty() or total == 0:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)
