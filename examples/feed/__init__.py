"""A live feed of task changes over server-sent events (``GET /feed``), resumable across
reconnects and server processes. Hook :meth:`TaskFeed.on_change` to the tasks API.

The log and the resuming are the library's (``aaf.sse_resume``); they are re-exported here so
the demo app builds its feed from one place."""

from aaf.sse_resume import EventLog, LoggedEvent, MemoryEventLog, RedisEventLog

from .feed import FEED_CHANNEL, TaskFeed

__all__ = ["FEED_CHANNEL", "EventLog", "LoggedEvent", "MemoryEventLog", "RedisEventLog", "TaskFeed"]
