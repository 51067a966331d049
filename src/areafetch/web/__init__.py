"""The FastAPI web app: validates requests, enqueues jobs, reads results. Never imports processors."""
