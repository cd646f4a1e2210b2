// protocol.js holds what the page API (hearth.js) and the service worker
// (sw.js) share: the names of the broadcast channel and the Web Lock, how a
// request and a response cross a channel, and the client side of the
// channel to the owner tab.
//
// Messages on the BroadcastChannel CHANNEL (every tab and the service
// worker of the origin hear all of them; each carries whom it is for):
//
//	{t: "req", id, from, op, arg}     a request for the owner tab; op is
//	                                  "fetch" (arg: a serialised request),
//	                                  "status" or "export"
//	{t: "ack", id, to, owner}         the owner took request id
//	{t: "res", id, to, ok, value}     its result, or {ok: false, error}
//	{t: "abort", id, from}            the requester gave up on id
//	{t: "owner", owner}               owner is now running the homeserver
//	{t: "gone", owner}                owner stopped
//
// A request that an owner acknowledged and that then loses its owner
// rejects with a TypeError, as fetch does when a connection drops; one that
// no owner took yet waits for the next owner.

export const CHANNEL = "hearth";
export const OWNER_LOCK = "hearth-owner";

// HearthError is what the API throws for anything but network-level
// failures; code is one of the bridge's codes (NEEDS_OWNER, TOO_NEW, ...).
export class HearthError extends Error {
	constructor(message, code = "INTERNAL") {
		super(message);
		this.name = "HearthError";
		this.code = code;
	}
}

// randomId returns a short random identifier.
export function randomId() {
	const b = new Uint8Array(9);
	crypto.getRandomValues(b);
	return btoa(String.fromCharCode(...b)).replace(/[+/]/g, "_");
}

// errorToWire makes an error cloneable for postMessage.
export function errorToWire(err) {
	if (err && typeof err === "object") {
		return { name: err.name || "Error", message: String(err.message ?? err), code: err.code };
	}
	return { name: "Error", message: String(err) };
}

// errorFromWire rebuilds an error from errorToWire's form.
export function errorFromWire(w) {
	if (!w) {
		return new HearthError("unknown error");
	}
	if (w.name === "TypeError") {
		return new TypeError(w.message);
	}
	if (w.name === "AbortError" || w.code === "ABORTED") {
		return new DOMException(w.message || "The operation was aborted.", "AbortError");
	}
	return new HearthError(w.message, w.code || "INTERNAL");
}

// networkError is how a request fails when it cannot reach a homeserver.
export function networkError(why) {
	return new TypeError(`hearth: ${why}`);
}

// abortError is the error of an aborted signal.
export function abortError(signal) {
	return signal?.reason ?? new DOMException("The operation was aborted.", "AbortError");
}

// serializeRequest reads a Request into {method, url, headers, body}, body
// being a Uint8Array or null.
export async function serializeRequest(req) {
	let body = null;
	if (req.method !== "GET" && req.method !== "HEAD") {
		const buf = await req.arrayBuffer();
		if (buf.byteLength > 0) {
			body = new Uint8Array(buf);
		}
	}
	return { method: req.method, url: req.url, headers: [...req.headers], body };
}

const nullBodyStatus = new Set([101, 103, 204, 205, 304]);

// toResponse builds a Response from {status, headers, body}.
export function toResponse(r) {
	const body = nullBodyStatus.has(r.status) ? null : r.body;
	return new Response(body, { status: r.status, headers: r.headers });
}

// unavailable is the answer to /_matrix requests while no tab runs the
// homeserver.
export function unavailable(message = "No tab of this site is running the homeserver; open it to start it.") {
	return new Response(JSON.stringify({ errcode: "M_UNAVAILABLE", error: message }), {
		status: 503,
		headers: { "Content-Type": "application/json", "Retry-After": "5" },
	});
}

// OwnerLink is the requesting side of the channel: tabs that do not own the
// homeserver, and the service worker.
export class OwnerLink {
	// self names this end; ackTimeout (ms), when set, rejects with code
	// NO_OWNER a request that no owner acknowledged in time.
	constructor(self, { ackTimeout = 0, channel } = {}) {
		this.self = self;
		this.ackTimeout = ackTimeout;
		this.bc = channel ?? new BroadcastChannel(CHANNEL);
		this.ownChannel = !channel;
		this.pending = new Map();
		this.seq = 0;
		this.onOwner = null; // called with the new owner's id
		this.listener = (e) => this.receive(e.data);
		this.bc.addEventListener("message", this.listener);
	}

	// call sends op to the owner and resolves with its value.
	call(op, arg, signal, transfer = []) {
		if (signal?.aborted) {
			return Promise.reject(abortError(signal));
		}
		const id = `${this.self}:${++this.seq}`;
		const msg = { t: "req", id, from: this.self, op, arg };
		return new Promise((resolve, reject) => {
			const p = { msg, resolve, reject, ackedBy: null, timer: null, signal, onAbort: null };
			if (signal) {
				p.onAbort = () => {
					this.bc.postMessage({ t: "abort", id, from: this.self });
					this.settle(id, () => reject(abortError(signal)));
				};
				signal.addEventListener("abort", p.onAbort, { once: true });
			}
			this.pending.set(id, p);
			this.send(p, transfer);
		});
	}

	send(p, transfer) {
		this.bc.postMessage(p.msg, transfer);
		if (this.ackTimeout > 0) {
			clearTimeout(p.timer);
			p.timer = setTimeout(() => {
				if (!p.ackedBy) {
					this.settle(p.msg.id, () => p.reject(new HearthError("no tab answered", "NO_OWNER")));
				}
			}, this.ackTimeout);
		}
	}

	settle(id, fn) {
		const p = this.pending.get(id);
		if (!p) {
			return;
		}
		this.pending.delete(id);
		clearTimeout(p.timer);
		if (p.signal && p.onAbort) {
			p.signal.removeEventListener("abort", p.onAbort);
		}
		fn(p);
	}

	receive(m) {
		if (!m || typeof m !== "object") {
			return;
		}
		switch (m.t) {
		case "ack": {
			const p = m.to === this.self && this.pending.get(m.id);
			if (p) {
				p.ackedBy = m.owner;
				clearTimeout(p.timer);
			}
			break;
		}
		case "res":
			if (m.to === this.self) {
				this.settle(m.id, (p) => (m.ok ? p.resolve(m.value) : p.reject(errorFromWire(m.error))));
			}
			break;
		case "owner":
			this.ownerChanged(m.owner);
			this.onOwner?.(m.owner);
			break;
		case "gone":
			this.lost((p) => p.ackedBy === m.owner);
			break;
		}
	}

	// ownerChanged fails what an earlier owner took and sends the rest
	// again, to the new owner.
	ownerChanged(owner) {
		this.lost((p) => p.ackedBy !== null && p.ackedBy !== owner);
		for (const p of this.pending.values()) {
			if (p.ackedBy === null) {
				this.send(p, []);
			}
		}
	}

	lost(which) {
		for (const [id, p] of [...this.pending]) {
			if (which(p)) {
				this.settle(id, () => p.reject(networkError("the tab running the homeserver went away")));
			}
		}
	}

	// takePending removes the requests no owner took and returns their
	// messages with their callbacks, for a tab that becomes the owner to
	// serve them itself.
	takePending() {
		const out = [];
		for (const [id, p] of [...this.pending]) {
			if (p.ackedBy === null) {
				this.settle(id, () => out.push(p));
			}
		}
		return out;
	}

	// close fails every pending request.
	close(err = networkError("the homeserver was stopped")) {
		for (const [id, p] of [...this.pending]) {
			this.settle(id, () => p.reject(err));
		}
		this.bc.removeEventListener("message", this.listener);
		if (this.ownChannel) {
			this.bc.close();
		}
	}
}
