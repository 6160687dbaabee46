// Replaces Prometheus's generated list of service discovery plugins in the test cluster's
// Prometheus build (see module-patch.ts). Upstream's file registers every mechanism (AWS, Azure,
// GCE, Consul, ...), each with its cloud SDK; the Prometheus Operator's configuration uses
// Kubernetes discovery only, so that is the one registered here (file and HTTP discovery stay
// registered by minimum.go).
package plugins

import (
	// Register kubernetes plugin.
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
)
