//go:build unix && !linux

package localstack

import "syscall"

// sysProcAttr puts the child in its own process group, so that stopping it
// reaches everything it started. (Only Linux can also tie its life to ours.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
