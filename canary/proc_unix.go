//go:build !windows

package canary

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts cmd in a process group of its own and makes cancelling it kill the
// whole group, so that the children of a shell script die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
}
