"""The peak replay of the allocator's history: the right moment, the right blocks, grouped by place."""

from hone_engine.testing.memory_history import at_peak


def frames(name):
    return [
        {"filename": "/x/site-packages/torch/autograd/graph.py", "line": 1, "name": "f"},
        {"filename": f"/work/main/engine/hone_engine/{name}.py", "line": 7, "name": name},
    ]


def test_peak_and_what_was_alive_then():
    ev = [
        {"action": "alloc", "addr": 1, "size": 100, "frames": frames("weights")},
        {"action": "alloc", "addr": 2, "size": 50, "frames": frames("act")},
        {"action": "alloc", "addr": 3, "size": 70, "frames": frames("act")},  # peak: 220
        {"action": "free_requested", "addr": 2, "size": 50},
        {"action": "free_completed", "addr": 2, "size": 50},
        {"action": "alloc", "addr": 4, "size": 60, "frames": frames("logits")},  # 230: new peak
        {"action": "free_requested", "addr": 4, "size": 60},
        {"action": "alloc", "addr": 5, "size": 10, "frames": []},
    ]
    r = at_peak(ev)
    assert r["peak_bytes"] == 230 and r["peak_event"] == 5
    places = {p["where"].split(" ")[-1]: (p["bytes"], p["blocks"]) for p in r["by_place"]}
    assert places == {"weights": (100, 1), "act": (70, 1), "logits": (60, 1)}
    assert [b["bytes"] for b in r["largest_blocks"]] == [100, 70, 60]
