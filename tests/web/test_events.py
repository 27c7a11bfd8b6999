"""Typed events on the wire: each kind as JSON and back, and what is no event refused."""

import asyncio

import pytest

from tf_style.web import events

EXAMPLES = [
    events.Plan("whole image, est. peak 1 GB", 12.5),
    events.Step(step=3, iters=10, losses={"total": 2.0, "style": 1.5}, image="data:image/jpeg;base64,AA",
                scale=1, scales=2, seconds_per_step=0.5, eta_seconds=3.5, fraction=0.3, time=7.0),
    events.Tile(2, 4),
    events.Finished("runs/a/output.png"),
    events.Stopped(7, "stopped by SIGINT at step 7"),
    events.Failed("image x.png is truncated"),
    events.Status("queued"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.type)
def test_each_kind_goes_to_json_and_back_unchanged(event):
    sent = event.as_json()
    assert sent["type"] == event.type and events.from_json(sent) == event
    assert event.as_json("a-run") == {**sent, "run": "a-run"}  # as the page gets it


@pytest.mark.parametrize("data, words", [
    ({"type": "party"}, "not an event"),
    ({"event": "step", "step": 1}, "not an event"),  # the key before events were typed
    ([1, 2], "not an event"),
    ({"type": "tile", "done": 1}, "a tile event without"),
])
def test_what_is_no_event_is_refused(data, words):
    with pytest.raises(ValueError, match=words):
        events.from_json(data)


def test_the_hub_keeps_each_runs_last_step_for_a_page_opened_later_until_it_ends():
    hub = events.EventHub()

    def a_new_page():
        async def subscribe():
            return hub.subscribe()[1]
        return asyncio.run(subscribe())

    step = EXAMPLES[1]
    hub.publish("a", step)
    hub.publish("b", events.Tile(1, 2))
    assert a_new_page() == [step.as_json("a")]
    hub.publish("a", events.Status("running"))
    assert a_new_page() == [step.as_json("a")]
    hub.publish("a", events.Status("stopped"))
    assert a_new_page() == []
