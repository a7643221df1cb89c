"""The use cases: ingestion and answering. The CLI and API are thin adapters over them."""
