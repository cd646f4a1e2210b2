// app.js is hearth's page shell: it is a client of the native homeserver
// that serves it, or it starts the in-tab homeserver (through /hearth.js),
// sets up the owner on first use, shows the status, exports and imports the
// database; either way it offers a minimal chat view (rooms, timeline,
// composer) built on matrix-js-sdk, whose requests go through hs.fetch to
// the tab's homeserver, or straight to the native one.
//
// When a native hearth serves the page (it answers /_hearth/shell/v1/host),
// the page is first a client of that server: sign in with its accounts, or
// register the first owner with the setup token; the homeserver in the tab
// is the second choice, remembered once taken. On static hosting the page
// offers only the homeserver in the tab.
//
// ?storage=opfs|indexeddb|memory in the page URL forces a storage (else
// the last one chosen in the setup form, else automatic) and the
// homeserver in the tab, as does ?mode=tab; ?manual leaves the homeserver
// stopped (window.Hearth is there to start it by hand).
import { Hearth } from "/hearth.js";
// matrix-js-sdk is loaded when the chat view first needs it: a page that
// only runs the homeserver (or ?manual) does not evaluate it.
let sdk = null;
const loadSDK = async () => (sdk ??= await import("matrix-js-sdk"));

const $ = (id) => document.getElementById(id);
const storageKey = "hearth.storage";
const modeKey = "hearth.mode";
// The tab's homeserver and the native one keep separate sessions.
let sessionKey = "hearth.session";

const params = new URLSearchParams(location.search);
const storage = params.get("storage") || localStorage.getItem(storageKey) || "auto";

let hs = null;
// clientFetch is the fetch of matrix-js-sdk: hs.fetch for the homeserver in
// the tab, directFetch for the native one.
let clientFetch = null;
let client = null;
let selected = null;
let statusTimer = null;

// The shell's state, for tests and the browser console.
const shell = {
	mode: null, // "native" or "tab"
	get hs() { return hs; },
	get client() { return client; },
	get roomId() { return selected; },
	ready: null,
	timings: {},
};
window.hearthShell = shell;

function show(id, on = true) {
	$(id).hidden = !on;
}

function showError(err) {
	if (err != null) {
		console.error(err);
	}
	$("error").textContent = err?.message ?? String(err);
	show("error", err != null);
}

function formatBytes(n) {
	if (n < 1024) {
		return `${n} B`;
	}
	if (n < 1024 * 1024) {
		return `${(n / 1024).toFixed(1)} KiB`;
	}
	return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

async function refreshStatus() {
	if (!hs) {
		return;
	}
	try {
		const st = await hs.status();
		$("state").textContent = st.state === "running" ? "running" : st.state;
		$("server-name").textContent = st.serverName ?? "";
		$("storage").textContent = st.storage ?? "";
		$("db-size").textContent = formatBytes(st.databaseBytes ?? 0);
		$("memory").textContent = st.wasmMemoryBytes ? `${formatBytes(st.wasmMemoryBytes)} memory` : "";
		$("role").textContent = st.owner ? "this tab runs the homeserver" : "served by another tab";
		$("version").textContent = st.version ?? "";
		const relay = st.relay ?? { state: "off" };
		$("relay").textContent = relay.state === "off" ? "" :
			`· relay ${relay.state}${relay.queued ? `, ${relay.queued} transactions to catch up` : ""}`;
		show("details");
		document.body.dataset.storage = st.storage ?? "";
		document.body.dataset.owner = String(st.owner);
	} catch (err) {
		$("state").textContent = `unavailable (${err.message})`;
	}
}

function watch(instance) {
	hs = instance;
	clientFetch = instance.fetch;
	instance.addEventListener("statechange", refreshStatus);
	instance.addEventListener("error", (e) => showError(e.error));
	clearInterval(statusTimer);
	statusTimer = setInterval(refreshStatus, 3000);
	show("tools");
	return refreshStatus();
}

// directFetch reaches the native homeserver that serves the page. The
// header tells hearth's service worker (registered when this origin also
// ran a homeserver in a tab) to let the request through.
function directFetch(input, init = {}) {
	const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
	headers.set("X-Hearth-Direct", "1");
	return fetch(input, { ...init, headers });
}

// nativeHost returns what the native homeserver serving the page says of
// itself, or null when there is none (static hosting).
async function nativeHost() {
	try {
		const res = await fetch("/_hearth/shell/v1/host", { cache: "no-store" });
		if (!res.ok) {
			return null;
		}
		const host = await res.json();
		return typeof host?.server_name === "string" ? host : null;
	} catch {
		return null;
	}
}

function wantsTab() {
	return params.get("mode") === "tab" || params.has("storage") || localStorage.getItem(modeKey) === "tab";
}

async function boot() {
	const host = wantsTab() ? null : await nativeHost();
	if (host) {
		return bootNative(host);
	}
	return bootTab();
}

// bootNative opens the page as a client of the native homeserver.
async function bootNative(host) {
	shell.mode = "native";
	document.body.dataset.mode = "native";
	sessionKey = "hearth.native.session";
	clientFetch = directFetch;
	$("state").textContent = `client of ${host.server_name}`;
	$("host-name").textContent = host.server_name;
	const session = loadSession();
	if (session) {
		await startChat(session);
		if (client) {
			return;
		}
	}
	show("host");
	if (host.needs_owner) {
		show("host-setup");
	} else {
		show("login");
	}
}

$("choose-tab").addEventListener("click", () => {
	localStorage.setItem(modeKey, "tab");
	client?.stopClient();
	client = null;
	show("host", false);
	show("login", false);
	show("chat", false);
	showError(null);
	bootTab().catch(showError);
});

$("host-setup").addEventListener("submit", async (e) => {
	e.preventDefault();
	showError(null);
	$("host-setup-submit").disabled = true;
	try {
		const session = await registerOwner($("host-setup-name").value.trim(), $("host-setup-password").value,
			$("host-setup-token").value.trim());
		localStorage.setItem(sessionKey, JSON.stringify(session));
		show("host-setup", false);
		show("host", false);
		await startChat(session);
	} catch (err) {
		showError(err);
	} finally {
		$("host-setup-submit").disabled = false;
	}
});

// registerOwner registers the native server's first account with its
// one-time setup token (interactive auth, m.login.registration_token).
async function registerOwner(username, password, token) {
	const post = async (body) => {
		for (let tries = 0; ; tries++) {
			const res = await directFetch("/_matrix/client/v3/register", {
				method: "POST",
				headers: { "Content-Type": "application/json" },
				body: JSON.stringify(body),
			});
			const out = { status: res.status, body: await res.json().catch(() => ({})) };
			// Registration is rate limited: wait as told, a few times.
			const wait = out.body.retry_after_ms;
			if (out.status !== 429 || tries >= 3 || !(wait >= 0 && wait <= 60000)) {
				return out;
			}
			await new Promise((r) => setTimeout(r, wait));
		}
	};
	const base = { username, password, initial_device_display_name: "hearth shell" };
	let res = await post(base);
	if (res.status === 401 && res.body.session) {
		res = await post({ ...base, auth: { type: "m.login.registration_token", token, session: res.body.session } });
	}
	if (res.status !== 200) {
		throw new Error(res.body.error ?? `registration failed (HTTP ${res.status})`);
	}
	return { userId: res.body.user_id, deviceId: res.body.device_id, accessToken: res.body.access_token };
}

// bootTab starts the homeserver in the tab.
async function bootTab() {
	shell.mode = "tab";
	document.body.dataset.mode = "tab";
	sessionKey = "hearth.session";
	$("state").textContent = "starting…";
	const t0 = performance.now();
	try {
		await watch(await Hearth.start({ storage }));
	} catch (err) {
		if (err.code === "NEEDS_OWNER") {
			$("state").textContent = "not set up";
			$("setup-server").value ||= location.hostname;
			$("setup-storage").value = storage;
			show("setup");
			return;
		}
		$("state").textContent = "failed";
		showError(err);
		return;
	}
	shell.timings.start = performance.now() - t0;
	const session = loadSession();
	if (session) {
		await startChat(session);
	} else {
		show("login");
	}
}

$("setup").addEventListener("submit", async (e) => {
	e.preventDefault();
	showError(null);
	const chosen = $("setup-storage").value;
	const name = $("setup-name").value.trim();
	const password = $("setup-password").value;
	const file = $("setup-import").files[0];
	$("setup-submit").disabled = true;
	try {
		if (file) {
			await Hearth.importDatabase(file, { storage: chosen });
		}
		localStorage.setItem(storageKey, chosen);
		await watch(await Hearth.start({
			serverName: $("setup-server").value.trim(),
			owner: file ? undefined : { name, password },
			storage: chosen,
		}));
		show("setup", false);
		await login(name, password);
	} catch (err) {
		showError(err);
	} finally {
		$("setup-submit").disabled = false;
	}
});

$("login").addEventListener("submit", async (e) => {
	e.preventDefault();
	showError(null);
	try {
		await login($("login-user").value.trim(), $("login-password").value);
	} catch (err) {
		showError(err);
	}
});

function loadSession() {
	try {
		const s = JSON.parse(localStorage.getItem(sessionKey) ?? "null");
		return s?.accessToken ? s : null;
	} catch {
		return null;
	}
}

async function login(user, password) {
	await loadSDK();
	const tmp = sdk.createClient({ baseUrl: location.origin, fetchFn: clientFetch });
	const res = await tmp.loginRequest({
		type: "m.login.password",
		identifier: { type: "m.id.user", user },
		password,
		initial_device_display_name: "hearth shell",
	});
	const session = { userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token };
	localStorage.setItem(sessionKey, JSON.stringify(session));
	show("login", false);
	show("host", false);
	await startChat(session);
}

async function startChat(session) {
	await loadSDK();
	client = sdk.createClient({
		baseUrl: location.origin,
		fetchFn: clientFetch,
		userId: session.userId,
		deviceId: session.deviceId,
		accessToken: session.accessToken,
		timelineSupport: true,
	});
	try {
		await client.whoami();
	} catch (err) {
		client = null;
		if (err.httpStatus === 401) {
			localStorage.removeItem(sessionKey);
			$("login-user").value = session.userId.slice(1).split(":")[0];
			if (shell.mode === "tab") {
				show("login");
			}
			return;
		}
		throw err;
	}
	$("whoami").textContent = session.userId;
	client.on(sdk.ClientEvent.Sync, (state) => {
		if (state === "PREPARED" || state === "SYNCING") {
			document.body.dataset.sync = state;
			renderRooms();
		}
	});
	client.on(sdk.RoomEvent.Timeline, (ev, room) => {
		if (room?.roomId === selected) {
			renderTimeline();
		}
		renderRooms();
	});
	client.on(sdk.RoomEvent.LocalEchoUpdated, (ev, room) => {
		if (room?.roomId === selected) {
			renderTimeline();
		}
	});
	client.on(sdk.RoomEvent.Name, renderRooms);
	client.on(sdk.HttpApiEvent.SessionLoggedOut, () => {
		localStorage.removeItem(sessionKey);
		showError(new Error("signed out: sign in again"));
		show("chat", false);
		show("host", shell.mode === "native");
		show("login");
	});
	show("chat");
	shell.ready = client.startClient({ initialSyncLimit: 50, lazyLoadMembers: true });
	await shell.ready;
}

function renderRooms() {
	if (!client) {
		return;
	}
	const rooms = client.getRooms()
		.filter((r) => r.getMyMembership() === "join")
		.sort((a, b) => (b.getLastActiveTimestamp() - a.getLastActiveTimestamp()) || a.name.localeCompare(b.name));
	const ul = $("rooms");
	ul.replaceChildren(...rooms.map((r) => {
		const li = document.createElement("li");
		li.textContent = r.name;
		li.dataset.roomId = r.roomId;
		li.setAttribute("aria-current", String(r.roomId === selected));
		li.addEventListener("click", () => selectRoom(r.roomId));
		return li;
	}));
	if (!selected && rooms.length > 0) {
		selectRoom(rooms[0].roomId);
	}
}

function selectRoom(roomId) {
	selected = roomId;
	$("composer-text").disabled = false;
	$("composer-send").disabled = false;
	renderRooms();
	renderTimeline();
}

function describe(ev) {
	const c = ev.getContent();
	switch (ev.getType()) {
	case "m.room.message":
		return { text: c.body ?? "", state: false };
	case "m.room.create":
		return { text: "created the room", state: true };
	case "m.room.member":
		return { text: `${c.membership ?? "left"} (${ev.getStateKey()})`, state: true };
	case "m.room.name":
		return { text: `named the room “${c.name ?? ""}”`, state: true };
	}
	return { text: ev.getType(), state: true };
}

function renderTimeline() {
	const room = selected && client?.getRoom(selected);
	$("room-title").textContent = room ? room.name : "No room selected";
	if (!room) {
		$("timeline").replaceChildren();
		return;
	}
	const ol = $("timeline");
	ol.replaceChildren(...room.getLiveTimeline().getEvents().map((ev) => {
		const li = document.createElement("li");
		const d = describe(ev);
		li.dataset.eventId = ev.getId() ?? "";
		li.dataset.type = ev.getType();
		const who = document.createElement("span");
		who.className = "sender";
		who.textContent = ev.getSender();
		const body = document.createElement("span");
		body.className = d.state ? "body state" : "body";
		body.textContent = d.text;
		li.append(who, body);
		return li;
	}));
	ol.scrollTop = ol.scrollHeight;
}

$("new-room").addEventListener("submit", async (e) => {
	e.preventDefault();
	showError(null);
	const name = $("new-room-name").value.trim();
	try {
		const { room_id: roomId } = await client.createRoom({ name, preset: sdk.Preset.PrivateChat });
		$("new-room-name").value = "";
		selectRoom(roomId);
	} catch (err) {
		showError(err);
	}
});

$("composer").addEventListener("submit", async (e) => {
	e.preventDefault();
	const input = $("composer-text");
	const text = input.value;
	if (!text || !selected) {
		return;
	}
	input.value = "";
	try {
		await client.sendTextMessage(selected, text);
	} catch (err) {
		showError(err);
	}
});

$("export").addEventListener("click", async () => {
	showError(null);
	try {
		const blob = await hs.exportDatabase();
		const st = await hs.status();
		const a = document.createElement("a");
		a.href = URL.createObjectURL(blob);
		a.download = `${st.serverName ?? "hearth"}.db`;
		document.body.append(a);
		a.click();
		a.remove();
		setTimeout(() => URL.revokeObjectURL(a.href), 60000);
	} catch (err) {
		showError(err);
	}
});

$("import-file").addEventListener("change", async (e) => {
	const file = e.target.files[0];
	e.target.value = "";
	if (!file) {
		return;
	}
	showError(null);
	try {
		client?.stopClient();
		client = null;
		await hs?.stop();
		hs = null;
		await Hearth.importDatabase(file, { storage });
		location.reload();
	} catch (err) {
		showError(err);
	}
});

$("stop").addEventListener("click", async () => {
	client?.stopClient();
	client = null;
	await hs?.stop();
	clearInterval(statusTimer);
	$("state").textContent = "stopped";
	show("details", false);
	show("chat", false);
});

if (params.has("manual")) {
	window.Hearth = Hearth;
	$("state").textContent = "stopped (manual)";
} else {
	boot().catch(showError);
}
