"""`areafetch dev`: embedded Redis and PostgreSQL when none are configured, and the process supervisor."""

from areafetch.devserver.supervisor import run_dev

__all__ = ["run_dev"]
