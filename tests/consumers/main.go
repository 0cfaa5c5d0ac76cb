// Command status-consumers shows how two real consumers of Kubernetes status judge our
// objects: kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, used by kpt, Config Sync,
// Flux's health checks and `kubectl wait`-style tooling) and Argo CD's resource health, with the
// chart's argocd-health.lua run by Argo CD's own util/lua package.
//
//	status-consumers --health-lua charts/security-contact-operator/argocd-health.lua [FILE...]
//
// Input: JSON objects as the API server returns them (one object, a List, or several
// objects in a row), from the files or stdin. Output: one JSON line per object.
//
// Argo CD's side is its util/lua package (github.com/argoproj/argo-cd/v3 v3.2.12, file
// util/lua/lua.go; go.mod says why that release) on github.com/yuin/gopher-lua v1.1.2.
//
// Nothing here re-implements either judge: both verdicts come from the upstream packages at
// the versions pinned in go.mod, so a change in their rules shows up as a test failure.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argolua "github.com/argoproj/argo-cd/v3/util/lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Verdict is one object's line of output.
type Verdict struct {
	Kind       string  `json:"kind"`
	Namespace  string  `json:"namespace,omitempty"`
	Name       string  `json:"name"`
	Generation int64   `json:"generation"`
	KStatus    Outcome `json:"kstatus"`
	ArgoCD     Outcome `json:"argocd"`
}

// Outcome is a consumer's status and message, or the error it returned.
type Outcome struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

func main() {
	healthLua := flag.String("health-lua", "", "the Argo CD health script (argocd-health.lua)")
	flag.Parse()
	if *healthLua == "" {
		fail(errors.New("--health-lua is required"))
	}
	script, err := os.ReadFile(*healthLua)
	if err != nil {
		fail(err)
	}
	var inputs [][]byte
	if flag.NArg() == 0 {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			fail(err)
		}
		inputs = append(inputs, data)
	}
	for _, path := range flag.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		inputs = append(inputs, data)
	}
	out := json.NewEncoder(os.Stdout)
	count := 0
	for _, data := range inputs {
		objects, err := decode(data)
		if err != nil {
			fail(err)
		}
		for _, obj := range objects {
			if err := out.Encode(judge(obj, string(script))); err != nil {
				fail(err)
			}
			count++
		}
	}
	if count == 0 {
		fail(errors.New("no objects in the input"))
	}
}

// decode reads objects the way client-go does (Unstructured's JSON decoding), so integers
// such as metadata.generation arrive as int64, as they do in Argo CD's cluster cache; a plain
// encoding/json map would hand the Lua script float64s and could hide a type mismatch.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	var objects []*unstructured.Unstructured
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return objects, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading JSON: %w", err)
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("decoding an object: %w", err)
		}
		if obj.IsList() {
			list, err := obj.ToList()
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				objects = append(objects, &list.Items[i])
			}
			continue
		}
		objects = append(objects, obj)
	}
}

func judge(obj *unstructured.Unstructured, script string) Verdict {
	v := Verdict{
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
		Generation: obj.GetGeneration(),
	}
	if res, err := status.Compute(obj); err != nil {
		v.KStatus.Error = err.Error()
	} else {
		v.KStatus = Outcome{Status: res.Status.String(), Message: res.Message}
	}
	// The override map is what Argo CD builds from argocd-cm's
	// resource.customizations.health.<group>_<kind> key (keyed by GetConfigMapKey), and
	// GetResourceHealth is the entry point its controller calls for every live resource:
	// safe libraries only, `obj` set from the object, the returned table read as a
	// HealthStatus, an unknown status string turned into Unknown.
	overrides := argolua.ResourceHealthOverrides{
		argolua.GetConfigMapKey(obj.GroupVersionKind()): v1alpha1.ResourceOverride{HealthLua: script},
	}
	health, err := overrides.GetResourceHealth(obj)
	switch {
	case err != nil:
		v.ArgoCD.Error = err.Error()
	case health == nil:
		v.ArgoCD.Error = "Argo CD found no health script for " + obj.GroupVersionKind().String()
	default:
		v.ArgoCD = Outcome{Status: string(health.Status), Message: health.Message}
	}
	return v
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "status-consumers:", err)
	os.Exit(2)
}
