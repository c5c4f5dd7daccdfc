"""What a running Python task can ask of the executor it runs in.

    def work(n):
        jmesos.executor.send_framework_message({"progress": n})  # -> Scheduler.framework_message
        for order in jmesos.executor.messages(timeout=1.0):      # <- driver.send_framework_message
            ...
        with open(os.path.join(jmesos.executor.sandbox(), "out.txt"), "w") as f:
            ...

Outside a task they raise RuntimeError, saying so.
"""

from .runtime.executor import current_task_id, messages, sandbox, send_framework_message

__all__ = ["send_framework_message", "messages", "sandbox", "current_task_id"]
