"""Orchestration only: the order's life story and the refund child, deterministic and free of I/O."""
