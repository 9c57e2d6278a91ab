"""The service's domain: models and statuses, site files and paths, names, requests, errors, time.
Nothing here does I/O."""
