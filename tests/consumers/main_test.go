package main

// The fast tier: the objects the end-to-end test captured from a real API server
// (tests/fixtures/status, written with SCO_BLESS_STATUS_FIXTURES=1) judged again by kstatus and
// Argo CD's harness, so a change to argocd-health.lua or a bump of either consumer is checked
// without a cluster. The expected verdicts come from each object's own conditions, by the same
// rules as tests/e2e/consumers.rs.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const (
	fixtures  = "../fixtures/status"
	healthLua = "../../charts/security-contact-operator/argocd-health.lua"
)

type condition struct{ status, reason, message string }

func conditionOf(t *testing.T, obj *unstructured.Unstructured, kind string) (condition, bool) {
	t.Helper()
	list, _, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range list {
		c, _ := item.(map[string]any)
		if c["type"] == kind {
			s, _ := c["status"].(string)
			r, _ := c["reason"].(string)
			m, _ := c["message"].(string)
			return condition{s, r, m}, true
		}
	}
	return condition{}, false
}

// expected returns (kstatus status, a part of its message, Argo CD status, a part of its message).
func expected(t *testing.T, obj *unstructured.Unstructured) (string, string, string, string) {
	t.Helper()
	generation := obj.GetGeneration()
	observed, found, err := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	if err != nil || !found {
		t.Fatalf("no status.observedGeneration: %v", err)
	}
	if observed != generation {
		g := fmt.Sprintf("generation %d", generation)
		return "InProgress", "generation is " + fmt.Sprint(generation), "Progressing", g
	}
	if c, ok := conditionOf(t, obj, "Stalled"); ok && c.status == "True" {
		return "Failed", c.message, "Degraded", c.message
	}
	if c, ok := conditionOf(t, obj, "Reconciling"); ok && c.status == "True" {
		return "InProgress", c.message, "Progressing", c.message
	}
	ready, ok := conditionOf(t, obj, "Ready")
	if !ok {
		t.Fatal("no Ready condition")
	}
	if ready.reason == "Suspended" {
		return "InProgress", ready.message, "Suspended", ready.message
	}
	if ready.status != "True" {
		t.Fatalf("unexpected state: Ready %+v", ready)
	}
	return "Current", "Resource is Ready", "Healthy", ready.message
}

func TestFixturesAreJudgedAsOurConditionsSay(t *testing.T) {
	script, err := os.ReadFile(healthLua)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(fixtures, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	// A missing fixture directory must fail, not pass with nothing checked.
	if len(paths) < 4 {
		t.Fatalf("expected the captured fixtures in %s, found %d", fixtures, len(paths))
	}
	seen := map[string]bool{}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			objects, err := decode(data)
			if err != nil || len(objects) != 1 {
				t.Fatalf("want one object, got %d (%v)", len(objects), err)
			}
			obj := objects[0]
			v := judge(obj, string(script))
			if v.KStatus.Error != "" || v.ArgoCD.Error != "" {
				t.Fatalf("a consumer failed: %+v", v)
			}
			ks, km, as, am := expected(t, obj)
			if v.KStatus.Status != ks || !strings.Contains(v.KStatus.Message, km) {
				t.Errorf("kstatus: got %q %q, want %q containing %q", v.KStatus.Status, v.KStatus.Message, ks, km)
			}
			if v.ArgoCD.Status != as || !strings.Contains(v.ArgoCD.Message, am) {
				t.Errorf("Argo CD: got %q %q, want %q containing %q", v.ArgoCD.Status, v.ArgoCD.Message, as, am)
			}
			seen[as] = true
		})
	}
	// Every Argo CD state the chart's script can report is covered by a real capture.
	for _, state := range []string{"Healthy", "Progressing", "Degraded", "Suspended"} {
		if !seen[state] {
			t.Errorf("no fixture is judged %s", state)
		}
	}
}
