"""Sandbox stand-ins for the outside world (payment gateway, carrier) that behave like the real thing."""
