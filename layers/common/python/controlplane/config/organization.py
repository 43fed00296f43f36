"""The `organization:` section: one control plane (the hub: this config's account and Region) for the
member accounts of an AWS Organization, each watched in the listed Regions by a spoke that a
service-managed StackSet deploys to the organizational units. Without the section the deployment is
one account, exactly as before: no spoke, no StackSet, no intake bus."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from controlplane.config.readers import _int, _mapping, _no_unknown, _str
from controlplane.errors import ConfigError

ORGANIZATION_KEYS = {"id", "units", "regions", "accounts", "heartbeat_minutes", "quiet_minutes"}
# AWS Organizations' id formats (Organizations API reference: Organization.Id, OrganizationalUnit.Id, Root.Id).
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_UNIT_ID = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
_ACCOUNT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
# A spoke's heartbeat every 5 minutes; three missed ones (15 minutes) make its pair a blind spot.
DEFAULT_HEARTBEAT_MINUTES = 5
DEFAULT_QUIET_MINUTES = 15
DISABLED: dict[str, Any] = {"enabled": False, "id": None, "units": [], "regions": [], "accounts": {},
                            "heartbeat_minutes": DEFAULT_HEARTBEAT_MINUTES, "quiet_minutes": DEFAULT_QUIET_MINUTES}


def parse_organization(raw: Any, *, hub_account: str, allowed: dict[str, Any],
                       check_region: Callable[[str], str]) -> dict[str, Any]:
    """The validated section (DISABLED when absent). `check_region` is the top-level Region check
    (a Region the SDK knows); `allowed` the intake's other allowed accounts, which must not overlap."""
    if raw is None:
        return dict(DISABLED)
    raw = _mapping(raw, "organization")
    _no_unknown(raw, ORGANIZATION_KEYS, "organization")
    org_id = _str(raw, "id", "organization")
    if not _ORG_ID.fullmatch(org_id):
        raise ConfigError(f"organization.id: {org_id!r} is not an organization id (o-, then 10 to 32 letters or digits)")
    units = raw.get("units")
    if not isinstance(units, list) or not units or any(not isinstance(u, str) or not _UNIT_ID.fullmatch(u) for u in units):
        raise ConfigError("organization.units: the organizational units (ou-…) or root (r-…) the spoke StackSet "
                          "deploys to; every account in them, and every account added later, gets a spoke")
    regions = raw.get("regions")
    if not isinstance(regions, list) or not regions or len(set(regions)) != len(regions):
        raise ConfigError("organization.regions: the Regions every member account is watched in, each once")
    for index, region in enumerate(regions):
        try:
            check_region(str(region))
        except ConfigError as error:
            raise ConfigError(f"organization.regions[{index}]: {error}") from None
    accounts: dict[str, str] = {}
    for account, spec in _mapping(raw.get("accounts"), "organization.accounts").items():
        where = f"organization.accounts.{account}"
        account = str(account)
        if not re.fullmatch(r"\d{12}", account):
            raise ConfigError(f"{where}: must be a 12-digit AWS account id (quote it in YAML)")
        if account == hub_account:
            raise ConfigError(f"{where}: the hub's own account is watched by the hub's stack, not by a spoke")
        if account in allowed:
            raise ConfigError(f"{where}: also in intake.allowed_accounts; a member account is allowed by this section")
        spec = _mapping(spec, where)
        _no_unknown(spec, {"name"}, where)
        name = _str(spec, "name", where)
        if not _ACCOUNT_NAME.fullmatch(name):
            raise ConfigError(f"{where}.name: {name!r} must be lower-case letters, digits and dashes")
        accounts[account] = name
    if not accounts:
        raise ConfigError("organization.accounts: the member accounts the hub watches (id: {name})")
    if len(set(accounts.values())) != len(accounts):
        raise ConfigError("organization.accounts: two accounts have the same name")
    timing = {key: _int(raw, key, "organization") if key in raw else default
              for key, default in (("heartbeat_minutes", DEFAULT_HEARTBEAT_MINUTES),
                                   ("quiet_minutes", DEFAULT_QUIET_MINUTES))}
    if timing["heartbeat_minutes"] < 1:
        raise ConfigError("organization.heartbeat_minutes: at least 1")
    if timing["quiet_minutes"] < 2 * timing["heartbeat_minutes"]:
        # One late heartbeat must not page: quiet means at least two missed.
        raise ConfigError("organization.quiet_minutes: at least twice heartbeat_minutes (one late heartbeat "
                          "must not page)")
    return {"enabled": True, "id": org_id, "units": list(units), "regions": list(regions), "accounts": accounts,
            **timing}


def target_location(spec: dict[str, Any], where: str, *, hub_account: str, hub_region: str,
                    organization: dict[str, Any]) -> tuple[str, str]:
    """The (account, Region) a remediation target lives in: the hub's unless it says otherwise,
    and then only an account and Region the organization section watches."""
    account = str(spec.get("account", hub_account))
    region = str(spec.get("region", hub_region))
    if (account, region) == (hub_account, hub_region):
        return account, region
    if not organization["enabled"]:
        raise ConfigError(f"{where}: a target in another account or Region needs the organization: section "
                          "(its spoke's role is how the hub acts there)")
    if account == hub_account:
        raise ConfigError(f"{where}.region: the hub's own account is acted on in the hub's Region only")
    if account not in organization["accounts"]:
        raise ConfigError(f"{where}.account: {account} is not one of organization.accounts "
                          f"({', '.join(sorted(organization['accounts']))})")
    if region not in organization["regions"]:
        raise ConfigError(f"{where}.region: {region} is not one of organization.regions "
                          f"({', '.join(organization['regions'])})")
    return account, region
