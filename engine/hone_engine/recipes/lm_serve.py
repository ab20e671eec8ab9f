"""Serve generations: load the model once, then answer `generate` requests one after another,
streaming each request's tokens as they come (the TypeScript server turns them into text). A
`cancel` (the client went away) stops its generation at the next token: control lines that
arrive while one generates are read between tokens, and the others kept, in order, for later."""

from collections import deque

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from .. import lm, runtime


class EventStreamer(BaseStreamer):
    """generate() hands the prompt first, then each new token: forward the new ones, not the stop token."""

    def __init__(self, channel, request_id: str, stop: set):
        self.channel, self.id, self.stop = channel, request_id, stop
        self.prompt_seen = False
        self.count = 0
        self.stopped = False

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        ids = value.reshape(-1).tolist()
        if self.stopped:
            return
        if ids and ids[0] in self.stop:
            self.stopped = True
            return
        self.count += len(ids)
        self.channel.emit("tokens", id=self.id, token_ids=ids)

    def end(self):
        pass


class Inbox(StoppingCriteria):
    """Between tokens: reads the control lines that came meanwhile; says stop when the running
    request was cancelled."""

    def __init__(self, channel):
        self.channel, self.backlog, self.cancelled, self.current = channel, deque(), set(), None

    def next(self) -> dict:
        return self.backlog.popleft() if self.backlog else self.channel.await_control()

    def __call__(self, input_ids, scores, **kwargs):
        while (msg := self.channel.poll_control()) is not None:
            if msg["type"] == "cancel":
                self.cancelled.add(msg["id"])
            else:
                self.backlog.append(msg)
        stop = self.current in self.cancelled
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def run(job: dict, channel) -> None:
    device, autocast = runtime.setup(job["runtime"])
    model = lm.load(job["model"], None, trainable=False).to(device).eval()
    lm.causal(model).config.use_cache = True
    pad_id = job["model"]["pad_token_id"]
    channel.emit("ready")
    inbox = Inbox(channel)
    while True:
        msg = inbox.next()
        if msg["type"] == "cancel":
            inbox.cancelled.add(msg["id"])
            continue
        if msg["type"] != "generate":
            break  # stop, or the orchestrator closed stdin
        if msg["id"] in inbox.cancelled:  # given up while it waited
            channel.emit("generated", id=msg["id"], finish_reason="cancelled", prompt_tokens=len(msg["prompt"]), completion_tokens=0)
            continue
        inbox.current = msg["id"]
        torch.manual_seed(msg["seed"])
        stop = set(msg["stop_token_ids"])
        streamer = EventStreamer(channel, msg["id"], stop)
        ids = torch.tensor([msg["prompt"]], device=device)
        sample = msg["temperature"] > 0
        with autocast:
            model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=msg["max_new_tokens"],
                do_sample=sample,
                temperature=msg["temperature"] if sample else None,
                top_p=msg["top_p"] if sample else None,
                top_k=None,
                eos_token_id=sorted(stop),
                pad_token_id=pad_id,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([inbox]),
            )
        channel.emit(
            "generated",
            id=msg["id"],
            finish_reason="cancelled" if msg["id"] in inbox.cancelled else "stop" if streamer.stopped else "length",
            prompt_tokens=len(msg["prompt"]),
            completion_tokens=streamer.count,
        )
    channel.emit("done", step=0, reason="completed", runtime_s=0.0)
