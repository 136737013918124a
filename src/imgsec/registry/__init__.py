"""OCI distribution client: credentials (docker/podman auth files, helpers, pull secrets) and the API."""
