"""Hone's training engine: gradients only. Every decision arrives resolved in the job."""
