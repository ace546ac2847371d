package ownapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segmentd/segmentd"
)

func TestStatusOf(t *testing.T) {
	for kind, want := range map[segmentd.ErrorKind]int{
		segmentd.KindInvalid: 400, segmentd.KindNotFound: 404, segmentd.KindConflict: 409,
		segmentd.KindUnauthorized: 401, segmentd.KindForbidden: 403, segmentd.KindTooLarge: 413,
		segmentd.KindRateLimited: 429, segmentd.KindTimeout: 408, segmentd.KindUnavailable: 503,
		segmentd.KindInternal: 500,
	} {
		if got := StatusOf(kind); got != want {
			t.Errorf("StatusOf(%v) = %d, want %d", kind, got, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, http.StatusConflict, "name", "name is taken")
	if rec.Code != 409 || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Body.String() != `{"errors":[{"field":"name","message":"name is taken"}]}` {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	rec = httptest.NewRecorder()
	WriteJSON(rec, 200, func() {}) // cannot be encoded
	if rec.Code != 500 || rec.Body.String() != `{"errors":[{"message":"internal server error"}]}` {
		t.Fatalf("unencodable: %d %s", rec.Code, rec.Body)
	}
}
