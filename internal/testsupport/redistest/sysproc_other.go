//go:build !linux

package redistest

import "syscall"

// sysProcAttr has nothing to add outside Linux: the cleanup stops the server.
func sysProcAttr() *syscall.SysProcAttr { return nil }
