"""The console's fixtures, for every test in this folder."""

from tests.web.console import anonymous, console_url, operator, staff, viewer, web_settings

__all__ = ["anonymous", "console_url", "operator", "staff", "viewer", "web_settings"]
