"""Settings: every `AREAFETCH_*` environment variable, validated once at start-up.

Below this module nothing reads the environment: processes build one `Settings`
and pass explicit values down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from areafetch.areas.google_prices import DEFAULT_PRICES_USD_PER_1000, GoogleFields, SkuName
from areafetch.event_loop import EventLoopChoice, uvloop_installed

# bullmq blocks on Redis for at most 10 s (BZPOPMIN in the worker, XREAD in QueueEvents).
# A socket timeout must stay above that, or every idle wait ends in a TimeoutError.
MAX_REDIS_BLOCK_S = 10.0
# Bearer tokens shorter than this are refused at start-up (guessable).
MIN_API_TOKEN_LENGTH = 16

Environment = Literal["development", "test", "production"]
LogFormat = Literal["auto", "json", "console"]


class Settings(BaseSettings):
    """Every setting of areafetch; each field is the env var `AREAFETCH_<FIELD>`."""

    # hide_input_in_errors: a refused value may be a token or a URL with a password.
    model_config = SettingsConfigDict(
        env_prefix="AREAFETCH_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Environment = Field(
        default="development",
        description="`development`, `test` or `production` (production refuses placeholder secrets)",
    )

    # --- connections -------------------------------------------------------------------------
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="`redis://[user:password@]host:port/db`, `rediss://` for TLS (`?ssl_cert_reqs=…`), or `unix://`",
    )
    redis_socket_timeout_s: float = Field(
        default=30.0,
        gt=MAX_REDIS_BLOCK_S + 2,
        description="socket timeout of every Redis connection; must stay above bullmq's 10 s blocking calls (min 12)",
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/areafetch",
        description="plain `postgresql://user:password@host:port/db`; `?sslmode=require` etc. work",
    )
    database_pool_size: int = Field(
        default=5, ge=1, le=100, description="connections per process (plus as many overflow)"
    )

    # --- queue -------------------------------------------------------------------------------
    redis_cluster: bool = Field(
        default=False,
        description="`true`: `AREAFETCH_REDIS_URL` names one node of a Redis Cluster (or a cluster-mode "
        "service such as MemoryDB) and every connection, bullmq's included, is redis-py's cluster client; "
        "needs a hash-tagged `AREAFETCH_QUEUE_PREFIX` such as `{bull}` (docs/operations.md)",
    )
    queue_prefix: str = Field(
        default="bull",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]*(\{[A-Za-z0-9_.-]+\})?[A-Za-z0-9_.-]*$",
        description="BullMQ key prefix; may hold one hash tag, `{bull}`, which a Redis Cluster needs",
    )
    limiter_namespace: str = Field(
        default="areafetch:limiter",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the rate limiters' Redis key namespace: `{<namespace>:<name>}:*`; set one per deployment (or test run) that shares a Redis",
    )
    job_attempts: int = Field(default=3, ge=1, le=50, description="attempts per job")
    job_backoff_ms: int = Field(
        default=1000, ge=0, le=3_600_000, description="first retry delay, doubled on every further attempt"
    )
    keep_completed_age_s: int = Field(
        default=24 * 3600, ge=0, description="completed jobs are removed after this age …"
    )
    keep_completed_count: int = Field(default=1000, ge=0, description="… or beyond this count")
    keep_failed_age_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="failed jobs are removed after this age …"
    )
    keep_failed_count: int = Field(default=5000, ge=0, description="… or beyond this count")

    # --- worker ------------------------------------------------------------------------------
    worker_concurrency: int = Field(
        default=4, ge=1, le=256, description="jobs in flight per queue per worker process"
    )
    cpu_workers: int = Field(
        default=0, ge=0, le=64, description="process-pool size for CPU work (0 = number of CPUs)"
    )
    event_loop: EventLoopChoice = Field(
        default="auto",
        description="the event loop of the worker and the web app: `uvloop`, `asyncio` (Python's own), or `auto` "
        "(uvloop where it is installed, as it is with areafetch on Linux and macOS)",
    )
    cpu_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="niceness the CPU pool's processes add to the worker's own (0-19): planning a large area then yields the cores to the web app, Redis and PostgreSQL on the same machine; 0 = the worker's priority",
    )
    lock_duration_ms: int = Field(
        default=30_000, ge=1000, description="BullMQ job lock; renewed at half this interval"
    )
    stalled_interval_ms: int = Field(
        default=30_000, ge=1000, description="how often stalled jobs are looked for"
    )
    max_stalled_count: int = Field(
        default=3,
        ge=0,
        description="how often a job may stall (its worker died holding it) before it fails; areafetch's jobs "
        "are idempotent (a tile's places and done mark commit together), so another worker may take it up again",
    )
    shutdown_grace_s: float = Field(
        default=30.0, ge=0, description="time jobs in flight get to finish on SIGTERM"
    )
    reconcile_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="how often a worker looks for areas left with no job (one worker per interval)",
    )
    reconcile_after_s: float = Field(
        default=120.0,
        ge=0,
        description="an unfinished area with no job is re-queued (queued) or failed with the reason (planning, running) once its last step is this old",
    )
    test_fault: Literal["exit_after_area_commit"] | None = Field(
        default=None,
        description="tests only: `exit_after_area_commit` makes the web process exit between storing an area and queueing its plan job",
    )

    # --- web ---------------------------------------------------------------------------------
    web_host: str = Field(default="127.0.0.1", description="web app interface")
    web_port: int = Field(default=8000, ge=1, le=65535, description="web app port")
    # Longer than any client pool keeps an idle connection (httpx 5 s, undici 4 s, load balancers
    # 60 s): the client must be the one to close it. With uvicorn's 5 s, a request sent on a pooled
    # connection just as the server closed it was reset (1 in 10,000 of the overload burst).
    web_keepalive_s: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="how long an idle HTTP connection stays open; keep it above your clients' and load balancer's idle timeouts, so the client closes first and never sends a request on a connection the server is closing",
    )
    map_tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="map tiles of the web pages (respect the tile server's usage policy)",
    )
    map_attribution: str = Field(
        default='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        description="attribution shown on the map (HTML)",
    )

    # --- access (see web/access.py) -----------------------------------------------------------
    api_tokens: SecretStr | None = Field(
        default=None,
        description="comma-separated bearer tokens (each at least 16 characters, never logged); when set, write routes need one (see the HTTP API's Access section)",
    )
    protect_reads: bool = Field(default=False, description="read routes (`/api/...` GETs) need a token too")
    submit_rate_per_s: float = Field(
        default=2.0,
        gt=0,
        le=10_000,
        description="submissions (`POST /api/jobs/test`, `POST /api/areas`) per second per client",
    )
    submit_burst: int = Field(
        default=20, ge=1, le=100_000, description="submissions a client may make back to back"
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="largest request body (413 above it)"
    )
    max_json_depth: int = Field(
        default=64, ge=4, le=1000, description="deepest nesting of a JSON body (422 above it)"
    )

    # --- logging -----------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR`"
    )
    log_format: LogFormat = Field(
        default="auto", description="`json`, `console`, or `auto` (JSON when stderr is not a terminal)"
    )

    # --- upstreams ---------------------------------------------------------------------------
    overpass_url: str = Field(
        default="https://overpass-api.de/api/interpreter", description="Overpass interpreter endpoint"
    )
    overpass_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="several Overpass interpreters, comma-separated (replaces `AREAFETCH_OVERPASS_URL`): "
        "each with its own limiter, a call to the one that can serve soonest, failover on "
        "429/5xx/timeouts/connection errors, an endpoint failing 3 times in a row set aside and probed "
        "later (see Overpass)",
    )
    google_places_url: str = Field(
        default="https://places.googleapis.com", description="Places API (New) base URL"
    )
    google_api_key: SecretStr | None = Field(default=None, description="Google API key (never logged)")
    osm_extract_path: Path | None = Field(
        default=None, description="a local `.osm.pbf` for the `osm_extract` source"
    )
    user_agent: str = Field(
        default="areafetch/0.1 (+https://github.com/areafetch/areafetch; ops@example.invalid)",
        description="User-Agent with your contact (Overpass requires one)",
    )

    # --- areas ------------------------------------------------------------------------------
    max_area_km2: float = Field(default=10_000.0, gt=0, description="largest area accepted (geodesic km²)")
    max_area_vertices: int = Field(
        default=10_000, ge=4, le=1_000_000, description="most vertices an area may have"
    )
    overpass_max_tile_km2: float = Field(
        default=1_000.0,
        gt=0,
        description="largest Overpass cell before any split: an area this small is one call; a cell the "
        "server finds too heavy is split on its evidence (see Overpass)",
    )
    google_fields: GoogleFields = Field(
        default="pro",
        description="the Place fields a Nearby Search asks for: `pro` (name, location, types, address, "
        "business status, wheelchair access; billed as Nearby Search Pro) or `enterprise` (also website, "
        "phone, opening hours, rating, rating count, price level; billed as Nearby Search Enterprise)",
    )
    google_method: Literal["auto", "nearby", "text"] = Field(
        default="auto",
        description="how Google is asked: `auto` (default) picks per planned circle whichever of Nearby "
        "Search and Text Search is expected to take fewer billed calls, from the places already known "
        "there (Nearby Search when none are); `nearby` or `text` forces one (docs/google.md)",
    )
    google_text_page_delay_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="wait before asking a Text Search page token's next page (Google accepts a token only "
        "after a short delay)",
    )
    google_retention_days: int = Field(
        default=30,
        ge=1,
        le=30,
        description="Google content other than the place id is deleted this many days after it was "
        "fetched (a daily job); the Google Maps Platform terms allow positions to be kept 30 days at most",
    )
    google_display: Literal["map", "list"] = Field(
        default="map",
        description="`list` shows Google places in the area page's table but not on its (non-Google) "
        "map, as the EEA terms ask",
    )
    reuse_max_age_s: float = Field(
        default=0.0,
        ge=0,
        description="serve a tile from an earlier area's places fetched less than this many seconds ago "
        "(same source and categories, the tile inside that area) instead of calling the upstream; "
        "0: off (a change upstream within the window would not be seen)",
    )
    min_refresh_interval_s: int = Field(
        default=3600,
        ge=1,
        description="an area's `refresh_every` may not start runs closer together than this (seconds)",
    )
    max_upstream_calls_per_job: int = Field(
        default=2_000, ge=1, description="an area planned to need more calls is refused before it starts"
    )
    max_split_depth: int = Field(
        default=5,
        ge=0,
        le=12,
        description="how often a tile (Overpass remark) or circle (Google's 20 cap) may be split",
    )
    overpass_density_cell_deg: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="coarse grid cell (degrees) of the place densities Overpass planning learns from each "
        "area, to plan the next one over the same region without splits (see Overpass)",
    )
    overpass_timeout_s: float = Field(default=25.0, gt=0, le=900, description="the query's `[timeout:]`")
    overpass_maxsize_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="the query's `[maxsize:]`"
    )
    overpass_pause_min_s: float = Field(
        default=30.0, gt=0, description="shortest shared pause after an Overpass 429"
    )
    google_places_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="HTTP timeout of one Nearby Search call"
    )
    google_prices: dict[SkuName, float] = Field(
        default_factory=lambda: dict(DEFAULT_PRICES_USD_PER_1000),
        description='JSON `{"<Google SKU name>": USD per 1,000 calls}`; the SKUs given replace the shipped '
        "defaults (`areas/google_prices.py`); a table that does not parse stops start-up",
    )
    google_places_pause_min_s: float = Field(
        default=5.0, gt=0, description="shortest shared pause after a Google 429"
    )

    # --- rate limits, one set per upstream (see areafetch.ratelimit) -------------------------
    # Overpass's public instance allows about 2 slots per IP and asks for one query at a time,
    # under 10,000 requests and 1 GB a day.
    overpass_rate_per_s: float = Field(
        default=0.5, gt=0, le=1000, description="Overpass requests per second, shared by all workers"
    )
    overpass_burst: int = Field(default=1, ge=1, le=1000, description="Overpass burst")
    overpass_max_in_flight: int = Field(
        default=1, ge=1, le=100, description="concurrent Overpass requests (its operators ask for one)"
    )
    overpass_max_wait_s: float = Field(
        default=600.0, gt=0, description="longest wait for an Overpass slot before giving up"
    )
    overpass_daily_requests: int | None = Field(
        default=10_000, ge=1, description="Overpass requests per UTC day"
    )
    overpass_daily_bytes: int | None = Field(
        default=1_000_000_000,
        ge=1,
        description="Overpass response bytes per UTC day (its operators ask for under 1 GB)",
    )
    # Google Places: a per-minute quota (default 600/min per project); stay well under it.
    google_places_rate_per_s: float = Field(
        default=5.0, gt=0, le=1000, description="Google Places requests per second"
    )
    google_places_burst: int = Field(default=5, ge=1, le=1000, description="Google Places burst")
    google_places_max_in_flight: int = Field(
        default=4, ge=1, le=100, description="concurrent Google Places requests"
    )
    google_places_max_wait_s: float = Field(
        default=120.0, gt=0, description="longest wait for a Google Places slot"
    )
    google_places_daily_requests: int | None = Field(
        default=None, ge=1, description="Google Places requests per UTC day (billable calls)"
    )
    google_places_daily_bytes: int | None = Field(
        default=None, ge=1, description="Google Places response bytes per UTC day"
    )
    google_daily_usd: float | None = Field(
        default=None,
        gt=0,
        description="Google money per UTC day in USD, at the price table: the Google limiter's daily budget "
        "in calls; an area whose estimate does not fit is refused (see Google Places)",
    )

    @field_validator("google_api_key", "osm_extract_path", "google_daily_usd", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _tokens_empty_is_unset(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and not value.strip(" ,"):
            return None
        return value

    @field_validator("api_tokens")
    @classmethod
    def _tokens_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        tokens = [token.strip() for token in value.get_secret_value().split(",") if token.strip()]
        short = sum(1 for token in tokens if len(token) < MIN_API_TOKEN_LENGTH)
        if short:  # never echo a token, not even a short one
            raise ValueError(
                f"{short} of {len(tokens)} tokens are shorter than {MIN_API_TOKEN_LENGTH} characters"
            )
        return SecretStr(",".join(tokens))

    @property
    def api_token_list(self) -> tuple[str, ...]:
        """The configured API tokens (secret: never log them); empty when access is open."""
        if self.api_tokens is None:
            return ()
        return tuple(self.api_tokens.get_secret_value().split(","))

    @field_validator("google_prices")
    @classmethod
    def _prices_complete_and_not_negative(cls, value: dict[SkuName, float]) -> dict[SkuName, float]:
        negative = sorted(sku for sku, price in value.items() if not price >= 0)
        if negative:
            raise ValueError(f"prices must be >= 0 USD per 1,000 calls: {', '.join(negative)}")
        return {**DEFAULT_PRICES_USD_PER_1000, **value}

    @field_validator("event_loop")
    @classmethod
    def _uvloop_installed(cls, value: EventLoopChoice) -> EventLoopChoice:
        if value == "uvloop" and not uvloop_installed():
            raise ValueError("uvloop is not installed (use `auto` or `asyncio`)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in {"postgresql", "postgres"}:
            raise ValueError("must be a postgresql://user:password@host:port/db URL")
        return value

    @field_validator("overpass_url", "google_places_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("overpass_urls", mode="before")
    @classmethod
    def _overpass_urls(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")] if value.strip() else []
        elif isinstance(value, list | tuple):
            parts = [str(part).strip() for part in value]
        else:
            raise ValueError("AREAFETCH_OVERPASS_URLS must be a comma-separated list of http(s) URLs")
        urls: list[str] = []
        for part in parts:
            split = urlsplit(part)
            if split.scheme not in {"http", "https"} or not split.hostname:
                raise ValueError(
                    f"AREAFETCH_OVERPASS_URLS: {part!r} is not an http:// or https:// URL with a host"
                )
            if part.rstrip("/") in urls:
                raise ValueError(f"AREAFETCH_OVERPASS_URLS: {part!r} is listed twice")
            urls.append(part.rstrip("/"))
        return tuple(urls)

    @property
    def overpass_endpoints(self) -> tuple[str, ...]:
        """The Overpass interpreters to use: `overpass_urls`, or the one `overpass_url`."""
        return self.overpass_urls or (self.overpass_url,)

    @model_validator(mode="after")
    def _slot_safe_on_a_cluster(self) -> Settings:
        if self.redis_cluster and "{" not in self.queue_prefix:
            raise ValueError(
                f"AREAFETCH_REDIS_CLUSTER=true needs a hash-tagged AREAFETCH_QUEUE_PREFIX: "
                f"{self.queue_prefix!r} puts a queue's keys in different cluster slots, which bullmq's "
                f"scripts and areafetch's transactions cannot span (CROSSSLOT); set it to e.g. "
                f"'{{{self.queue_prefix}}}'"
            )
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> Settings:
        key = self.google_api_key.get_secret_value() if self.google_api_key else ""
        if self.environment == "production" and key.lower() in {"changeme", "change-me", "test", "xxx"}:
            raise ValueError("AREAFETCH_GOOGLE_API_KEY holds a placeholder; set a real key")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
