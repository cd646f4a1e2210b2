// Package harnesstest holds Go tests of test/browser/run-go-test.mjs itself:
// arguments and environment reaching the program, the in-memory file system
// the worker provides (os files, t.TempDir, runnable examples), exit codes
// and worker termination. test/browser/harness.test.mjs builds it for
// GOOS=js, runs it through the harness and checks what comes back.
//
// The package only builds for GOOS=js and has no import side effects.
package harnesstest
