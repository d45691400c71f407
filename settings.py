"""The one configuration object: every address, path and policy, read from `OMS_*` environment variables."""

from __future__ import annotations

from datetime import time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.calendar import BusinessCalendar, WorkingHours
from domain.money import SUPPORTED_CURRENCIES, ExchangeRates
from domain.order import FulfilmentMode
from domain.policy import OrderPolicy
from store.db import displayed_url


class Settings(BaseSettings):
    """Everything the worker and the `oms` CLI need to know; nothing else reads the environment."""

    # Inputs stay out of validation errors: some settings are secrets.
    model_config = SettingsConfigDict(env_prefix="OMS_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    # Temporal
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_ui_port: int = Field(8233, description="Temporal UI port of the embedded dev server.")
    task_queue: str = Field("orders", description="Task queue of order workflows and activities.")
    temporal_api_key: SecretStr | None = Field(None, description="API key for Temporal Cloud.")
    temporal_tls: bool = Field(False, description="Connect to Temporal over TLS.")
    temporal_tls_cert: Path | None = Field(
        None, description="Client certificate (PEM) for mTLS, e.g. Temporal Cloud; switches TLS on."
    )
    temporal_tls_key: Path | None = Field(None, description="Private key (PEM) of the client certificate.")
    temporal_tls_ca: Path | None = Field(
        None, description="CA certificate (PEM) the server's certificate is checked against; default: system CAs."
    )
    temporal_tls_server_name: str | None = Field(None, description="Server name to check the certificate for.")
    warehouse_task_queue: str | None = Field(
        None,
        description="Task queue of picking and packing, served by workers at the warehouse; default: task_queue.",
    )

    # Storage
    var_dir: Path = Field(Path("var"), description="Where the embedded stack keeps its state.")
    database_url: SecretStr | None = Field(
        None,
        description="OMS database (SQLAlchemy async URL, e.g. postgresql+asyncpg://...); default SQLite at "
        "<var_dir>/oms.db.",
    )
    migrate_on_start: bool = Field(
        False, description="`oms worker` runs the database migrations at start instead of refusing an old schema."
    )
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve the worker's Temporal SDK metrics for Prometheus on this port."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address the worker's metrics endpoint listens on; 0.0.0.0 lets Prometheus on another host scrape.",
    )

    # Email
    smtp_host: str = Field("127.0.0.1", description="SMTP server that customer emails go to.")
    smtp_port: int = Field(8025, description="SMTP port; `oms up` runs a sink here.")
    mail_from: str = Field("orders@demo-shop.example", description="Sender of customer emails.")
    operator_email: str = Field("operator@demo-shop.example", description="Where operator alerts go.")
    escalation_email: str | None = Field(
        None, description="Where overdue-refund escalations go; default: the operator address."
    )
    shop_name: str = Field("Demo Shop", description="Shop name used in emails.")

    # Business
    base_currency: str = Field("EUR", description="Currency that reports convert to.")
    fx_rates: str = Field(
        "USD=0.92,GBP=1.17,CHF=1.05,JPY=0.0061,KWD=2.98",
        description="Base-currency value of one unit of each other currency, for reports: CODE=RATE,...",
    )
    overstock_units: int = Field(
        200, ge=1, description="A SKU with this many units available or more is overstocked in reports."
    )
    country: str = Field("DE", description="Country whose public holidays count (ISO 3166-1 alpha-2).")
    subdivision: str | None = Field(None, description="State or region whose holidays count too, e.g. BY.")
    timezone: str = Field("Europe/Berlin", description="The shop's time zone: business days and deadlines.")
    warehouse_hours: str = Field(
        "24/7", description='When picking and packing happen, e.g. "Mon-Fri 08:00-18:00; Sat 09:00-13:00".'
    )
    warehouse: str = Field("main", description="Warehouse that reservations draw from.")
    fulfilment_mode: FulfilmentMode = Field(FulfilmentMode.AUTO, description="Default mode of new orders.")
    low_stock_units: int = Field(5, ge=0, description="A SKU with this many units available or fewer is low.")

    # Simulated external systems (seconds; zero makes a run measure the orchestrator only)
    pick_seconds: float = Field(2.0, ge=0, description="Simulated picking time in auto mode.")
    pack_seconds: float = Field(2.0, ge=0, description="Simulated packing time in auto mode.")
    carrier_transit_seconds: float = Field(10.0, ge=0, description="Sandbox carrier: label to delivery.")
    sandbox_gateway_failure_rate: float = Field(
        0.0, ge=0, lt=1, description="Sandbox payment gateway: the share of charges and refunds that fail, retried."
    )
    tracking_poll_seconds: float = Field(
        5.0, gt=0, description="How soon delivery tracking is polled again after news from the carrier."
    )
    tracking_poll_max_seconds: float = Field(
        3600.0, gt=0, description="Quiet tracking polls back off, doubling up to this interval."
    )
    tracking_give_up_days: float = Field(
        60, gt=0, description="A parcel not delivered by then is no longer polled; a delivery event still completes it."
    )
    backorder_recheck_max_hours: float = Field(
        24, gt=0, description="A backordered order rechecks its stock hourly at first, doubling up to this interval."
    )
    max_refunds: int = Field(50, ge=1, description="Refunds one order takes, partial ones included.")

    # Order policy (days)
    payment_due_days: int = Field(
        7, ge=1, description="Unpaid bank transfer/invoice orders cancel after this many business days."
    )
    survey_delay_days: float = Field(3, ge=0, description="Satisfaction survey goes out after delivery.")
    feedback_window_days: float = Field(14, ge=0, description="How long the survey waits for feedback.")
    refund_window_days: float = Field(30, ge=0, description="Refunds accepted until this after delivery.")
    refund_sla_business_days: int = Field(5, ge=1, le=30, description="A refund is finished within this.")
    refund_reminder_time: str = Field("09:00", description="Shop time of the daily reminder of a manual payout.")

    # Operator console (`oms web`, and `oms up`)
    web_host: str = Field("127.0.0.1", description="Address the operator console listens on.")
    web_port: int = Field(8000, ge=1, le=65535, description="Port of the operator console.")
    web_https: bool = Field(
        False,
        description="The console is served over HTTPS (directly or behind a TLS proxy): session cookies are Secure.",
    )
    web_session_idle_minutes: float = Field(
        30, gt=0, description="A console session ends after this long without a request."
    )
    web_session_max_hours: float = Field(8, gt=0, description="A console session ends this long after login.")
    temporal_ui_url: str | None = Field(
        None,
        description="Temporal UI as operators reach it, for links from the console; default: the embedded UI.",
    )
    new_order_email: Literal["each", "hourly", "off"] = Field(
        "each",
        description="Email the operator about new orders: one email each, an hourly digest, or none.",
    )

    # Privacy: payload encryption and the codec server
    payload_keys: SecretStr | None = Field(
        None,
        description="Keys that encrypt workflow payloads (AES-256-GCM): id:base64key,... (32-byte keys); "
        "default: <var_dir>/payload.keys, which `oms up` creates.",
    )
    payload_key_id: str | None = Field(
        None, description="Id of the key that encrypts new payloads; default: the last key listed."
    )
    codec_host: str = Field("127.0.0.1", description="Address `oms codec-server` listens on.")
    codec_port: int = Field(8234, ge=1, le=65535, description="Port of `oms codec-server`.")
    codec_token: SecretStr | None = Field(
        None, description="Bearer token the codec server requires of every request, when set."
    )

    demo_data: bool = Field(True, description="Seed the demo catalogue and demo orders on a fresh state.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("base_currency")
    @classmethod
    def _supported_base_currency(cls, value: str) -> str:
        if value not in SUPPORTED_CURRENCIES:
            raise ValueError(f"{value!r} is not a supported currency")
        return value

    @field_validator("fx_rates")
    @classmethod
    def _readable_rates(cls, value: str, info: ValidationInfo) -> str:
        ExchangeRates.parse(info.data.get("base_currency", "EUR"), value)
        return value

    @model_validator(mode="after")
    def _whole_client_certificate(self) -> Self:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("OMS_TEMPORAL_TLS_CERT and OMS_TEMPORAL_TLS_KEY go together: give both or neither")
        return self

    @model_validator(mode="after")
    def _usable_payload_keys(self) -> Self:
        # Checked here so a bad key stops every command at start, naming the variable; never echoes key material.
        if self.payload_keys is not None:
            from starter.codec import KeyRing

            KeyRing.parse(self.payload_keys.get_secret_value(), self.payload_key_id)
        return self

    @field_validator("refund_reminder_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day; use HH:MM, e.g. 09:00") from None
        return value

    @model_validator(mode="after")
    def _calendar_and_hours(self) -> Self:
        # Checked here so a bad country, time zone or hours spec stops the worker at start, naming the field.
        _ = self.hours
        return self

    @property
    def calendar(self) -> BusinessCalendar:
        """The shop's business days and time zone."""
        return BusinessCalendar(country=self.country, subdivision=self.subdivision, timezone=self.timezone)

    @property
    def exchange_rates(self) -> ExchangeRates:
        """The configured exchange rates into the base currency."""
        return ExchangeRates.parse(self.base_currency, self.fx_rates)

    @property
    def hours(self) -> WorkingHours:
        """The warehouse's working hours."""
        return WorkingHours.parse(self.warehouse_hours, self.calendar)

    @property
    def escalation_address(self) -> str:
        """Where escalations go."""
        return self.escalation_email or self.operator_email

    @cached_property
    def oms_database_url(self) -> str:
        """The database URL in force, password included, for engines only: the configured one, or SQLite in var_dir."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.var_dir / 'oms.db').resolve()}"

    @property
    def oms_database_display(self) -> str:
        """The database in force as messages and banners show it: its URL with the password masked."""
        return displayed_url(self.oms_database_url)

    @property
    def temporal_ui(self) -> str:
        """Temporal UI's base URL as operators reach it."""
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        return f"http://{self.temporal_host}:{self.temporal_ui_port}"

    @property
    def temporal_host(self) -> str:
        """Host part of `temporal_address`."""
        return self.temporal_address.rsplit(":", 1)[0]

    @property
    def temporal_port(self) -> int:
        """Port part of `temporal_address`."""
        return int(self.temporal_address.rsplit(":", 1)[1])

    def order_policy(self, mode: FulfilmentMode | None = None) -> OrderPolicy:
        """The per-order policy a new order workflow is started with."""
        return OrderPolicy(
            mode=mode or self.fulfilment_mode,
            warehouse=self.warehouse,
            pick_duration=timedelta(seconds=self.pick_seconds),
            pack_duration=timedelta(seconds=self.pack_seconds),
            tracking_poll_interval=timedelta(seconds=self.tracking_poll_seconds),
            tracking_poll_max_interval=timedelta(seconds=self.tracking_poll_max_seconds),
            tracking_give_up_after=timedelta(days=self.tracking_give_up_days),
            backorder_recheck_max_interval=timedelta(hours=self.backorder_recheck_max_hours),
            max_refunds=self.max_refunds,
            payment_due=timedelta(days=self.payment_due_days),
            payment_due_business_days=self.payment_due_days,
            survey_delay=timedelta(days=self.survey_delay_days),
            feedback_window=timedelta(days=self.feedback_window_days),
            refund_window=timedelta(days=self.refund_window_days),
            calendar=self.calendar,
            warehouse_hours=self.hours,
            refund_sla_business_days=self.refund_sla_business_days,
            refund_reminder_time=time.fromisoformat(self.refund_reminder_time),
            warehouse_task_queue=self.warehouse_task_queue,
        )
