// Writes data.jsonl: the quick-start dataset, customer-support queries of an online shop labelled
// by path (branch/issue). Hand-written templates filled with items; deterministic (fixed seed).
// Run: node examples/support/generate.mjs
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ITEMS = [
  "jacket",
  "phone case",
  "blender",
  "pair of sneakers",
  "coffee maker",
  "backpack",
  "desk lamp",
  "winter coat",
  "headphones",
  "yoga mat",
  "office chair",
  "dress",
  "frying pan",
  "smartwatch",
  "sofa cushion",
  "kettle",
];

const T = {
  "product/defect": [
    "The {item} I received is broken",
    "my {item} stopped working after two days",
    "the {item} arrived with a big scratch on it",
    "There is a crack in the {item} I just unpacked",
    "the zipper on my new {item} is already falling apart",
    "why does the {item} smell like burnt plastic when I use it",
    "the {item} has a manufacturing fault, the stitching came loose",
    "one of the parts of the {item} is missing from the box",
    "the {item} is faulty, it won't turn on at all",
    "poor quality, the {item} fell apart on first use",
    "the colour of my {item} faded after one wash",
    "my {item} is leaking",
  ],
  "product/sizing": [
    "what size {item} should I order if I'm usually a medium",
    "does the {item} run small or true to size",
    "the {item} is too big for me, do you have a smaller one",
    "can you tell me the exact dimensions of the {item}",
    "is there a size chart for the {item}",
    "I'm between sizes for the {item}, which one do you recommend",
    "how wide is the {item}, will it fit on a small desk",
    "the {item} is too tight, what size is bigger",
    "are the measurements of the {item} in cm or inches",
    "will the {item} fit a tall person",
  ],
  "product/availability": [
    "when will the {item} be back in stock",
    "is the {item} available in blue",
    "do you still sell the {item} or was it discontinued",
    "the {item} says sold out, can I preorder it",
    "can you notify me when the {item} is available again",
    "do you have the {item} in a larger size in stock",
    "is the black {item} available in any store near me",
    "how many {item}s do you have left",
    "will you restock the {item} before christmas",
    "why can't I add the {item} to my basket, it says unavailable",
  ],
  "product/details": [
    "what material is the {item} made of",
    "is the {item} waterproof",
    "does the {item} come with a warranty",
    "what is the battery life of the {item}",
    "is the {item} dishwasher safe",
    "where is the {item} manufactured",
    "can you send me the specifications of the {item}",
    "is the {item} suitable for children",
    "how heavy is the {item}",
    "does the {item} include a charger in the box",
  ],
  "service/shipping": [
    "where is my order, I bought a {item} last week",
    "my {item} hasn't arrived yet",
    "how long does delivery take for the {item}",
    "the tracking number for my {item} doesn't work",
    "can I change the delivery address for my {item} order",
    "do you ship the {item} internationally",
    "the courier says my {item} was delivered but I never got it",
    "how much is express shipping for a {item}",
    "my parcel with the {item} is stuck in customs",
    "can I pick up the {item} in store instead of delivery",
    "the delivery of my {item} is three days late",
  ],
  "service/returns": [
    "how do I return the {item}",
    "I want to send back the {item}, it's not what I expected",
    "can I exchange the {item} for a different colour",
    "what is your return policy for a {item}",
    "I need a return label for my {item}",
    "is it too late to return a {item} I bought 40 days ago",
    "do I have to pay for return shipping of the {item}",
    "I dropped off the {item} return at the post office, what happens next",
    "can I return the {item} to a physical store",
    "I'd like to swap the {item} for another model",
  ],
  "service/account": [
    "I can't log in to my account",
    "how do I reset my password",
    "I never received the verification email",
    "please delete my account and all my data",
    "how can I change the email address on my account",
    "my account was locked after too many attempts",
    "I want to unsubscribe from your newsletter",
    "someone else ordered a {item} from my account",
    "how do I update my phone number in my profile",
    "the app keeps logging me out",
  ],
  "payment/refund": [
    "when will I get my refund for the {item}",
    "I returned the {item} two weeks ago and still have no refund",
    "can I get my money back for the {item} instead of store credit",
    "the refund for my {item} was less than what I paid",
    "how long do refunds take to show on my card",
    "you cancelled my {item} order, where is my refund",
    "I was promised a partial refund for the damaged {item}",
    "the refund went to an old card that no longer exists",
    "has my refund for the {item} been processed",
    "please refund the shipping cost of the {item}",
  ],
  "payment/declined": [
    "my card was declined when buying the {item}",
    "payment failed at checkout but my card works everywhere else",
    "why does it say transaction declined",
    "the checkout keeps rejecting my credit card",
    "I get a payment error when ordering the {item}",
    "my bank says the payment was blocked by your site",
    "3D secure verification fails every time I pay",
    "paypal payment for the {item} didn't go through",
    "my gift card is not accepted at checkout",
    "the payment page times out before I can pay for the {item}",
  ],
  "payment/billing": [
    "I was charged twice for the {item}",
    "there is a charge on my statement I don't recognise",
    "you charged me for the {item} but cancelled the order",
    "the price of the {item} at checkout was higher than advertised",
    "I need an invoice for my {item} purchase",
    "why was I charged a fee on my order",
    "my discount code was not applied to the {item}",
    "I was billed for express shipping but chose standard",
    "the VAT on my invoice for the {item} is wrong",
    "I see a pending charge for an order I never placed",
  ],
  "payment/options": [
    "can I pay for the {item} in instalments",
    "do you accept apple pay",
    "which payment methods can I use",
    "can I pay cash on delivery for the {item}",
    "do you offer buy now pay later",
    "can I split the payment for the {item} between two cards",
    "is it possible to pay by bank transfer",
    "can I use a gift card together with my credit card",
    "do you take american express",
    "can my company pay for the {item} with an invoice",
  ],
};

// splitmix32, the same seeded generator Hone uses for splits.
let state = 20261123;
const rand = () => {
  state = (state + 0x9e3779b9) >>> 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
};
const pick = (a) => a[Math.floor(rand() * a.length)];
const styles = [(s) => s, (s) => s[0].toUpperCase() + s.slice(1), (s) => `${s}?`, (s) => `hi, ${s}`, (s) => `${s}, thanks`, (s) => `hello ${s}.`];

const rows = [];
const seen = new Set();
for (const [label, templates] of Object.entries(T)) {
  for (const template of templates) {
    // Templates with an item slot appear with several items; the others once per style.
    const variants = template.includes("{item}") ? 3 : 2;
    for (let v = 0; v < variants; v++) {
      const text = pick(styles)(template.replaceAll("{item}", pick(ITEMS)));
      if (seen.has(text.toLowerCase())) continue;
      seen.add(text.toLowerCase());
      rows.push({ text, label });
    }
  }
}
// Shuffle so that the file is not sorted by label.
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [rows[i], rows[j]] = [rows[j], rows[i]];
}
writeFileSync(join(dirname(fileURLToPath(import.meta.url)), "data.jsonl"), `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
console.log(`${rows.length} examples, ${Object.keys(T).length} labels`);
