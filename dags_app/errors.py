"""The error services raise for a user's mistake; every interface shows its message as is."""


class ServiceError(ValueError):
    """A request that cannot be done as asked (unknown id, bad value, forbidden state)."""


class NotFound(ServiceError):
    """The named DAG, run, task or user does not exist."""


class Conflict(ServiceError):
    """What the request would create exists already (a run at that date, a connection id)."""
