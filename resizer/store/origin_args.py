"""The storage options `purge` and `warm` share: a pair of folders (the emulator's origin) or an S3 bucket.

An option set names an origin as a small picklable description (`LocalFolders`, `Bucket`) that any process
opens for itself: `warm`'s workers, local or on a Dask cluster, cannot be handed an open client.
"""

import argparse
from pathlib import Path
from typing import NamedTuple

from ..config import Config
from .origins import LocalOrigin, Origin, S3Origin


class LocalFolders(NamedTuple):
    originals_dir: str  # absolute: a worker may run elsewhere
    derived_dir: str
    derived_prefix: str

    def open(self) -> Origin:
        return LocalOrigin(self.originals_dir, self.derived_dir, self.derived_prefix)


class Bucket(NamedTuple):
    """Credentials are not part of it: each process takes them from its environment, as S3Origin does."""

    bucket: str
    region: str
    derived_prefix: str
    endpoint_url: str | None

    def open(self) -> Origin:
        return S3Origin(self.bucket, self.region, self.derived_prefix, self.endpoint_url)


def add_origin_arguments(parser: argparse.ArgumentParser) -> None:
    local = parser.add_argument_group("local folders (the emulator's origin)")
    local.add_argument("--origin", metavar="DIR", help="folder of originals")
    local.add_argument("--derived", metavar="DIR", help="folder of derived objects")
    s3 = parser.add_argument_group("S3 (the default)")
    s3.add_argument("--bucket", metavar="NAME", help="bucket (default: the config's)")
    s3.add_argument("--s3-endpoint", metavar="URL", help="S3 endpoint (default: AWS's regional one)")


def origin_description(args: argparse.Namespace, config: Config) -> LocalFolders | Bucket:
    """The origin the options name; ValueError when they do not name one."""
    if bool(args.origin) != bool(args.derived):
        raise ValueError("--origin and --derived go together")
    if args.origin:
        if args.bucket or args.s3_endpoint:
            raise ValueError("--origin/--derived and --bucket/--s3-endpoint exclude each other")
        return LocalFolders(str(Path(args.origin).resolve()), str(Path(args.derived).resolve()),
                            config.derived_prefix)
    return Bucket(args.bucket or config.bucket, config.region, config.derived_prefix, args.s3_endpoint)


def origin_from_args(args: argparse.Namespace, config: Config) -> Origin:
    """The origin the options name, opened; ValueError when they do not make one."""
    return origin_description(args, config).open()
