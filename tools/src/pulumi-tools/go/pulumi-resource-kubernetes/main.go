// Command pulumi-resource-kubernetes is the Pulumi Kubernetes provider plugin, built from
// the provider module at the version pinned in go.mod.
//
// The provider's gRPC server needs its Pulumi package schema and Terraform mapping as
// bytes. Upstream generates them next to its main package before `go build`; the module
// zip does not contain the generated files, so scripts/pulumi-tools/build.ts runs
// generate.go (this directory) into a staging copy of this package first.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

// schemaJSON is the package schema with its version set to the plugin version (generated).
//
//go:embed schema-embed.json
var schemaJSON []byte

// terraformMappingJSON is the compacted terraform-mapping.json of the provider (generated).
//
//go:embed terraform-mapping-embed.json
var terraformMappingJSON []byte

func main() {
	// version.Version is set with -ldflags -X by the build script.
	provider.Serve("kubernetes", version.Version, schemaJSON, terraformMappingJSON)
}
