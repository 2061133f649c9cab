package localstack

import "syscall"

// sysProcAttr puts the child in its own process group, so that stopping it
// reaches everything it started, and has the kernel kill it if we die.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
