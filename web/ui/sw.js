// sw.js is hearth's service worker, served at /hearth-sw.js and registered
// by Hearth.start with scope /. It answers the same-origin /_matrix/*
// requests of the pages it controls through the tab that runs the
// homeserver (see protocol.js), so a web client served from this origin can
// use the origin itself as its homeserver URL.
//
// It shadows the origin's own /_matrix (a native hearth serving the page,
// for instance) for the pages it controls, and only for them, except
// requests marked X-Hearth-Direct: the page sends those to the native
// hearth it is a client of. While no tab runs the homeserver it answers 503
// M_UNAVAILABLE. Every other request goes to the network untouched.
import { OWNER_LOCK, OwnerLink, randomId, serializeRequest, toResponse, unavailable } from "./protocol.js";

// ackTimeout bounds the wait for the owner tab to take a request; the
// owner's page answers at once, even while its homeserver is starting.
const ackTimeout = 5000;

const link = new OwnerLink(`sw:${randomId()}`, { ackTimeout });

self.addEventListener("install", (e) => {
	e.waitUntil(Promise.all([self.skipWaiting(), addRoutes(e)]));
});

// addRoutes sends every request but /_matrix/* straight to the network
// (the Static Routing API, where the browser has it), so loading a page or
// its assets does not have to start this worker first.
async function addRoutes(e) {
	if (typeof e.addRoutes !== "function" || typeof URLPattern !== "function") {
		return;
	}
	try {
		await e.addRoutes([{
			condition: { not: { urlPattern: new URLPattern({ pathname: "/_matrix/*" }) } },
			source: "network",
		}]);
	} catch (err) {
		console.warn("hearth service worker: no static routes:", err);
	}
}

self.addEventListener("activate", (e) => {
	e.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (e) => {
	const url = new URL(e.request.url);
	if (url.origin !== self.location.origin || !url.pathname.startsWith("/_matrix/") ||
		e.request.headers.has("X-Hearth-Direct")) {
		return;
	}
	e.respondWith(route(e.request));
});

// ownerRunning reports whether some tab holds the owner lock.
async function ownerRunning() {
	if (!navigator.locks) {
		return true;
	}
	const q = await navigator.locks.query();
	return q.held.some((l) => l.name === OWNER_LOCK);
}

async function route(request) {
	if (!(await ownerRunning())) {
		return unavailable();
	}
	let data;
	try {
		data = await serializeRequest(request);
	} catch {
		return Response.error();
	}
	try {
		const res = await link.call("fetch", data, request.signal);
		const response = toResponse(res);
		return response;
	} catch (err) {
		if (err?.code === "NO_OWNER") {
			return unavailable();
		}
		if (err?.name === "AbortError" || err instanceof TypeError) {
			return Response.error();
		}
		return unavailable(`The homeserver is not available: ${err?.message ?? err}`);
	}
}
