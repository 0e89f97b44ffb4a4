// Reads a request target the way a Node upstream does: new URL(req.url,
// "http://" + req.headers.host), the WHATWG URL parser (as in Deno, Bun and
// browsers). One JSON object a line in: {"target": base64, "host": base64},
// the raw bytes as an HTTP server hands them over (latin1); one a line out:
// {"path": pathname, "host": hostname} or {"error": message}.
"use strict";
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  let out;
  try {
    const q = JSON.parse(line);
    const target = Buffer.from(q.target, "base64").toString("latin1");
    const host = Buffer.from(q.host, "base64").toString("latin1");
    const u = new URL(target, "http://" + host);
    out = { path: u.pathname, host: u.hostname };
  } catch (e) {
    out = { error: String(e && e.message) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
