"""Shared fixtures. Heavy imports stay inside fixtures so `-m unit` runs stay fast."""
