"""PostgreSQL access for the pipeline: connections, COPY, the schema and batch ingestion."""
