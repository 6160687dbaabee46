//go:build ignore

// generate writes the two files main.go embeds, from the provider module's
// cmd/pulumi-resource-kubernetes/schema.json and terraform-mapping.json:
//
//   - schema-embed.json: the schema decoded into schema.PackageSpec, its Version set to
//     -version, and encoded again (compact), so the plugin reports the schema of the
//     version it is installed as;
//   - terraform-mapping-embed.json: the mapping decoded and re-encoded compactly.
//
// Usage: go run generate.go -src <module>/cmd/pulumi-resource-kubernetes -out <dir> -version 4.25.0
// Exits non-zero naming the file on any read, decode or write error.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	src := flag.String("src", "", "directory holding schema.json and terraform-mapping.json")
	out := flag.String("out", ".", "directory to write schema-embed.json and terraform-mapping-embed.json to")
	version := flag.String("version", "", "plugin version (semver without leading v)")
	flag.Parse()
	if *src == "" || *version == "" {
		log.Fatal("generate: -src and -version are required")
	}

	var spec schema.PackageSpec
	readJSON(filepath.Join(*src, "schema.json"), &spec)
	spec.Version = *version
	writeJSON(filepath.Join(*out, "schema-embed.json"), spec)

	var mapping any
	readJSON(filepath.Join(*src, "terraform-mapping.json"), &mapping)
	writeJSON(filepath.Join(*out, "terraform-mapping-embed.json"), mapping)
}

func readJSON(path string, into any) {
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatalf("generate: %v", err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		log.Fatalf("generate: cannot decode %s: %v", path, err)
	}
}

func writeJSON(path string, value any) {
	data, err := json.Marshal(value)
	if err != nil {
		log.Fatalf("generate: cannot encode %s: %v", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		log.Fatalf("generate: %v", err)
	}
}
