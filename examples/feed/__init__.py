"""A live feed of task changes over server-sent events (``GET /feed``), resumable across
reconnects and server processes. Hook :meth:`TaskFeed.on_change` to the tasks API."""

from .feed import TaskFeed
from .log import EventLog, FeedEvent, MemoryEventLog, RedisEventLog

__all__ = ["EventLog", "FeedEvent", "MemoryEventLog", "RedisEventLog", "TaskFeed"]
