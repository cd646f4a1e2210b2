// The echo bridge encrypts nothing; matrix-bot-sdk requires this module at
// load time but calls it only for end-to-end encryption. Any use fails
// loudly instead of silently doing nothing.
"use strict";
module.exports = new Proxy({}, {
  get(_, name) {
    if (typeof name === "symbol" || name === "__esModule" || name === "then" || name === "default") return undefined;
    throw new Error(`end-to-end encryption (${String(name)}) is not available in hearth's echo bridge test`);
  },
});
