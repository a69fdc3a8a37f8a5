"""When and where backups run at scale: each app's stable start offset inside its window,
which backups are due in a stretch of time, and the source servers whose dumps share one
concurrency limit (a Dagster pool each)."""
