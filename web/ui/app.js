// app.js is hearth's page shell: it starts the in-tab homeserver (through
// /hearth.js), sets up the owner on first use, shows the status, exports
// and imports the database, and offers a minimal chat view (rooms,
// timeline, composer) built on matrix-js-sdk, whose requests go through
// hs.fetch.
//
// ?storage=opfs|indexeddb|memory in the page URL forces a storage (else
// the last one chosen in the setup form, else automatic); ?manual leaves
// the homeserver stopped (window.Hearth is there to start it by hand).
import { Hearth } from "/hearth.js";
import * as sdk from "matrix-js-sdk";

const $ = (id) => document.getElementById(id);
const sessionKey = "hearth.session";
const storageKey = "hearth.storage";

const params = new URLSearchParams(location.search);
const storage = params.get("storage") || localStorage.getItem(storageKey) || "auto";

let hs = null;
let client = null;
let selected = null;
let statusTimer = null;

// The shell's state, for tests and the browser console.
const shell = {
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
	instance.addEventListener("statechange", refreshStatus);
	instance.addEventListener("error", (e) => showError(e.error));
	clearInterval(statusTimer);
	statusTimer = setInterval(refreshStatus, 3000);
	show("tools");
	return refreshStatus();
}

async function boot() {
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
	const tmp = sdk.createClient({ baseUrl: location.origin, fetchFn: hs.fetch });
	const res = await tmp.loginRequest({
		type: "m.login.password",
		identifier: { type: "m.id.user", user },
		password,
		initial_device_display_name: "hearth shell",
	});
	const session = { userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token };
	localStorage.setItem(sessionKey, JSON.stringify(session));
	show("login", false);
	await startChat(session);
}

async function startChat(session) {
	client = sdk.createClient({
		baseUrl: location.origin,
		fetchFn: hs.fetch,
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
			show("login");
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
