"""The operator side: the `oms` CLI, order placement and the embedded stack launcher."""
