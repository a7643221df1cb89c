"""Background ingestion: a persistent job queue and the workers that drain it."""
