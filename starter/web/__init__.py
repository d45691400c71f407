"""The operator console: login, the shop at a glance, orders, stock, reports, imports, live updates."""
