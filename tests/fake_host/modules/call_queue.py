"""modules/call_queue.py:9-19 (A1111 82a973c0, Forge dfdcbab6): the queue lock every generation holds."""

import threading

queue_lock = threading.Lock()


def wrap_queued_call(func):
    def f(*args, **kwargs):
        with queue_lock:
            return func(*args, **kwargs)

    return f
