// page.js starts the dedicated worker that runs the Go test binary and
// relays its messages to the Node harness through window.hearthEvent, a
// function the harness exposes on the page.
"use strict";

let worker = null;

window.hearthStart = (args, env) => {
	worker = new Worker("/worker.js");
	worker.onmessage = (e) => window.hearthEvent(e.data);
	worker.onerror = (e) => {
		e.preventDefault();
		window.hearthEvent({ type: "error", message: `worker error: ${e.message} (${e.filename}:${e.lineno})` });
	};
	worker.postMessage({ args, env });
};

// hearthTerminate stops the worker at once, without letting the Go program
// close anything: the closest a page can come to a crash.
window.hearthTerminate = () => {
	if (worker) {
		worker.terminate();
		worker = null;
	}
};
