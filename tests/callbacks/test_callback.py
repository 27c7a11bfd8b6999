"""The callback interface: when periodic work is due, and the presented image."""

import numpy as np

from fakes import FakeTransfer, report
from tf_style.callbacks import LambdaCallback, is_due


def test_is_due_every_n_steps_and_at_the_end():
    assert [step for step in range(1, 13) if is_due(step, 5, end=12)] == [5, 10, 12]
    assert [step for step in range(1, 13) if is_due(step, 5)] == [5, 10]


def test_report_image_is_presented_once_on_first_use():
    image = np.full((4, 6, 3), 100.0, np.float32)
    calls = []

    def presenter(pixels):
        calls.append(1)
        return 255.0 - pixels

    step_report = report(1, FakeTransfer(image), presenter=presenter)
    assert calls == []  # nothing is computed for a report nobody looks at
    np.testing.assert_array_equal(step_report.image, np.full((4, 6, 3), 155.0))
    step_report.image
    assert calls == [1]


def test_lambda_callback_calls_the_function_with_each_report():
    seen = []
    callback = LambdaCallback(lambda step_report: seen.append(step_report.step))
    transfer = FakeTransfer(np.zeros((2, 2, 3), np.float32))
    for step in (1, 2):
        callback.on_step_end(report(step, transfer))
    callback.on_run_end()
    assert seen == [1, 2]
