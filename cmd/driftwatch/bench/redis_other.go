//go:build !linux

package bench

import "syscall"

// redisProcAttr has no parent-death signal to ask for outside Linux.
func redisProcAttr() *syscall.SysProcAttr { return nil }
