package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ctctClientDir is the Node program that drives a Constant Contact
// integration through Constant Contact's generated TypeScript client
// (npm package ctct-api-client, pinned by its package.json and
// package-lock.json; `npm ci` in that folder installs it, as .ci/run does).
const ctctClientDir = "testdata/ctct"

// ctctNode returns the node executable, once the client's packages are
// installed: outside CI a missing node or node_modules skips the test,
// saying how to get them; under CI=true it fails it.
func ctctNode(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: CI runs `npm ci` in cmd/segmentd/%s (.ci/run)", why, ctctClientDir)
		}
		t.Skipf("%s (run `npm ci` in cmd/segmentd/%s)", why, ctctClientDir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(ctctClientDir, "node_modules", "ctct-api-client", "package.json")); err != nil {
		missing("ctct-api-client is not installed")
	}
	return node
}

// runCTCTClient runs the Node program against a server and returns its
// output and exit error.
func runCTCTClient(t *testing.T, node string, s liveServer, key string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(node, "integration.js")
	cmd.Dir = ctctClientDir
	cmd.Env = append(os.Environ(), append([]string{"SEGMENTD_URL=" + s.url, "SEGMENTD_TOKEN=" + key}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestConstantContactGeneratedClient runs a realistic Constant Contact
// integration written against Constant Contact's own generated client
// (testdata/ctct/integration.js: custom fields, lists, tags, contacts
// created, read, updated, filtered and signed up, errors in Constant
// Contact's envelope, JSON and CSV imports, list-membership and tag
// activities polled to completion, segments by custom field, list and
// tag with every page of their members, an export downloaded, and
// deletes, each answer checked against the program's model) on the real
// binary and each store. Then it runs it once more with one expectation made wrong, to
// see that a mismatch makes the program fail.
func TestConstantContactGeneratedClient(t *testing.T) {
	node := ctctNode(t)
	bin := realBinary(t)
	const key = "SG.cc-generated-client-key"
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		s, _ := st.start(t, bin, key)
		if out, err := runCTCTClient(t, node, s, key); err != nil {
			t.Fatalf("the integration through ctct-api-client failed (%v):\n%s", err, out)
		}
	})
	t.Run("a mismatch fails it", func(t *testing.T) {
		s, _ := startBinary(t, bin, t.TempDir(), key)
		out, err := runCTCTClient(t, node, s, key, "SEGMENTD_CTCT_BREAK=1")
		if err == nil || !strings.Contains(out, "members of Pro plan") || !strings.Contains(out, "nobody@example.com") {
			t.Fatalf("with a wrong expectation the program exited %v:\n%s", err, out)
		}
	})
}
