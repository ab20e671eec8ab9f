"""Serve generations: load the model once, then answer `generate` requests one after another,
streaming each request's tokens as they come (the TypeScript server turns them into text)."""

import torch
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


@torch.no_grad()
def run(job: dict, channel) -> None:
    device, autocast = runtime.setup(job["runtime"])
    model = lm.load(job["model"], None, trainable=False).to(device).eval()
    lm.causal(model).config.use_cache = True
    pad_id = job["model"]["pad_token_id"]
    channel.emit("ready")
    while True:
        msg = channel.await_control()
        if msg["type"] != "generate":
            break  # stop, or the orchestrator closed stdin
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
            )
        channel.emit(
            "generated",
            id=msg["id"],
            finish_reason="stop" if streamer.stopped else "length",
            prompt_tokens=len(msg["prompt"]),
            completion_tokens=streamer.count,
        )
    channel.emit("done", step=0, reason="completed", runtime_s=0.0)
