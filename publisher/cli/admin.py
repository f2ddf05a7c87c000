"""`publisher admin`: dashboard users and API tokens."""

from __future__ import annotations

import sys

import click

from publisher.cli.app import main
from publisher.cli.common import Failed, reports_errors, site_config
from publisher.clock import system_clock


@main.group(name="admin")
def admin_group() -> None:
    """Users of the dashboard (/admin/) and tokens of the API (/api/v1/)."""


def _read_password() -> str:
    """The new password: typed twice at a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@admin_group.command(name="add-user")
@click.argument("name")
@click.pass_context
@reports_errors
def admin_add_user(context: click.Context, name: str) -> None:
    """Add NAME as a dashboard user; the password is asked for (or read from stdin)."""
    from publisher.operators.accounts import add_user, check_user_name
    from publisher.store.database import open_store

    config = site_config(context)
    check_user_name(name)
    password = _read_password()
    with open_store(config.store_url) as store:
        user = add_user(store, name, password, system_clock())
    click.echo(f"added admin user {user.name}")


@admin_group.command(name="list-users")
@click.pass_context
@reports_errors
def admin_list_users(context: click.Context) -> None:
    """Show the dashboard's users and when each last signed in."""
    from publisher.operators.accounts import list_users
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        users = list_users(store)
    if not users:
        click.echo("no admin users (add one with `publisher admin add-user NAME`)")
    zone = config.site.zone
    for user in users:
        last = user.last_login_at
        shown = last.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if last else "never"
        click.echo(f"{user.name}\tlast sign-in: {shown}")


@admin_group.command(name="remove-user")
@click.argument("name")
@click.pass_context
@reports_errors
def admin_remove_user(context: click.Context, name: str) -> None:
    """Remove dashboard user NAME; their sessions end at once."""
    from publisher.operators.accounts import remove_user
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        remove_user(store, name)
    click.echo(f"removed admin user {name}")


@admin_group.group(name="token")
def token_group() -> None:
    """Bearer tokens for the HTTP API."""


@token_group.command(name="create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(["read", "write"]),
    default="read",
    show_default=True,
    help="read: GET only; write: every request.",
)
@click.pass_context
@reports_errors
def token_create(context: click.Context, name: str, scope: str) -> None:
    """Make an API token called NAME; it is printed once, alone on the last line."""
    from publisher.operators.apitokens import create_token
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        token, secret = create_token(store, name, scope, system_clock())
    click.echo(f"token {token.id} {token.name!r} ({token.scope}); it is shown only now:")
    click.echo(secret)


@token_group.command(name="list")
@click.pass_context
@reports_errors
def token_list(context: click.Context) -> None:
    """Show every token: id, name, scope, created, last used, revoked."""
    from publisher.operators.apitokens import list_tokens
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        tokens = list_tokens(store)
    if not tokens:
        click.echo("no API tokens")
    zone = config.site.zone
    for token in tokens:
        times = [
            moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "never"
            for moment in (token.created_at, token.last_used_at)
        ]
        state = "revoked" if token.revoked_at else "active"
        click.echo(
            f"{token.id}\t{token.name}\t{token.scope}\tcreated {times[0]}\t"
            f"last used {times[1]}\t{state}"
        )


@token_group.command(name="revoke")
@click.argument("name")
@click.pass_context
@reports_errors
def token_revoke(context: click.Context, name: str) -> None:
    """Revoke the token called NAME (or with id NAME): it stops working at once."""
    from publisher.operators.apitokens import revoke_token
    from publisher.store.database import open_store

    config = site_config(context)
    with open_store(config.store_url) as store:
        revoked = revoke_token(store, name, system_clock())
    if revoked < 1:
        raise Failed(f"error: no active token {name!r}")
    click.echo(f"revoked {revoked} token{'s' if revoked > 1 else ''} {name!r}")
