"""Local development services (SeaweedFS, demo databases) for `make up` and the tests."""
