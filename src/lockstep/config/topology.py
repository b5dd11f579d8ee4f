"""The brand topology: one YAML file per brand describing how its Centra and Deposco fit together.

The design makes the pool <-> facility mapping explicit and owned by Lockstep, "never guessed", so these
models refuse anything they do not understand: every model forbids unknown keys (a typo such as ``shrae`` must
fail loudly, not silently fall back to a default share of 1) and is frozen (a loaded topology is a value,
never patched at runtime). Checks that need only one value live here; checks that relate several parts of the
file (does this pool's facility exist? do the shares of a facility add up to more than 1?) live in
``validate.py`` so that all of them are reported at once.

Secrets never appear in this file: fields ending in ``_env`` hold the NAME of an environment variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lockstep.domain.carriers import CarrierRule, CarrierTable
from lockstep.domain.exception_kinds import get_kind
from lockstep.domain.model import CarrierService
from lockstep.domain.routing import PoolRoute, RoutingTable

# ISO 3166-1 alpha-2 (the 249 assigned codes, from the tz database's iso3166.tab) plus XK (Kosovo), not
# assigned by ISO but used by Centra, carriers and Deposco. Embedded: validation must not depend on the host.
_COUNTRY_TABLE = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY
BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK
FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
"""
_ISO_COUNTRIES = frozenset(_COUNTRY_TABLE.split())
# Codes people write that look right but are not ISO: a silent mismatch would make an override never apply.
_COUNTRY_HINTS = {"UK": "GB", "EL": "GR"}

_BRAND_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_IDENT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_FACILITY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_VAR = re.compile(r"[A-Z_][A-Z0-9_]*")
_TASK = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _brand_id(value: str) -> str:
    if not _BRAND_ID.fullmatch(value):
        raise ValueError("must be a slug: lower-case letters, digits and '-', not starting with '-'")
    return value


def _ident(value: str) -> str:
    if not _IDENT.fullmatch(value):
        raise ValueError("must be lower-case letters, digits, '-' or '_', starting with a letter or digit")
    return value


def _facility_code(value: str) -> str:
    if not _FACILITY_CODE.fullmatch(value):
        raise ValueError("must be a Deposco facility number: letters, digits, '-', '_' or '.'")
    return value


def _env_var(value: str) -> str:
    # The message does not repeat the input on purpose: if someone pasted a token here, it stays out of logs.
    if not _ENV_VAR.fullmatch(value):
        raise ValueError("must be the NAME of an environment variable (A-Z, 0-9, _), never the secret value itself")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL such as https://example.com")
    if parts.username or parts.password:
        raise ValueError("must not contain credentials; name environment variables in *_env fields instead")
    # Stored without a trailing slash so connectors can append paths without producing '//'.
    return value.rstrip("/")


def _country(value: str) -> str:
    code = value.strip().upper()
    if code in _COUNTRY_HINTS:
        raise ValueError(f"{value!r} is not an ISO 3166 country code; use {_COUNTRY_HINTS[code]!r}")
    if code not in _ISO_COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone (for example Europe/Stockholm)") from None
    return value


def _cron(value: str) -> str:
    # Exactly five fields: croniter would also take a sixth (seconds) field, which the scheduler does not run.
    # strict=True also refuses expressions that can never fire, such as 30 February.
    if len(value.split()) != 5 or not croniter.is_valid(value, strict=True):
        raise ValueError(f"{value!r} is not a valid 5-field cron expression (minute hour day month weekday)")
    return value


def _task(value: str) -> str:
    if not _TASK.fullmatch(value):
        raise ValueError("must be a task name such as inventory.reconcile_light")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
BrandId = Annotated[str, AfterValidator(_brand_id)]
Ident = Annotated[str, AfterValidator(_ident)]
FacilityCode = Annotated[str, AfterValidator(_facility_code)]
EnvVar = Annotated[str, AfterValidator(_env_var)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Country = Annotated[str, AfterValidator(_country)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Cron = Annotated[str, AfterValidator(_cron)]
TaskName = Annotated[str, AfterValidator(_task)]
Email = Annotated[str, AfterValidator(_email)]

RateTier = Literal["growth", "enhanced", "high", "enterprise"]
FacilityState = Literal["draft", "testing", "live"]
ChannelType = Literal["slack", "email", "webhook"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CentraConfig(_Model):
    """Where the brand's Centra is and how to authenticate (by variable name)."""

    base_url: HttpUrl = Field(description="Centra base URL; the Integration API is <base_url>/graphql")
    token_env: EnvVar = Field(description="variable holding the Integration API token")
    rate_tier: RateTier = Field("growth", description="the environment's rate-limit tier (Growth is default)")
    webhook_secret_env: EnvVar | None = None


class DeposcoConfig(_Model):
    """Deposco has two APIs: the REST API (OAuth2) for items/orders/shipments, legacy V1 (Basic) for stock."""

    base_url: HttpUrl = Field(description="REST API base, e.g. https://api.deposco.com/latest")
    token_url: HttpUrl = Field("https://auth.deposco.com/oauth2/token", description="OAuth2 token endpoint")
    v1_base_url: HttpUrl = Field(description="legacy V1 base, e.g. https://<code>.deposco.com/integration/<code>")
    business_unit: Text
    client_id_env: EnvVar
    client_secret_env: EnvVar
    username_env: EnvVar
    password_env: EnvVar
    # The limit is account-wide and undocumented; about 2-4 requests/second in total holds in practice.
    requests_per_second: float = Field(3.0, gt=0)
    webhook_secret_env: EnvVar | None = None


class Market(_Model):
    """A Centra market: the countries it sells to and the pools its allocation rule draws from, in order."""

    id: Ident
    name: Text
    countries: tuple[Country, ...] = Field(min_length=1)
    pools: tuple[Ident, ...] = Field(min_length=1)


class PoolFacility(_Model):
    """One facility backing a pool, with the share of its stock the pool may sell."""

    facility: FacilityCode
    share: float = Field(1.0, gt=0, le=1)


class Pool(_Model):
    """A stock pool: a Centra warehouse as the storefront sees it, backed by Deposco facilities.

    Facilities are listed in priority order: order lines go to the first live one unless a routing override
    says otherwise for the ship-to country.
    """

    id: Ident
    centra_warehouse: Text = Field(description="the warehouse's name (or id) in Centra")
    facilities: tuple[PoolFacility, ...]


class Facility(_Model):
    """A Deposco facility (physical warehouse). Orders and stock only flow for ``live`` facilities."""

    code: FacilityCode
    name: Text
    country: Country
    state: FacilityState

    @property
    def is_live(self) -> bool:
        return self.state == "live"


class RoutingOverride(_Model):
    """In ``pool``, order lines shipping to ``ship_to_countries`` go to ``facility`` (one of the pool's)."""

    pool: Ident
    ship_to_countries: tuple[Country, ...] = Field(min_length=1)
    facility: FacilityCode


# Deposco stores ship via, carrier and service in 50-character columns; a cut name would no longer match.
CarrierName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class Carrier(_Model):
    """How Deposco ships: ``ship_via`` must match a ship-via name set up in Deposco; carrier and service are
    Deposco's ``shipVendor`` and ``shipMethod``."""

    ship_via: CarrierName
    carrier: CarrierName | None = None
    service: CarrierName | None = None

    def service_value(self) -> CarrierService:
        return CarrierService(self.ship_via, self.carrier or "", self.service or "")


class CarrierRuleConfig(Carrier):
    """Orders whose Centra shipping option is one of ``shipping_options`` (its uri, or its name), optionally
    only from ``facilities`` and/or to ``ship_to_countries``, ship with this carrier. First match wins."""

    shipping_options: tuple[Text, ...] = Field(min_length=1, description="Centra shipping option uris or names")
    facilities: tuple[FacilityCode, ...] = Field((), description="empty: any facility")
    ship_to_countries: tuple[Country, ...] = Field((), description="empty: any country")


class Carriers(_Model):
    """Centra shipping option -> Deposco ship via / carrier / service. Empty: Deposco chooses for every order."""

    rules: tuple[CarrierRuleConfig, ...] = ()
    defaults: dict[FacilityCode, Carrier] = Field(
        default_factory=dict, description="facility code -> carrier when no rule matches"
    )


class SkuBuffer(_Model):
    """Hold back ``units`` of SKUs matching ``pattern`` (case-sensitive glob), optionally in some pools."""

    pattern: Text
    units: int = Field(ge=0)
    pools: tuple[Ident, ...] = Field((), description="empty: every pool")


class SafetyBuffers(_Model):
    default: int = Field(0, ge=0)
    per_sku: tuple[SkuBuffer, ...] = ()


class Thresholds(_Model):
    """When a condition becomes an exception. Defaults suit a brand doing a few thousand orders a day."""

    order_stuck_minutes: int = Field(30, ge=1)
    shipment_unconfirmed_minutes: int = Field(60, ge=1)
    event_feed_silent_minutes: int = Field(30, ge=1)
    drift_tolerance_units: int = Field(2, ge=0)
    drift_tolerance_percent: float = Field(5.0, ge=0, le=100)


class OrderSettings(_Model):
    """How the order flow treats this brand's orders."""

    overlong_fields: Literal["truncate", "quarantine"] = Field(
        "truncate",
        description="a name/address longer than Deposco allows: send it shortened (with a note) or quarantine",
    )
    lock_after_export: bool = Field(False, description="lock the order in Centra once it is in Deposco")
    refetch_overlap_minutes: int = Field(10, ge=1, description="overlap of the scheduled re-fetch window")


class ShipmentSettings(_Model):
    """How warehouse shipments are confirmed in Centra for this brand."""

    send_email: bool = Field(True, description="Centra sends the customer its shipping e-mail on completion")
    poll_overlap_minutes: int = Field(5, ge=1, description="overlap of the Deposco shipment poll window")
    tag_external_id: bool = Field(
        False,
        description="also set each Centra shipment's externalId to the Deposco shipment number: one more "
        "mutation per shipment (the number always rides on the create, in the shipment's message)",
    )


class InventorySettings(_Model):
    """How Deposco stock becomes Centra stock for this brand (the stock equation, docs/stock-model.md)."""

    atp_nets_open_orders: bool = Field(
        True,
        description="Deposco's ATP already subtracts open orders of every status (add Centra's open units back)",
    )
    low_stock_threshold: int = Field(
        3, ge=0, description="a decrease to at most this many units is published before every other change"
    )
    publish_batch_size: int = Field(200, ge=1, le=1000, description="sizes per Centra setStock mutation")
    publish_coalesce_seconds: float = Field(
        0.0,
        ge=0,
        le=60,
        description="a publish waits this long for more changes of its pool: fewer mutations, later stock "
        "(a scan tick's changes already go out together, and under load the wait for Centra's budget coalesces)",
    )
    correct_drift: bool = Field(True, description="reconciliation rewrites drifting Centra stock")
    scan_overlap_seconds: int = Field(
        10, ge=1, le=3600, description="overlap of the changed-stock poll window (activity committed late)"
    )
    scan_interval_seconds: int = Field(
        2,
        ge=1,
        le=3600,
        description="how often the changed-stock poll runs again after each run (cron only restarts it)",
    )
    rolling_scan_seconds: int = Field(
        15, ge=1, le=86400, description="how often the rolling scan re-reads the next page of items"
    )
    scan_page_items: int = Field(
        100, ge=1, le=1000, description="items re-read per scan by the rolling availability scan"
    )
    changed_since: bool = Field(
        True,
        description="the tenant's V1 /inventory/full honours startActivityTime: each scan tick reads what changed "
        "since the last (false: the adjustments feed, if set, and the rolling scan find changes instead)",
    )
    adjustments_seconds: int = Field(
        0,
        ge=0,
        le=3600,
        description="how often Deposco's inventory-adjustment feed is read (0: never); the adjusted items are "
        "re-read at once. For a tenant without changed-since, or to see status changes (blocked stock) that "
        "move ATP without on-hand activity",
    )
    other_orders_seconds: int = Field(
        0,
        ge=0,
        le=3600,
        description="how often Deposco's new sales orders are read for other channels' (0: never, the rolling "
        "scan finds their allocations); their items are re-read at once. It spends Deposco requests, after order "
        "exports: worth it with a roomy Deposco budget and much wholesale or retail demand",
    )


class Channel(_Model):
    """Where a team's alerts go. Slack/webhook URLs authorise posting: secrets, so named by variable."""

    type: ChannelType
    webhook_url_env: EnvVar | None = None
    to: tuple[Email, ...] = ()

    @model_validator(mode="after")
    def _targets_match_type(self) -> Channel:
        if self.type == "email":
            if not self.to:
                raise ValueError("an email channel needs 'to': a list of addresses")
            if self.webhook_url_env is not None:
                raise ValueError("'webhook_url_env' is for slack and webhook channels, not email")
        else:
            if self.webhook_url_env is None:
                raise ValueError(f"a {self.type} channel needs 'webhook_url_env' (variable holding the URL)")
            if self.to:
                raise ValueError(f"'to' is for email channels, not {self.type}")
        return self


class Team(_Model):
    channels: tuple[Channel, ...] = ()


class Schedule(_Model):
    """A recurring task. ``cron`` is evaluated in the brand's time zone (a 23:59 snapshot is local 23:59)."""

    cron: Cron
    task: TaskName
    enabled: bool = True


class BrandTopology(_Model):
    """Everything Lockstep needs to know about one brand, minus secrets. See docs/configuration.md."""

    brand: BrandId
    name: Text
    timezone: TimeZone
    centra: CentraConfig
    deposco: DeposcoConfig
    sku_key: Literal["sku", "ean"] = Field("sku", description="what becomes the Deposco item number")
    markets: tuple[Market, ...] = Field(min_length=1)
    pools: tuple[Pool, ...] = Field(min_length=1)
    facilities: tuple[Facility, ...] = Field(min_length=1)
    routing_overrides: tuple[RoutingOverride, ...] = ()
    carriers: Carriers = Carriers()
    safety_buffers: SafetyBuffers = SafetyBuffers()
    thresholds: Thresholds = Thresholds()
    orders: OrderSettings = OrderSettings()
    shipments: ShipmentSettings = ShipmentSettings()
    inventory: InventorySettings = InventorySettings()
    owners: dict[str, str] = Field(default_factory=dict, description="exception kind -> team")
    teams: dict[str, Team] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)

    def facility(self, code: str) -> Facility:
        for facility in self.facilities:
            if facility.code == code:
                return facility
        raise KeyError(f"brand {self.brand}: unknown facility {code!r}")

    def pool(self, pool_id: str) -> Pool:
        for pool in self.pools:
            if pool.id == pool_id:
                return pool
        raise KeyError(f"brand {self.brand}: unknown pool {pool_id!r}")

    def market(self, market_id: str) -> Market:
        for market in self.markets:
            if market.id == market_id:
                return market
        raise KeyError(f"brand {self.brand}: unknown market {market_id!r}")

    def live_facilities_for_pool(self, pool_id: str) -> tuple[PoolFacility, ...]:
        """The pool's facilities (code and share) that are live, in priority order: what F(P) means in the
        stock equation and what order routing may choose from. Unknown facility codes count as not live."""
        return tuple(entry for entry in self.pool(pool_id).facilities if self._is_live(entry.facility))

    def _is_live(self, code: str) -> bool:
        try:
            return self.facility(code).is_live
        except KeyError:
            return False

    def pools_for_facility(self, code: str) -> tuple[tuple[str, float], ...]:
        """Every (pool id, share) that draws on facility ``code``."""
        return tuple(
            (pool.id, entry.share) for pool in self.pools for entry in pool.facilities if entry.facility == code
        )

    def override_facility(self, pool_id: str, country: str) -> str | None:
        """The facility a routing override sends ``pool_id`` lines shipping to ``country`` to, if any."""
        country = country.upper()
        for override in self.routing_overrides:
            if override.pool == pool_id and country in override.ship_to_countries:
                return override.facility
        return None

    def safety_buffer(self, pool_id: str, sku: str) -> int:
        """Units held back for ``sku`` in ``pool_id``: the first matching per-SKU rule, else the default."""
        for rule in self.safety_buffers.per_sku:
            if (not rule.pools or pool_id in rule.pools) and fnmatchcase(sku, rule.pattern):
                return rule.units
        return self.safety_buffers.default

    def owner_for(self, kind: str) -> str:
        """The team owning exception ``kind`` for this brand (KeyError for a kind the registry lacks)."""
        default = get_kind(kind).default_owner
        return self.owners.get(kind, default)

    def secret_env_vars(self) -> list[tuple[str, str]]:
        """(field path in the brand file, variable name) for every secret this brand needs at runtime."""
        found: list[tuple[str, str]] = []
        for section in ("centra", "deposco"):
            for field, value in getattr(self, section):
                if field.endswith("_env") and value is not None:
                    found.append((f"{section}.{field}", value))
        for team, spec in self.teams.items():
            for index, channel in enumerate(spec.channels):
                if channel.webhook_url_env is not None:
                    found.append((f"teams.{team}.channels[{index}].webhook_url_env", channel.webhook_url_env))
        return found

    def routing_table(self) -> RoutingTable:
        """The pure routing view of this brand's mapping (see ``domain/routing.py``)."""
        return RoutingTable(
            by_warehouse={
                pool.centra_warehouse: PoolRoute(
                    pool=pool.id,
                    facilities=tuple((entry.facility, self._is_live(entry.facility)) for entry in pool.facilities),
                    overrides={
                        country: override.facility
                        for override in self.routing_overrides
                        if override.pool == pool.id
                        for country in override.ship_to_countries
                    },
                )
                for pool in self.pools
            }
        )

    def carrier_table(self) -> CarrierTable:
        """The pure view of this brand's carrier mapping (see ``domain/carriers.py``)."""
        return CarrierTable(
            rules=tuple(
                CarrierRule(
                    shipping_options=rule.shipping_options,
                    service=rule.service_value(),
                    facilities=rule.facilities,
                    countries=rule.ship_to_countries,
                    source=f"carriers.rules[{index}]",
                )
                for index, rule in enumerate(self.carriers.rules)
            ),
            defaults={code: carrier.service_value() for code, carrier in self.carriers.defaults.items()},
        )

    def enabled_schedules(self) -> Mapping[str, Schedule]:
        """Enabled schedules only: a disabled entry stays in the file as documentation, not as a job."""
        return {name: schedule for name, schedule in self.schedules.items() if schedule.enabled}
