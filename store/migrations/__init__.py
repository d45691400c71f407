"""Alembic migrations of the OMS database: the only way its schema is created or changed."""
