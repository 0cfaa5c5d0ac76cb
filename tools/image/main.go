// Command image assembles and inspects the operator's OCI image without a Docker daemon, with
// go-containerregistry doing the OCI work (layer digests, config, manifest, image layout).
// scripts/image drives it; run that, not this.
//
//	image build -out X.oci.tar -epoch N -platform linux/amd64 -ref NAME -user U:G \
//	      -entrypoint '["/bin"]' -label k=v... -file MODE:/dst=src...
//	      prints the manifest digest on stdout.
//	image inspect -in X.oci.tar [-rootfs DIR]
//	      validates every blob against its digest and prints key=value lines (digest, user,
//	      entrypoint, labels, one `file=` line per layer entry); -rootfs unpacks the layer there.
//	cargo tree ... | image sbom -out X.cdx.json -epoch N -target T   (see sbom.go)
//
// Everything that could vary between two builds of the same inputs is pinned here: entry order
// (sorted), ownership (0:0, no owner names), mtimes (the -epoch), modes (given), the gzip level,
// and the outer tarball's own entries. The digest then depends only on the input bytes, the
// flags, and this program's versions (Go's compress/gzip output is stable within a Go release).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const (
	annotationRefName   = "org.opencontainers.image.ref.name"
	annotationImageName = "io.containerd.image.name" // what `ctr images import` names the image
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: image build|inspect|sbom [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "inspect":
		err = inspect(os.Args[2:])
	case "sbom":
		err = sbom(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (expected build, inspect or sbom)", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// entry is one regular file of the layer.
type entry struct {
	dst  string // absolute path in the image
	src  string
	mode int64
}

func parseFile(spec string) (entry, error) {
	modeStr, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return entry{}, fmt.Errorf("-file %q: want MODE:/dst=src", spec)
	}
	dst, src, ok := strings.Cut(rest, "=")
	if !ok || !strings.HasPrefix(dst, "/") || src == "" {
		return entry{}, fmt.Errorf("-file %q: want MODE:/dst=src", spec)
	}
	mode, err := strconv.ParseInt(modeStr, 8, 32)
	if err != nil {
		return entry{}, fmt.Errorf("-file %q: mode: %w", spec, err)
	}
	if path.Clean(dst) != dst {
		return entry{}, fmt.Errorf("-file %q: destination is not a clean path", spec)
	}
	return entry{dst: dst, src: src, mode: mode}, nil
}

// layerTar writes the uncompressed layer: parent directories first, everything sorted by path.
func layerTar(files []entry, mtime time.Time) ([]byte, error) {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.dst); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type item struct {
		name string
		dir  bool
		e    entry
	}
	var items []item
	for d := range dirs {
		items = append(items, item{name: strings.TrimPrefix(d, "/") + "/", dir: true})
	}
	for _, f := range files {
		items = append(items, item{name: strings.TrimPrefix(f.dst, "/"), e: f})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, it := range items {
		if i > 0 && items[i-1].name == it.name {
			return nil, fmt.Errorf("%s is given twice", it.name)
		}
		hdr := &tar.Header{Name: it.name, ModTime: mtime, Format: tar.FormatUSTAR}
		var data []byte
		if it.dir {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		} else {
			var err error
			if data, err = os.ReadFile(it.e.src); err != nil {
				return nil, err
			}
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, it.e.mode, int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", it.name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func build(args []string) error {
	fl := flag.NewFlagSet("build", flag.ContinueOnError)
	out := fl.String("out", "", "the OCI layout tarball to write")
	epoch := fl.Int64("epoch", -1, "SOURCE_DATE_EPOCH: every timestamp in the image")
	platform := fl.String("platform", "linux/amd64", "os/arch[/variant]")
	ref := fl.String("ref", "", "full image reference recorded in the layout's index")
	user := fl.String("user", "", "config User")
	entrypoint := fl.String("entrypoint", "", "config Entrypoint, a JSON array")
	createdBy := fl.String("created-by", "scripts/image", "history created_by")
	var labels, files multi
	fl.Var(&labels, "label", "config label key=value (repeatable)")
	fl.Var(&files, "file", "MODE:/dst=src, a regular file of the layer (repeatable)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" || *epoch < 0 || *ref == "" || *user == "" || *entrypoint == "" || len(files) == 0 {
		return errors.New("build: -out, -epoch, -ref, -user, -entrypoint and -file are required")
	}
	plat, err := v1.ParsePlatform(*platform)
	if err != nil {
		return err
	}
	var ep []string
	if err := json.Unmarshal([]byte(*entrypoint), &ep); err != nil || len(ep) == 0 {
		return fmt.Errorf("-entrypoint %q: want a non-empty JSON array of strings", *entrypoint)
	}
	var entries []entry
	for _, f := range files {
		e, err := parseFile(f)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	lbl := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("-label %q: want key=value", l)
		}
		lbl[k] = v
	}
	created := time.Unix(*epoch, 0).UTC()

	raw, err := layerTar(entries, created)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithMediaType(types.OCILayer),
	)
	if err != nil {
		return err
	}

	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: created}, CreatedBy: *createdBy},
	})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: created}
	cf.Config.User = *user
	cf.Config.Entrypoint = ep
	cf.Config.Cmd = nil
	cf.Config.Env = nil
	cf.Config.Labels = lbl
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}

	tmp, err := os.MkdirTemp(filepath.Dir(*out), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	lp, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	err = lp.AppendImage(img,
		layout.WithAnnotations(map[string]string{annotationRefName: *ref, annotationImageName: *ref}),
		layout.WithPlatform(*plat))
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	// What a consumer reads: the image as written to the layout, every blob against its digest.
	written, err := lp.Image(digest)
	if err != nil {
		return err
	}
	if err := validate.Image(written); err != nil {
		return fmt.Errorf("the written image does not validate: %w", err)
	}
	if err := tarDir(tmp, *out, created); err != nil {
		return err
	}
	size, err := layer.Size()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "image: %s: %s, %s, compressed layer %d bytes (uncompressed %d)\n",
		*out, *ref, plat, size, len(raw))
	fmt.Println(digest)
	return nil
}

// tarDir writes dir as a tarball with sorted entries and pinned metadata, through a temporary
// file renamed into place so a reader never sees half a tarball.
func tarDir(dir, out string, mtime time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	f, err := os.CreateTemp(filepath.Dir(out), ".oci-tar-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	for _, p := range names {
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Format: tar.FormatUSTAR}
		if st.IsDir() {
			hdr.Name += "/"
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		} else {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, st.Size()
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !st.IsDir() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp's 0600 would follow the rename
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}

// untar unpacks regular files and directories only; anything else, or a path that leaves dir,
// is an error (neither the layout nor the layer is meant to hold one).
func untar(r io.Reader, dir string, onEntry func(*tar.Header)) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if onEntry != nil {
			onEntry(hdr)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		if dir == "" {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(hdr.Mode&0o777))
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected tar entry type %q", hdr.Name, hdr.Typeflag)
		}
	}
}

func inspect(args []string) error {
	fl := flag.NewFlagSet("inspect", flag.ContinueOnError)
	in := fl.String("in", "", "the OCI layout tarball to read")
	rootfs := fl.String("rootfs", "", "unpack the image's filesystem here")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("inspect: -in is required")
	}
	tmp, err := os.MkdirTemp("", "image-inspect-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	err = untar(f, tmp, nil)
	f.Close()
	if err != nil {
		return err
	}
	idx, err := layout.ImageIndexFromPath(tmp)
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("the layout's index holds %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return err
	}
	// Re-reads every blob and checks it against its digest and the config's diff_ids.
	if err := validate.Image(img); err != nil {
		return fmt.Errorf("the image does not validate: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var compressed int64
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return err
		}
		compressed += s
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	ep, _ := json.Marshal(cf.Config.Entrypoint)
	fmt.Printf("digest=%s\n", desc.Digest)
	fmt.Printf("media_type=%s\n", mt)
	fmt.Printf("ref=%s\n", desc.Annotations[annotationRefName])
	fmt.Printf("containerd_name=%s\n", desc.Annotations[annotationImageName])
	if desc.Platform != nil {
		fmt.Printf("index_platform=%s\n", desc.Platform)
	}
	fmt.Printf("platform=%s\n", cf.Platform())
	fmt.Printf("created=%s\n", cf.Created.UTC().Format(time.RFC3339))
	fmt.Printf("user=%s\n", cf.Config.User)
	fmt.Printf("entrypoint=%s\n", ep)
	fmt.Printf("cmd=%s\n", strings.Join(cf.Config.Cmd, " "))
	fmt.Printf("env=%s\n", strings.Join(cf.Config.Env, " "))
	keys := make([]string, 0, len(cf.Config.Labels))
	for k := range cf.Config.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("label=%s=%s\n", k, cf.Config.Labels[k])
	}
	fmt.Printf("layers=%d\n", len(layers))
	fmt.Printf("layer_bytes=%d\n", compressed)

	rc := mutate.Extract(img)
	defer rc.Close()
	return untar(rc, *rootfs, func(h *tar.Header) {
		fmt.Printf("file=%04o %d:%d %s %s\n", h.Mode&0o7777, h.Uid, h.Gid,
			h.ModTime.UTC().Format(time.RFC3339), path.Clean("/"+h.Name))
	})
}
