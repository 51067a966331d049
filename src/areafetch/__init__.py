"""areafetch: asynchronous, strictly rate-limited retrieval of geographic data."""

__version__ = "0.1.0"
