"""AWS credentials from the standard chain, for every boto3 client ivrsync makes (a provider's,
the remote state's): one place decides where they come from and registers them as secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ivrsync.providers.audio_source import register_sigv4_signatures
from ivrsync.secrets import register as register_secret

# What a person sets to give ivrsync AWS credentials, for messages that say so.
CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "ones), or AWS_PROFILE, or run where an IAM role is attached"
)


class AwsCredentialsMissing(Exception):
    """No credentials where they were looked for (`where`: the profile, or the chain)."""

    def __init__(self, where: str, detail: str = "") -> None:
        self.where = where
        self.detail = detail
        super().__init__(f"no AWS credentials found ({where}){': ' + detail if detail else ''}")


def aws_session(region: str | None, profile: str | None, env: Mapping[str, str]) -> Any:
    """A boto3 session with credentials from the standard AWS chain: `profile`, else
    AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in `env`, else boto3's own chain (~/.aws, SSO,
    web identity, an instance role). Its secret key and token are secrets from here on, and
    so is every SigV4 signature made with them."""
    import boto3
    from botocore.exceptions import BotoCoreError

    where = f"profile {profile}" if profile else "the standard chain"
    try:
        if profile:
            session = boto3.session.Session(profile_name=profile, region_name=region)
        elif env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            session = boto3.session.Session(
                aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
                region_name=region,
            )
        else:
            session = boto3.session.Session(region_name=region)
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise AwsCredentialsMissing(where, str(exc)) from None
    if credentials is None:
        raise AwsCredentialsMissing(where)
    frozen = credentials.get_frozen_credentials()
    for secret in (frozen.secret_key, frozen.token):
        if secret:
            register_secret(secret)
    register_sigv4_signatures()
    return session
