"""Serve generations: load the model once, then answer `generate` requests, several at a time,
interleaved token by token: each round gives every running request its next token, so a short
request that arrives during a long one is answered after a few rounds, not after the long one.
Each request has its own KV cache and its own random generator (seeded by the request): its text
does not depend on what else runs. Control lines are read between rounds: a `cancel` (the client
went away) stops its request at once; `stop` lets the running requests finish, then ends."""

import torch

from .. import lm, runtime


class Request:
    """One running generation: its cache, its next input and what it has written."""

    def __init__(self, msg: dict, device):
        self.id = msg["id"]
        self.prompt_tokens = len(msg["prompt"])
        self.max_new = msg["max_new_tokens"]
        self.stop = set(msg["stop_token_ids"])
        self.temperature, self.top_p = msg["temperature"], msg["top_p"]
        self.generator = torch.Generator(device=device).manual_seed(msg["seed"])
        self.next_input = torch.tensor([msg["prompt"]], device=device)
        self.past = None
        self.count = 0

    def pick(self, logits: torch.Tensor) -> int:
        """Greedy at temperature 0; else nucleus sampling (the smallest set of tokens whose
        probability reaches top_p, always at least the most likely one)."""
        if self.temperature == 0:
            return int(logits.argmax())
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1:
            sorted_p, order = probs.sort(descending=True)
            outside = sorted_p.cumsum(-1) - sorted_p > self.top_p
            sorted_p[outside] = 0
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        return int(torch.multinomial(probs, 1, generator=self.generator))


def _finish(channel, r: Request, reason: str) -> None:
    channel.emit("generated", id=r.id, finish_reason=reason, prompt_tokens=r.prompt_tokens, completion_tokens=r.count)


@torch.no_grad()
def run(job: dict, channel) -> None:
    device, autocast = runtime.setup(job["runtime"])
    model = lm.load(job["model"], None, trainable=False).to(device).eval()
    lm.causal(model).config.use_cache = True
    channel.emit("ready")
    running: list[Request] = []
    cancelled: set = set()
    stopping = False

    def take(msg: dict) -> None:
        nonlocal stopping
        if msg["type"] == "cancel":
            r = next((x for x in running if x.id == msg["id"]), None)
            if r is not None:
                running.remove(r)
                _finish(channel, r, "cancelled")
            else:
                cancelled.add(msg["id"])  # still on its way, or already answered
        elif msg["type"] == "generate":
            if msg["id"] in cancelled:  # given up while it waited
                channel.emit("generated", id=msg["id"], finish_reason="cancelled", prompt_tokens=len(msg["prompt"]), completion_tokens=0)
            else:
                running.append(Request(msg, device))
        else:
            stopping = True  # stop, or the orchestrator closed stdin

    while True:
        # Idle: wait for the next line. Busy: take what came during the last round.
        if not running and not stopping:
            take(channel.await_control())
        while (msg := channel.poll_control()) is not None and not stopping:
            take(msg)
        if not running:
            if stopping:
                break
            continue
        for r in list(running):
            with autocast:
                out = model(input_ids=r.next_input, past_key_values=r.past, use_cache=True)
            r.past = out.past_key_values
            token = r.pick(out.logits[0, -1])
            if token in r.stop:
                running.remove(r)
                _finish(channel, r, "stop")
                continue
            r.count += 1
            channel.emit("tokens", id=r.id, token_ids=[token])
            if r.count >= r.max_new:
                running.remove(r)
                _finish(channel, r, "length")
            else:
                r.next_input = torch.tensor([[token]], device=device)
    channel.emit("done", step=0, reason="completed", runtime_s=0.0)
