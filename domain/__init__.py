"""The shop's vocabulary: pure, deterministic models and rules that workflows may use."""
