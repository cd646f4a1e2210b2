//go:build wasip1

// Command nocallbacks is a test module that speaks the ABI but exports no
// callback: the host refuses it.
package main

import _ "hearth.dev/hearth/modules/guest"

func main() {}
