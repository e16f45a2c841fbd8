package bench

import "syscall"

// redisProcAttr kills redis-server when the bench process dies, so a crashed run leaves no
// server behind.
func redisProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
