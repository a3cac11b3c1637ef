"""The storage options `purge` and `warm` share: a pair of folders (the emulator's origin) or an S3 bucket."""

import argparse

from .config import Config
from .origins import LocalOrigin, Origin, S3Origin


def add_origin_arguments(parser: argparse.ArgumentParser) -> None:
    local = parser.add_argument_group("local folders (the emulator's origin)")
    local.add_argument("--origin", metavar="DIR", help="folder of originals")
    local.add_argument("--derived", metavar="DIR", help="folder of derived objects")
    s3 = parser.add_argument_group("S3 (the default)")
    s3.add_argument("--bucket", metavar="NAME", help="bucket (default: the config's)")
    s3.add_argument("--s3-endpoint", metavar="URL", help="S3 endpoint (default: AWS's regional one)")


def origin_from_args(args: argparse.Namespace, config: Config) -> Origin:
    """The origin the options name; ValueError when they do not make one."""
    if bool(args.origin) != bool(args.derived):
        raise ValueError("--origin and --derived go together")
    if args.origin:
        if args.bucket or args.s3_endpoint:
            raise ValueError("--origin/--derived and --bucket/--s3-endpoint exclude each other")
        return LocalOrigin(args.origin, args.derived, config.derived_prefix)
    return S3Origin(args.bucket or config.bucket, config.region, config.derived_prefix, args.s3_endpoint)
