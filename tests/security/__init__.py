"""Attacks on the control plane, each a test that failed before its fix."""
