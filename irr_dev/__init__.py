"""Development tooling for irr, outside the runtime package: the synthetic drop generator
(`irr generate`, the tests, the benchmark)."""
