"""Attacks and crashes the control plane must hold under (issue 15), one test each."""
