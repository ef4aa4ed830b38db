package sim

import (
	"net"
	"strings"

	"github.com/aikwatch/aikwatch/trustlist"
)

// The simulated service host names other than the AIK hosts.
const (
	HostIntelEK    = "ekop.intel.com"
	HostAMDEK      = "ftpm.amd.com"
	HostQualcommEK = "ekcert.spserv.microsoft.com"
	HostFwlink     = "go.microsoft.com"
	HostDownload   = "download.microsoft.com"
)

// AIKSuffix is the DNS suffix of Microsoft's AIK CA service.
const AIKSuffix = trustlist.AIKHostSuffix

// ServiceHosts lists the simulated hosts other than the AIK hosts.
var ServiceHosts = []string{HostFwlink, HostDownload, HostIntelEK, HostAMDEK, HostQualcommEK}

// normalizeHost lower-cases a host name (SNI or Host header), drops a port and a trailing dot.
func normalizeHost(h string) string {
	h = strings.TrimSpace(h)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// isAIKName reports whether host (normalized) is a single label under the AIK service suffix.
func isAIKName(host string) bool {
	label, ok := strings.CutSuffix(host, AIKSuffix)
	return ok && label != "" && !strings.Contains(label, ".")
}

// isServiceHost reports whether host (normalized) is one of [ServiceHosts].
func isServiceHost(host string) bool {
	for _, s := range ServiceHosts {
		if host == s {
			return true
		}
	}
	return false
}

// Served reports whether the simulator answers for host (any letter case): a single label
// under .microsoftaik.azure.net or one of [ServiceHosts].
func Served(host string) bool {
	h := normalizeHost(host)
	return isAIKName(h) || isServiceHost(h)
}
