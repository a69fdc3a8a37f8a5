"""Attacks and crashes the control plane must hold under, each a test that failed before its fix."""
