"""The OMS database: schema, engine and repositories for what operators list and report on."""
