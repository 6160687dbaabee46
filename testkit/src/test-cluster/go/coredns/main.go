// Command coredns is CoreDNS v1.12.4 with the plugins the test cluster's Corefile uses, in
// upstream's directive order (core/dnsserver/zdirectives.go): the documented way to compile
// CoreDNS with a chosen plugin set. Leaving out the cloud and tracing plugins cuts the cold build
// from about a quarter of an hour to a few minutes on two cores.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives: the subset of upstream's list, same relative order (it decides plugin chaining).
var directives = []string{"reload", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
