//go:build windows

package canary

import "os/exec"

// setProcessGroup kills only the process on Windows (exec.CommandContext's default): certreq,
// tpmtool and PowerShell start no children the canary depends on.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return cmd.Process.Kill() }
}
