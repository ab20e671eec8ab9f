// Writes chat.jsonl and preferences.jsonl: the quick-start support queries (../support/data.jsonl)
// as conversations with a support assistant that names the topic, then gives one helpful sentence.
// preferences.jsonl pairs the right answer (chosen) with a wrong topic's answer (rejected).
// Deterministic. Run: node examples/support-chat/generate.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const SYSTEM = "You are the support assistant of an online shop. Name the topic, then help in one sentence.";
const REPLY = {
  "payment/billing": "I can see the charge on your account; I'll correct the invoice and email you the details.",
  "payment/declined": "Sorry your payment didn't go through; please check the card details or try another method.",
  "payment/options": "You can pay by card, PayPal or bank transfer at checkout.",
  "payment/refund": "Your refund is on its way and reaches your account within five working days.",
  "product/availability": "It is out of stock right now; I'll email you as soon as it is back.",
  "product/defect": "Sorry it arrived faulty; I'll send you a free replacement today.",
  "product/details": "The full specification is on the product page under details.",
  "product/sizing": "Please check the size chart on the product page; it runs true to size.",
  "service/account": "You can reset your password and change your details under account settings.",
  "service/returns": "You can return it within thirty days with the free label in your order page.",
  "service/shipping": "Your parcel is on its way; the tracking link is in your confirmation email.",
};
const answer = (label) => `${label}: ${REPLY[label]}`;
const rows = readFileSync(join(here, "../support/data.jsonl"), "utf8")
  .split("\n")
  .filter(Boolean)
  .map((l) => JSON.parse(l));
const labels = Object.keys(REPLY);

const chat = rows.map((r) => ({
  messages: [
    { role: "system", content: SYSTEM },
    { role: "user", content: r.text },
    { role: "assistant", content: answer(r.label) },
  ],
}));
// The rejected answer is another topic's, chosen by position so the file is the same on every run.
const prefs = rows.map((r, i) => {
  const wrong = labels[(labels.indexOf(r.label) + 1 + (i % (labels.length - 1))) % labels.length];
  return {
    prompt: [
      { role: "system", content: SYSTEM },
      { role: "user", content: r.text },
    ],
    chosen: [{ role: "assistant", content: answer(r.label) }],
    rejected: [{ role: "assistant", content: answer(wrong) }],
  };
});
writeFileSync(join(here, "chat.jsonl"), `${chat.map((c) => JSON.stringify(c)).join("\n")}\n`);
writeFileSync(join(here, "preferences.jsonl"), `${prefs.map((c) => JSON.stringify(c)).join("\n")}\n`);
console.log(`wrote ${chat.length} conversations and ${prefs.length} preference pairs`);
