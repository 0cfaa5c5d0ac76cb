package main

// The SBOM of the shipped binary, from cargo's own resolution of that build: scripts/image pipes
//   cargo tree -e normal,no-proc-macro --target T -p security-contact-operator --prefix depth -f '{p}|{l}|{r}'
// into `image sbom`, which writes CycloneDX with the official Go library. cargo tree is the
// same resolver, target filter and feature set as the build; cargo-cyclonedx 0.5.9 (tried first)
// reads `cargo metadata`'s workspace-wide resolve instead and listed crates the binary does not
// link (quinn, ring, x509-parser) while missing some it does (psm, stacker).

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

type crate struct {
	name, version, license, repository string
	deps                               map[string]bool
}

func (c *crate) key() string { return c.name + "@" + c.version }

// lockChecksums reads name@version -> sha256 from Cargo.lock (registry crates only).
func lockChecksums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sums := map[string]string{}
	var name, version string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		val := func(p string) (string, bool) {
			v, ok := strings.CutPrefix(line, p+" = ")
			return strings.Trim(v, `"`), ok
		}
		switch {
		case line == "[[package]]":
			name, version = "", ""
		default:
			if v, ok := val("name"); ok {
				name = v
			} else if v, ok := val("version"); ok {
				version = v
			} else if v, ok := val("checksum"); ok {
				sums[name+"@"+version] = v
			}
		}
	}
	return sums, sc.Err()
}

var treeLine = regexp.MustCompile(`^(\d+)(\S+) v(\S+)(?: \([^)]*\))?\|([^|]*)\|(\S*?)(?: \(\*\))?$`)

// parseTree reads cargo tree's depth-prefixed lines into the crates and their edges.
func parseTree(r io.Reader) (root *crate, crates map[string]*crate, err error) {
	crates = map[string]*crate{}
	var stack []*crate
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		m := treeLine.FindStringSubmatch(line)
		if m == nil {
			return nil, nil, fmt.Errorf("unexpected cargo tree line %q", line)
		}
		depth := 0
		fmt.Sscan(m[1], &depth)
		c := &crate{name: m[2], version: m[3], license: m[4], repository: m[5], deps: map[string]bool{}}
		if seen, ok := crates[c.key()]; ok {
			c = seen
		} else {
			crates[c.key()] = c
		}
		if depth > len(stack) {
			return nil, nil, fmt.Errorf("cargo tree line %q skips a level", line)
		}
		stack = stack[:depth]
		if depth == 0 {
			if root != nil {
				return nil, nil, errors.New("cargo tree printed more than one root")
			}
			root = c
		} else {
			stack[depth-1].deps[c.key()] = true
		}
		stack = append(stack, c)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	if root == nil {
		return nil, nil, errors.New("no cargo tree input")
	}
	return root, crates, nil
}

func purl(c *crate) string { return "pkg:cargo/" + c.name + "@" + c.version }

func licenses(expr string) *cdx.Licenses {
	if expr == "" {
		return nil
	}
	// Old crates write "MIT/Apache-2.0"; SPDX says "MIT OR Apache-2.0".
	expr = strings.ReplaceAll(expr, "/", " OR ")
	return &cdx.Licenses{{Expression: expr}}
}

func sbom(args []string) error {
	fl := flag.NewFlagSet("sbom", flag.ContinueOnError)
	out := fl.String("out", "", "the CycloneDX JSON to write")
	lock := fl.String("lock", "Cargo.lock", "Cargo.lock, for the crates' checksums")
	epoch := fl.Int64("epoch", -1, "SOURCE_DATE_EPOCH: the BOM's timestamp")
	target := fl.String("target", "", "the Rust target (recorded as a property)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" || *epoch < 0 || *target == "" {
		return errors.New("sbom: -out, -epoch and -target are required; cargo tree output on stdin")
	}
	root, crates, err := parseTree(os.Stdin)
	if err != nil {
		return err
	}
	sums, err := lockChecksums(*lock)
	if err != nil {
		return err
	}

	component := func(c *crate, typ cdx.ComponentType) cdx.Component {
		comp := cdx.Component{
			BOMRef: purl(c), Type: typ, Name: c.name, Version: c.version,
			PackageURL: purl(c), Licenses: licenses(c.license),
		}
		if sum, ok := sums[c.key()]; ok {
			comp.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sum}}
		}
		if c.repository != "" {
			comp.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeVCS, URL: c.repository}}
		}
		return comp
	}
	keys := make([]string, 0, len(crates))
	for k := range crates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var comps []cdx.Component
	var deps []cdx.Dependency
	for _, k := range keys {
		c := crates[k]
		if c != root {
			comps = append(comps, component(c, cdx.ComponentTypeLibrary))
		}
		on := make([]string, 0, len(c.deps))
		for d := range c.deps {
			on = append(on, purl(crates[d]))
		}
		sort.Strings(on)
		dep := cdx.Dependency{Ref: purl(c)}
		if len(on) > 0 {
			dep.Dependencies = &on
		}
		deps = append(deps, dep)
	}

	app := component(root, cdx.ComponentTypeApplication)
	app.Properties = &[]cdx.Property{{Name: "cargo:target", Value: *target}}
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{
		Timestamp: time.Unix(*epoch, 0).UTC().Format(time.RFC3339),
		Component: &app,
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "scripts/image",
			Description: "cargo tree -e normal,no-proc-macro (the crates linked into the binary) through cyclonedx-go",
		}}},
	}
	bom.Components = &comps
	bom.Dependencies = &deps

	f, err := os.CreateTemp(dirOf(*out), ".cdx-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := cdx.NewBOMEncoder(f, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(bom, cdx.SpecVersion1_5); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp's 0600 would follow the rename
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "image: SBOM %s: %s %s and %d crates\n", *out, root.name, root.version, len(comps))
	return os.Rename(f.Name(), *out)
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i+1]
	}
	return "."
}
