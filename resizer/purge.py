"""`resizer purge KEY...`: delete every derived object of some originals, print the paths to invalidate.

Run it after replacing or deleting an original: the stored variants are immutable and cached for a year, so
they must go from S3 (this command) and from CloudFront (an invalidation of the printed paths):

    resizer purge images/a.jpg --bucket my-images | xargs aws cloudfront create-invalidation \\
        --distribution-id EDFDVBD6EXAMPLE --paths

Each (variant, format) of the current config is looked up by HEAD (4 variants x 4 formats = 16 requests a
key); objects of variants since removed from the config are not found this way (`aws s3 rm --recursive` on
`<prefix>/<variant>/` removes those).
"""

import sys
from urllib.parse import quote

from .config import Config, load_config
from .errors import MalformedKey, ResizerError
from .formats import OUTPUT_FORMATS
from .keys import DerivedKey, derived_key, is_derived_key, parse_public_path, public_path, validate_key
from .origins import Origin


def original_key(config: Config, name: str) -> str:
    """A key (`images/a.jpg`) as given, or the original a public path (`/images/a.jpg`) names."""
    key = parse_public_path(name, config).original_key if name.startswith("/") else name
    validate_key(key, config)
    if is_derived_key(config, key):
        raise MalformedKey(f"{key!r} is a derived key: name the original")
    return key


def purge(origin: Origin, config: Config, keys: list[str]) -> tuple[list[str], list[str]]:
    """Delete the derived objects of `keys` from `origin`: (deleted derived keys, public paths to invalidate).

    The paths are each original's own (a replaced original is cached too) and those of its deleted variants.
    """
    deleted, paths = [], []
    for key in keys:
        paths.append("/" + quote(key, safe="/-._~"))
        for variant in config.variants:
            for fmt in OUTPUT_FORMATS:
                derived = derived_key(config, variant, fmt, key)
                if origin.head(derived) is not None:
                    deleted.append(derived)
                    path = public_path(config, DerivedKey(variant, fmt, key))
                    if path not in paths:
                        paths.append(path)
    origin.delete_many(deleted)
    return deleted, paths


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("purge", description=__doc__.split("\n")[0],
                              help="delete the stored variants of originals, print paths to invalidate")
    p.add_argument("keys", nargs="+", metavar="KEY",
                   help="original key (images/a.jpg) or public path (/images/a.jpg)")
    p.add_argument("--config", metavar="FILE", help="variants config (default: the packaged variants.toml)")
    local = p.add_argument_group("local folders (the emulator's origin)")
    local.add_argument("--origin", metavar="DIR", help="folder of originals")
    local.add_argument("--derived", metavar="DIR", help="folder of derived objects")
    s3 = p.add_argument_group("S3 (the default)")
    s3.add_argument("--bucket", metavar="NAME", help="bucket (default: the config's)")
    s3.add_argument("--s3-endpoint", metavar="URL", help="S3 endpoint (default: AWS's regional one)")
    p.set_defaults(run=run)


def run(args) -> int:
    from .origins import LocalOrigin, S3Origin

    config = load_config(args.config)
    if bool(args.origin) != bool(args.derived):
        print("resizer purge: --origin and --derived go together", file=sys.stderr)
        return 2
    try:
        keys = [original_key(config, name) for name in args.keys]
        if args.origin:
            origin = LocalOrigin(args.origin, args.derived, config.derived_prefix)
        else:
            origin = S3Origin(args.bucket or config.bucket, config.region, config.derived_prefix, args.s3_endpoint)
        deleted, paths = purge(origin, config, keys)
    except (ResizerError, ValueError) as exc:
        print(f"resizer purge: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    print(f"resizer purge: deleted {len(deleted)} derived objects of {len(keys)} originals; "
          f"invalidate the {len(paths)} paths above", file=sys.stderr)
    return 0
