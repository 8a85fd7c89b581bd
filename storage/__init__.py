"""Content-addressed blobs and the SQLModel catalog of jobs, artifacts and lineage."""
