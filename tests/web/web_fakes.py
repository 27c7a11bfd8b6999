"""A stand-in for the worker process: its events are the test's, no TensorFlow."""

import queue
import threading

from tf_style.web import events
from tf_style.web.runs import Process

_END = None


class FakeLauncher:
    """Starts `FakeProcess`es and keeps them, in order, for the test to drive."""

    def __init__(self):
        self.processes = []
        self.started = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, request, log_path):
        if request["mode"] == "plan":
            process = FakeProcess(request)
            process.send(events.Plan(f"plan of {request['config']['size']} px", 1.0))
            process.end(0)
            return process
        process = FakeProcess(request)
        with self.lock:
            self.processes.append(process)
        self.started.set()
        return process

    def wait_for(self, count, timeout=10):
        """The `count`-th process started, once it has."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.processes) >= count:
                    return self.processes[count - 1]
            time.sleep(0.01)
        raise AssertionError(f"process {count} never started")


class FakeProcess(Process):
    def __init__(self, request):
        self.request = request
        self.queue = queue.Queue()
        self.code = None
        self.stop_count = 0

    def send(self, event):
        self.queue.put(event)

    def end(self, code):
        self.code = code
        self.queue.put(_END)

    def events(self):
        while True:
            event = self.queue.get(timeout=30)
            if event is _END:
                return
            yield event

    def stop(self):
        self.stop_count += 1
        self.send(events.Stopped(step=1))
        self.end(130)

    def wait(self):
        return self.code
