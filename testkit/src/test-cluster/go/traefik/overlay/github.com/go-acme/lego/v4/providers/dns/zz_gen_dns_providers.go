// Replaces lego's generated registry of ACME DNS-01 providers in the test cluster's Traefik build
// (see module-patch.ts). Upstream's file imports the SDK of every DNS provider lego supports
// (about 180 of them, some 850 packages); Traefik imports this package unconditionally, so the
// test cluster, which issues no certificates, would compile them all. The exported API is
// upstream's; every provider name is refused with upstream's error.
package dns

import (
	"fmt"

	"github.com/go-acme/lego/v4/challenge"
)

// NewDNSChallengeProviderByName refuses every name: this build has no DNS-01 providers.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	return nil, fmt.Errorf("unrecognized DNS provider: %s (this Traefik build has no ACME DNS-01 providers)", name)
}
