// Follows one shipment with graphql-ws the way docs/api.md's "Checkpoints" snippet does (the
// snippet is the block between the markers, word for word: tests/unit/test_readme_examples.py
// checks it), and prints what happens as JSON lines: {"connected"}, {"after": cursor} each
// time the subscription's resume cursor moves (an event's or a ping's checkpoint), {"event"},
// {"error"}. A line "drop" on standard input cuts the socket as a network drop would (no close
// handshake), and graphql-ws reconnects and subscribes again with the same payload; "quit"
// exits.
//
//   node clients/live-checkpoints.mjs <ws url> <bearer token> <shipment id>
//
// Driven by tests/integration/test_subscriptions.py.
import readline from "node:readline";
import WebSocket from "ws";

globalThis.WebSocket ??= WebSocket; // Node 20 has no WebSocket of its own
const [url, token, shipmentId] = process.argv.slice(2);
const report = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

// --- the snippet in docs/api.md ---
import { createClient } from "graphql-ws";

const subscriptions = new Map(); // id of a subscribe message -> its payload
const resumeAfter = (id, cursor) => {
  const payload = subscriptions.get(id);
  if (payload && cursor) payload.variables = { ...payload.variables, after: cursor };
};
const client = createClient({
  url, // wss://<host>/graphql
  connectionParams: { Authorization: `Bearer ${token}` },
  generateID: (payload) => {
    const id = crypto.randomUUID();
    subscriptions.set(id, payload);
    return id;
  },
  on: {
    message: (message) => {
      if (message.type === "next") {
        const event = Object.values(message.payload.data ?? {})[0];
        resumeAfter(message.id, event?.cursor);
      } else if (message.type === "complete" || message.type === "error") {
        subscriptions.delete(message.id);
      }
    },
    ping: (received, payload) => {
      if (!received) return;
      for (const [id, cursor] of Object.entries(payload?.checkpoints ?? {})) resumeAfter(id, cursor);
    },
  },
});
// --- end of the snippet ---

const payload = {
  query: `subscription($shipmentId: ID!, $after: String) {
    shipmentUpdates(shipmentId: $shipmentId, after: $after) { cursor shipmentId milestone { rawCode } }
  }`,
  variables: { shipmentId },
};
let after = null;
const reportAfter = () => {
  if (payload.variables.after !== after) report({ after: (after = payload.variables.after) });
};
let socket = null;
client.on("opened", (opened) => (socket = opened));
client.on("connected", () => report({ connected: true }));
client.on("message", reportAfter); // registered after the snippet's listener: sees its update
client.on("ping", reportAfter);
client.subscribe(payload, {
  next: (result) => report({ event: result }),
  error: (error) => report({ error: String(error?.message ?? JSON.stringify(error)) }),
  complete: () => report({ complete: true }),
});
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "drop") socket?.terminate(); // ws's: destroys the connection (close 1006)
  if (line === "quit") process.exit(0);
});
