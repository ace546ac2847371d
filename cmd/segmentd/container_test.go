package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// containerfile is the repository's container recipe.
const containerfile = "../../Containerfile"

// containerBuild reads the Containerfile's build: the environment its ENV
// lines set before `RUN go build`, and that command's arguments, whose
// last is ./cmd/segmentd (run from the repository's root).
func containerBuild() (env, args []string, err error) {
	b, err := os.ReadFile(containerfile)
	if err != nil {
		return nil, nil, err
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if kv, ok := strings.CutPrefix(line, "ENV "); ok && args == nil {
			env = append(env, strings.Fields(strings.TrimSuffix(kv, "\\"))...)
		}
		if cmd, ok := strings.CutPrefix(line, "RUN go build "); ok {
			if strings.ContainsAny(cmd, `"'\$`) {
				return nil, nil, fmt.Errorf("the Containerfile's build line quotes or expands: keep its flags plain: %s", line)
			}
			args = strings.Fields(cmd)
		}
	}
	if i := slices.Index(args, "-o"); i < 0 || i+1 >= len(args) || args[len(args)-1] != "./cmd/segmentd" {
		return nil, nil, fmt.Errorf("the Containerfile's build %q: want a RUN go build line with -o PATH and ./cmd/segmentd last", args)
	}
	return env, args, nil
}

// withOutput is a build's arguments with -o's path replaced by path.
func withOutput(args []string, path string) []string {
	args = slices.Clone(args)
	args[slices.Index(args, "-o")+1] = path
	return args
}

// staticELF reports why an ELF file is not a static executable: an
// interpreter (the dynamic loader) or a dynamic section.
func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			return errors.New("it names an interpreter (PT_INTERP): it is linked dynamically")
		case elf.PT_DYNAMIC:
			return errors.New("it has a dynamic section (PT_DYNAMIC)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return errors.New("it needs shared libraries: " + strings.Join(libs, ", "))
	}
	return nil
}

// TestContainerBinaryIsStatic: the binary the Containerfile builds, which
// every test of the real binary drives (buildOnce builds it with the
// Containerfile's flags), is static, as its base image (no libc, no
// loader) needs; the check itself is shown to catch a dynamic executable.
func TestContainerBinaryIsStatic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the container's binary is a Linux ELF file")
	}
	env, _, err := containerBuild()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Fatalf("the Containerfile's build does not set CGO_ENABLED=0 (ENV: %v)", env)
	}
	bin := realBinary(t)
	if err := staticELF(bin); err != nil {
		t.Fatalf("the container's binary is not static: %v", err)
	}
	// It runs: the image's ENTRYPOINT takes the usual commands.
	out, err := exec.Command(bin, "help").Output()
	if err != nil || !bytes.Contains(out, []byte("healthcheck")) {
		t.Fatalf("%s help: %v\n%s", bin, err, out)
	}

	// The check tells a dynamic executable, where the machine has one.
	for _, dyn := range []string{"/bin/sh", "/usr/bin/env"} {
		if f, err := elf.Open(dyn); err == nil {
			f.Close()
			if staticELF(dyn) == nil {
				t.Errorf("%s reads as static", dyn)
			}
			break
		}
	}
}

// TestContainerfile: the recipe's image serves its volume, checks its
// health with the binary's own subcommand (the base has no curl), and
// listens where it says.
func TestContainerfile(t *testing.T) {
	b, err := os.ReadFile(containerfile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"SEGMENTD_DATA=/data",
		"VOLUME /data",
		"SEGMENTD_ADDR=0.0.0.0:8080",
		"EXPOSE 8080",
		`CMD ["/segmentd", "healthcheck"]`,
		`ENTRYPOINT ["/segmentd"]`,
		"COPY --from=build --chown=65532:65532 /out/data /data",
		"USER 65532:65532",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the Containerfile lacks %q", want)
		}
	}
}

// TestHealthcheckThroughTheBinary: segmentd healthcheck succeeds against a
// serving server, found through SEGMENTD_ADDR as the container sets it
// (every interface, asked on loopback), and fails with status 1 when
// nothing answers.
func TestHealthcheckThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	s, _ := startBinary(t, bin, t.TempDir(), "SG.healthcheck-test-key")
	port := s.url[strings.LastIndex(s.url, ":")+1:]
	for _, addr := range []string{"127.0.0.1:" + port, "0.0.0.0:" + port, ":" + port} {
		cmd := exec.Command(bin, "healthcheck")
		cmd.Env = append(os.Environ(), "SEGMENTD_ADDR="+addr)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), `{"status":"ok"}`) {
			t.Errorf("healthcheck of %s: %v\n%s", addr, err, out)
		}
	}
	// A port nothing listens on: the server's, once it is stopped.
	stopped, cmd := startBinary(t, bin, t.TempDir(), "SG.healthcheck-test-key")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	out, err := exec.Command(bin, "healthcheck", "--addr", strings.TrimPrefix(stopped.url, "http://"), "--timeout", "2s").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "healthcheck: http://") {
		t.Fatalf("healthcheck of a stopped server: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "healthcheck", "--addr", "nowhere").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--addr must be the server's host:port") {
		t.Fatalf("healthcheck --addr nowhere: %v\n%s", err, out)
	}
}
