// memfs.js is a small in-memory file system with the shape of the Node fs
// API that Go's syscall package calls on GOOS=js (src/syscall/fs_js.go).
// A browser has no file system, so without it os.Open, os.MkdirTemp,
// t.TempDir() and runnable examples (whose output the testing package
// captures in a temporary file on js) all fail. Files live only as long as
// the worker. Writes to fds 1 and 2 go to the out callback.
"use strict";

function installMemFS(out) {
	const S_IFDIR = 0o040000;
	const S_IFREG = 0o100000;
	const O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_APPEND = 0o2000, O_DIRECTORY = 0o200000;

	const fail = (code, what) => {
		const err = new Error(`${code}: ${what}`);
		err.code = code;
		return err;
	};

	let nextIno = 1;
	const newNode = (dir, mode) => {
		const now = Date.now();
		return {
			dir,
			mode: (dir ? S_IFDIR : S_IFREG) | (mode & 0o7777),
			ino: nextIno++,
			entries: dir ? new Map() : null,
			data: dir ? null : new Uint8Array(0),
			size: 0,
			atimeMs: now,
			mtimeMs: now,
			ctimeMs: now,
		};
	};
	const root = newNode(true, 0o755);
	root.entries.set("tmp", newNode(true, 0o1777));

	let cwd = "/";
	const split = (p) => {
		const abs = p.startsWith("/") ? p : `${cwd}/${p}`;
		const parts = [];
		for (const part of abs.split("/")) {
			if (part === "" || part === ".") {
				continue;
			}
			if (part === "..") {
				parts.pop();
			} else {
				parts.push(part);
			}
		}
		return parts;
	};
	const lookup = (p) => {
		let node = root;
		for (const part of split(p)) {
			if (!node.dir) {
				throw fail("ENOTDIR", p);
			}
			node = node.entries.get(part);
			if (!node) {
				throw fail("ENOENT", p);
			}
		}
		return node;
	};
	// parent returns the directory that holds p, and p's last name.
	const parent = (p) => {
		const parts = split(p);
		if (parts.length === 0) {
			throw fail("EBUSY", p);
		}
		const name = parts.pop();
		const dir = lookup("/" + parts.join("/"));
		if (!dir.dir) {
			throw fail("ENOTDIR", p);
		}
		return [dir, name];
	};
	const stat = (node) => ({
		dev: 1,
		ino: node.ino,
		mode: node.mode,
		nlink: 1,
		uid: 0,
		gid: 0,
		rdev: 0,
		size: node.dir ? 4096 : node.size,
		blksize: 4096,
		blocks: Math.ceil((node.dir ? 4096 : node.size) / 512),
		atimeMs: node.atimeMs,
		mtimeMs: node.mtimeMs,
		ctimeMs: node.ctimeMs,
		isDirectory() { return node.dir; },
	});
	const resize = (node, size) => {
		if (size > node.data.length) {
			const data = new Uint8Array(Math.max(size, node.data.length * 2, 4096));
			data.set(node.data.subarray(0, node.size));
			node.data = data;
		} else if (size < node.size) {
			node.data.fill(0, size, node.size);
		}
		node.size = size;
		node.mtimeMs = Date.now();
	};

	const fds = new Map();
	let nextFd = 3;
	const fdEntry = (fd) => {
		const f = fds.get(fd);
		if (!f) {
			throw fail("EBADF", `fd ${fd}`);
		}
		return f;
	};

	// Each operation is synchronous; wrap turns it into the callback
	// style Go expects: callback(err, result).
	const wrap = (fn) => (...args) => {
		const callback = args.pop();
		let result;
		try {
			result = fn(...args);
		} catch (err) {
			callback(err);
			return;
		}
		callback(null, result);
	};

	const decoders = new Map();
	const output = (fd, buf) => {
		let d = decoders.get(fd);
		if (!d) {
			d = new TextDecoder("utf-8");
			decoders.set(fd, d);
		}
		const text = d.decode(buf, { stream: true });
		if (text !== "") {
			out(fd, text);
		}
	};
	const flushOutput = () => {
		for (const [fd, d] of decoders) {
			const text = d.decode();
			if (text !== "") {
				out(fd, text);
			}
		}
	};

	const fs = {
		constants: { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_DIRECTORY },
		writeSync(fd, buf) {
			if (fd === 1 || fd === 2) {
				output(fd, buf);
				return buf.length;
			}
			throw fail("EBADF", `writeSync to fd ${fd}`);
		},
		open: wrap((path, flags, mode) => {
			let node;
			try {
				node = lookup(path);
			} catch (err) {
				if (err.code !== "ENOENT" || !(flags & O_CREAT)) {
					throw err;
				}
			}
			if (node) {
				if ((flags & O_CREAT) && (flags & O_EXCL)) {
					throw fail("EEXIST", path);
				}
				if (node.dir && (flags & (O_WRONLY | O_RDWR))) {
					throw fail("EISDIR", path);
				}
				if ((flags & O_DIRECTORY) && !node.dir) {
					throw fail("ENOTDIR", path);
				}
				if (!node.dir && (flags & O_TRUNC)) {
					resize(node, 0);
				}
			} else {
				const [dir, name] = parent(path);
				node = newNode(false, mode);
				dir.entries.set(name, node);
				dir.mtimeMs = Date.now();
			}
			const fd = nextFd++;
			fds.set(fd, { node, pos: 0, append: (flags & O_APPEND) !== 0 });
			return fd;
		}),
		close: wrap((fd) => {
			fdEntry(fd);
			fds.delete(fd);
		}),
		fstat: wrap((fd) => stat(fdEntry(fd).node)),
		stat: wrap((path) => stat(lookup(path))),
		lstat: wrap((path) => stat(lookup(path))),
		read: wrap((fd, buffer, offset, length, position) => {
			const f = fdEntry(fd);
			if (f.node.dir) {
				throw fail("EISDIR", `fd ${fd}`);
			}
			const pos = position === null ? f.pos : position;
			const n = Math.max(0, Math.min(length, f.node.size - pos));
			buffer.set(f.node.data.subarray(pos, pos + n), offset);
			if (position === null) {
				f.pos += n;
			}
			return n;
		}),
		write: wrap((fd, buffer, offset, length, position) => {
			if (fd === 1 || fd === 2) {
				output(fd, buffer.subarray(offset, offset + length));
				return length;
			}
			const f = fdEntry(fd);
			if (f.node.dir) {
				throw fail("EISDIR", `fd ${fd}`);
			}
			let pos = position === null ? f.pos : position;
			if (position === null && f.append) {
				pos = f.node.size;
			}
			if (pos + length > f.node.size) {
				resize(f.node, pos + length);
			}
			f.node.data.set(buffer.subarray(offset, offset + length), pos);
			f.node.mtimeMs = Date.now();
			if (position === null) {
				f.pos = pos + length;
			}
			return length;
		}),
		ftruncate: wrap((fd, length) => {
			const f = fdEntry(fd);
			if (f.node.dir) {
				throw fail("EISDIR", `fd ${fd}`);
			}
			resize(f.node, length);
		}),
		truncate: wrap((path, length) => {
			const node = lookup(path);
			if (node.dir) {
				throw fail("EISDIR", path);
			}
			resize(node, length);
		}),
		fsync: wrap((fd) => { fdEntry(fd); }),
		mkdir: wrap((path, perm) => {
			const [dir, name] = parent(path);
			if (dir.entries.has(name)) {
				throw fail("EEXIST", path);
			}
			dir.entries.set(name, newNode(true, perm));
		}),
		rmdir: wrap((path) => {
			const [dir, name] = parent(path);
			const node = dir.entries.get(name);
			if (!node) {
				throw fail("ENOENT", path);
			}
			if (!node.dir) {
				throw fail("ENOTDIR", path);
			}
			if (node.entries.size > 0) {
				throw fail("ENOTEMPTY", path);
			}
			dir.entries.delete(name);
		}),
		unlink: wrap((path) => {
			const [dir, name] = parent(path);
			const node = dir.entries.get(name);
			if (!node) {
				throw fail("ENOENT", path);
			}
			if (node.dir) {
				throw fail("EISDIR", path);
			}
			dir.entries.delete(name);
		}),
		readdir: wrap((path) => {
			const node = lookup(path);
			if (!node.dir) {
				throw fail("ENOTDIR", path);
			}
			return [...node.entries.keys()];
		}),
		rename: wrap((from, to) => {
			const [fromDir, fromName] = parent(from);
			const node = fromDir.entries.get(fromName);
			if (!node) {
				throw fail("ENOENT", from);
			}
			const [toDir, toName] = parent(to);
			const old = toDir.entries.get(toName);
			if (old && old.dir && !node.dir) {
				throw fail("EISDIR", to);
			}
			if (old && old.dir && old.entries.size > 0) {
				throw fail("ENOTEMPTY", to);
			}
			fromDir.entries.delete(fromName);
			toDir.entries.set(toName, node);
		}),
		chmod: wrap((path, mode) => {
			const node = lookup(path);
			node.mode = (node.mode & ~0o7777) | (mode & 0o7777);
		}),
		fchmod: wrap((fd, mode) => {
			const node = fdEntry(fd).node;
			node.mode = (node.mode & ~0o7777) | (mode & 0o7777);
		}),
		chown: wrap((path) => { lookup(path); }),
		fchown: wrap((fd) => { fdEntry(fd); }),
		lchown: wrap((path) => { lookup(path); }),
		utimes: wrap((path, atime, mtime) => {
			const node = lookup(path);
			node.atimeMs = atime * 1000;
			node.mtimeMs = mtime * 1000;
		}),
		link: wrap(() => { throw fail("ENOSYS", "link"); }),
		symlink: wrap(() => { throw fail("ENOSYS", "symlink"); }),
		readlink: wrap((path) => { lookup(path); throw fail("EINVAL", path); }),
	};

	globalThis.fs = fs;
	globalThis.process = {
		getuid() { return 0; },
		getgid() { return 0; },
		geteuid() { return 0; },
		getegid() { return 0; },
		getgroups() { return [0]; },
		pid: 1,
		ppid: 0,
		umask() { return 0o022; },
		cwd() { return cwd; },
		chdir(p) {
			const node = lookup(p);
			if (!node.dir) {
				throw fail("ENOTDIR", p);
			}
			cwd = "/" + split(p).join("/");
		},
	};
	globalThis.path = {
		resolve(...segments) {
			let p = cwd;
			for (const s of segments) {
				p = s.startsWith("/") ? s : `${p}/${s}`;
			}
			return "/" + split(p).join("/");
		},
	};
	return flushOutput;
}
