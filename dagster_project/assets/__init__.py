"""Assets: the raw drop, the dbt models, the public export and the published report."""
