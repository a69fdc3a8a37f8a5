"""The complianceReport query: evidence of a period for viewers."""
