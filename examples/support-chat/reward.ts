// The reward of examples/support-chat/grpo.yaml: 1 when the answer names the row's topic first (as
// "payment/refund: ..."), 0.2 when it names it later, 0 otherwise; a little less for rambling.
interface Input {
  completion: string;
  example: { topic: string };
}

export default function reward({ completion, example }: Input): number {
  const text = completion.trim();
  const named = text.startsWith(`${example.topic}:`) ? 1 : text.includes(example.topic) ? 0.2 : 0;
  const words = text.split(/\s+/).length;
  return named - (words > 40 ? 0.1 : 0);
}
