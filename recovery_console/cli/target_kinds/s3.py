"""`target add s3 NAME --bucket B …`: an AWS S3 or S3-compatible bucket.

The secret access key is never taken from the command line (argv is visible to every user of the
machine): it comes from a file, an environment variable, or a prompt, and goes to the OS keyring.
Without --access-key-id the default AWS credential chain is used (IAM role, instance profile,
AWS_* environment variables, AWS profile), and no secret is stored.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from recovery_console.cli.common import add_json
from recovery_console.cli.target_cmd import finish_add, parse_size
from recovery_console.engine.state.keyring_store import SecretValue
from recovery_console.engine.state.secret_sources import read_secret_file
from recovery_console.engine.state.target_options import ADDRESSING_STYLES, s3_target
from recovery_console.errors import SecretUnavailableError


def register(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser(
        "s3", help="an AWS S3 or S3-compatible bucket (MinIO, Ceph, …)",
        description="Add an S3 bucket as a target. The bucket must exist. The secret access key is read from "
                    "a file, an environment variable or a prompt (never from the command line) and kept in the "
                    "OS keyring. Without --access-key-id the default AWS credential chain (IAM role, instance "
                    "profile, environment) is used.",
    )
    parser.add_argument("name")
    parser.add_argument("--bucket", required=True, help="the bucket's name (it must already exist)")
    parser.add_argument("--endpoint-url", default="", metavar="URL",
                        help="the S3 service, e.g. https://minio.example:9000; empty for AWS")
    parser.add_argument("--region", default="", help="the bucket's region, e.g. eu-central-1")
    parser.add_argument("--access-key-id", metavar="ID",
                        help="access key id; omit to use the IAM role / instance profile / environment")
    secret = parser.add_argument_group("secret access key (never on the command line)")
    source = secret.add_mutually_exclusive_group()
    source.add_argument("--secret-access-key-file", type=Path, metavar="FILE", help="read it from FILE")
    source.add_argument("--secret-access-key-env", metavar="VAR", help="read it from environment variable VAR")
    parser.add_argument("--kms-key-id", metavar="KEY",
                        help="encrypt uploads with SSE-KMS under this key (default: the bucket's own setting)")
    parser.add_argument("--prefix", default="", help="keep objects under this folder of the bucket, e.g. prod/db1")
    parser.add_argument("--addressing-style", choices=ADDRESSING_STYLES,
                        help="how to name the bucket in URLs (default: path for --endpoint-url, else auto)")
    parser.add_argument("--no-tls", dest="use_tls", action="store_false",
                        help="talk plain HTTP (only on a network you trust)")
    parser.add_argument("--no-verify-tls", dest="verify_tls", action="store_false",
                        help="do not verify the TLS certificate (only for a lab on a network you trust)")
    parser.add_argument("--quota", type=parse_size, help="refuse backups beyond this size, e.g. 500G")
    add_json(parser)
    parser.set_defaults(func=cmd_add)


def _from_env(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise SecretUnavailableError(f"The environment variable {var} is not set or empty.",
                                     hint="Export it with the secret access key, or use --secret-access-key-file.")
    return value


def _prompt(key_id: str) -> str:
    if not sys.stdin.isatty():
        raise SecretUnavailableError(
            f"No secret access key was given for access key id {key_id}, and there is no terminal to ask for it.",
            hint="Pass --secret-access-key-file FILE or --secret-access-key-env VAR.",
        )
    value = getpass.getpass(f"Secret access key for {key_id}: ")
    if not value:
        raise SecretUnavailableError("No secret access key was entered.")
    return value


def secret_source(args: argparse.Namespace) -> SecretValue | None:
    """Where the secret access key comes from, read only once the rest of the target is valid."""
    if args.secret_access_key_file is not None:
        return lambda: read_secret_file(args.secret_access_key_file)
    if args.secret_access_key_env is not None:
        return lambda: _from_env(args.secret_access_key_env)
    if args.access_key_id:
        return lambda: _prompt(args.access_key_id.strip())
    return None


def cmd_add(args: argparse.Namespace) -> int:
    new = s3_target(args.name, bucket=args.bucket, endpoint_url=args.endpoint_url, region=args.region,
                    prefix=args.prefix, access_key_id=args.access_key_id or "",
                    secret_access_key=secret_source(args), kms_key_id=args.kms_key_id or "",
                    addressing_style=args.addressing_style, use_tls=args.use_tls, verify_tls=args.verify_tls,
                    quota=args.quota)
    if not args.verify_tls and args.use_tls:
        print("Warning: TLS certificates of this target will NOT be verified.", file=sys.stderr)
    if not args.use_tls:
        print("Warning: this target talks plain HTTP; backups stay encrypted, but object names and signed "
              "requests can be read on the network.", file=sys.stderr)
    return finish_add(args, new)
