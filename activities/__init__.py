"""Every side effect of an order, one module per external system; `api` is the contract workflows see."""
